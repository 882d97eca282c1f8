"""Generalised linear mixed models for counts (metafor's ``rma.glmm``).

Single-group proportions are fitted with the binomial-normal model (logit link), single
rates with the Poisson-normal model (log link, log person-time offset), and two-group odds
ratios and rate ratios with metafor's unconditional model with fixed study effects
(``model="UM.FS"``): a fixed intercept per study, a fixed treatment effect, and a random
treatment effect coded +1/2 in the treatment group and -1/2 in the control group.

Each is fitted by maximum likelihood of the exact marginal likelihood: every study's
random effect is integrated out by adaptive Gauss-Hermite quadrature, centred at the
mode of the study's integrand and scaled by its curvature, with enough nodes that the
log-likelihood at the optimum does not change when they are doubled. The score and the
observed information are exact expectations under each study's posterior of its random
effect (computed on the same nodes), so the fit is a Newton iteration; the fixed study
effects of UM.FS enter an arrowhead Hessian that is solved by its Schur complement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from scipy import special

from metacore.data.table import KIND_COLUMNS
from metacore.errors import DataError, MeasureError, OptionError
from metacore.models.effects import (
    Exclusion,
    _split,
    _table_of_kind,
    _validate_one_group,
    back_transform,
    binary_counts,
    measure_name,
)
from metacore.numbers import format_p

__all__ = ["GLMM_MEASURES", "GlmmResult", "pool_glmm"]

#: Measures pool_glmm fits, with the model each one uses.
GLMM_MEASURES: dict[str, str] = {
    "PLO": "binomial-normal model (logit link)",
    "IRLN": "Poisson-normal model (log link)",
    "OR": "unconditional model with fixed study effects (UM.FS), logit link",
    "IRR": "unconditional model with fixed study effects (UM.FS), log link",
}
_KIND = {"PLO": "proportion", "IRLN": "rate", "OR": "binary", "IRR": "two_rates"}
_NODES = 24            # doubled until the log-likelihood at the optimum is stable
_MAX_NODES = 768
_LL_STABLE = 1e-10     # log-likelihood change on doubling the nodes that counts as stable
_EST_STABLE = 1e-7     # or the change of the estimates (beta, tau) on doubling them
_TAU_ZERO = 1e-7       # |tau| below this is the boundary tau = 0


def _nan() -> float:
    return float("nan")


@dataclass(frozen=True, eq=False)
class GlmmResult:
    """A GLMM fit: the pooled effect (analysis scale: logit, log rate, log OR, log IRR).

    Attributes
    ----------
    estimate, se, ci_low, ci_high, pvalue
        Fixed effect (the pooled logit, log rate, log odds ratio or log rate ratio), its
        standard error from the observed information (as lme4's ``vcov``: the inverse of
        the full Hessian, τ included), Wald interval (z, or t with k-1 df) and p-value.
    pi_low, pi_high
        Prediction interval, estimate ± crit * sqrt(se² + τ²), as metafor's ``predict``.
    tau2, tau
        Between-study variance and SD of the random effect (of the treatment effect for
        UM.FS).
    k
        Studies in the fit.
    loglik
        The exact marginal log-likelihood at the estimates (full density, binomial
        coefficients and Poisson normalising terms included).
    loglik_fe, lrt, lrt_pvalue
        Log-likelihood with τ² = 0, the likelihood-ratio statistic 2(loglik - loglik_fe)
        and its p-value against the boundary mixture ½χ²₀ + ½χ²₁.
    study_effects
        UM.FS only: each study's fixed intercept (the control group's log odds or log
        rate at a random effect of 0), in the order of ``study``.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    pi_low: float
    pi_high: float
    tau2: float
    tau: float
    k: int
    loglik: float
    loglik_fe: float
    lrt: float
    lrt_pvalue: float
    statistic: float
    df: float | None
    measure: str
    level: float
    ci_method: str
    converged: bool
    boundary: bool
    iterations: int
    nodes: int
    study: tuple[str, ...]
    excluded: tuple[Exclusion, ...] = ()
    notes: tuple[str, ...] = ()
    study_effects: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def model(self) -> str:
        """The model in words."""
        return GLMM_MEASURES[self.measure]

    @property
    def ratio(self) -> bool:
        """True for the two-group ratio measures (OR, IRR)."""
        return self.measure in ("OR", "IRR")

    @property
    def name(self) -> str:
        """Long name of the measure."""
        return measure_name(self.measure)

    def transform(self, x: float | np.ndarray) -> float | np.ndarray:
        """Back-transform from the analysis scale (ilogit for PLO, exp otherwise)."""
        return back_transform(self.measure, x)

    def natural(self) -> dict[str, float]:
        """Estimate, confidence and prediction interval on the natural scale."""
        t = self.transform
        return {"estimate": float(t(self.estimate)), "ci_low": float(t(self.ci_low)),
                "ci_high": float(t(self.ci_high)), "pi_low": float(t(self.pi_low)),
                "pi_high": float(t(self.pi_high))}

    def summary(self, digits: int = 3) -> str:
        """A short report in words."""
        f = f"{{:.{digits}f}}"
        nat = self.natural()
        ci = "Wald z" if self.ci_method == "z" else f"Wald t ({self.df:g} df)"
        lines = [
            f"GLMM, {self.model} (k = {self.k}); maximum likelihood of the exact marginal "
            f"likelihood (adaptive Gauss-Hermite, {self.nodes} nodes); CI: {ci}; "
            f"level {self.level:.0%}",
            f"{self.name}: {f.format(nat['estimate'])} [{f.format(nat['ci_low'])}, "
            f"{f.format(nat['ci_high'])}], p = {format_p(self.pvalue)}",
            f"Prediction interval: [{f.format(nat['pi_low'])}, {f.format(nat['pi_high'])}]",
            f"τ² = {f.format(self.tau2)}, τ = {f.format(self.tau)}; likelihood-ratio test of "
            f"τ² = 0: χ² = {self.lrt:.2f}, p = {format_p(self.lrt_pvalue)}",
            f"Log-likelihood {self.loglik:.4f} (τ² = 0: {self.loglik_fe:.4f})",
        ]
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic: name, value, and natural-scale value."""
        nat = self.natural()
        rows = [("estimate", self.estimate, nat["estimate"]), ("se", self.se, _nan()),
                ("ci_low", self.ci_low, nat["ci_low"]), ("ci_high", self.ci_high, nat["ci_high"]),
                ("pvalue", self.pvalue, _nan()), ("pi_low", self.pi_low, nat["pi_low"]),
                ("pi_high", self.pi_high, nat["pi_high"]), ("tau2", self.tau2, _nan()),
                ("tau", self.tau, _nan()), ("loglik", self.loglik, _nan()),
                ("loglik_fe", self.loglik_fe, _nan()), ("lrt", self.lrt, _nan()),
                ("lrt_pvalue", self.lrt_pvalue, _nan()), ("k", float(self.k), _nan())]
        return pd.DataFrame(rows, columns=["statistic", "value", "natural"])


# --- the per-study integrals ------------------------------------------------------------

@dataclass
class _Data:
    """Counts by study (rows) and group (columns: the treatment group first)."""

    y: np.ndarray          # events (k, m)
    size: np.ndarray       # n (binomial) or person-time (Poisson) (k, m)
    binomial: bool
    c: np.ndarray          # coefficient of tau * z in each group's linear predictor (m,)
    const: float           # the log-density's terms free of the parameters

    @property
    def k(self) -> int:
        return self.y.shape[0]


def _make_data(y: np.ndarray, size: np.ndarray, binomial: bool, c: np.ndarray) -> _Data:
    if binomial:
        const = special.gammaln(size + 1) - special.gammaln(y + 1) - special.gammaln(size - y + 1)
    else:
        const = y * np.log(size) - special.gammaln(y + 1)
    return _Data(y=y, size=size, binomial=binomial, c=c, const=float(const.sum()))


def _logp(d: _Data, eta: np.ndarray) -> np.ndarray:
    """log p(y | eta) without the constant; eta broadcasts as (k, m, ...)."""
    y = d.y.reshape(d.y.shape + (1,) * (eta.ndim - 2))
    s = d.size.reshape(y.shape)
    if d.binomial:
        return y * eta - s * np.logaddexp(0.0, eta)
    return y * eta - s * np.exp(eta)


def _scores(d: _Data, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives of log p(y | eta) in eta."""
    y = d.y.reshape(d.y.shape + (1,) * (eta.ndim - 2))
    s = d.size.reshape(y.shape)
    if d.binomial:
        p = special.expit(eta)
        return y - s * p, -s * p * (1 - p)
    mu = s * np.exp(eta)
    return y - mu, -mu


def _modes(d: _Data, eta0: np.ndarray, tau: float, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode of each study's integrand h(z) = log p(y | eta0 + c tau z) - z²/2, and -h''.

    h is strictly concave with h'' <= -1, so Newton steps (capped at 2 in z, the scale of
    the random effect's prior) from the previous mode converge in a few iterations. The
    mode only centres the quadrature, whose nodes cover it either way, so 1e-9 is ample.
    """
    ct = d.c * tau
    for _ in range(100):
        s1, s2 = _scores(d, eta0 + ct * z[:, None])
        step = np.clip((s1 @ ct - z) / (1.0 - s2 @ (ct * ct)), -2.0, 2.0)
        z = z + step
        if np.max(np.abs(step)) < 1e-9:
            break
    s1, s2 = _scores(d, eta0 + ct * z[:, None])
    return z, 1.0 - (s2 @ (ct * ct))


def _integrate(d: _Data, eta0: np.ndarray, tau: float, nodes: tuple[np.ndarray, np.ndarray],
               z0: np.ndarray, derivs: bool = True):
    """Each study's log marginal likelihood, and its score and Hessian in the local
    parameters (eta0 of each group, then tau).

    Returns ``(loglik, G, H, modes)`` with ``G`` (k, m+1) and ``H`` (k, m+1, m+1).
    """
    x, w = nodes
    m = d.y.shape[1]
    zhat, info = _modes(d, eta0, tau, z0)
    scale = np.sqrt(2.0 / info)                                   # sqrt(2) * sigma-hat
    z = zhat[:, None] + scale[:, None] * x[None, :]               # (k, Q)
    eta = eta0[:, :, None] + (d.c * tau)[None, :, None] * z[:, None, :]   # (k, m, Q)
    lp = _logp(d, eta).sum(axis=1) - z * z / 2 + np.log(w) + x * x     # (k, Q)
    top = lp.max(axis=1, keepdims=True)
    e = np.exp(lp - top)
    tot = e.sum(axis=1)
    ll = np.log(scale) - 0.5 * math.log(2 * math.pi) + top[:, 0] + np.log(tot)
    if not derivs:
        return ll, None, None, zhat
    post = e / tot[:, None]                                       # posterior weights (k, Q)
    s1, s2 = _scores(d, eta)                                      # (k, m, Q)
    # derivative of log p(y | z) in (eta0_1..eta0_m, tau) at each node
    dtau = (d.c[None, :, None] * s1).sum(axis=1) * z              # (k, Q)
    D = np.concatenate([s1, dtau[:, None, :]], axis=1)            # (k, m+1, Q)
    G = np.einsum("kq,kaq->ka", post, D)
    # second derivatives: sum_j s2_j v_j v_j' with v_j = (e_j, c_j z)
    D2 = np.zeros((d.k, m + 1, m + 1, z.shape[1]))
    for j in range(m):
        D2[:, j, j] = s2[:, j]
        D2[:, j, m] = D2[:, m, j] = s2[:, j] * d.c[j] * z
        D2[:, m, m] += s2[:, j] * d.c[j] ** 2 * z * z
    H = np.einsum("kq,kabq->kab", post, D2 + D[:, :, None, :] * D[:, None, :, :]) \
        - G[:, :, None] * G[:, None, :]
    return ll, G, H, zhat


@cache
def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights, without the nodes whose weight underflows to 0."""
    # scipy's roots_hermite stays accurate for many nodes (numpy's hermgauss overflows)
    x, w = special.roots_hermite(n)
    keep = w > 0
    return x[keep], w[keep]


# --- the models: parameters -> local predictors -------------------------------------------

class _Model:
    """Parameters (alpha_1..alpha_k [UM.FS only], beta, tau) and their derivatives.

    Single-group models have no alpha and eta0 = beta; UM.FS has eta0 = (alpha + beta,
    alpha) for (treatment, control).
    """

    def __init__(self, d: _Data, umfs: bool, nodes: int):
        self.d, self.umfs = d, umfs
        self.set_nodes(nodes)
        self.zmode = np.zeros(d.k)

    def set_nodes(self, nodes: int) -> None:
        self.n_nodes = nodes
        self.nodes = _hermite(nodes)

    def eta0(self, alpha: np.ndarray, beta: float) -> np.ndarray:
        if self.umfs:
            return np.column_stack([alpha + beta, alpha])
        return np.full((self.d.k, 1), beta)

    def loglik(self, alpha, beta, tau) -> float:
        ll, _, _, _ = _integrate(self.d, self.eta0(alpha, beta), tau, self.nodes,
                                 self.zmode.copy(), derivs=False)
        return float(ll.sum()) + self.d.const

    def evaluate(self, alpha, beta, tau, fit_tau: bool):
        """log-likelihood, and the arrowhead pieces of its gradient and Hessian:
        per-study (g_a, A, B) for alpha and (g, C) for theta = (beta[, tau])."""
        ll, G, H, self.zmode = _integrate(self.d, self.eta0(alpha, beta), tau, self.nodes,
                                          self.zmode)
        p = 2 if fit_tau else 1
        if self.umfs:
            # local (eta_t, eta_c, tau) <- params (alpha_i, beta, tau)
            J = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
            gp = G @ J
            Hp = np.einsum("ia,kab,bj->kij", J, H, J)
            g_a, A, B = gp[:, 0], Hp[:, 0, 0], Hp[:, 0, 1:1 + p]
            g, C = gp[:, 1:1 + p].sum(axis=0), Hp[:, 1:1 + p, 1:1 + p].sum(axis=0)
        else:
            g_a, A, B = np.zeros(0), np.zeros(0), np.zeros((0, p))
            g, C = G[:, :p].sum(axis=0), H[:, :p, :p].sum(axis=0)
        return float(ll.sum()) + self.d.const, g_a, A, B, g, C


def _schur(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Theta block of the Hessian with alpha profiled out: C - sum B_i B_i' / A_i."""
    if A.size == 0:
        return C
    return C - (B / A[:, None]).T @ B


def _newton(model: _Model, alpha: np.ndarray, beta: float, tau: float, fit_tau: bool,
            max_iter: int = 100):
    """Maximise the marginal log-likelihood by damped Newton steps.

    Returns ``(alpha, beta, tau, loglik, converged, iterations)``.
    """
    ll, g_a, A, B, g, C = model.evaluate(alpha, beta, tau, fit_tau)
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        # Levenberg damping where the log-likelihood is not concave (in tau, away from the
        # optimum). The alpha block is concave (each study's marginal likelihood is
        # log-concave in its intercept), and subtracting lam from the whole diagonal lowers
        # the Schur complement by at least lam, so lam above its largest eigenvalue makes
        # the step an ascent direction.
        S = _schur(A, B, C)
        top = float(np.linalg.eigvalsh(S).max()) if np.all(np.isfinite(S)) else np.inf
        lam = 0.0
        if not top < 0 or not np.all(A < 0):
            lam = 1.5 * max(top, 0.0) + 1e-6 * (1 + float(np.abs(C).max()))
            for _ in range(60):
                S = _schur(A - lam, B, C - lam * np.eye(C.shape[0]))
                if np.all(np.linalg.eigvalsh(S) < 0) and np.all(A - lam < 0):
                    break
                lam *= 4
        Ad = A - lam
        rhs = -g + ((B / Ad[:, None]).T @ g_a if A.size else 0.0)
        dt = np.linalg.solve(S, rhs)
        da = (-g_a - B @ dt) / Ad if A.size else np.zeros(0)
        decrement = float(g @ dt + (g_a @ da if A.size else 0.0))
        if lam == 0.0 and max(float(np.max(np.abs(dt))),
                              float(np.max(np.abs(da))) if A.size else 0.0) < 1e-9:
            # an undamped Newton step this small: the error is its square, done
            alpha, beta = alpha + da, beta + dt[0]
            tau = tau + dt[1] if fit_tau else tau
            converged = True
            break
        if lam == 0.0 and 0 <= decrement < 1e-15 * max(1.0, abs(ll)):
            # the step would gain less than the log-likelihood's rounding: (beta, tau)
            # are within ~sqrt(1e-15 |ll| / information) of the optimum; a flat study
            # intercept may still move, which changes nothing
            converged = True
            break
        step = 1.0
        while True:
            na, nb = alpha + step * da, beta + step * dt[0]
            nt = tau + step * dt[1] if fit_tau else tau
            try:
                new = model.evaluate(na, nb, nt, fit_tau)
            except FloatingPointError:
                new = None
            # strict ascent: at the optimum the line search fails at once (the quadrature's
            # rounding is all that is left) and the iteration ends
            if new is not None and np.isfinite(new[0]) and new[0] >= ll:
                break
            step /= 2
            if step < 1e-10:
                new = None
                break
        if new is None:
            # no ascent possible along the step: at the optimum to working precision
            converged = abs(decrement) < 1e-6
            break
        alpha, beta, tau = na, nb, nt
        ll, g_a, A, B, g, C = new
    return alpha, beta, tau, ll, converged, it


# --- data, start values, the fit ------------------------------------------------------

def _prepare(table, measure: str):
    """Counts of the studies the model can use, and every other row with its reason."""
    if measure == "OR":
        cnt = binary_counts(table)
        a, b, c, dd = cnt.a, cnt.b, cnt.c, cnt.d
        drop = ((a == 0) & (c == 0)) | ((b == 0) & (dd == 0))
        y = np.column_stack([a, c])
        size = np.column_stack([a + b, c + dd])
        studies, rows = cnt.study, cnt.rows
        excluded = list(zip(cnt.excluded_rows, cnt.excluded, strict=True))
        why = ("no events (or only events) in both groups, so it carries no information on "
               "the odds ratio in this model (metafor's rma.glmm drops it too)")
    else:
        kind = _KIND[measure]
        st, reasons = _table_of_kind(table, kind, measure)
        _validate_one_group(st.data, kind, measure, reasons)
        idx, excl, excl_rows = _split(st.data, reasons)
        data = st.data.iloc[idx].reset_index(drop=True)
        cols = KIND_COLUMNS[kind]
        values = [data[col].to_numpy(float) for col in cols]
        if measure == "IRR":
            y = np.column_stack([values[0], values[2]])
            size = np.column_stack([values[1], values[3]])
            drop = (values[0] == 0) & (values[2] == 0)
            why = ("no events in either group, so it carries no information on the rate "
                   "ratio in this model (metafor's rma.glmm drops it too)")
        else:
            y, size = values[0][:, None], values[1][:, None]
            drop = np.zeros(len(data), dtype=bool)   # 0% and 100% studies stay in
            why = ""
        studies = tuple(map(str, data["study"]))
        rows = tuple(int(r) for r in data["row"])
        excluded = list(zip(excl_rows, excl, strict=True))
    for i in np.flatnonzero(drop):
        excluded.append((rows[i], Exclusion(studies[i], f"row {rows[i]}: {why}")))
    keep = ~drop
    excluded.sort(key=lambda item: item[0])
    return (y[keep].astype(float), size[keep].astype(float),
            tuple(s for s, k in zip(studies, keep, strict=True) if k),
            tuple(e for _, e in excluded))


def _check_estimable(measure: str, y: np.ndarray, size: np.ndarray) -> None:
    """The fixed effect has no finite maximum when every count sits at a boundary."""
    if measure in ("PLO", "IRLN") and not (y > 0).any():
        raise DataError("No study has any event, so the pooled "
                        f"{'proportion' if measure == 'PLO' else 'rate'} is 0 and the GLMM has "
                        "no finite estimate on the log scale; report the counts instead.")
    if measure == "PLO" and not (y < size).any():
        raise DataError("Every study has 100% events, so the pooled proportion is 1 and the "
                        "GLMM has no finite estimate on the logit scale.")
    if measure in ("OR", "IRR"):
        for j, arm in ((0, "treatment"), (1, "control")):
            if not (y[:, j] > 0).any():
                raise DataError(f"No study has an event in the {arm} group, so the "
                                f"{'odds' if measure == 'OR' else 'rate'} ratio has no finite "
                                "maximum-likelihood estimate.")
            if measure == "OR" and not (y[:, j] < size[:, j]).any():
                raise DataError(f"Every participant in the {arm} groups had an event, so the "
                                "odds ratio has no finite maximum-likelihood estimate.")


def _starts(measure: str, y: np.ndarray, size: np.ndarray):
    """Start values from the usual escalc estimates (0.5 added) and DerSimonian-Laird."""
    with np.errstate(all="ignore"):
        if measure == "PLO":
            yi = np.log((y[:, 0] + 0.5) / (size[:, 0] - y[:, 0] + 0.5))
            vi = 1 / (y[:, 0] + 0.5) + 1 / (size[:, 0] - y[:, 0] + 0.5)
            alpha = np.zeros(0)
        elif measure == "IRLN":
            yi = np.log((y[:, 0] + 0.5) / size[:, 0])
            vi = 1 / (y[:, 0] + 0.5)
            alpha = np.zeros(0)
        elif measure == "OR":
            a, c = y[:, 0] + 0.5, y[:, 1] + 0.5
            b, d = size[:, 0] - y[:, 0] + 0.5, size[:, 1] - y[:, 1] + 0.5
            yi = np.log(a * d / (b * c))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
            alpha = np.log(c / d)
        else:
            yi = np.log((y[:, 0] + 0.5) / size[:, 0]) - np.log((y[:, 1] + 0.5) / size[:, 1])
            vi = 1 / (y[:, 0] + 0.5) + 1 / (y[:, 1] + 0.5)
            alpha = np.log((y[:, 1] + 0.5) / size[:, 1])
    w = 1 / vi
    mean = float(w @ yi / w.sum())
    q = float(w @ (yi - mean) ** 2)
    tau2 = max(0.0, (q - (len(yi) - 1)) / (w.sum() - (w * w).sum() / w.sum())) \
        if len(yi) > 1 else 0.0
    ws = 1 / (vi + tau2)
    beta = float(ws @ yi / ws.sum())
    return alpha, beta, max(math.sqrt(tau2), 0.1)


def _fixed_fit(d: _Data, umfs: bool, alpha: np.ndarray, beta: float):
    """The model with tau = 0 (a GLM): ``(alpha, beta, loglik, converged)``."""
    fe = _Model(d, umfs, 1)
    if umfs:
        alpha, beta, _, ll, converged, _ = _newton(fe, alpha, beta, 0.0, False)
        return alpha, float(beta), ll, converged
    # one group without a random effect: the pooled logit or log rate in closed form
    tot = d.y.sum() / d.size.sum()
    mu = math.log(tot / (1 - tot)) if d.binomial else math.log(tot)
    return alpha, mu, fe.loglik(alpha, mu, 0.0), True


def _fit(model: _Model, alpha: np.ndarray, beta: float, tau: float):
    alpha, beta, tau, ll, converged, iters = _newton(model, alpha, beta, tau, True)
    if abs(tau) < _TAU_ZERO:
        # At tau = 0 the log-likelihood is flat in tau to first order (it is even in tau);
        # if it curves upwards there, tau = 0 is a saddle: start again further out.
        _, _, _, _, _, C = model.evaluate(alpha, beta, 0.0, True)
        if C[1, 1] > 0:
            alpha, beta, tau, ll, converged, more = _newton(model, alpha, beta, 1.0, True)
            iters += more
    return alpha, beta, abs(tau), ll, converged, iters


def pool_glmm(table: pd.DataFrame, measure: str, *, level: float = 0.95,
              ci_method: str = "z") -> GlmmResult:
    """Pool counts with a generalised linear mixed model, like metafor's ``rma.glmm``.

    Parameters
    ----------
    table
        Study table: ``events``, ``n`` (PLO); ``events``, ``time`` (IRLN);
        ``events_t``, ``n_t``, ``events_c``, ``n_c`` (OR); ``events_t``, ``time_t``,
        ``events_c``, ``time_c`` (IRR); or any alias of these.
    measure
        ``"PLO"`` binomial-normal, ``"IRLN"`` Poisson-normal, ``"OR"`` and ``"IRR"``
        metafor's UM.FS (fixed study intercepts, random treatment effect coded ±1/2).
    level
        Confidence level.
    ci_method
        ``"z"`` (Wald) or ``"t"`` (Wald with a t distribution on k-1 df).

    Returns
    -------
    GlmmResult
        No continuity correction is used. Studies with 0% or 100% events stay in the
        single-group models; two-group studies without events (or, for OR, with only
        events) in both groups carry no information and are listed in ``excluded``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"events": [16, 10, 4, 43, 10, 25], "n": [17, 12, 8, 58, 10, 42]})
    >>> res = pool_glmm(t, "PLO")
    >>> round(res.estimate, 4), round(res.tau2, 4), round(res.natural()["estimate"], 3)
    (1.3179, 0.6433, 0.789)
    """
    measure = str(measure).upper()
    if measure not in GLMM_MEASURES:
        raise MeasureError(f"The GLMM is available for {', '.join(GLMM_MEASURES)}, not "
                           f"'{measure}'.")
    if ci_method not in ("z", "t"):
        raise OptionError(f"ci_method must be 'z' or 't', not '{ci_method}'.")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise OptionError(f"The confidence level must be between 0 and 1 (e.g. 0.95), not {level}.")
    y, size, studies, excluded = _prepare(table, measure)
    k = len(studies)
    if k == 0:
        reasons = "; ".join(f"{e.study}: {e.reason}" for e in excluded[:5])
        raise DataError("No study can enter the model" + (f" ({reasons})." if reasons else "."))
    _check_estimable(measure, y, size)
    umfs = measure in ("OR", "IRR")
    c = np.array([0.5, -0.5]) if umfs else np.array([1.0])
    d = _make_data(y, size, measure in ("PLO", "OR"), c)
    notes: list[str] = []

    nodes = _NODES
    model = _Model(d, umfs, nodes)
    with np.errstate(over="ignore", under="ignore"):
        # the tau2 = 0 fit first (for the likelihood-ratio test), then the mixed model from
        # its estimates, with tau from DerSimonian-Laird on the usual 0.5-corrected effects
        alpha0, beta0, tau0 = _starts(measure, y, size)
        alpha_fe, beta_fe, ll_fe, fe_conv = _fixed_fit(d, umfs, alpha0, beta0)
        alpha, beta, tau, ll, converged, iters = _fit(model, alpha_fe, beta_fe, tau0)
        while True:
            # The quadrature is exact enough when doubling the nodes leaves the optimum's
            # log-likelihood unchanged to 1e-10; otherwise refit from here with twice the
            # nodes until the estimates move by less than 1e-7 (a large tau with 0% or 100%
            # studies makes the integrands far from Gaussian and needs many nodes).
            model.set_nodes(2 * nodes)
            if abs(model.loglik(alpha, beta, tau) - ll) <= _LL_STABLE:
                model.set_nodes(nodes)
                break
            if 2 * nodes > _MAX_NODES:
                model.set_nodes(nodes)
                notes.append(f"The estimates changed by more than 1e-7 between the last two "
                             f"doublings of the quadrature nodes ({nodes} nodes used).")
                break
            nodes *= 2
            old = (beta, tau)
            alpha, beta, tau, ll, converged, more = _fit(model, alpha, beta, tau)
            iters += more
            if max(abs(beta - old[0]), abs(tau - old[1])) < _EST_STABLE:
                break
        beta, tau = float(beta), float(tau)
        boundary = tau < _TAU_ZERO
        if boundary:
            tau = 0.0
        ll, g_a, A, B, g, C = model.evaluate(alpha, beta, tau, True)
        S = _schur(A, B, C)
        if boundary:
            # tau = 0: the score in tau is 0 and beta's information is conditional on it
            var = -1.0 / S[0, 0]
        else:
            try:
                var = float(-np.linalg.inv(S)[0, 0])
            except np.linalg.LinAlgError:
                var = _nan()
    if not converged:
        notes.append("The maximisation stopped before converging; the estimates may be "
                     "inaccurate (check for studies with extreme counts).")
    if not fe_conv:
        notes.append("The fit with τ² = 0 (for the likelihood-ratio test) did not converge.")
    if boundary:
        notes.append("τ² is estimated at 0 (the boundary): no heterogeneity beyond what the "
                     "binomial or Poisson variation explains.")
    if not (var > 0):
        notes.append("The observed information is singular: no standard error.")
        var = _nan()
    se = math.sqrt(var) if var == var else _nan()
    alpha_level = 1 - level
    if ci_method == "t" and k > 1:
        df: float | None = float(k - 1)
        crit = float(special.stdtrit(k - 1, 1 - alpha_level / 2))
    else:
        if ci_method == "t":
            notes.append("A t interval needs at least 2 studies; Wald z is used.")
        df, crit = None, float(special.ndtri(1 - alpha_level / 2))
    stat = beta / se if se > 0 else _nan()
    pvalue = float(2 * (special.ndtr(-abs(stat)) if df is None else special.stdtr(df, -abs(stat))))
    lrt = max(0.0, 2 * (ll - ll_fe))
    pi_se = math.sqrt(se * se + tau * tau) if se == se else _nan()
    if excluded:
        notes.append(f"{len(excluded)} row(s) left out: " +
                     "; ".join(e.reason for e in excluded[:3]) +
                     (" …" if len(excluded) > 3 else ""))
    if k == 1:
        notes.append("Only one study: τ² cannot be estimated from one study.")
    return GlmmResult(
        estimate=float(beta), se=se, ci_low=beta - crit * se, ci_high=beta + crit * se,
        pvalue=pvalue, pi_low=beta - crit * pi_se, pi_high=beta + crit * pi_se,
        tau2=tau * tau, tau=tau, k=k, loglik=float(ll), loglik_fe=float(ll_fe), lrt=lrt,
        lrt_pvalue=float(0.5 * special.chdtrc(1, lrt)) if lrt > 0 else 1.0,
        statistic=float(stat), df=df, measure=measure, level=float(level),
        ci_method="t" if df is not None else "z", converged=bool(converged),
        boundary=bool(boundary), iterations=int(iters), nodes=nodes, study=studies,
        excluded=excluded, notes=tuple(notes), study_effects=np.asarray(alpha, float))
