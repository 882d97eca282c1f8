"""Command line: many meta-analyses from one long table.

    python -m metacore batch IN OUT --by COLUMN [--measure M] [--model random] [--tau2 REML]
                             [--ci z] [--level 0.95] [--chunk-rows N] [--temp-dir DIR]
                             [--dask local|ADDRESS]

IN and OUT are Parquet (``.parquet``) or CSV. IN is long: one row per study, canonical
columns or any alias, and a column naming the meta-analysis (``--by``). The input streams
in chunks with bounded memory, so a file larger than memory works. Where each group's rows
are together (sorted by group) it is read once; where they are not (a GWAS table
cohort after cohort, say), that is found as the chunks go, and the rows are first grouped
on disk (in ``--temp-dir``, as much space as the input) in two more passes, memory still
bounded. Each output row is one meta-analysis, in order of each group's first row, the
group first. Groups that cannot be pooled are reported in the output (``reason``), never
fatal. In a CSV the group column is read as text ("007" stays "007").
``--dask local`` runs the chunks on a local Dask cluster, ``--dask tcp://host:8786`` joins
an existing one; the results are identical.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from metacore._extras import need
from metacore.batch.pool import BATCH_COLUMNS, pool_batch
from metacore.errors import MetacoreError
from metacore.models.effects import RATIO_MEASURES, compute_effects
from metacore.models.pooling import CI_METHODS

__all__ = ["Unsorted", "add_parser", "grouped_chunks", "main", "process_chunk", "read_chunks"]


class Unsorted(MetacoreError):
    """A group's rows are not together in the input."""


def _batches(path: str, by: str, rows: int, columns: list[str] | None = None
             ) -> Iterator[pd.DataFrame]:
    """The input as frames of ``rows`` rows (Parquet or CSV; the group column as text in a
    CSV, so that every chunk reads the same identifier the same way)."""
    if path.endswith(".parquet"):
        need("pyarrow", "Reading Parquet files")
        import pyarrow.parquet as pq

        for b in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns):
            yield b.to_pandas()
    else:
        yield from pd.read_csv(path, chunksize=rows, usecols=columns, dtype={by: str})


def _hashes(values) -> np.ndarray:
    return pd.util.hash_array(np.asarray(values, dtype=object))


def read_chunks(path: str, by: str, rows: int) -> Iterator[pd.DataFrame]:
    """The input in chunks of about ``rows`` rows that never split a group.

    The last group of each chunk is held back and joined to the next, so a group is
    always analysed whole; a group that comes back after other groups raises
    :class:`Unsorted` (then :func:`grouped_chunks` reads the input instead).
    """
    batches = _batches(path, by, rows)
    carry = None
    # 64-bit hashes of the groups met so far, sorted: 8 bytes per group where a set of the
    # names grew by ~100 (2.5 million variants: 20 MB, not 250). Two different names
    # sharing a hash (odds ~ n^2 / 2^65, 2e-7 at 2.5 million) would look like a repeated
    # group and send the input down the grouping path, which tells them apart by name:
    # never silently merged.
    seen = np.zeros(0, dtype=np.uint64)
    for frame in batches:
        if by not in frame.columns:
            raise MetacoreError(f"The input has no column '{by}' (columns: "
                                + ", ".join(map(str, frame.columns[:10])) + ").")
        if carry is not None:
            frame = pd.concat([carry, frame], ignore_index=True)
        last = frame[by].iloc[-1]
        tail = frame[by].to_numpy() == last
        # hold back the trailing run of the last group
        start = len(frame) - int(np.argmin(tail[::-1])) if not tail.all() else 0
        carry, frame = frame.iloc[start:], frame.iloc[:start]
        if len(frame):
            seen = _checked(frame, by, seen)
            yield frame.reset_index(drop=True)
    if carry is not None and len(carry):
        _checked(carry, by, seen)
        yield carry.reset_index(drop=True)


def _checked(frame: pd.DataFrame, by: str, seen: np.ndarray) -> np.ndarray:
    """``seen`` with this chunk's groups added; a group met before raises :class:`Unsorted`."""
    groups = pd.unique(frame[by])
    hashes = _hashes(groups)
    pos = np.searchsorted(seen, hashes)
    hit = (pos < len(seen)) & (seen[np.minimum(pos, len(seen) - 1)] == hashes) \
        if len(seen) else np.zeros(len(hashes), bool)
    if hit.any() or len(np.unique(hashes)) < len(hashes):
        first = groups[int(np.argmax(hit))] if hit.any() else groups[0]
        raise Unsorted(f"Group '{first}' appears in two places: the input is not sorted "
                       f"by '{by}'.")
    return np.union1d(seen, hashes)


def _ranks(path: str, by: str, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the group column: each group's hash (sorted), its rank in order of
    first appearance, and the rows of each rank.

    16 bytes per group plus one chunk; a hash shared by two groups (odds ~ n^2 / 2^65) only
    puts them in the same bucket, where they are still told apart by name.
    """
    keys = np.zeros(0, np.uint64)
    rank = np.zeros(0, np.int64)
    counts = np.zeros(0, np.int64)
    for frame in _batches(path, by, rows, columns=[by]):   # read_chunks saw the column
        u, first, cnt = np.unique(_hashes(frame[by]), return_index=True, return_counts=True)
        pos = np.minimum(np.searchsorted(keys, u), max(len(keys) - 1, 0))
        found = keys[pos] == u if len(keys) else np.zeros(len(u), bool)
        np.add.at(counts, rank[pos[found]], cnt[found])
        new = np.flatnonzero(~found)
        new = new[np.argsort(first[new], kind="stable")]      # ranks by first appearance
        keys = np.concatenate([keys, u[new]])
        rank = np.concatenate([rank, len(counts) + np.arange(len(new))])
        counts = np.concatenate([counts, cnt[new]])
        order = np.argsort(keys, kind="stable")
        keys, rank = keys[order], rank[order]
    return keys, rank, counts


def grouped_chunks(path: str, by: str, rows: int, temp_dir: str | None = None
                   ) -> Iterator[pd.DataFrame]:
    """The input in chunks that hold every group whole, whatever the input's order.

    Three passes, memory bounded by a chunk: the group column alone (each group's rank by
    first appearance and its rows), then each chunk's rows appended to the bucket of
    their group (consecutive ranks, about ``rows`` rows per bucket) in a temporary
    directory, then the buckets in turn, rows ordered by group rank (stable, so a
    group's rows keep their input order).
    """
    keys, rank, counts = _ranks(path, by, rows)
    start = np.cumsum(counts) - counts
    # consecutive ranks share a bucket; a group never straddles two (dense numbering, as a
    # group larger than ``rows`` skips bucket numbers)
    bucket_of = np.unique(start // max(rows, 1), return_inverse=True)[1].reshape(-1)
    with tempfile.TemporaryDirectory(prefix="metacore-batch-", dir=temp_dir) as tmp:
        files = [Path(tmp) / f"{b}.pkl" for b in range(int(bucket_of.max(initial=-1)) + 1)]
        for frame in _batches(path, by, rows):
            r = rank[np.searchsorted(keys, _hashes(frame[by]))]
            b = bucket_of[r]
            order = np.argsort(b, kind="stable")
            cuts = np.flatnonzero(np.diff(b[order])) + 1
            for part in np.split(order, cuts):
                if len(part):
                    # opened per piece: thousands of buckets need no thousands of handles
                    with open(files[b[part[0]]], "ab") as fh:
                        pickle.dump((frame.iloc[part], r[part]), fh,
                                    protocol=pickle.HIGHEST_PROTOCOL)
        for f in files:
            pieces = []
            with open(f, "rb") as fh:
                while True:
                    try:
                        pieces.append(pickle.load(fh))  # our own files, written above
                    except EOFError:
                        break
            f.unlink()
            frame = pd.concat([p[0] for p in pieces], ignore_index=True)
            r = np.concatenate([p[1] for p in pieces])
            yield frame.iloc[np.argsort(r, kind="stable")].reset_index(drop=True)


def process_chunk(frame: pd.DataFrame, by: str, measure: str, model: str, tau2: str, ci: str,
                  level: float, mode: str = "pool", extra: dict | None = None) -> pd.DataFrame:
    """Analyse every group of one chunk (a pure function: the same on any Dask worker).

    ``mode`` is "pool" (one meta-analysis per group), "causal" (classical random effects
    beside the causal estimate, :func:`metacore.causal_many`) or "mantra" (the clustered
    model per group; ``extra`` holds the populations and their distances).
    """
    if mode == "causal":
        from metacore.batch.causal import causal_many

        return causal_many(frame, measure, id_column=by, tau2_method=tau2, ci_method=ci,
                           level=level).rename(columns={"meta_id": by})
    if mode == "mantra":
        return _mantra_chunk(frame, by, measure, extra or {})
    groups = pd.unique(frame[by])
    order = {g: i for i, g in enumerate(groups)}
    table = frame.drop(columns=[by]).assign(metacore_group_id=frame[by].map(order).to_numpy())
    try:
        eff = compute_effects(table, measure)
    except MetacoreError as err:
        out = pd.DataFrame({by: groups})
        for col in BATCH_COLUMNS:
            out[col] = np.nan
        out["k"], out["reason"], out["excluded"] = 0, str(err), 0
        return out
    gid = eff.data["metacore_group_id"].to_numpy(int)
    n_groups = len(groups)
    pos = pd.Series(gid).groupby(gid).cumcount().to_numpy()
    kmax = int(pos.max()) + 1 if len(pos) else 1
    y = np.full((n_groups, kmax), np.nan)
    v = np.full((n_groups, kmax), np.nan)
    y[gid, pos], v[gid, pos] = eff.yi, eff.vi
    res = pool_batch(y, v, model=model, tau2_method=tau2, ci_method=ci, level=level)
    excluded = np.bincount(
        table["metacore_group_id"].to_numpy(int)[np.asarray(eff.excluded_rows, int) - 1],
        minlength=n_groups) if eff.excluded_rows else np.zeros(n_groups, int)
    res.insert(0, by, groups)
    res["reason"] = res["reason"].astype(str)
    res["excluded"] = excluded
    if measure in RATIO_MEASURES:
        for col in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            res[f"{col}_ratio"] = np.exp(res[col])
    return res


def _mantra_chunk(frame: pd.DataFrame, by: str, measure: str, extra: dict) -> pd.DataFrame:
    """The clustered model for each group: one row per population, in any order.

    A group measured in only some populations (a variant missing from a cohort, as is
    common in a GWAS) is analysed on those, with their distances (as MANTRA does); the
    groups are batched by which populations they have. A population the distances file
    does not name, or named twice in one group, leaves that group unanalysed with the
    reason.
    """
    from metacore.batch.cluster import cluster_meta_batch

    pops, D, col = extra["populations"], np.asarray(extra["distances"]), extra["column"]
    if col not in frame.columns:
        raise MetacoreError(f"The input has no column '{col}' naming each row's population.")
    n_pop = len(pops)
    eff = compute_effects(frame.drop(columns=[by]), measure)
    rows = np.asarray(eff.rows, dtype=int) - 1
    groups = pd.unique(frame[by])
    gi = pd.Index(groups).get_indexer(frame[by].to_numpy()[rows])
    names = eff.data[col].astype(str).to_numpy()
    pj = pd.Index(pops).get_indexer(names)
    reason = np.full(len(groups), "", dtype=object)
    known = pj >= 0
    for g, name in zip(gi[~known], names[~known], strict=True):      # rare: loop is fine
        reason[g] = reason[g] or f"population '{name}' is not in the distances file"
    cell = gi[known] * n_pop + pj[known]
    twice = pd.Series(cell).duplicated(keep=False).to_numpy()
    for c in np.unique(cell[twice]):
        reason[c // n_pop] = reason[c // n_pop] or f"population '{pops[c % n_pop]}' appears twice"
    Y = np.full((len(groups), n_pop), np.nan)
    S = np.full((len(groups), n_pop), np.nan)
    Y.flat[cell[~twice]] = eff.yi[known][~twice]
    S.flat[cell[~twice]] = np.sqrt(eff.vi[known][~twice])
    present = np.isfinite(Y) & np.isfinite(S) & (S > 0)
    reason[(reason == "") & ~present.any(1)] = "no population has a usable estimate"
    ok = reason == ""
    out = pd.DataFrame({by: groups, "k": present.sum(1), "prob_heterogeneous": np.nan,
                        "log10_bf": np.nan})
    prob_c = np.full((len(groups), n_pop), np.nan)
    code = present.astype(np.int64) @ (1 << np.arange(n_pop, dtype=np.int64))
    for pattern in np.unique(code[ok]):
        sel = np.flatnonzero(ok & (code == pattern))
        cols = np.flatnonzero((pattern >> np.arange(n_pop)) & 1)
        res = cluster_meta_batch(Y[np.ix_(sel, cols)], S[np.ix_(sel, cols)],
                                 D[np.ix_(cols, cols)])
        out.loc[sel, "prob_heterogeneous"] = res["prob_heterogeneous"]
        out.loc[sel, "log10_bf"] = res["log10_bf"]
        prob_c[sel] = 0.0                        # more clusters than populations: impossible
        prob_c[sel, :len(cols)] = res["prob_c"]
    for c in range(n_pop):
        out[f"prob_c{c + 1}"] = prob_c[:, c]
    absent = ~present & ok[:, None]
    some = np.flatnonzero(absent.any(1))
    out["absent"] = ""
    out.loc[some, "absent"] = [", ".join(pops[j] for j in np.flatnonzero(absent[i]))
                               for i in some]
    out["reason"] = reason
    return out


class _Writer:
    def __init__(self, path: str) -> None:
        self.path, self.parquet, self.first = path, path.endswith(".parquet"), True
        self.writer = None

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            need("pyarrow", "Writing Parquet files")
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table.cast(self.writer.schema))
        else:
            frame.to_csv(self.path, mode="w" if self.first else "a", header=self.first,
                         index=False)
        self.first = False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run(args: argparse.Namespace, progress: bool = True) -> int:
    """Run the batch command; returns the number of meta-analyses written."""
    mode = "causal" if args.causal else ("mantra" if args.mantra else "pool")
    extra = None
    if args.mantra:
        if not args.distances:
            raise MetacoreError("--mantra needs --distances FILE (a CSV whose header names "
                                "the populations, with their k x k distances below).")
        dist = pd.read_csv(args.distances)
        extra = {"populations": [str(c) for c in dist.columns],
                 "distances": dist.to_numpy(float), "column": args.population}
    options = (args.by, args.measure, args.model, args.tau2, args.ci, args.level, mode, extra)
    bar = None
    if progress:
        tqdm = need("tqdm", "The batch progress bar").tqdm
        bar = tqdm(unit=" meta-analyses", file=sys.stderr, disable=not sys.stderr.isatty())
    client = cluster = None
    try:
        if args.dask:
            need("distributed", "--dask")
            from dask.distributed import Client, LocalCluster

            if args.dask == "local":
                cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
            else:
                client = Client(args.dask)
        try:
            return _analyse(read_chunks(args.input, args.by, args.chunk_rows), args.output,
                            options, client, bar)
        except Unsorted as err:
            # found part-way: what was written is discarded and the input grouped first
            print(f"metacore batch: {err} Grouping its rows first (two more passes over "
                  "the input, temporary files as large as it).", file=sys.stderr)
            if bar is not None:
                bar.reset()
            chunks = grouped_chunks(args.input, args.by, args.chunk_rows,
                                    getattr(args, "temp_dir", None))
            return _analyse(chunks, args.output, options, client, bar)
    finally:
        if bar is not None:
            bar.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _analyse(chunks: Iterator[pd.DataFrame], output: str, options: tuple, client,
             bar) -> int:
    """Every chunk analysed (here or on the Dask client's workers, a window of four in
    flight so memory stays bounded) and written in order; the count written."""
    writer = _Writer(output)
    written = 0
    pending: list = []

    def put(out: pd.DataFrame) -> None:
        nonlocal written
        writer.write(out)
        written += len(out)
        if bar is not None:
            bar.update(len(out))

    try:
        for chunk in chunks:
            if client is None:
                put(process_chunk(chunk, *options))
                continue
            pending.append(client.submit(process_chunk, chunk, *options, pure=False))
            if len(pending) >= 4:
                put(pending.pop(0).result())
        while pending:
            put(pending.pop(0).result())
    finally:
        for fut in pending:                 # an unsorted input stops the stream part-way
            fut.cancel()
        writer.close()
    return written


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``batch`` subcommand on a parser's subparsers (also the ``metacore`` command's)."""
    b = sub.add_parser("batch", help="many meta-analyses from one long table",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("input", help="long table: .parquet or CSV, one row per study")
    b.add_argument("output", help="results: .parquet or CSV, one row per meta-analysis")
    b.add_argument("--by", required=True, help="column naming the meta-analysis of each row")
    b.add_argument("--measure", default="GEN",
                   help="effect measure (OR RR RD AS PETO MD SMD SMDH ROM GEN; default GEN: "
                        "ready yi with sei or vi)")
    b.add_argument("--model", default="random", choices=["random", "common"])
    b.add_argument("--tau2", default="REML",
                   choices=["DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"])
    b.add_argument("--ci", default="z", choices=list(CI_METHODS))
    b.add_argument("--level", type=float, default=0.95)
    b.add_argument("--chunk-rows", type=int, default=500_000,
                   help="rows read at a time (bounds the memory used)")
    b.add_argument("--temp-dir", default=None,
                   help="where an input not sorted by group is grouped (default: the "
                        "system's temporary directory, TMPDIR)")
    b.add_argument("--dask", default=None,
                   help="'local' for a local Dask cluster, or a scheduler address")
    b.add_argument("--causal", action="store_true",
                   help="classical random effects beside the causal estimate (2x2 data; "
                        "--measure RD, RR, OR or SR)")
    b.add_argument("--mantra", action="store_true",
                   help="the clustered (MANTRA-type) model per group, on the populations "
                        "it was measured in (columns k and absent say which); needs "
                        "--distances")
    b.add_argument("--distances", help="CSV: header = population names, then their k x k "
                                       "distances (for --mantra)")
    b.add_argument("--population", default="population",
                   help="column naming each row's population (for --mantra)")
    return b


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m metacore",
                                 description="metacore from the command line.")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    if args.command == "batch":
        try:
            n = run(args)
        except (MetacoreError, FileNotFoundError, ValueError) as err:
            print(f"metacore batch: {err}", file=sys.stderr)
            return 2
        print(f"{n:,} meta-analyses written to {Path(args.output)}", file=sys.stderr)
    return 0
