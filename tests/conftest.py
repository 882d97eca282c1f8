"""Shared fixtures: the metafor reference values and the tables they were made from."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd

import metacore as mc

REF_DIR = Path(__file__).parent / "reference"


@cache
def reference() -> dict:
    """metafor reference values written by tests/reference/make_reference.R."""
    return json.loads((REF_DIR / "metafor_reference.json").read_text())


def table(name: str) -> pd.DataFrame:
    """A study table by the name the R script uses."""
    if name == "bcg_k2":
        return mc.datasets.load("bcg").iloc[:2].reset_index(drop=True)
    if name in mc.datasets.CATALOG:
        return mc.datasets.load(name)
    return pd.read_csv(REF_DIR / f"{name}.csv")


def nan_to_none(values) -> list:
    return [None if v != v else float(v) for v in values]
