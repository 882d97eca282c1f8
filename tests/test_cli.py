"""python -m metacore batch: plain, in small chunks, CSV, and on a local Dask cluster."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metacore as mc
from metacore.batch.cli import grouped_chunks, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def long_table(tmp_path_factory):
    rng = np.random.default_rng(4)
    rows = []
    for g in range(300):
        k = int(rng.integers(1, 9))
        mu = rng.normal(0.2, 0.3)
        for j in range(k):
            rows.append({"variant": f"rs{g:05d}", "study": f"cohort {j}",
                         "yi": mu + rng.normal(0, 0.2), "sei": rng.uniform(0.05, 0.3)})
    rows.append({"variant": "rs_bad", "study": "c", "yi": 0.1, "sei": -1.0})
    frame = pd.DataFrame(rows)
    path = tmp_path_factory.mktemp("batch") / "long.parquet"
    frame.to_parquet(path, index=False)
    frame.to_csv(path.with_suffix(".csv"), index=False)
    return frame, path


def _expected(frame: pd.DataFrame, group: str) -> mc.PoolResult:
    sub = frame[frame["variant"] == group]
    return mc.pool(mc.compute_effects(sub.drop(columns=["variant"]), "GEN"),
                   tau2_method="REML")


def test_parquet_in_small_chunks_matches_pool(long_table, tmp_path):
    frame, path = long_table
    out = tmp_path / "out.parquet"
    # chunks of 50 rows: far smaller than the file, every group still analysed whole
    assert main(["batch", str(path), str(out), "--by", "variant", "--chunk-rows", "50"]) == 0
    res = pd.read_parquet(out)
    assert list(res.columns[:2]) == ["variant", "estimate"] and len(res) == 301
    for g in ("rs00000", "rs00123", "rs00299"):
        r = _expected(frame, g)
        row = res.set_index("variant").loc[g]
        assert row["estimate"] == pytest.approx(r.estimate, rel=1e-9)
        assert row["tau2"] == pytest.approx(r.tau2, rel=1e-6, abs=1e-12)
        assert row["k"] == r.k
    bad = res.set_index("variant").loc["rs_bad"]
    assert np.isnan(bad["estimate"]) and bad["excluded"] == 1


def test_csv_and_one_big_chunk_give_the_same(long_table, tmp_path):
    frame, path = long_table
    a, b = tmp_path / "a.csv", tmp_path / "b.parquet"
    assert main(["batch", str(path.with_suffix(".csv")), str(a), "--by", "variant"]) == 0
    assert main(["batch", str(path), str(b), "--by", "variant", "--chunk-rows", "37"]) == 0
    ra, rb = pd.read_csv(a), pd.read_parquet(b)
    np.testing.assert_allclose(ra["estimate"], rb["estimate"], rtol=1e-12, equal_nan=True)


def test_dask_local_gives_identical_results(long_table, tmp_path):
    frame, path = long_table
    plain, dasked = tmp_path / "plain.parquet", tmp_path / "dask.parquet"
    assert main(["batch", str(path), str(plain), "--by", "variant", "--chunk-rows", "200"]) == 0
    assert main(["batch", str(path), str(dasked), "--by", "variant", "--chunk-rows", "200",
                 "--dask", "local"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(plain), pd.read_parquet(dasked))


def test_dask_scheduler_address_joins_an_existing_cluster(long_table, tmp_path):
    from dask.distributed import LocalCluster

    frame, path = long_table
    plain, joined = tmp_path / "plain.parquet", tmp_path / "joined.parquet"
    assert main(["batch", str(path), str(plain), "--by", "variant", "--chunk-rows", "150"]) == 0
    # a scheduler on a TCP port, as a cluster elsewhere would be (in this process, so cheap)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        assert main(["batch", str(path), str(joined), "--by", "variant", "--chunk-rows", "150",
                     "--dask", cluster.scheduler_address]) == 0
        assert cluster.scheduler_address.startswith("tcp://")
    pd.testing.assert_frame_equal(pd.read_parquet(plain), pd.read_parquet(joined))


def test_unsorted_input_is_grouped_first_and_gives_the_same_rows(long_table, tmp_path,
                                                                  capsys):
    frame, path = long_table
    ref = tmp_path / "sorted.parquet"
    assert main(["batch", str(path), str(ref), "--by", "variant", "--chunk-rows", "30"]) == 0
    capsys.readouterr()
    shuffled = tmp_path / "shuffled.parquet"
    moved = pd.concat([frame.iloc[:20], frame.iloc[100:], frame.iloc[20:100]])
    moved.to_parquet(shuffled)
    out = tmp_path / "x.parquet"
    assert main(["batch", str(shuffled), str(out), "--by", "variant", "--chunk-rows", "30"]) == 0
    err = capsys.readouterr().err
    assert "not sorted by 'variant'" in err and "Grouping its rows first" in err
    res = pd.read_parquet(out)
    # one row per group, in order of each group's first row, values as from sorted input
    assert list(res["variant"]) == list(pd.unique(moved["variant"]))
    pd.testing.assert_frame_equal(res.set_index("variant").sort_index(),
                                  pd.read_parquet(ref).set_index("variant").sort_index())


def test_cohort_after_cohort_csv_on_dask(long_table, tmp_path, capsys):
    """A GWAS-style table, every group's rows spread over the whole file (cohort 0 of
    every variant, then cohort 1, ...), as CSV on a local Dask cluster."""
    frame, path = long_table
    ref = tmp_path / "sorted.parquet"
    assert main(["batch", str(path), str(ref), "--by", "variant"]) == 0
    by_cohort = tmp_path / "cohorts.csv"
    frame.sort_values("study", kind="stable").to_csv(by_cohort, index=False)
    out = tmp_path / "dask.csv"
    assert main(["batch", str(by_cohort), str(out), "--by", "variant", "--chunk-rows", "100",
                 "--dask", "local", "--temp-dir", str(tmp_path)]) == 0
    assert "not sorted" in capsys.readouterr().err
    assert [p.name for p in tmp_path.glob("metacore-batch-*")] == []   # cleaned up
    res = pd.read_csv(out, dtype={"variant": str}).set_index("variant").sort_index()
    exp = pd.read_parquet(ref).set_index("variant").sort_index()
    assert len(res) == 301
    # Dask's workers run the kernel on one thread, so rows meet other block companions
    # and, near tau^2 = 0, the vectorised and the one-row Newton may stop at 0 or at 1e-31
    # (seen on a 2-core Xeon): the same estimate, hence the absolute floor.
    for col in ("estimate", "se", "tau2", "ci_low", "q"):
        np.testing.assert_allclose(res[col], exp[col], rtol=1e-12, atol=1e-24,
                                   equal_nan=True)
    assert (res["k"] == exp["k"]).all()


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, 12), min_size=1, max_size=80),
       rows=st.integers(1, 25))
def test_grouped_chunks_hold_every_group_whole_in_first_seen_order(labels, rows):
    frame = pd.DataFrame({"g": [f"g{x}" for x in labels], "i": np.arange(len(labels))})
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "in.parquet")
        frame.to_parquet(path)
        chunks = list(grouped_chunks(path, "g", rows))
    seen = [set(c["g"]) for c in chunks]
    assert sum(len(s) for s in seen) == len(set.union(*seen))      # no group split
    order = {g: j for j, g in enumerate(pd.unique(frame["g"]))}
    expected = frame.iloc[np.argsort(frame["g"].map(order).to_numpy(), kind="stable")]
    got = pd.concat(chunks, ignore_index=True)
    assert got["i"].tolist() == expected["i"].tolist()    # rows in group order, each once
    biggest = frame["g"].value_counts().max()
    assert all(len(c) < rows + biggest for c in chunks)


def test_missing_column_gives_a_message(long_table, tmp_path, capsys):
    _, path = long_table
    assert main(["batch", str(path), str(tmp_path / "x.parquet"), "--by", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


def test_module_entry_point_and_help():
    out = subprocess.run([sys.executable, "-m", "metacore", "batch", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--dask" in out.stdout and "--by" in out.stdout


def test_causal_per_group(tmp_path):
    table = mc.datasets.load("bcg").assign(review=lambda d: d["subgroup"]).sort_values(
        "review", kind="stable")
    path, out = tmp_path / "bcg.csv", tmp_path / "causal.csv"
    table.to_csv(path, index=False)
    assert main(["batch", str(path), str(out), "--by", "review", "--measure", "RR",
                 "--causal"]) == 0
    res = pd.read_csv(out).set_index("review")
    from metacore.batch.causal import causal_many
    ref = causal_many(table, "RR", id_column="review").set_index("meta_id")
    for g in ref.index:
        assert res.loc[g, "causal"] == pytest.approx(ref.loc[g, "causal"], rel=1e-12)
        assert res.loc[g, "classical"] == pytest.approx(ref.loc[g, "classical"], rel=1e-12)


def test_mantra_per_variant(tmp_path):
    rng = np.random.default_rng(3)
    pops = ["EUR", "AFR", "EAS", "SAS", "LAT"]
    coords = rng.normal(size=(5, 2))
    D = mc.distances_from(coords)
    pd.DataFrame(D, columns=pops).to_csv(tmp_path / "dist.csv", index=False)
    rows = []
    for g in range(12):
        for j in rng.permutation(5):                   # any order within a variant
            rows.append({"variant": f"v{g}", "population": pops[j],
                         "yi": rng.normal(0.1, 0.2), "sei": rng.uniform(0.05, 0.2)})
    long = pd.DataFrame(rows)
    long.to_parquet(tmp_path / "v.parquet")
    assert main(["batch", str(tmp_path / "v.parquet"), str(tmp_path / "m.parquet"), "--by",
                 "variant", "--mantra", "--distances", str(tmp_path / "dist.csv")]) == 0
    res = pd.read_parquet(tmp_path / "m.parquet").set_index("variant")
    sub = long[long["variant"] == "v3"].set_index("population").loc[pops]
    one = mc.cluster_meta(mc.EffectSizes(yi=sub["yi"].to_numpy(), vi=sub["sei"].to_numpy() ** 2,
                                         study=tuple(pops), measure="GEN"), D)
    assert res.loc["v3", "prob_heterogeneous"] == pytest.approx(one.prob_heterogeneous,
                                                                abs=1e-12)
    assert res.loc["v3", "log10_bf"] == pytest.approx(one.log10_bf, abs=1e-10)


def test_mantra_variants_missing_from_some_cohorts(tmp_path):
    """A variant measured in some populations is analysed on those (the distances between
    them), as MANTRA does; unknown or repeated populations and unusable rows say why."""
    rng = np.random.default_rng(8)
    pops = ["EUR", "AFR", "EAS", "SAS"]
    D = mc.distances_from(rng.normal(size=(4, 2)))
    pd.DataFrame(D, columns=pops).to_csv(tmp_path / "dist.csv", index=False)
    rows = []

    def add(variant, pop, sei=None):
        rows.append({"variant": variant, "population": pop, "yi": rng.normal(0.1, 0.2),
                     "sei": rng.uniform(0.05, 0.2) if sei is None else sei})

    for pop in pops:                                  # cohort after cohort, as in a GWAS
        for g in range(8):
            if not (g == 1 and pop == "AFR") and not (g == 2 and pop in ("EAS", "SAS")) \
                    and not (g == 3 and pop != "EUR"):
                add(f"v{g}", pop, -1.0 if g == 7 else None)
    add("v5", "XYZ")
    add("v6", "EUR")
    long = pd.DataFrame(rows)
    long.to_parquet(tmp_path / "v.parquet")
    out = tmp_path / "m.csv"
    assert main(["batch", str(tmp_path / "v.parquet"), str(out), "--by", "variant",
                 "--mantra", "--distances", str(tmp_path / "dist.csv")]) == 0
    res = pd.read_csv(out, keep_default_na=False, na_values=[""]).set_index("variant")
    assert list(res.index) == [f"v{g}" for g in range(8)]
    assert res["k"].tolist()[:4] == [4, 3, 2, 1]
    assert res.loc["v1", "absent"] == "AFR" and res.loc["v2", "absent"] == "EAS, SAS"
    for g in ("v0", "v1", "v2", "v3"):
        sub = long[long["variant"] == g]
        cols = [pops.index(p) for p in sub["population"]]
        one = mc.cluster_meta(mc.EffectSizes(yi=sub["yi"].to_numpy(),
                                             vi=sub["sei"].to_numpy() ** 2,
                                             study=tuple(sub["population"]), measure="GEN"),
                              D[np.ix_(cols, cols)])
        assert res.loc[g, "log10_bf"] == pytest.approx(one.log10_bf, abs=1e-10)
        assert res.loc[g, "prob_heterogeneous"] == pytest.approx(one.prob_heterogeneous,
                                                                 abs=1e-12)
        probs = res.loc[g, [f"prob_c{c}" for c in range(1, 5)]].to_numpy(float)
        np.testing.assert_allclose(probs[:len(cols)], one.prob_c, atol=1e-12)
        assert (probs[len(cols):] == 0).all()      # more clusters than populations
    assert "'XYZ' is not in the distances file" in res.loc["v5", "reason"]
    assert "'EUR' appears twice" in res.loc["v6", "reason"]
    assert res.loc["v7", "reason"] == "no population has a usable estimate"
    assert np.isnan(res.loc[["v5", "v6", "v7"], "log10_bf"]).all()
    assert (res.loc[["v0", "v1", "v2", "v3", "v4"], "reason"].isna()).all()


_PEAK = """
import resource, runpy, sys
sys.argv = ["metacore", *sys.argv[1:]]
try:
    runpy.run_module("metacore", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def _peak_mb(args: list[str]) -> float:
    out = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("PEAK_KB"))
    return int(line.split()[1]) / 1024


def _long_csv(path: Path, m: int, k: int, seed: int, by_cohort: bool = False) -> None:
    """m meta-analyses of k studies: each group's rows together, or (``by_cohort``) the
    first study of every group, then the second, ..., as cohorts' files put end to end."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write("variant,yi,sei\n")
        blocks = ([np.arange(m)] * k if by_cohort else
                  [np.repeat(np.arange(a, min(m, a + 50_000)), k) for a in range(0, m, 50_000)])
        for g in blocks:
            y = rng.normal(0.1, 0.3, g.size)
            s = rng.uniform(0.05, 0.3, g.size)
            f.write("\n".join(f"v{a},{b:.6f},{c:.6f}" for a, b, c in zip(g, y, s,
                                                                          strict=True)))
            f.write("\n")


def test_a_file_larger_than_the_memory_cap_streams_in_chunks(tmp_path):
    """A 124 MB CSV (5 million studies, 500,000 meta-analyses) is analysed in chunks of
    100,000 rows: the memory the run adds stays below the file's size, and a file five
    times larger needs hardly more memory than a small one (measured: +20 MB)."""
    big, mid = tmp_path / "big.csv", tmp_path / "mid.csv"
    _long_csv(big, 500_000, 10, 11)
    _long_csv(mid, 100_000, 10, 12)
    size_mb, mid_mb = big.stat().st_size / 2**20, mid.stat().st_size / 2**20
    assert size_mb > 120
    small = tmp_path / "small.csv"
    small.write_text("variant,yi,sei\n" + "".join(f"v{i // 5},0.{i},0.1\n" for i in range(10)))
    base = _peak_mb(["batch", str(small), str(tmp_path / "s.parquet"), "--by", "variant"])
    opts = ["--by", "variant", "--tau2", "DL", "--chunk-rows", "100000"]
    peak_mid = _peak_mb(["batch", str(mid), str(tmp_path / "m.parquet"), *opts])
    peak = _peak_mb(["batch", str(big), str(tmp_path / "b.parquet"), *opts])
    res = pd.read_parquet(tmp_path / "b.parquet")
    assert len(res) == 500_000 and res["k"].eq(10).all() and res["estimate"].notna().all()
    print(f"{size_mb:.0f} MB file: peak {peak:.0f} MB; {mid_mb:.0f} MB file: {peak_mid:.0f} "
          f"MB; start-up {base:.0f} MB")
    assert peak - base < size_mb
    assert peak - peak_mid < 0.3 * (size_mb - mid_mb)


def test_an_unsorted_file_larger_than_the_memory_cap_is_grouped_in_chunks(tmp_path):
    """The same sizes, cohort after cohort (every group spread over the whole file): grouped
    on disk first, memory still follows the chunk, not the file (measured: 125 MB file,
    peak +25 MB over a 24 MB one)."""
    big, mid = tmp_path / "big.csv", tmp_path / "mid.csv"
    _long_csv(big, 500_000, 10, 11, by_cohort=True)
    _long_csv(mid, 100_000, 10, 12, by_cohort=True)
    size_mb, mid_mb = big.stat().st_size / 2**20, mid.stat().st_size / 2**20
    opts = ["--by", "variant", "--tau2", "DL", "--chunk-rows", "100000", "--temp-dir",
            str(tmp_path)]
    peak_mid = _peak_mb(["batch", str(mid), str(tmp_path / "m.parquet"), *opts])
    peak = _peak_mb(["batch", str(big), str(tmp_path / "b.parquet"), *opts])
    res = pd.read_parquet(tmp_path / "b.parquet")
    assert len(res) == 500_000 and res["k"].eq(10).all() and res["estimate"].notna().all()
    assert res["variant"].iloc[[0, 1, -1]].tolist() == ["v0", "v1", "v499999"]
    print(f"unsorted: {size_mb:.0f} MB file: peak {peak:.0f} MB; {mid_mb:.0f} MB file: "
          f"{peak_mid:.0f} MB")
    assert peak - peak_mid < 0.3 * (size_mb - mid_mb)
