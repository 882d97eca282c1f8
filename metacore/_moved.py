"""Old module paths of the flat layout (``metacore.pooling``, ``metacore.charts.forest``,
``metacore.export`` …) resolve to the modules' places in the subpackages, so scripts
written against the flat engine keep working. ``metacore.batch`` and ``metacore.store``
are packages now and re-export what their modules offered; the old ``metacore.report``
(results in words) is :mod:`metacore.report.describe`."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: Module of the flat layout -> its place now.
MOVED = {
    "effects": "models.effects", "tau2": "models.tau2", "pooling": "models.pooling",
    "mh": "models.mh", "bayes": "models.bayes", "priors": "models.priors",
    "cluster": "models.cluster", "causal": "models.causal", "metareg": "models.metareg",
    "subgroups": "models.subgroups", "shrinkage": "models.shrinkage",
    "simulate": "models.simulate", "table": "data.table", "io": "data.io",
    "xlsx": "data.xlsx", "fingerprint": "data.fingerprint", "datasets": "data.datasets",
    "smallstudy": "diagnostics.smallstudy", "influence": "diagnostics.influence",
    "sensitivity": "diagnostics.sensitivity", "sof": "review.sof",
    "export": "report.export", "render": "report.render",
    "charts": "report.charts", "cli": "batch.cli", "_batch_kernel": "batch.kernel",
    "_threads": "batch.threads", "_vecmath": "batch.vecmath", "project": "store.project",
}


def new_name(name: str) -> str | None:
    """Where ``metacore.<old>[.rest]`` lives now, or None if it did not move."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "metacore" or parts[1] not in MOVED:
        return None
    return ".".join(["metacore", MOVED[parts[1]], *parts[2:]])


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # exec_module swaps the placeholder in sys.modules for the real module; the import
    # system then hands the real module to the importer (one module object per file).
    def find_spec(self, name, path, target=None):
        if new_name(name) is None:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        sys.modules[module.__name__] = importlib.import_module(new_name(module.__name__))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), and register the old names of
    the modules already loaded.

    A first import of ``metacore.subgroups`` would set the package's attribute
    ``subgroups`` (the function) to the module; registered names are not imported again,
    so ``mc.subgroups``, ``mc.metareg`` and ``mc.influence`` stay the functions.
    """
    for old, new in MOVED.items():
        if f"metacore.{new}" in sys.modules:
            sys.modules.setdefault(f"metacore.{old}", sys.modules[f"metacore.{new}"])
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
