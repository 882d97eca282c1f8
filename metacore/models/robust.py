"""Cluster-robust (sandwich) inference for pooled, meta-regression and multilevel fits.

``small_sample=True`` reproduces clubSandwich (metafor's ``robust(res, cluster,
clubSandwich = TRUE)``): the CR2 bias-reduced sandwich of Bell & McCaffrey with the fitted
model's marginal covariance as working model, Satterthwaite degrees of freedom for each
coefficient (Pustejovsky & Tipton 2018), and the approximate Hotelling T² test "HTZ"
(Tipton & Pustejovsky 2015) for several coefficients at once. ``small_sample=False``
reproduces metafor's own ``robust(res, cluster)``: the CR0 sandwich multiplied by
n / (n - p) (n clusters, p coefficients; metafor calls it CR1; ``adjust=False`` leaves it
at CR0), with t and F tests on n - p degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import linalg, special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes, measure_name
from metacore.models.metareg import MetaRegResult
from metacore.models.multilevel import MultilevelResult, multilevel
from metacore.models.pooling import PoolResult, pool
from metacore.numbers import format_p

__all__ = ["RobustResult", "WaldTest", "dependence_table", "robust"]


class WaldTest(NamedTuple):
    """A test of several coefficients at once: F statistic, its dfs and p-value."""

    test: str
    statistic: float
    df1: float
    df2: float
    pvalue: float


def _matrix_power(x: np.ndarray, power: float, tol: float = 1e-12) -> np.ndarray:
    """Symmetric matrix power by eigen-decomposition; eigenvalues <= tol count as 0
    (clubSandwich's ``matrix_power``, so that a cluster of leverage one gives the same
    pseudo-inverse)."""
    values, vectors = np.linalg.eigh(x)
    powered = np.where(values > tol, np.abs(values) ** power, 0.0)
    return (vectors * powered) @ vectors.T


@dataclass(frozen=True, eq=False)
class _Cluster:
    """One cluster: its rows, design, working weight and target, and residuals."""

    X: np.ndarray
    W: np.ndarray
    theta: np.ndarray
    e: np.ndarray


@dataclass(frozen=True, eq=False)
class _GH:
    """clubSandwich's G and H arrays, from which Satterthwaite and HTZ dfs follow."""

    G: tuple[np.ndarray, ...]   # one (p, n_j) matrix per cluster
    H: np.ndarray               # (J, p, p)


def _moments(gh: _GH, C: np.ndarray, O: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Traces and sums of products of clubSandwich's P matrices, without forming them.

    For rows s, t of C (optionally transformed by O), P[s, t] is the J x J matrix
    -H_s H_t' + diag(G_j[s] . G_j[t]) (H_s: J x u, row j from cluster j). Returns
    omega[s, t] = tr P[s, t] and F[a, b, c, d] = sum(P[a, b] * P[c, d]), each in
    O(J u^2) rather than the O(J^2) of the matrices themselves.
    """
    Ct = C if O is None else O @ C
    H = np.einsum("qp,jpu->qju", Ct, gh.H)                      # (q, J, u)
    Gq = [Ct @ g for g in gh.G]
    x = np.transpose(np.array([g @ g.T for g in Gq]), (1, 2, 0))   # (q, q, J)
    hh = np.einsum("aju,bju->abj", H, H)                         # diag of H_a H_b'
    cross = np.einsum("aju,cjv->acuv", H, H)                     # H_a' H_c
    F = (np.einsum("acuv,bduv->abcd", cross, cross)
         - np.einsum("abj,cdj->abcd", hh, x) - np.einsum("abj,cdj->abcd", x, hh)
         + np.einsum("abj,cdj->abcd", x, x))
    omega = x.sum(axis=2) - hh.sum(axis=2)
    return omega, F


def _satterthwaite(gh: _GH, p: int) -> np.ndarray:
    """Satterthwaite df of each coefficient: 2 E[v]^2 / Var[v] = tr(P)^2 / sum(P^2)."""
    omega, F = _moments(gh, np.eye(p))
    i = np.arange(p)
    return omega[i, i] ** 2 / F[i, i, i, i]


def _htz(gh: _GH, C: np.ndarray, beta: np.ndarray, vcov: np.ndarray) -> WaldTest:
    """clubSandwich's ``Wald_test(..., test = "HTZ")``."""
    q = C.shape[0]
    omega, _ = _moments(gh, C)
    _, F = _moments(gh, C, _matrix_power(omega, -0.5))
    s, t = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
    var = F[s, t, t, s] + F[s, s, t, t]
    nu = q * (q + 1) / float(var.sum())
    cb = C @ beta
    Q = float(cb @ linalg.solve(C @ vcov @ C.T, cb, assume_a="pos"))
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    F_stat = delta * Q / q
    pv = float(special.fdtrc(q, df2, F_stat)) if df2 > 0 else float("nan")
    return WaldTest("HTZ", F_stat, float(q), float(df2), pv)


def _cr2(clusters: list[_Cluster], bread: np.ndarray, w_scale: float, beta_dim: int
         ) -> tuple[np.ndarray, _GH]:
    """CR2 sandwich with the working model as target (clubSandwich, inverse_var = TRUE)."""
    p = beta_dim
    M_U = _matrix_power(sum(c.X.T @ c.W @ c.X for c in clusters), -1.0)
    L_MU = np.linalg.cholesky(M_U)
    meat_parts, G, H = [], [], []
    for c in clusters:
        U = np.linalg.cholesky(c.theta).T                       # R's chol(): U'U = theta
        ih = np.eye(c.X.shape[0]) - c.X @ M_U @ c.X.T @ c.W
        g = U @ ih @ c.theta @ U.T
        A = U.T @ _matrix_power(g, -0.5) @ U
        E = c.X.T @ c.W @ A
        meat_parts.append(E @ c.e)
        ME = bread @ E
        G.append(ME @ U.T)
        H.append(ME @ c.X @ L_MU)
    comp = np.column_stack(meat_parts)
    vcov = bread @ (comp @ comp.T) @ bread * w_scale ** 2
    return vcov, _GH(G=tuple(G), H=np.stack(H).reshape(len(clusters), p, -1))


@dataclass(frozen=True, eq=False)
class RobustResult:
    """Cluster-robust inference for a fit.

    ``coef`` has one row per coefficient and columns ``estimate se statistic df pvalue
    ci_low ci_high``; the top-level ``estimate se df pvalue ci_low ci_high`` are its first
    row (the pooled effect, or the intercept). ``htz`` tests every coefficient but the
    intercept (HTZ under CR2, F(m, n - p) otherwise); ``None`` for one coefficient.
    """

    estimate: float
    se: float
    df: float
    pvalue: float
    ci_low: float
    ci_high: float
    coef: pd.DataFrame
    vcov: np.ndarray
    htz: WaldTest | None
    n_clusters: int
    k: int
    vcov_type: str
    small_sample: bool
    level: float
    measure: str
    cluster: str
    ratio: bool = False
    label: str = ""
    model_se: float = float("nan")
    notes: tuple[str, ...] = ()
    _gh: _GH | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """Long name of the measure."""
        return measure_name(self.measure, self.label)

    def transform(self, x):
        """Back-transform from the analysis scale (exp for ratios)."""
        return np.exp(x) if self.ratio else x

    def natural(self) -> dict[str, float]:
        """Estimate and interval on the natural scale (ratios exponentiated)."""
        t = self.transform
        return {key: float(t(getattr(self, key))) for key in ("estimate", "ci_low", "ci_high")}

    def wald_test(self, coefs: Sequence[str]) -> WaldTest:
        """Joint test that the named coefficients are all zero (HTZ under CR2, else F
        with n - p df, as metafor's ``robust`` does for its QM test)."""
        names = list(self.coef.index)
        unknown = [c for c in coefs if c not in names]
        if unknown or not coefs:
            raise OptionError("Name coefficients of the model to test (" + ", ".join(names)
                              + "); unknown: " + ", ".join(unknown or ["none given"]) + ".")
        C = np.zeros((len(coefs), len(names)))
        for row, c in enumerate(coefs):
            C[row, names.index(c)] = 1.0
        beta = self.coef["estimate"].to_numpy()
        if self._gh is not None:
            return _htz(self._gh, C, beta, self.vcov)
        return _f_test(C, beta, self.vcov, self.n_clusters - len(names))

    @property
    def settings(self) -> str:
        """The settings in force, in words."""
        if self.small_sample:
            how = "CR2 with Satterthwaite degrees of freedom (clubSandwich)"
        else:
            how = f"{self.vcov_type} with t({self.n_clusters - len(self.coef)}) tests (metafor)"
        return (f"Cluster-robust: {how}; {self.n_clusters} clusters of '{self.cluster}'; "
                f"level {self.level:.0%}")

    def summary(self, digits: int = 3) -> str:
        """A short report in words."""
        f = f"{{:.{digits}f}}"
        nat = self.natural()
        what = self.name if len(self.coef) == 1 else "Intercept"
        lines = [f"{self.settings} (k = {self.k})",
                 f"{what}: {f.format(nat['estimate'])} [{f.format(nat['ci_low'])}, "
                 f"{f.format(nat['ci_high'])}], robust SE {f.format(self.se)} (model "
                 f"{f.format(self.model_se)}), df = {self.df:.2f}, p = {format_p(self.pvalue)}"]
        if self.htz is not None:
            lines.append(f"Test of moderators ({self.htz.test}): F({self.htz.df1:.0f}, "
                         f"{self.htz.df2:.2f}) = {self.htz.statistic:.2f}, "
                         f"p = {format_p(self.htz.pvalue)}")
        return "\n".join(lines + list(self.notes))

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table, with the coefficient names as a column."""
        return self.coef.rename_axis("coefficient").reset_index()


def _f_test(C: np.ndarray, beta: np.ndarray, vcov: np.ndarray, df2: int) -> WaldTest:
    cb = C @ beta
    q = C.shape[0]
    F = float(cb @ linalg.solve(C @ vcov @ C.T, cb, assume_a="pos")) / q
    return WaldTest("F", F, float(q), float(df2), float(special.fdtrc(q, df2, F)))


# --- what each kind of fit contributes --------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Fit:
    X: np.ndarray
    y: np.ndarray
    beta: np.ndarray
    names: tuple[str, ...]
    blocks: list[tuple[np.ndarray, np.ndarray]]   # (rows, marginal covariance) that tile k
    w_scale: float                                 # clubSandwich's weight scale (rma.uni)
    model_se: float


def _cluster_values(result, cluster, effects: EffectSizes | None) -> tuple[np.ndarray, str]:
    k = result.k
    if isinstance(cluster, str):
        name = cluster
        if isinstance(result, MultilevelResult):
            data = result.data
            if cluster not in data:
                raise DataError(f"No column named '{cluster}' in the study table, so it "
                                "cannot define the clusters.")
            return data[cluster].to_numpy(), name
        if effects is None:
            raise OptionError("Pass the effect sizes the fit was made from (effects=...) so "
                              f"that the cluster column '{cluster}' can be read.")
        if cluster not in effects.data:
            raise DataError(f"No column named '{cluster}' in the study table, so it cannot "
                            "define the clusters.")
        values = effects.data[cluster].to_numpy()
        if isinstance(result, MetaRegResult) and result.design is not None:
            values = values[result.design.keep]
    else:
        name = "cluster"
        values = np.asarray(cluster, dtype=object)
    if len(values) != k:
        raise DataError(f"The cluster column has {len(values)} values but the fit has {k} "
                        "rows; pass the effect sizes the fit was made from.")
    return values, name


def _fit_parts(result) -> _Fit:
    if isinstance(result, PoolResult):
        y, v = np.asarray(result.yi, float), np.asarray(result.vi, float)
        w = 1.0 / (v + result.tau2)
        X = np.ones((y.size, 1))
        beta = np.array([result.estimate])
        names = ("intrcpt",)
        model_se = math.sqrt(1.0 / w.sum())
    elif isinstance(result, MetaRegResult):
        y, v = np.asarray(result.yi, float), np.asarray(result.vi, float)
        w = 1.0 / (v + result.tau2)
        X = result.design.X
        beta = result.coef["estimate"].to_numpy()
        names = tuple(result.coef.index)
        model_se = math.sqrt(np.linalg.inv(X.T @ (X * w[:, None]))[0, 0])
    elif isinstance(result, MultilevelResult):
        st = result.structure
        beta = (np.array([result.estimate]) if result.coef is None
                else result.coef["estimate"].to_numpy())
        return _Fit(X=st.X, y=st.y, beta=beta, names=st.names,
                    blocks=st.marginal_blocks(np.asarray(result.sigma2)), w_scale=1.0,
                    model_se=math.sqrt(result.vcov[0, 0]))
    else:
        raise OptionError("robust() takes the result of mc.pool, mc.metareg or "
                          f"mc.multilevel, not {type(result).__name__}.")
    blocks = [(np.array([i]), np.array([[1.0 / wi]])) for i, wi in enumerate(w)]
    return _Fit(X=X, y=y, beta=beta, names=names, blocks=blocks, w_scale=float(w.mean()),
                model_se=model_se)


def robust(result: PoolResult | MetaRegResult | MultilevelResult, cluster: str | Sequence,
           *, small_sample: bool = True, effects: EffectSizes | None = None,
           adjust: bool = True) -> RobustResult:
    """Cluster-robust standard errors, tests and intervals for a fit.

    Parameters
    ----------
    result
        A fit from :func:`metacore.pool`, :func:`metacore.metareg` or
        :func:`metacore.multilevel` (its weights are the working model; the robust
        result does not depend on the fit's ``ci_method``).
    cluster
        The column that says which cluster (study) each row belongs to, or one label
        per analysed row. For a multilevel fit every group of the outermost level must
        lie within one cluster (cluster by that level or a coarser one).
    small_sample
        ``True``: CR2 with Satterthwaite dfs and the HTZ test (clubSandwich).
        ``False``: metafor's default sandwich, t and F with n - p dfs.
    effects
        The effect sizes the pool or metareg fit was made from, to read ``cluster``
        from (a multilevel fit keeps its own rows).
    adjust
        With ``small_sample=False``: multiply CR0 by n / (n - p) as metafor does by
        default (``False`` gives plain CR0, metafor's ``adjust = FALSE``).

    Returns
    -------
    RobustResult

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
    >>> ml = mc.multilevel(eff, ["district", "school"], profile=False)
    >>> rb = robust(ml, cluster="district")
    >>> round(rb.se, 4), round(rb.df, 2)
    (0.0845, 9.86)
    """
    if not isinstance(result, (PoolResult, MetaRegResult, MultilevelResult)):
        raise OptionError("robust() takes the result of mc.pool, mc.metareg or "
                          f"mc.multilevel, not {type(result).__name__}.")
    if isinstance(result, PoolResult) and result.model not in ("common", "random"):
        raise OptionError("robust() works on inverse-variance fits (common or random "
                          f"effects), not on a {result.model} pooled estimate.")
    values, name = _cluster_values(result, cluster, effects)
    labels = pd.Series(values, dtype=object)
    blank = (labels.isna() | labels.astype(str).str.strip().eq("")).to_numpy()
    if blank.any():
        study = tuple(getattr(result, "study", ())) or tuple(f"row {i + 1}"
                                                             for i in range(result.k))
        rows = [study[i] for i in np.flatnonzero(blank)]
        raise DataError("Every row needs a cluster; it is missing for " + ", ".join(rows[:8])
                        + (" …" if len(rows) > 8 else "") + ".")
    # clusters in sorted order of their labels, as R's factor() and split()
    codes, uniques = pd.factorize(labels.astype(str), sort=True)
    n = len(uniques)
    fit = _fit_parts(result)
    k, p = fit.X.shape
    if n < 2:
        raise DataError("Cluster-robust inference needs at least two clusters; the column "
                        f"'{name}' has one value only.")
    if n <= p:
        raise DataError(f"The number of clusters ({n}) must exceed the number of "
                        f"coefficients ({p}).")
    # each block of the marginal covariance must sit inside one cluster
    members: list[list[int]] = [[] for _ in range(n)]
    for b_index, (rows, _M) in enumerate(fit.blocks):
        cl = np.unique(codes[rows])
        if cl.size > 1:
            raise OptionError(f"The random effects are not nested within '{name}': a group "
                              "of the outermost level spans several clusters. Cluster by "
                              "the outermost level or a coarser grouping.")
        members[int(cl[0])].append(b_index)
    beta = fit.beta
    resid = fit.y - fit.X @ beta
    clusters, idx_list = [], []
    xwx = np.zeros((p, p))
    for blist in members:
        rows = np.concatenate([fit.blocks[b][0] for b in blist])
        M = linalg.block_diag(*[fit.blocks[b][1] for b in blist])
        order = np.argsort(rows, kind="stable")   # rows in data order within the cluster
        rows, M = rows[order], M[np.ix_(order, order)]
        W = np.linalg.inv(M)
        xwx += fit.X[rows].T @ W @ fit.X[rows]
        # clubSandwich scales rma.uni weights by their mean (w_scale); the target is W^-1
        clusters.append(_Cluster(X=fit.X[rows], W=W / fit.w_scale, theta=M * fit.w_scale,
                                 e=resid[rows]))
        idx_list.append(rows)
    bread = np.linalg.inv(xwx)
    level = result.level
    notes: list[str] = []
    if small_sample:
        vcov, gh = _cr2(clusters, bread, fit.w_scale, p)
        se = np.sqrt(np.diag(vcov))
        df = _satterthwaite(gh, p)
        vcov_type = "CR2"
        if np.any(df < 4):
            notes.append("Some Satterthwaite degrees of freedom are below 4: the robust tests "
                         "are unreliable with so few effective clusters (Tipton 2015).")
    else:
        gh = None
        meat = np.zeros((p, p))
        for c in clusters:
            s = c.X.T @ (c.W * fit.w_scale) @ c.e
            meat += np.outer(s, s)
        vcov = bread @ meat @ bread
        vcov_type = "CR0"
        if adjust:
            vcov = vcov * n / (n - p)
            vcov_type = "CR1"
        se = np.sqrt(np.diag(vcov))
        df = np.full(p, float(n - p))
    stat = beta / se
    pv = 2 * special.stdtr(df, -np.abs(stat))
    crit = special.stdtrit(df, 1 - (1 - level) / 2)
    coef = pd.DataFrame({"estimate": beta, "se": se, "statistic": stat, "df": df,
                         "pvalue": pv, "ci_low": beta - crit * se, "ci_high": beta + crit * se},
                        index=list(fit.names))
    htz = None
    if p > 1:
        C = np.eye(p)[1:]
        htz = _htz(gh, C, beta, vcov) if small_sample else _f_test(C, beta, vcov, n - p)
    if n < 10:
        notes.append(f"Only {n} clusters: cluster-robust inference is approximate.")
    return RobustResult(
        estimate=float(beta[0]), se=float(se[0]), df=float(df[0]), pvalue=float(pv[0]),
        ci_low=float(coef["ci_low"].iloc[0]), ci_high=float(coef["ci_high"].iloc[0]),
        coef=coef, vcov=vcov, htz=htz, n_clusters=n, k=k, vcov_type=vcov_type,
        small_sample=small_sample, level=float(level), measure=result.measure, cluster=name,
        ratio=bool(getattr(result, "ratio", False)), label=getattr(result, "label", ""),
        model_se=fit.model_se, notes=tuple(notes), _gh=gh)


def dependence_table(effects: EffectSizes, levels: Sequence[str] | str, *,
                     tau2_method: str = "REML", level: float = 0.95,
                     rho: float | None = None) -> pd.DataFrame:
    """The pooled effect ignoring dependence, with the multilevel model, and with
    cluster-robust (CR2) inference on it, side by side.

    Rows ``naive`` (random effects, every row independent), ``multilevel`` and
    ``robust`` (clustered by the outermost level); columns ``model estimate se ci_low
    ci_high pvalue width width_ratio`` on the analysis scale, ``width_ratio`` being each
    interval's width over the naive one.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
    >>> # R: rma(yi, vi); rma.mv(yi, vi, random = ~ 1 | district/school); robust(.., clubSandwich)
    >>> tab = dependence_table(eff, ["district", "school"])
    >>> tab["model"].tolist(), round(float(tab["width_ratio"].iloc[1]), 2)
    (['naive', 'multilevel', 'robust'], 1.93)
    """
    ml = multilevel(effects, levels, tau2_method=tau2_method, level=level, rho=rho,
                    profile=False)
    keep = ml.kept
    naive_effects = effects if keep.all() else EffectSizes(
        yi=effects.yi[keep], vi=effects.vi[keep],
        study=tuple(s for s, k in zip(effects.study, keep, strict=True) if k),
        measure=effects.measure, ratio=effects.ratio, label=effects.label)
    naive = pool(naive_effects, model="random", tau2_method=tau2_method, level=level)
    rb = robust(ml, ml.levels[0])
    out = pd.DataFrame(
        [("naive", naive.estimate, naive.se, naive.ci_low, naive.ci_high, naive.pvalue),
         ("multilevel", ml.estimate, ml.se, ml.ci_low, ml.ci_high, ml.pvalue),
         ("robust", rb.estimate, rb.se, rb.ci_low, rb.ci_high, rb.pvalue)],
        columns=["model", "estimate", "se", "ci_low", "ci_high", "pvalue"])
    out["width"] = out["ci_high"] - out["ci_low"]
    out["width_ratio"] = out["width"] / out["width"].iloc[0]
    return out
