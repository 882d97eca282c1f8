"""Influence diagnostics, the Baujat plot's coordinates, cumulative meta-analysis and GOSH
(metafor's ``influence``, ``baujat``, ``cumul``, ``gosh``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes
from metacore.models.pooling import HKSJ_METHODS, pool

__all__ = ["baujat", "cumulative", "gosh", "influence"]


def influence(effects: EffectSizes, *, model: str = "random", tau2_method: str = "REML",
              ci_method: str = "z", level: float = 0.95) -> pd.DataFrame:
    """Case-deletion diagnostics, one row per study (metafor's ``influence``).

    Columns ``study rstudent dffits cook_d cov_r tau2_del qe_del hat weight inf`` (``inf``
    True where metafor flags the study as influential: |DFFITS| > 3 sqrt(1/(k-1)),
    P(chi^2_1 < Cook's D) > 0.5, hat > 3/k, or |DFBETAS| > 1), plus ``dfbetas`` and the
    Baujat coordinates ``baujat_x`` (contribution to Q) and ``baujat_y`` (influence).

    Examples
    --------
    >>> import metacore as mc
    >>> inf = influence(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> round(float(inf.loc[0, "rstudent"]), 4)
    -0.2181
    """
    k = effects.k
    if k < 3:
        raise DataError(f"Influence diagnostics need at least 3 studies; this analysis has {k}.")
    kw = {"model": model, "tau2_method": tau2_method, "ci_method": ci_method, "level": level}
    full = pool(effects, **kw)
    y, v = effects.yi, effects.vi
    w = 1.0 / (v + full.tau2)
    hat = w / w.sum()
    vb_full = full.se**2
    rows = []
    for i in range(k):
        keep = np.ones(k, dtype=bool)
        keep[i] = False
        d = pool(effects.subset(keep), **kw)
        # The fit's variance over the Wald one: Knapp-Hartung's s^2 under plain HKSJ,
        # max(1, s^2) under metafor's test="adhoc", and likewise for meta's variants.
        s2w = (d.se**2 * float(np.sum(1.0 / (v[keep] + d.tau2)))
               if d.ci_method in HKSJ_METHODS else 1.0)
        vb_del = 1.0 / np.sum(1.0 / (v + d.tau2))            # all studies, deleted tau^2
        diff = full.estimate - d.estimate
        dffits = diff / np.sqrt(s2w * hat[i] * (d.tau2 + v[i]))
        dfbetas = diff / np.sqrt(s2w * vb_del)
        cook = diff**2 / vb_full
        resid = y[i] - d.estimate
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0
        rstudent = resid / np.sqrt(v[i] * s2w + d.se**2 + d.tau2 * s2w)
        rows.append({"study": effects.study[i], "rstudent": rstudent, "dffits": dffits,
                     "cook_d": cook, "cov_r": d.se**2 / vb_full, "tau2_del": d.tau2,
                     "qe_del": d.q, "hat": hat[i], "weight": full.weights[i],
                     "dfbetas": dfbetas, "estimate_del": d.estimate,
                     "baujat_x": (y[i] - full.estimate) ** 2 / (full.tau2 + v[i]),
                     "baujat_y": diff**2 / d.se**2})
    out = pd.DataFrame(rows)
    out["inf"] = ((out["dffits"].abs() > 3 * np.sqrt(1 / (k - 1)))
                  | (special.chdtr(1, out["cook_d"]) > 0.5) | (out["hat"] > 3 / k)
                  | (out["dfbetas"].abs() > 1))
    return out


def baujat(effects: EffectSizes, **kw) -> pd.DataFrame:
    """Baujat plot coordinates: contribution to heterogeneity (x) and influence on the
    pooled result (y), one row per study (metafor's ``baujat``).

    Examples
    --------
    >>> import metacore as mc
    >>> b = baujat(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> # R: baujat(rma(yi, vi, data = dat))[2, c("x", "y")]
    >>> round(float(b.loc[1, "x"]), 4), round(float(b.loc[1, "y"]), 4)
    (1.4934, 0.1121)
    """
    inf = influence(effects, **kw)
    return inf[["study", "baujat_x", "baujat_y"]].rename(columns={"baujat_x": "x",
                                                                   "baujat_y": "y"})


def cumulative(effects: EffectSizes, *, order: Sequence[float] | str | None = None,
               model: str = "random", tau2_method: str = "REML", ci_method: str = "z",
               level: float = 0.95) -> pd.DataFrame:
    """Cumulative meta-analysis: the pooled result after each study is added
    (metafor's ``cumul``), in table order or sorted by ``order`` (values or a column of
    ``effects.data``, e.g. the year).

    Columns ``study estimate se ci_low ci_high pvalue tau2 i2 q k``.

    Examples
    --------
    >>> import metacore as mc
    >>> cu = cumulative(mc.compute_effects(mc.datasets.load("bcg"), "RR"), order="year")
    >>> # R: cumul(rma(yi, vi, data = dat), order = dat$year)$estimate[c(1, 13)]
    >>> cu["study"].iloc[0], [round(float(x), 4) for x in cu["estimate"].iloc[[0, -1]]]
    ('Aronson 1948', [-0.8893, -0.7145])
    """
    idx = np.arange(effects.k)
    if order is not None:
        values = effects.data[order].to_numpy() if isinstance(order, str) else \
            np.asarray(order)
        if len(values) != effects.k:
            raise OptionError("order must give one value per study.")
        idx = np.argsort(values, kind="stable")
    rows = []
    for n in range(1, effects.k + 1):
        r = pool(effects.subset(idx[:n]), model=model, tau2_method=tau2_method,
                 ci_method=ci_method, level=level)
        rows.append({"study": effects.study[idx[n - 1]], "estimate": r.estimate, "se": r.se,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "pvalue": r.pvalue,
                     "tau2": r.tau2, "i2": r.i2, "q": r.q, "k": r.k})
    return pd.DataFrame(rows)


#: Largest number of subsets fitted; beyond, a random sample of this size is drawn.
GOSH_MAX = 1_048_575


def gosh(effects: EffectSizes, *, model: str = "common", tau2_method: str = "DL",
         subsets: int = GOSH_MAX, seed: int = 0, chunk: int = 262_144,
         progress: Callable[[float], None] | None = None) -> pd.DataFrame:
    """Every non-empty subset of studies (a random sample beyond ``subsets``), each
    pooled, ordered by size — metafor's ``gosh``. Vectorised: one pass of matrix products per chunk.

    Columns ``estimate i2 q k`` (+ ``tau2`` for random effects) and one boolean column
    per study (``s0``, ``s1``, ...) saying whether it is in the subset. The common-effect
    model gives metafor's numbers; random effects use the DerSimonian-Laird τ², which has
    a closed form (other estimators would need an iterative fit per subset).

    Examples
    --------
    >>> import metacore as mc
    >>> g = gosh(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> # R: gosh(rma(yi, vi, data = dat, method = "EE"))$res: 8191 subsets
    >>> len(g), round(float(g["estimate"].max()), 4)
    (8191, 0.4459)
    """
    k = effects.k
    if k < 2:
        raise DataError("GOSH needs at least 2 studies.")
    if model == "random" and tau2_method != "DL":
        raise OptionError("GOSH with random effects uses the DerSimonian-Laird τ² (a closed "
                          "form for a million subsets); choose DL or the common-effect model.")
    y, v = effects.yi, effects.vi
    total = 2**k - 1                         # every non-empty subset, as metafor
    exact = total <= subsets
    if exact:
        codes = np.arange(1, 2**k, dtype=np.int64)
        codes = codes[np.argsort(_popcount(codes), kind="stable")]   # by size, as metafor
        bits = (1 << np.arange(k, dtype=np.int64))
        n_rows = len(codes)
    else:
        # Each study in or out with probability 1/2: every non-empty subset equally likely.
        rng = np.random.default_rng(seed)
        n_rows = int(subsets)

    def masks(start: int, stop: int) -> np.ndarray:
        if exact:
            c = codes[start:stop]
            return (c[:, None] & bits[None, :]) != 0
        m = rng.random((stop - start, k)) < 0.5
        empty = ~m.any(1)
        m[empty, rng.integers(0, k, int(empty.sum()))] = True
        return m

    w = 1.0 / v
    out = []
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        mask = masks(start, stop).astype(float)
        sw, swy, swy2 = mask @ w, mask @ (w * y), mask @ (w * y * y)
        n = mask.sum(1)
        q = np.maximum(swy2 - swy**2 / sw, 0.0)
        # One study has Q = 0 exactly; the difference above leaves rounding noise.
        q = np.where((n < 2) | (q <= 1e-12 * swy2), 0.0, q)
        part = {"k": n.astype(int), "q": q}
        if model == "common":
            est = swy / sw
        else:
            sw2 = mask @ (w * w)
            with np.errstate(invalid="ignore", divide="ignore"):
                tau2 = np.where(n < 2, 0.0, np.maximum(0.0, (q - (n - 1)) / (sw - sw2 / sw)))
            wr = 1.0 / (v[None, :] + tau2[:, None]) * mask
            est = (wr @ y) / wr.sum(1)
            part["tau2"] = tau2
        with np.errstate(invalid="ignore", divide="ignore"):
            i2 = np.where(q > 0, np.maximum(0.0, 100 * (q - (n - 1)) / q), 0.0)
        frame = pd.DataFrame({"estimate": est, "i2": i2, **part})
        for j in range(k):
            frame[f"s{j}"] = mask[:, j].astype(bool)
        out.append(frame)
        if progress:
            progress(stop / n_rows)
    result = pd.concat(out, ignore_index=True)
    if not exact:
        result = result.sort_values("k", kind="stable", ignore_index=True)
    result.attrs["sampled"] = not exact
    result.attrs["total"] = total
    return result


def _popcount(x: np.ndarray) -> np.ndarray:
    count = np.zeros(x.shape, dtype=np.int64)
    y = x.copy()
    while np.any(y):
        count += y & 1
        y >>= 1
    return count
