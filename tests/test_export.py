"""The exported R script reproduces the engine's numbers in metafor (when R is installed)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

import metacore as mc

HAS_R = shutil.which("Rscript") is not None and subprocess.run(
    ["Rscript", "-e", "library(metafor); library(jsonlite)"], capture_output=True,
    timeout=120).returncode == 0 if shutil.which("Rscript") else False

CASES = [("bcg", "RR", "random", "REML", "z", ()), ("bcg", "OR", "random", "DL", "hksj", (4,)),
         ("magnesium", "OR", "MH", "REML", "z", ()), ("magnesium", "OR", "PETO", "REML", "z", ()),
         ("stroke", "SMD", "random", "PM", "z", (2,)), ("seed000", "GEN", "common", "REML",
                                                        "z", ()),
         ("magnesium", "RR", "random", "EB", "hksj", (1, 2))]


def _engine(name, measure, model, tau2, ci, leave_out):
    table = mc.datasets.load(name).copy()
    table["include"] = ~table.index.isin([r - 1 for r in leave_out])
    if model == "MH":
        return mc.pool_mh(table, measure)
    if model == "PETO":
        return mc.pool_peto(table)
    return mc.pool(mc.compute_effects(table, measure), model=model, tau2_method=tau2,
                   ci_method=ci)


@pytest.mark.skipif(not HAS_R, reason="R with metafor and jsonlite is not installed")
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[:5])))
def test_script_reproduces_the_engine_in_metafor(case, tmp_path):
    name, measure, model, tau2, ci, leave_out = case
    code = mc.export.metafor_script(mc.datasets.load(name), measure=measure, model=model,
                                    tau2_method=tau2, ci_method=ci, leave_out=leave_out)
    script = tmp_path / "analysis.R"
    script.write_text(code + 'cat(jsonlite::toJSON(list(b = as.numeric(res$beta), '
                             'se = res$se, tau2 = res$tau2, k = res$k), digits = NA))\n')
    out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    ref = json.loads(out.stdout.strip().splitlines()[-1])
    res = _engine(*case)
    assert res.k == ref["k"][0]
    np.testing.assert_allclose([res.estimate, res.se], [ref["b"][0], ref["se"][0]],
                               rtol=1e-4)   # metafor's default convergence threshold


def test_user_text_cannot_break_out_of_the_r_strings():
    table = mc.datasets.load("seed000").copy()
    table.loc[0, "study"] = 'A"); system("echo pwned"); ("\\'
    code = mc.export.metafor_script(table, measure="GEN", model="common")
    assert 'system("echo pwned")' not in code
    assert '"A\\"); system(\\"echo pwned\\"); (\\"\\\\"' in code


@pytest.mark.skipif(not HAS_R, reason="R with metafor and jsonlite is not installed")
@pytest.mark.parametrize("frame", [
    {"study": ["A", "B", "C"], "HR": [0.8, 0.7, 0.9], "lower": [0.6, 0.5, 0.7],
     "upper": [1.07, 0.98, 1.16]},
    {"study": ["A", "B", "C"], "O-E": [-3.2, 1.5, -2.0], "Variance": [10.0, 8.0, 12.0]},
], ids=["hr-with-ci", "o-minus-e"])
def test_script_for_ratios_given_ready_made(frame, tmp_path):
    import pandas as pd

    table = pd.DataFrame(frame)
    code = mc.export.metafor_script(table, measure="GEN", model="random", tau2_method="DL")
    script = tmp_path / "analysis.R"
    script.write_text(code + 'cat(jsonlite::toJSON(list(b = as.numeric(res$beta), '
                             'se = res$se), digits = NA))\n')
    out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ref = json.loads(out.stdout.strip().splitlines()[-1])
    scale, label, _ = mc.generic_scale(mc.standardize(table))
    res = mc.pool(mc.compute_effects(table, "GEN", scale=scale, label=label),
                  tau2_method="DL")
    np.testing.assert_allclose([res.estimate, res.se], [ref["b"][0], ref["se"][0]], rtol=1e-9)
    assert "transf = exp" in code
