"""Optional dependencies: which extra of ``pip install metacore[...]`` brings each one.

The engine needs numpy, scipy and pandas only. Charts, images, the Word report, the compiled
batch kernel, Parquet, Dask, Excel uploads and the database come with extras; a feature that
needs one calls :func:`need` first, so a missing package is one line naming the extra instead
of a traceback from deep inside an import.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from metacore.errors import MissingExtra

__all__ = ["EXTRAS", "available", "check", "need"]

#: Importable module -> (pip distribution, the extra of metacore that installs it).
EXTRAS: dict[str, tuple[str, str]] = {
    "streamlit": ("streamlit", "app"),
    "altair": ("altair", "report"),
    "vl_convert": ("vl-convert-python", "report"),
    "openpyxl": ("openpyxl", "app"),
    "numba": ("numba", "batch"),
    "pyarrow": ("pyarrow", "batch"),
    "dask": ("dask[distributed]", "batch"),
    "distributed": ("dask[distributed]", "batch"),
    "tqdm": ("tqdm", "batch"),
    "sqlalchemy": ("SQLAlchemy", "db"),
    "psycopg": ("psycopg", "db"),
    "docx": ("python-docx", "report"),
    "defusedxml": ("defusedxml", "review"),
}


def available(module: str) -> bool:
    """Whether an optional module can be imported (without importing it).

    >>> available("numpy"), available("surely_not_a_module_name")
    (True, False)
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check(module: str, feature: str) -> None:
    """Raise :class:`MissingExtra` if ``module`` cannot be imported, naming in one line the
    extra that brings it; the module is not imported (for work done in a child process).

    >>> check("docx_not_here", "The Word report")
    Traceback (most recent call last):
    ...
    metacore.errors.MissingExtra: The Word report needs docx_not_here, which is not installed: pip install docx_not_here
    """  # noqa: E501 - a doctest's expected line cannot wrap
    if available(module):
        return
    top = module.split(".")[0]
    dist, extra = EXTRAS.get(top, (top, ""))
    how = f'pip install "metacore[{extra}]"' if extra else f"pip install {dist}"
    err = MissingExtra(f"{feature} needs {dist}, which is not installed: {how}")
    err.name = top                      # as an ImportError's, for code that reads it
    raise err


def need(module: str, feature: str) -> ModuleType:
    """Import an optional module for ``feature``; :func:`check` says which extra to install
    when it is missing.

    >>> need("numpy", "Arrays").__name__
    'numpy'
    """
    check(module, feature)
    return importlib.import_module(module)
