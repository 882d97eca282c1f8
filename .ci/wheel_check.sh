#!/usr/bin/env bash
# The package as a user gets it (issue 30). Builds a wheel and an sdist, then:
#   1. a fresh virtual environment with the wheel and its core dependencies only (numpy, scipy,
#      pandas; asserts streamlit, altair, numba, SQLAlchemy ... are absent): the engine's
#      doctests from the installed package, a smoke test of every public function (those that
#      need an extra must say which, in one line), and `metacore analyse`;
#   2. another with metacore[all]: `metacore --help`, `metacore analyse` on a bundled CSV
#      compared with pool, and `metacore report`.
# Everything (environments, pip's cache, the built files) stays under build/wheel-check/.
# Run from anywhere: .ci/wheel_check.sh (make wheel-check; make test runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/build/wheel-check
PYTHON=${PYTHON:-python3}
export PIP_CACHE_DIR=$WORK/pip-cache PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
# the engine's batch kernel may be compiled by numba: keep its cache in the environment too
export NUMBA_CACHE_DIR=$WORK/numba-cache
start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" $((SECONDS - start)); }

rm -rf "$WORK/dist" "$WORK/core" "$WORK/all" "$WORK/run" "$ROOT"/*.egg-info
mkdir -p "$WORK/run"

step "building the wheel and the sdist"
test -x "$WORK/tools/bin/python" || "$PYTHON" -m venv "$WORK/tools"
# -I: the checkout's own build/ folder (where this script works) must not pass for the package
"$WORK/tools/bin/python" -I -c "import build.__main__" 2>/dev/null || "$WORK/tools/bin/pip" install -q build
"$WORK/tools/bin/python" -I -m build --sdist --wheel --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 \
    || { tail -40 "$WORK/build.log"; exit 1; }
rm -rf "$ROOT"/*.egg-info "$ROOT/build/lib" "$ROOT/build/bdist."*
WHEEL=$(ls "$WORK"/dist/metacore-*.whl)
SDIST=$(ls "$WORK"/dist/metacore-*.tar.gz)
VERSION=$("$PYTHON" -c "import re; print(re.search(r'__version__ = \"(.+)\"', open('metacore/_version.py').read())[1])")
case "$WHEEL" in *"metacore-$VERSION-"*) ;; *) echo "wheel $WHEEL is not version $VERSION"; exit 1;; esac
# the datasets ride along as package data, in both
for archive in "$WHEEL" "$SDIST"; do
    "$PYTHON" - "$archive" <<'EOF'
import sys, tarfile, zipfile
path = sys.argv[1]
names = (zipfile.ZipFile(path).namelist() if path.endswith(".whl")
         else tarfile.open(path).getnames())
need = ["metacore/data/datasets/bcg.csv", "metacore/report/cli.py", "metacore/_extras.py"]
missing = [n for n in need if not any(x.endswith(n) for x in names)]
assert not missing, f"{path} lacks {missing}"
assert not any("/tests/" in x or x.startswith("tests/") for x in names if x.endswith(".py")
               and path.endswith(".whl")), "the wheel ships the tests"
print(f"{path.rsplit('/', 1)[-1]}: {len(names)} files")
EOF
done

step "core environment: the wheel with numpy, scipy and pandas only"
"$PYTHON" -m venv "$WORK/core"
"$WORK/core/bin/pip" install -q "$WHEEL" pytest
cd "$WORK/run"      # not the checkout: the installed package must be the one imported
"$WORK/core/bin/python" - <<'EOF'
import importlib.util, sys
optional = ["streamlit", "altair", "vl_convert", "numba", "sqlalchemy", "pyarrow", "dask",
            "tqdm", "docx", "openpyxl", "psycopg"]
present = [m for m in optional if importlib.util.find_spec(m)]
assert not present, f"the core environment has optional packages: {present}"
import metacore
assert "site-packages" in metacore.__file__, metacore.__file__
print("metacore", metacore.__version__, "from", metacore.__file__)
EOF

step "core environment: the engine's doctests"
"$WORK/core/bin/python" - <<'EOF'
"""Every docstring example of the installed engine. An example that needs an extra must fail
with MissingExtra (one line naming it); any other failure fails the check."""
import doctest, importlib, io, pkgutil, sys

import metacore
from metacore._extras import EXTRAS
from metacore.errors import MissingExtra

run = failed = 0
needs, unimportable = [], []
for info in pkgutil.walk_packages(metacore.__path__, "metacore."):
    name = info.name
    if name.endswith("__main__"):
        continue
    try:
        module = importlib.import_module(name)
    except MissingExtra as err:
        unimportable.append(f"{name}: {err}")
        continue
    except ModuleNotFoundError as err:
        # a module that imports an optional package itself (its package checked it first)
        if err.name and err.name.split(".")[0] in EXTRAS:
            unimportable.append(f"{name}: needs {err.name}")
            continue
        raise
    for test in doctest.DocTestFinder().find(module, name):
        if not test.examples:
            continue
        out = io.StringIO()
        res = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=out.write)
        text = out.getvalue()
        if res.failed and "MissingExtra" in text.split("Failed example:")[1][:2000]:
            needs.append(test.name)
            continue
        run += res.attempted
        if res.failed:
            failed += 1
            print(text[:3000])
print(f"{run} examples passed; {len(needs)} docstrings need an extra and said so: "
      f"{', '.join(sorted(needs))}")
print(f"{len(unimportable)} modules need an extra to import:", *unimportable, sep="\n  ")
assert run > 200, f"only {run} doctest examples ran"
sys.exit(1 if failed else 0)
EOF

step "core environment: every public function"
BCG=$("$WORK/core/bin/python" -c "import metacore.data.datasets as d, pathlib; print(pathlib.Path(d.__file__).parent / 'bcg.csv')")
RM5="$ROOT/tests/reference/revman/review_small.rm5" "$WORK/core/bin/python" - <<'EOF'
import inspect, math, os
import numpy as np
import pandas as pd
import metacore as mc
from metacore.errors import MissingExtra

bcg = mc.datasets.load("bcg")
eff = mc.compute_effects(bcg, "RR")
res = mc.pool(eff)
seed = mc.compute_effects(mc.datasets.load("seed002"), "MD")
ko = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
ml = mc.multilevel(ko, ["district", "school"], profile=False)
nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
dist = mc.distances_from(np.arange(seed.k))
many = bcg.assign(meta_id=np.arange(len(bcg)) % 2)
RM5 = os.environ["RM5"]
review = mc.Review("Smoke test").add_comparison("BCG vs none")
robvis = pd.DataFrame({"Study": ["a"], **{f"D{i}": ["Low"] for i in range(1, 6)},
                       "Overall": ["Low"]})
# name -> a call; None: the function needs an extra and must say which
CALLS = {
    "compute_effects": lambda: mc.compute_effects(bcg, "OR"),
    "pool": lambda: mc.pool(eff, tau2_method="PM", ci_method="hksj"),
    "pool_mh": lambda: mc.pool_mh(bcg, "RR"), "pool_peto": lambda: mc.pool_peto(bcg),
    "causal_pool": lambda: mc.causal_pool(bcg, "RR"),
    "bayes_pool": lambda: mc.bayes_pool(seed, tau_prior=mc.priors.HalfNormal(2.0)),
    "subgroups": lambda: mc.subgroups(eff, "subgroup"),
    "metareg": lambda: mc.metareg(eff, ["ablat"]),
    "egger": lambda: mc.egger(eff), "begg": lambda: mc.begg(eff),
    "trimfill": lambda: mc.trimfill(eff), "failsafe": lambda: mc.failsafe(eff),
    "influence": lambda: mc.influence(eff), "cumulative": lambda: mc.cumulative(eff),
    "gosh": lambda: mc.gosh(eff, subsets=500), "baujat": lambda: mc.baujat(eff),
    "leave_one_out": lambda: mc.leave_one_out(eff),
    "compare_estimators": lambda: mc.compare_estimators(eff),
    "cluster_meta": lambda: mc.cluster_meta(seed, dist, mu_prior_sd=None),
    "distances_from": lambda: mc.distances_from(np.arange(4.0)),
    "cluster_meta_batch": lambda: mc.cluster_meta_batch(
        seed.yi[None, :], np.sqrt(seed.vi)[None, :], dist),
    "pool_batch": None, "causal_many": None,
    "map_columns": lambda: mc.map_columns(list(bcg.columns)),
    "standardize": lambda: mc.standardize(bcg),
    "generic_scale": lambda: mc.generic_scale(mc.standardize(mc.datasets.load("seed000"))),
    "measure_name": lambda: mc.measure_name("RR"), "measures_for": lambda: mc.measures_for("binary"),
    "summary_of_findings": lambda: mc.summary_of_findings(eff, res),
    "analysis_of": lambda: mc.analysis_of(bcg, measure="OR", model="MH"),
    "multilevel": lambda: mc.multilevel(ko, ["district", "school"]),
    "rho_sensitivity": lambda: mc.rho_sensitivity(ko, ["district", "school"], rhos=(0.0, 0.5)),
    "robust": lambda: mc.robust(ml, cluster="district"),
    "dependence_table": lambda: mc.dependence_table(ko, ["district", "school"]),
    "network": lambda: mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo"),
    "network_script": lambda: mc.network_script(nm), "decomp_design": lambda: mc.decomp_design(nm),
    "netsplit": lambda: mc.netsplit(nm), "netcontrib": lambda: mc.netcontrib(nm),
    "network_leave_one_out": lambda: mc.network_leave_one_out(nm, "metformin", "placebo"),
    "comparison_adjusted": lambda: mc.comparison_adjusted(nm),
    "league_grid": lambda: mc.league_grid(nm),
    "read_revman": None,
    "review_to_json": lambda: mc.review_to_json(review),
    "review_from_json": lambda: mc.review_from_json(mc.review_to_json(review)),
    "review_summary": lambda: mc.review_summary(review, review.comparisons[0].id),
    "read_robvis": lambda: mc.read_robvis(robvis, "rob2"),
    "direction_words": lambda: mc.direction_words("SR", 0.1),
    "kendall_exact_p": lambda: mc.kendall_exact_p(0.3, 60),
    "not_estimable": lambda: mc.not_estimable(eff),
    "proportion_ci": lambda: mc.proportion_ci(3, 10, method="wilson"),
    "pool_glmm": lambda: mc.pool_glmm(mc.datasets.load("olfaction"), "PLO"),
}
EXPORT = {
    "metafor_script": lambda: mc.export.metafor_script(bcg, measure="RR"),
    "results_record": lambda: mc.export.results_record(eff, res),
    "methods_text": lambda: mc.export.methods_text(eff, res),
    "build_report": None, "html_report": None, "docx_report": None,
}
public = [n for n in mc.__all__ if inspect.isfunction(getattr(mc, n))]
unlisted = sorted(set(public) - set(CALLS))
assert not unlisted, (f"public functions without a smoke call in .ci/wheel_check.sh: "
                      f"{unlisted}: add one")
extra_calls = {"pool_batch": lambda: mc.pool_batch(eff.yi[None, :], eff.vi[None, :]),
               "causal_many": lambda: mc.causal_many(many, "RR"),
               "build_report": lambda: mc.export.build_report(bcg),
               "html_report": lambda: mc.export.html_report(bcg),
               "docx_report": lambda: mc.export.docx_report(bcg),
               "read_revman": lambda: mc.read_revman(RM5)}
for name, call in [*CALLS.items(), *EXPORT.items()]:
    if call is None:
        try:
            extra_calls[name]()
        except MissingExtra as err:
            line = str(err)
            assert "\n" not in line and 'pip install "metacore[' in line, line
            print(f"  {name}: {line}")
        else:
            raise AssertionError(f"{name} ran without its extra")
        continue
    out = call()
    assert out is not None, name
    # a result displays itself in a notebook without vl-convert (the table alone)
    if type(out).__module__.startswith("metacore.") and hasattr(type(out), "_repr_html_"):
        html = out._repr_html_()
        assert html.startswith('<div class="metacore-result">') and "<svg" not in html, name
print(f"{len(CALLS) + len(EXPORT)} public functions called "
      f"({sum(c is None for c in [*CALLS.values(), *EXPORT.values()])} need an extra)")
est = mc.pool(eff).natural()["estimate"]
assert math.isclose(est, 0.4894209, rel_tol=1e-6), est
EOF
"$WORK/core/bin/metacore" analyse "$BCG" --measure RR --model random --tau2 REML \
    >"$WORK/run/analyse.txt"
grep -q "^Random-Effects Model (k = 13; tau^2 estimator: REML)" "$WORK/run/analyse.txt"
grep -A1 "^estimate" "$WORK/run/analyse.txt"
"$WORK/core/bin/metacore" report "$BCG" -o "$WORK/run/r.html" 2>"$WORK/run/err.txt" \
    && { echo "metacore report ran without the [report] extra"; exit 1; } \
    || grep -q 'pip install "metacore\[report\]"' "$WORK/run/err.txt"
cat "$WORK/run/err.txt"

step "metacore[all]"
"$PYTHON" -m venv "$WORK/all"
"$WORK/all/bin/pip" install -q "$WHEEL[all]"
"$WORK/all/bin/metacore" --help >"$WORK/run/help.txt"
for command in analyse report rscript batch app; do
    grep -q "^    $command" "$WORK/run/help.txt" || { echo "--help lacks $command"; exit 1; }
done
"$WORK/all/bin/metacore" analyse "$BCG" --measure RR --model random --tau2 REML --json \
    >"$WORK/run/analyse.json"
"$WORK/all/bin/python" - "$WORK/run/analyse.json" <<'EOF'
import json, sys
import metacore as mc
got = json.load(open(sys.argv[1]))
res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"), model="random",
              tau2_method="REML")
for name in ("estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "i2", "q"):
    assert got[name] == float(getattr(res, name)), (name, got[name], getattr(res, name))
print(f"metacore analyse --json equals pool: estimate {got['estimate']!r}, "
      f"RR {got['natural']['estimate']:.4f}")
EOF
"$WORK/all/bin/metacore" report "$BCG" -o "$WORK/run/report.html"
grep -q "<svg" "$WORK/run/report.html" && head -c 15 "$WORK/run/report.html" | grep -q "<!DOCTYPE html>"
# the dashboard's pages are not in the wheel: `metacore app` says where to get them (exit 1)
if "$WORK/all/bin/metacore" app >"$WORK/run/app.txt" 2>&1; then
    echo "metacore app found a dashboard in an installed wheel"; exit 1
fi
grep -q "source checkout" "$WORK/run/app.txt"
cat "$WORK/run/app.txt"

# passed: the two environments go (about 1 GB); pip's cache stays for the next run
rm -rf "$WORK/core" "$WORK/all" "$WORK/run"
step "done"
