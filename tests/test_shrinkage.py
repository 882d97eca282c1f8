"""BLUPs against metafor's blup(); the path from no pooling to complete pooling."""

from __future__ import annotations

import numpy as np
import pytest

import metacore as mc
from metacore.models.shrinkage import blup, shrinkage_path
from tests.conftest import reference, table


@pytest.mark.parametrize("case", reference()["blup"], ids=lambda c: c["call"])
def test_blup_matches_metafor(case):
    # metafor: case["call"]
    eff = mc.compute_effects(table(case["dataset"]), case["measure"])
    res = mc.pool(eff, tau2_method=case["method"],
                  ci_method="hksj" if case["test"] == "knha" else "z")
    got = blup(res)
    for name in ("pred", "se", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[name], case[name], rtol=1e-5, atol=1e-9, err_msg=name)


def test_path_ends_are_complete_and_no_pooling():
    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    complete = shrinkage_path(eff, 0.0)
    fe = mc.pool(eff, model="common")
    np.testing.assert_allclose(complete["pred"], fe.estimate)
    none = shrinkage_path(eff, np.inf)
    np.testing.assert_allclose(none["pred"], eff.yi)
    np.testing.assert_allclose(none["se"], np.sqrt(eff.vi))


def test_small_studies_move_more():
    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    path = shrinkage_path(eff, 1.0)
    moved = np.abs(path["pred"] - path["yi"]) / np.abs(path["yi"] - mc.pool(
        eff, model="common").estimate)
    # shrinkage fraction rises with the study's variance
    order = np.argsort(eff.vi)
    assert np.all(np.diff(path["shrinkage"].to_numpy()[order]) > 0)
    assert np.all(np.isfinite(moved))
