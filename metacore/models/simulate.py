"""The synthetic design of seed 003's Appendix A, vectorised over repetitions.

Each patient belongs to sub-population H (trial) k with probability ``mix[k]``;
covariates X | H = k ~ N(mu_k, sigma^2 I); treatment A ~ Bernoulli(1/2);
outcome Y | X, A = a ~ Bernoulli(logistic(X' beta_a)). Every repetition is one
meta-analysis of n patients, one 2x2 table per sub-population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from metacore.models.causal import causal_arrays, causal_terms
from metacore.models.tau2 import ESTIMATORS

__all__ = ["METHODS", "AppendixA", "SimulationResult", "compare_methods", "simulate",
           "true_effect", "true_risks"]


@dataclass(frozen=True)
class AppendixA:
    """Parameters of the design (defaults: the paper's values)."""

    beta1: tuple[float, float] = (0.36, -1.38)
    beta0: tuple[float, float] = (2.94, -4.60)
    mu: tuple[tuple[float, float], ...] = ((1.0, 0.0), (0.0, 1.0))
    sigma: float = 0.1
    mix: tuple[float, ...] = (0.5, 0.5)
    n: int = 1000
    p_treat: float = 0.5


def _gauss_hermite_logistic(mean: np.ndarray, sd: float) -> np.ndarray:
    """E[logistic(Z)] for Z ~ N(mean, sd^2), by 80-point Gauss-Hermite quadrature."""
    nodes, wts = np.polynomial.hermite.hermgauss(80)
    z = mean[..., None] + np.sqrt(2.0) * sd * nodes
    return (wts * (1 / (1 + np.exp(-z)))).sum(-1) / np.sqrt(np.pi)


def true_risks(design: AppendixA) -> tuple[np.ndarray, np.ndarray]:
    """True risks psi_1(k), psi_0(k) of each sub-population (X' beta is normal)."""
    mu = np.asarray(design.mu, float)
    b1, b0 = np.asarray(design.beta1, float), np.asarray(design.beta0, float)
    return (_gauss_hermite_logistic(mu @ b1, design.sigma * np.linalg.norm(b1)),
            _gauss_hermite_logistic(mu @ b0, design.sigma * np.linalg.norm(b0)))


def true_effect(design: AppendixA, measure: str, weights=None) -> float:
    """theta(P_w) for the mix ``weights`` (default: the design's mix, i.e. P*)."""
    r1, r0 = true_risks(design)
    w = np.asarray(design.mix if weights is None else weights, float)
    w = w / w.sum()
    return float(causal_terms(measure, np.array(w @ r1), np.array(w @ r0))[0])


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Counts of every repetition and the three estimators' results."""

    design: AppendixA
    counts: np.ndarray          # (reps, K, 4): events_t, n_t, events_c, n_c

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        c = self.counts
        return c[..., 0], c[..., 1], c[..., 2], c[..., 3]

    def causal(self, measure: str, weights=None) -> tuple[np.ndarray, np.ndarray]:
        """Causal estimates and variances, one per repetition."""
        theta, var, _, _ = causal_arrays(*self.tables(), measure, weights)
        return theta, var

    def classical(self, measure: str, model: str = "common",
                  tau2_method: str = "DL") -> tuple[np.ndarray, np.ndarray]:
        """Inverse-variance pooled estimates (analysis scale) and variances per repetition.

        Study effects use metafor's rule: 0.5 added to every cell of a table with a zero.
        """
        e1, n1, e0, n0 = (x.astype(float) for x in self.tables())
        zero = (e1 == 0) | (e0 == 0) | (e1 == n1) | (e0 == n0)
        add = np.where(zero, 0.5, 0.0)
        a, b, c, d = e1 + add, n1 - e1 + add, e0 + add, n0 - e0 + add
        m1, m0 = a + b, c + d
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "RD":
                yi = a / m1 - c / m0
                vi = a / m1 * (1 - a / m1) / m1 + c / m0 * (1 - c / m0) / m0
            elif measure == "RR":
                yi, vi = np.log(a / m1) - np.log(c / m0), 1 / a - 1 / m1 + 1 / c - 1 / m0
            elif measure == "OR":
                yi, vi = np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
            else:
                raise ValueError(f"Classical pooling here supports RD, RR and OR, not {measure}.")
        est = np.empty(len(yi))
        var = np.empty(len(yi))
        for r in range(len(yi)):
            tau2 = ESTIMATORS[tau2_method](yi[r], vi[r]).tau2 if model == "random" else 0.0
            w = 1 / (vi[r] + tau2)
            est[r] = w @ yi[r] / w.sum()
            var[r] = 1 / w.sum()
        return est, var


def simulate(design: AppendixA = AppendixA(), reps: int = 100,
             seed: int | None = 0) -> SimulationResult:
    """Draw ``reps`` meta-analyses of ``design.n`` patients each.

    Examples
    --------
    >>> sim = simulate(reps=3, seed=1)
    >>> sim.counts.shape
    (3, 2, 4)
    """
    rng = np.random.default_rng(seed)
    mu = np.asarray(design.mu, float)
    mix = np.asarray(design.mix, float) / np.sum(design.mix)
    b1, b0 = np.asarray(design.beta1, float), np.asarray(design.beta0, float)
    k = mu.shape[0]
    n = design.n
    h = rng.choice(k, size=(reps, n), p=mix)
    x = mu[h] + design.sigma * rng.standard_normal((reps, n, mu.shape[1]))
    treated = rng.random((reps, n)) < design.p_treat
    risk = 1 / (1 + np.exp(-np.where(treated, x @ b1, x @ b0)))
    y = rng.random((reps, n)) < risk
    counts = np.empty((reps, k, 4), dtype=float)
    for j in range(k):
        in_j = h == j
        counts[:, j, 0] = (in_j & treated & y).sum(1)
        counts[:, j, 1] = (in_j & treated).sum(1)
        counts[:, j, 2] = (in_j & ~treated & y).sum(1)
        counts[:, j, 3] = (in_j & ~treated).sum(1)
    return SimulationResult(design=design, counts=counts)


METHODS = ("Common effect", "Random effects", "Causal (target population)")


def compare_methods(sim: SimulationResult, measures: tuple[str, ...] = ("RD", "RR", "OR"),
                    level: float = 0.95, tau2_method: str = "DL",
                    ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Classical common effect, classical random effects (``tau2_method``) and causal, per
    repetition.

    Returns
    -------
    (estimates, summary, truth)
        ``estimates``: one row per repetition and method (natural scale);
        ``summary``: per measure and method the mean estimate (geometric for ratios), the
        true theta(P*), the share of repetitions on the same side of no effect as the truth
        and the coverage of the ``level`` interval; ``truth``: theta(P*) per measure.

    Examples
    --------
    >>> est, summary, truth = compare_methods(simulate(reps=20, seed=1), ("RR",))
    >>> summary["method"].tolist() == list(METHODS), truth["RR"] < 1
    (True, True)
    """
    crit = float(special.ndtri(0.5 + level / 2))
    rows, summary, truth = [], [], {}
    for measure in measures:
        t = np.exp if measure != "RD" else (lambda x: x)
        true = true_effect(sim.design, measure)
        truth[measure] = float(t(true))
        fits = (sim.classical(measure, "common"), sim.classical(measure, "random", tau2_method),
                sim.causal(measure))
        for method, (est, var) in zip(METHODS, fits, strict=True):
            ok = np.isfinite(est)
            rows.append(pd.DataFrame({"measure": measure, "method": method,
                                      "estimate": t(est[ok])}))
            summary.append({"measure": measure, "method": method,
                            "mean_estimate": float(t(np.nanmean(est))),
                            "truth": float(t(true)),
                            "same_side": float(np.mean(np.sign(est) == np.sign(true))),
                            "coverage": float(np.mean(np.abs(est - true) <= crit * np.sqrt(var)))})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(summary), truth
