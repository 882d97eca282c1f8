"""Prior distributions for the heterogeneity tau and the mean effect mu.

Every tau prior gives its log density *on the tau scale* (priors stated on
tau^2 or 1/tau^2 are transformed with the Jacobian), its support, whether it is
proper, and a label. Lambert et al. (2005)'s priors of seed 002 are provided:
``InvGamma`` (tau^-2 ~ Gamma(a, b)), ``LogUniformTau2`` (log tau^2 ~ U(lo, hi)),
``UniformPrecision`` (tau^-2 ~ U(lo, hi)), ``ParetoPrecision`` (tau^-2 ~ Pareto(a, b)),
``Uniform`` (tau ~ U(0, U)) and ``HalfNormal`` (tau ~ N(0, s^2), tau > 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["Fixed", "HalfCauchy", "HalfNormal", "HalfT", "InvGamma", "Jeffreys",
           "LogUniform", "LogUniformTau2", "Normal", "ParetoPrecision", "TauPrior", "Uniform",
           "UniformPrecision"]


class TauPrior:
    """Base class: ``logpdf(tau)`` on the tau scale, support ``(lower, upper)``."""

    proper: bool = True
    lower: float = 0.0
    upper: float = math.inf

    def logpdf(self, tau: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def pdf(self, tau: np.ndarray) -> np.ndarray:
        """Density on the tau scale (0 outside the support)."""
        return np.exp(self.logpdf(np.asarray(tau, float)))

    @property
    def tail(self) -> float:
        """Upper-tail exponent a: the density falls like tau^-a as tau grows.

        ``inf`` for a bounded support or a tail lighter than any power. Whether the
        posterior is proper, and how far the integration grid must reach, follow from it.
        """
        return math.inf

    @property
    def label(self) -> str:
        return type(self).__name__


def _outside(tau: np.ndarray, lower: float, upper: float) -> np.ndarray:
    return (tau < lower) | (tau > upper)


@dataclass(frozen=True)
class HalfNormal(TauPrior):
    """tau ~ N(0, scale^2) restricted to tau > 0."""

    scale: float = 0.5

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        out = 0.5 * math.log(2 / math.pi) - math.log(self.scale) - 0.5 * (tau / self.scale) ** 2
        return np.where(tau < 0, -np.inf, out)

    @property
    def label(self) -> str:
        return f"Half-normal({self.scale:g})"


@dataclass(frozen=True)
class HalfCauchy(TauPrior):
    """tau ~ Cauchy(0, scale) restricted to tau > 0."""

    scale: float = 0.5

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        out = math.log(2 / (math.pi * self.scale)) - np.log1p((tau / self.scale) ** 2)
        return np.where(tau < 0, -np.inf, out)

    @property
    def tail(self) -> float:
        return 2.0

    @property
    def label(self) -> str:
        return f"Half-Cauchy({self.scale:g})"


@dataclass(frozen=True)
class HalfT(TauPrior):
    """tau ~ t_df(0, scale) restricted to tau > 0."""

    scale: float = 0.5
    df: float = 3.0

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        nu = self.df
        c = (math.log(2) + special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
             - 0.5 * math.log(nu * math.pi) - math.log(self.scale))
        out = c - (nu + 1) / 2 * np.log1p((tau / self.scale) ** 2 / nu)
        return np.where(tau < 0, -np.inf, out)

    @property
    def tail(self) -> float:
        return self.df + 1.0

    @property
    def label(self) -> str:
        return f"Half-t({self.df:g}, {self.scale:g})"


@dataclass(frozen=True)
class Uniform(TauPrior):
    """tau ~ U(0, upper) (Lambert L9 with upper = 100)."""

    upper: float = 100.0

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        return np.where(_outside(tau, 0, self.upper), -np.inf, -math.log(self.upper))

    @property
    def label(self) -> str:
        return f"τ ~ U(0, {self.upper:g})"


@dataclass(frozen=True)
class LogUniform(TauPrior):
    """log tau ~ U(log lower, log upper): density 1 / (tau log(upper/lower))."""

    lower: float = 1e-3
    upper: float = 1e3

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        with np.errstate(divide="ignore"):
            out = -np.log(tau) - math.log(math.log(self.upper / self.lower))
        return np.where(_outside(tau, self.lower, self.upper), -np.inf, out)

    @property
    def label(self) -> str:
        return f"log τ ~ U({math.log(self.lower):.3g}, {math.log(self.upper):.3g})"


@dataclass(frozen=True)
class LogUniformTau2(TauPrior):
    """log tau^2 ~ U(lo, hi) (Lambert L3: U(-10, 10))."""

    lo: float = -10.0
    hi: float = 10.0

    @property
    def lower(self) -> float:  # type: ignore[override]
        return math.exp(self.lo / 2)

    @property
    def upper(self) -> float:  # type: ignore[override]
        return math.exp(self.hi / 2)

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        with np.errstate(divide="ignore"):
            out = math.log(2 / (self.hi - self.lo)) - np.log(tau)
        return np.where(_outside(tau, self.lower, self.upper), -np.inf, out)

    @property
    def label(self) -> str:
        return f"log τ² ~ U({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class InvGamma(TauPrior):
    """tau^-2 ~ Gamma(shape, rate) (Lambert L1: Gamma(0.001, 0.001))."""

    shape: float = 0.001
    rate: float = 0.001

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        a, b = self.shape, self.rate
        with np.errstate(divide="ignore", invalid="ignore"):
            # precision p = tau^-2, |dp/dtau| = 2 tau^-3
            out = (a * math.log(b) - special.gammaln(a) + (a - 1) * (-2 * np.log(tau))
                   - b / tau**2 + math.log(2) - 3 * np.log(tau))
        return np.where(tau <= 0, -np.inf, out)

    @property
    def tail(self) -> float:
        return 2.0 * self.shape + 1.0

    @property
    def label(self) -> str:
        return f"τ⁻² ~ Γ({self.shape:g}, {self.rate:g})"


@dataclass(frozen=True)
class UniformPrecision(TauPrior):
    """tau^-2 ~ U(lo, hi) (Lambert L5: U(1/1000, 1000))."""

    lo: float = 1e-3
    hi: float = 1e3

    @property
    def lower(self) -> float:  # type: ignore[override]
        return 1 / math.sqrt(self.hi)

    @property
    def upper(self) -> float:  # type: ignore[override]
        return 1 / math.sqrt(self.lo)

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        with np.errstate(divide="ignore"):
            out = math.log(2) - 3 * np.log(tau) - math.log(self.hi - self.lo)
        return np.where(_outside(tau, self.lower, self.upper), -np.inf, out)

    @property
    def label(self) -> str:
        return f"τ⁻² ~ U({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class ParetoPrecision(TauPrior):
    """tau^-2 ~ Pareto(shape, scale): density a s^a p^-(a+1) for p > s (Lambert L7)."""

    shape: float = 1.0
    scale: float = 0.001

    @property
    def upper(self) -> float:  # type: ignore[override]
        return 1 / math.sqrt(self.scale)

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        a, s = self.shape, self.scale
        with np.errstate(divide="ignore", invalid="ignore"):
            logp = -2 * np.log(tau)
            out = math.log(a) + a * math.log(s) - (a + 1) * logp + math.log(2) - 3 * np.log(tau)
        return np.where((tau <= 0) | (tau > self.upper), -np.inf, out)

    @property
    def label(self) -> str:
        return f"τ⁻² ~ Pareto({self.shape:g}, {self.scale:g})"


@dataclass(frozen=True)
class Jeffreys(TauPrior):
    """Jeffreys prior of the normal-normal model (improper; needs k >= 2 with flat mu).

    The variances it depends on are bound with :meth:`bind` by ``bayes_pool``.
    """

    vi: tuple[float, ...] = ()
    proper = False

    def bind(self, vi: np.ndarray) -> Jeffreys:
        return Jeffreys(vi=tuple(float(v) for v in vi))

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        v = np.asarray(self.vi, float)
        with np.errstate(divide="ignore"):
            out = 0.5 * np.log(np.sum((tau[..., None] / (v + tau[..., None] ** 2)) ** 2, -1))
        return np.where(tau < 0, -np.inf, out)

    @property
    def tail(self) -> float:
        return 1.0

    @property
    def label(self) -> str:
        return "Jeffreys"


@dataclass(frozen=True)
class Fixed(TauPrior):
    """tau held at a fixed value (a point mass)."""

    tau: float = 0.0

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        return np.where(tau == self.tau, 0.0, -np.inf)

    @property
    def label(self) -> str:
        return f"τ² fixed at {self.tau**2:g}"


@dataclass(frozen=True)
class Normal:
    """mu ~ N(mean, sd^2)."""

    mean: float = 0.0
    sd: float = 1.0

    @property
    def label(self) -> str:
        return f"μ ~ N({self.mean:g}, {self.sd:g}²)"
