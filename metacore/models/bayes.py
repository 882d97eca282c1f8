"""Bayesian random-effects meta-analysis without MCMC (the bayesmeta approach).

Model: y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau^2), with priors on tau and mu
(flat or normal). mu is integrated out analytically; the marginal posterior of
tau is evaluated on a grid in u = log(tau) that adapts to where the posterior
lives, so every posterior quantity is a finite normal mixture:

    p(mu | y) = sum_j pi_j N(mu; m_j, V_j)

Because the log-posterior decays to exp(-40) at both ends of the grid, the
trapezoid rule in u converges spectrally; a few hundred nodes give results far
below display precision (tests compare with brute-force 2-D quadrature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes
from metacore.models.priors import Fixed, Jeffreys, Normal, TauPrior

__all__ = ["BayesResult", "bayes_pool"]

_SQRT2PI = math.sqrt(2 * math.pi)
_DROP = 40.0        # grid covers log-posterior within 40 of its maximum
_COARSE, _FINE, _FINE_CUT, _TAU_GRID = 241, 301, 2001, 4001
# A posterior whose log density in log tau falls by less than this per unit is proper
# only in name: its tail reaches beyond any representable tau.
_MIN_DECAY = 0.05
# Effect sizes (log ratios, SMDs, mean differences in natural units) live far inside these.
_MAX_ABS_Y, _MIN_V, _MAX_V = 1e12, 1e-24, 1e24


def _trapezoid_weights(u: np.ndarray) -> np.ndarray:
    h = u[1] - u[0]
    w = np.full(u.size, h)
    w[[0, -1]] = h / 2
    return w


def _simpson_weights(u: np.ndarray) -> np.ndarray:
    """Composite Simpson weights (odd number of equally spaced nodes)."""
    h = u[1] - u[0]
    w = np.full(u.size, 2 * h / 3)
    w[1::2] = 4 * h / 3
    w[[0, -1]] = h / 3
    return w


def _improper_message(tau_prior: TauPrior, mu_prior: Normal | None, k: int,
                      decay: float) -> str:
    lik = f"τ^−{k - 1 if mu_prior is None else k}"
    mu = "a flat" if mu_prior is None else "a normal"
    if decay <= 0:
        return (f"With {tau_prior.label} for τ and {mu} prior for μ, the posterior of τ is "
                f"improper for k = {k}: the likelihood falls only like {lik} as τ grows, "
                "which the prior's tail does not make integrable. Use a proper prior for τ "
                "with a lighter tail (e.g. half-normal), or a normal prior for μ.")
    return (f"With {tau_prior.label} for τ and {mu} prior for μ, the posterior of τ is proper "
            f"but its tail is so heavy (density ~ τ^−{decay + 1:.3g}) that no summary of it is "
            "meaningful for k = " + f"{k}. Use an informative prior for τ.")


@dataclass(frozen=True, eq=False)
class BayesResult:
    """Posterior summaries; intervals are equal-tailed at ``level`` unless named shortest."""

    mu_mean: float
    mu_median: float
    mu_low: float
    mu_high: float
    prob_mu_positive: float
    tau_median: float
    tau_low: float
    tau_high: float
    theta_mean: np.ndarray
    mu_sd: float = float("nan")
    mu_short_low: float = float("nan")
    mu_short_high: float = float("nan")
    tau_mean: float = float("nan")
    tau_short_low: float = float("nan")
    tau_short_high: float = float("nan")
    pred_mean: float = float("nan")
    pred_low: float = float("nan")
    pred_high: float = float("nan")
    pred_short_low: float = float("nan")
    pred_short_high: float = float("nan")
    prob_pred_positive: float = float("nan")
    threshold: float | None = None
    prob_mu_beyond: float = float("nan")
    beta_f_mean: float = float("nan")
    beta_f_low: float = float("nan")
    beta_f_high: float = float("nan")
    theta_low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    theta_high: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bf_mu0: float = float("nan")
    bf_tau0: float = float("nan")
    level: float = 0.95
    tau_prior: str = ""
    mu_prior: str = "flat"
    measure: str = "GEN"
    ratio: bool = False
    study: tuple[str, ...] = ()
    yi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tau_grid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tau_density: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tau_prior_density: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mu_grid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mu_density: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_density: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_grid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    notes: tuple[str, ...] = ()

    def transform(self, x):
        """Back-transform from the analysis scale (exp for ratios)."""
        return np.exp(x) if self.ratio else x

    def summary(self, digits: int = 3) -> str:
        """A short report in words."""
        t = self.transform
        f = f"{{:.{digits}f}}"
        lvl = f"{self.level:.0%}"
        return (f"Bayesian random effects ({self.tau_prior}; {self.mu_prior}): μ "
                f"{f.format(t(self.mu_median))} [{f.format(t(self.mu_low))}, "
                f"{f.format(t(self.mu_high))}] ({lvl} credible interval), τ "
                f"{f.format(self.tau_median)} [{f.format(self.tau_low)}, "
                f"{f.format(self.tau_high)}]; P(μ > 0) = {self.prob_mu_positive:.3f}; "
                f"prediction [{f.format(t(self.pred_low))}, {f.format(t(self.pred_high))}].")

    def to_frame(self) -> pd.DataFrame:
        """One row per study: observed and shrunken effects with credible intervals."""
        return pd.DataFrame({"study": list(self.study), "yi": self.yi,
                             "theta_mean": self.theta_mean, "theta_low": self.theta_low,
                             "theta_high": self.theta_high})


def _marginal_loglik(tau: np.ndarray, yi: np.ndarray, vi: np.ndarray,
                     mu_prior: Normal | None):
    """log p(y | tau) with mu integrated out, and the conditional moments of mu."""
    w = 1.0 / (vi + tau[:, None] ** 2)
    sw = w.sum(1)
    swy = w @ yi
    ll = -0.5 * np.log(vi + tau[:, None] ** 2).sum(1)
    if mu_prior is None:
        m = swy / sw
        prec = sw
        ll += -0.5 * np.log(sw) - 0.5 * (w * (yi - m[:, None]) ** 2).sum(1)
    else:
        p0 = 1.0 / mu_prior.sd**2
        prec = sw + p0
        m = (swy + p0 * mu_prior.mean) / prec
        ll += (-0.5 * math.log(mu_prior.sd**2) - 0.5 * np.log(prec)
               - 0.5 * ((w * (yi - m[:, None]) ** 2).sum(1) + p0 * (mu_prior.mean - m) ** 2))
    return ll, m, 1.0 / prec


def _mixture_cdf(x: np.ndarray, pi: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """CDF of sum_j pi_j N(m_j, s_j^2) at each x (any shape; last axis of m, s = components)."""
    return (pi * special.ndtr((x[..., None] - m) / s)).sum(-1)


def _mixture_quantiles(probs: np.ndarray, pi: np.ndarray, m: np.ndarray,
                       s: np.ndarray) -> np.ndarray:
    """Quantiles by vectorised bisection; ``m, s`` may carry a leading axis (one mixture each)."""
    m2, s2 = np.atleast_2d(m), np.atleast_2d(s)
    center = (pi * m2).sum(-1)
    spread = np.sqrt((pi * (s2**2 + m2**2)).sum(-1) - center**2) + s2.max(-1)
    lo = (center - 40 * spread)[:, None] * np.ones((1, probs.size))
    hi = (center + 40 * spread)[:, None] * np.ones((1, probs.size))
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        below = (pi * special.ndtr((mid[..., None] - m2[:, None, :]) / s2[:, None, :])).sum(-1) \
            < probs
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    out = 0.5 * (lo + hi)
    return out[0] if np.ndim(m) == 1 else out


def _shortest(grid: np.ndarray, cdf: np.ndarray, level: float) -> tuple[float, float]:
    """Shortest interval holding ``level`` of the mass, from a CDF tabulated on a grid."""
    targets = cdf + level
    ok = targets <= cdf[-1]
    if not ok.any():
        return float(grid[0]), float(grid[-1])
    upper = np.interp(targets[ok], cdf, grid)
    widths = upper - grid[ok]
    i = int(np.argmin(widths))
    return float(grid[ok][i]), float(upper[i])


def _check_prior(tau_prior: TauPrior, mu_prior: Normal | None, k: int) -> TauPrior:
    if not isinstance(tau_prior, TauPrior):
        raise OptionError("tau_prior must be one of metacore.priors (HalfNormal, HalfCauchy, "
                          "Uniform, InvGamma, ...).")
    if mu_prior is not None and not isinstance(mu_prior, Normal):
        raise OptionError("mu_prior must be None (flat) or metacore.priors.Normal(mean, sd).")
    if mu_prior is not None and not (mu_prior.sd > 0 and math.isfinite(mu_prior.sd)):
        raise OptionError("The normal prior for μ needs a positive, finite SD.")
    for name in ("scale", "upper"):
        value = getattr(tau_prior, name, None)
        if value is not None and not value > 0:
            raise OptionError(f"The prior's {name} must be positive, not {value}.")
    if isinstance(tau_prior, Jeffreys):
        if mu_prior is None and k < 2:
            raise OptionError("With a flat prior for μ, the Jeffreys prior for τ gives an "
                              "improper posterior for a single study; use a proper prior.")
        return tau_prior
    return tau_prior


def bayes_pool(effects: EffectSizes, *, tau_prior: TauPrior, mu_prior: Normal | None = None,
               level: float = 0.95, threshold: float | None = None) -> BayesResult:
    """Bayesian random-effects meta-analysis by exact integration over tau.

    Parameters
    ----------
    effects
        Study effect sizes (:func:`metacore.compute_effects`).
    tau_prior
        A prior from :mod:`metacore.models.priors` (``HalfNormal(0.5)``, ``InvGamma(0.001,
        0.001)``, ``Fixed(1.0)``, ...).
    mu_prior
        ``None`` for a flat prior, or ``Normal(mean, sd)``.
    level
        Credible level of every interval.
    threshold
        Optional value on the analysis scale for P(mu > threshold).

    Returns
    -------
    BayesResult

    Raises
    ------
    OptionError
        For an unknown prior or a combination whose posterior is improper.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    >>> res = bayes_pool(eff, tau_prior=mc.priors.HalfNormal(2.0))
    >>> round(res.mu_median, 2), round(res.tau_median, 2)
    (-1.17, 1.96)
    """
    yi, vi = np.asarray(effects.yi, float), np.asarray(effects.vi, float)
    k = yi.size
    if k == 0:
        raise DataError("No study has a usable estimate, so nothing can be pooled.")
    if not 0 < level < 1:
        raise OptionError(f"The credible level must be between 0 and 1, not {level}.")
    if not (np.all(np.isfinite(yi)) and np.all(np.isfinite(vi)) and np.all(vi > 0)):
        raise DataError("Every study needs a finite estimate and a positive, finite variance.")
    if np.max(np.abs(yi)) > _MAX_ABS_Y or not _MIN_V <= np.min(vi) <= np.max(vi) <= _MAX_V:
        raise DataError(
            "The estimates or variances are too extreme for Bayesian pooling (|estimate| up "
            f"to {np.max(np.abs(yi)):.3g}, variances {np.min(vi):.3g} to {np.max(vi):.3g}); "
            "priors for τ are stated on the scale of ordinary effect sizes. Check the data, "
            "or rescale the outcome.")
    tau_prior = _check_prior(tau_prior, mu_prior, k)
    if isinstance(tau_prior, Jeffreys):
        tau_prior = tau_prior.bind(vi)
    notes: list[str] = []
    if isinstance(tau_prior, Fixed):
        u = np.array([math.log(tau_prior.tau)]) if tau_prior.tau > 0 else np.array([-np.inf])
        taus = np.array([tau_prior.tau])
        ll, m, V = _marginal_loglik(taus, yi, vi, mu_prior)
        pi = np.array([1.0])
        tau_density = np.array([np.inf])
    else:
        scale = max(float(np.sqrt(np.mean(vi))), float(np.std(yi)), 1e-8)
        # In u = log tau the log posterior's upper tail is linear: the prior falls like
        # tau^-tail and the marginal likelihood like tau^-(k-1) (flat mu) or tau^-k (normal
        # mu); the Jacobian adds +1. Propriety and the grid's reach follow analytically.
        decay = tau_prior.tail + (k - 1 if mu_prior is None else k) - 1.0
        bounded = math.isfinite(tau_prior.upper)
        if not bounded and decay <= _MIN_DECAY:
            raise OptionError(_improper_message(tau_prior, mu_prior, k, decay))
        lo = math.log(max(tau_prior.lower, scale * 1e-9)) if tau_prior.lower > 0 else \
            math.log(scale * 1e-9)
        reach = 9 * math.log(10) + (0.0 if math.isinf(decay) else (_DROP + 10) / decay)
        hi = math.log(min(tau_prior.upper, scale * math.exp(reach)))
        support = (tau_prior.lower, tau_prior.upper)

        def logpost(u: np.ndarray) -> tuple[np.ndarray, ...]:
            # exp(log(b)) may round above b: clip, so a bound's own node keeps its mass
            tau = np.clip(np.exp(u), *support)
            ll, m, V = _marginal_loglik(tau, yi, vi, mu_prior)
            with np.errstate(divide="ignore", invalid="ignore"):
                lp = tau_prior.logpdf(tau) + u + ll   # + u: the Jacobian of tau = e^u
            return np.where(np.isfinite(lp), lp, -np.inf), m, V

        coarse = np.linspace(lo, hi, _COARSE)
        lp, _, _ = logpost(coarse)
        top = lp.max()
        if not np.isfinite(top):
            raise OptionError("The prior for τ gives the data no support at all; widen it.")
        keep = np.flatnonzero(lp >= top - _DROP)
        a = coarse[max(keep[0] - 1, 0)]
        b = coarse[min(keep[-1] + 1, _COARSE - 1)]
        edge_lo = keep[0] == 0 and tau_prior.lower == 0
        # Mass piled against a bound of the support: the integrand is cut off there, so
        # the trapezoid rule loses its spectral accuracy and Simpson's rule is used.
        cut = (keep[-1] == _COARSE - 1 and bounded) or (keep[0] == 0 and tau_prior.lower > 0)
        if edge_lo and lp[0] > top - 10:
            notes.append("Much posterior mass of τ lies near 0 (τ below "
                         f"{math.exp(coarse[1]):.2g} is as plausible as any value).")
        n_fine = _FINE_CUT if cut else _FINE
        u = np.linspace(a, b, n_fine)
        lp, m, V = logpost(u)
        tw = _simpson_weights(u) if cut else _trapezoid_weights(u)
        dens = np.exp(lp - lp.max())
        z = float((tw * dens).sum())
        pi = tw * dens / z
        taus = np.exp(u)
        # The tau marginal itself (quantiles, shortest interval, chart) on a finer grid:
        # a cumulative trapezoid is only second-order accurate, unlike the full integral.
        u_t = np.linspace(a, b, _TAU_GRID)
        lp_t, _, _ = logpost(u_t)
        dens_t = np.exp(lp_t - lp.max())
        h_t = u_t[1] - u_t[0]
        cdf_tau = np.concatenate([[0.0], np.cumsum(h_t * (dens_t[1:] + dens_t[:-1]) / 2)])
        z_t = cdf_tau[-1]
        cdf_tau /= z_t
        tau_density = dens_t / z_t / np.exp(u_t)      # density on the tau scale
    sd = np.sqrt(V)
    alpha = 1 - level
    probs = np.array([alpha / 2, 0.5, 1 - alpha / 2])
    mu_q = _mixture_quantiles(probs, pi, m, sd)
    mu_mean = float(pi @ m)
    mu_sd = float(math.sqrt(max(pi @ (V + m**2) - mu_mean**2, 0.0)))
    prob_pos = float(pi @ special.ndtr(m / sd))
    pred_sd = np.sqrt(V + taus**2)
    pred_q = _mixture_quantiles(probs[[0, 2]], pi, m, pred_sd)
    prob_pred_pos = float(pi @ special.ndtr(m / pred_sd))
    beyond = float(pi @ special.ndtr((m - threshold) / sd)) if threshold is not None else \
        float("nan")
    # Each study's true effect: conditional on tau a normal; mixed over the tau grid.
    li = taus[None, :] ** 2 / (taus[None, :] ** 2 + vi[:, None])
    cm = li * yi[:, None] + (1 - li) * m[None, :]
    cs = np.sqrt(li * vi[:, None] + (1 - li) ** 2 * V[None, :])
    theta_mean = cm @ pi
    theta_q = _mixture_quantiles(probs[[0, 2]], pi, cm, cs)
    # seed 002's fixed-effectS average beta_F = sum a_i theta_i with a_i proportional to
    # 1/v_i; given tau the theta_i share mu's uncertainty, hence the second variance term.
    a = (1 / vi) / np.sum(1 / vi)
    bf_m = a @ cm
    bf_s = np.sqrt((a**2 * vi) @ li + (a @ (1 - li)) ** 2 * V)
    beta_f_q = _mixture_quantiles(probs[[0, 2]], pi, bf_m, bf_s)
    # Densities for the charts and the shortest interval of mu.
    span = 6 * max(mu_sd, 1e-12)
    mu_grid = np.linspace(mu_mean - span, mu_mean + span, 401)
    comp = (mu_grid[:, None] - m) / sd
    mu_density = (pi * np.exp(-0.5 * comp**2) / (sd * _SQRT2PI)).sum(1)
    pred_span = 6 * float(math.sqrt(max(pi @ (V + taus**2 + m**2) - mu_mean**2, 1e-24)))
    pred_grid = np.linspace(mu_mean - pred_span, mu_mean + pred_span, 401)
    pred_density = (pi * np.exp(-0.5 * ((pred_grid[:, None] - m) / pred_sd) ** 2)
                    / (pred_sd * _SQRT2PI)).sum(1)
    mu_cdf = _mixture_cdf(mu_grid, pi, m, sd)
    short_mu = _shortest(mu_grid, mu_cdf, level)
    short_pred = _shortest(pred_grid, _mixture_cdf(pred_grid, pi, m, pred_sd), level)
    bf_mu0 = float("nan")
    if mu_prior is not None:
        post0 = float((pi * np.exp(-0.5 * (m / sd) ** 2) / (sd * _SQRT2PI)).sum())
        prior0 = math.exp(-0.5 * (mu_prior.mean / mu_prior.sd) ** 2) / (mu_prior.sd * _SQRT2PI)
        bf_mu0 = post0 / prior0
    else:
        notes.append("No Bayes factor for μ = 0: it needs a proper (normal) prior for μ.")
    bf_tau0 = float("nan")
    if isinstance(tau_prior, Fixed):
        tau_stats = (tau_prior.tau,) * 5
        tau_grid = np.array([tau_prior.tau])
        prior_density = np.array([np.inf])
    else:
        tau_stats = tuple(float(np.exp(np.interp(p, cdf_tau, u_t))) for p in probs)
        tau_mean = float(pi @ taus)
        short = _shortest(np.exp(u_t), cdf_tau, level)
        tau_stats = (*tau_stats, tau_mean, *short)
        tau_grid = np.exp(u_t)
        prior_density = tau_prior.pdf(tau_grid)
        prior0 = float(tau_prior.pdf(np.array([0.0]))[0])
        if 0 < prior0 < np.inf:
            ll0, _, _ = _marginal_loglik(np.array([0.0]), yi, vi, mu_prior)
            # posterior density at tau = 0 on the tau scale, normalised like tau_density
            lp_all = tau_prior.logpdf(taus) + _marginal_loglik(taus, yi, vi, mu_prior)[0]
            shift = float(np.max(lp_all + u))
            post0 = math.exp(math.log(prior0) + float(ll0[0]) - shift) / z
            bf_tau0 = post0 / prior0
        else:
            notes.append("No Bayes factor for τ = 0: the prior for τ has no finite, positive "
                         "density at 0.")
    if isinstance(tau_prior, Fixed):
        tau_lo, tau_med, tau_hi, tau_mean, t_sl, t_sh = (tau_prior.tau,) * 6
    else:
        tau_lo, tau_med, tau_hi, tau_mean, t_sl, t_sh = tau_stats
    return BayesResult(
        mu_mean=mu_mean, mu_median=float(mu_q[1]), mu_low=float(mu_q[0]),
        mu_high=float(mu_q[2]), prob_mu_positive=prob_pos, tau_median=tau_med,
        tau_low=tau_lo, tau_high=tau_hi, theta_mean=theta_mean, mu_sd=mu_sd,
        mu_short_low=short_mu[0], mu_short_high=short_mu[1], tau_mean=tau_mean,
        tau_short_low=t_sl, tau_short_high=t_sh, pred_mean=mu_mean,
        pred_low=float(pred_q[0]), pred_high=float(pred_q[1]), pred_short_low=short_pred[0],
        pred_short_high=short_pred[1],
        prob_pred_positive=prob_pred_pos, threshold=threshold, prob_mu_beyond=beyond,
        theta_low=theta_q[:, 0], theta_high=theta_q[:, 1], beta_f_mean=float(pi @ bf_m),
        beta_f_low=float(beta_f_q[0]), beta_f_high=float(beta_f_q[1]), bf_mu0=bf_mu0,
        bf_tau0=bf_tau0,
        level=float(level), tau_prior=tau_prior.label,
        mu_prior="flat prior for μ" if mu_prior is None else mu_prior.label,
        measure=effects.measure, ratio=effects.ratio, study=effects.study, yi=yi, vi=vi,
        tau_grid=tau_grid, tau_density=tau_density, tau_prior_density=prior_density,
        mu_grid=mu_grid, mu_density=mu_density, pred_density=pred_density, pred_grid=pred_grid,
        notes=tuple(notes))
