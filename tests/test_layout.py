"""The engine's layout: public names stay importable, and layers import downwards only.

data <- models <- diagnostics <- review <- report; batch and store stand beside. The
foundation (errors, number formatting, the version) is open to every layer; the engine
never imports streamlit or the app's ``ui``.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import metacore as mc
from metacore import _moved

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "metacore"

FOUNDATION = {"errors", "numbers", "_version", "_extras"}
#: Subpackage -> the subpackages its modules may import (besides the foundation).
ALLOWED = {
    "data": {"data"},
    "models": {"data", "models"},
    "diagnostics": {"data", "models", "diagnostics"},
    "review": {"data", "models", "diagnostics", "review"},
    "report": {"data", "models", "diagnostics", "review", "report"},
    "batch": {"data", "models", "batch"},
    "store": {"data", "review", "store"},
}

# The public contract of shared/DESIGN.md (first and second rounds) as attribute paths
# from ``metacore``.
CONTRACT = """
compute_effects pool pool_mh pool_peto causal_pool bayes_pool EffectSizes PoolResult
CausalResult BayesResult priors.HalfNormal priors.HalfCauchy priors.Uniform priors.Normal
subgroups metareg egger begg trimfill failsafe influence cumulative gosh cluster_meta
pool_batch cluster_meta_batch export.metafor_script export.html_report SubgroupResult
MetaRegResult ClusterResult datasets.load io charts.forest_chart charts.funnel_chart
DataError MeasureError MetacoreError OptionError map_columns standardize ALIASES
ESTIMATORS TAU2_LABELS Interval summary_of_findings causal_many leave_one_out
compare_estimators baujat analysis_of __version__
""".split()


def _resolve(path: str):
    obj = mc
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _documented_names() -> set[str]:
    """``mc.<name>`` paths written in the README and, where it is beside the checkout,
    shared/DESIGN.md (future features are listed there before they exist, so only the
    names already in :data:`CONTRACT` or ``__all__`` are required from it)."""
    names = set(re.findall(r"\bmc\.([A-Za-z_][\w.]*[A-Za-z_\d])", (ROOT / "README.md").read_text()))
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("path", CONTRACT)
def test_contract_names_resolve(path):
    assert _resolve(path) is not None


def test_every_name_in_all_exists():
    missing = [n for n in mc.__all__ if not hasattr(mc, n)]
    assert not missing


def test_names_the_readme_uses_resolve():
    names = _documented_names()
    assert "pool" in names and "compute_effects" in names   # the README shows the API
    bad = []
    for name in sorted(names):
        try:
            _resolve(name)
        except AttributeError:
            # a method or field of a result (res.natural ...) is written as mc.X.y only
            # for modules; anything else must resolve from the package
            bad.append(name)
    assert not bad, f"README names that metacore does not have: {bad}"


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_flat_module_paths_still_import(old):
    module = importlib.import_module(f"metacore.{old}")
    assert module is importlib.import_module(f"metacore.{_moved.MOVED[old]}")


def test_importing_old_paths_leaves_the_functions_of_the_same_name():
    for old in _moved.MOVED:
        importlib.import_module(f"metacore.{old}")
    assert callable(mc.subgroups) and callable(mc.metareg) and callable(mc.influence)


def test_old_submodule_path_gives_the_same_module():
    import metacore.charts.forest as old

    import metacore.report.charts.forest as new

    assert old is new
    from metacore.export import html_report

    assert html_report is mc.report.export.html_report


def test_batch_and_store_packages_keep_their_names():
    from metacore.batch import BATCH_COLUMNS, pool_batch, warm_up  # noqa: F401
    from metacore.store import Store, open_store  # noqa: F401

    assert pool_batch is mc.pool_batch


def test_module_command_still_runs():
    out = subprocess.run([sys.executable, "-m", "metacore", "batch", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--by" in out.stdout


# --- layers -----------------------------------------------------------------------------

def _imports(source: str) -> list[str]:
    """Every module a source imports (top level and inside functions)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from metacore import x``: x names the module (and its layer)
            if node.module == "metacore":
                found += [f"metacore.{a.name}" for a in node.names]
            else:
                found.append(node.module)
    return found


def _place(module: str) -> str | None:
    """The layer of ``metacore.<sub>...``: its subpackage, 'foundation', or None."""
    parts = module.split(".")
    if parts[0] != "metacore" or len(parts) == 1:
        return None
    if parts[1] in FOUNDATION:
        return "foundation"
    if parts[1] in ALLOWED:
        return parts[1]
    return None


def layer_violations(module: str, source: str) -> list[str]:
    """Imports of ``source`` (the module ``module``) that break the layering."""
    own = _place(module)
    bad = []
    for target in _imports(source):
        top = target.split(".")[0]
        if top in {"streamlit", "ui", "pages", "app"}:
            bad.append(f"{module} imports {target}")
            continue
        where = _place(target)
        if own is None or where is None or where == "foundation":
            continue
        if own == "foundation" or where not in ALLOWED[own]:
            bad.append(f"{module} ({own}) imports {target} ({where})")
    return bad


def _engine_modules():
    for path in sorted(ENGINE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def test_every_module_sits_in_a_layer():
    loose = [m for m, _ in _engine_modules()
             if _place(m) is None and m not in {"metacore", "metacore.__main__",
                                                "metacore._moved"}]
    assert not loose, f"modules outside the subpackages: {loose}"


def test_layers_import_downwards_only():
    bad = []
    for module, path in _engine_modules():
        bad += layer_violations(module, path.read_text())
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module, source, expected", [
    ("metacore.models.pooling", "from metacore.report.describe import describe", 1),
    ("metacore.models.pooling", "def f():\n    import metacore.store.database", 1),
    ("metacore.data.table", "from metacore.models import effects", 1),
    ("metacore.models.tau2", "import streamlit as st", 1),
    ("metacore.report.export", "from ui import state", 1),
    ("metacore.errors", "from metacore.data.table import x", 1),
    ("metacore.models.pooling", "from metacore.data.table import x\nfrom metacore import numbers",
     0),
    ("metacore.report.export", "from metacore.models.pooling import pool", 0),
])
def test_the_layer_check_catches_upward_imports(module, source, expected):
    assert len(layer_violations(module, source)) == expected
