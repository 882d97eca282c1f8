"""Shared fixtures: the metafor reference values and the tables they were made from."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

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



@pytest.fixture(autouse=True, scope="session")
def _database(tmp_path_factory):
    """Saved analyses go to a database of the test session, never the user's own."""
    old = os.environ.get("METACORE_DB")
    path = tmp_path_factory.mktemp("db") / "metacore.db"
    os.environ["METACORE_DB"] = f"sqlite:///{path}"
    yield os.environ["METACORE_DB"]
    if old is None:
        os.environ.pop("METACORE_DB", None)
    else:
        os.environ["METACORE_DB"] = old



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``make test`` (which installs R, Chromium, nginx and PostgreSQL's needs) a
    skipped test is a failure: a missing tool must not pass CI silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("METACORE_NO_SKIPS") and report.skipped:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under make test, which installs what every test needs: {reason}"
