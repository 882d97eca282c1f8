"""Clustered heterogeneity (MANTRA, Morris 2011), computed exactly.

Studies are grouped around "centre" studies: a set S of centres is drawn, each study
joins its nearest centre (by ``distances``; ties go to the centre listed first), all
studies of a cluster share one effect beta_c ~ N(mu, tau^2), tau^2 ~ Exp(rate) and
mu ~ N(0, sd^2) (or flat). The number of clusters C = |S| has the prior of the course
notes, P(C = 1) = 1/2 and P(C = c) = 2^-c 2^(k-1) / (2^(k-1) - 1) for c >= 2, and every
centre set of a size is equally likely.

Instead of reversible-jump MCMC, every centre set is enumerated (2^k - 1 of them; the
partitions they induce are deduplicated), the cluster effects and mu are integrated
analytically and tau^2 by quadrature in log tau^2. Exact for k up to :data:`EXACT_LIMIT`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes

__all__ = ["EXACT_LIMIT", "ClusterResult", "cluster_meta",
           "distances_from", "distances_from_groups"]

#: Largest number of studies enumerated exactly (2^16 - 1 = 65,535 centre sets).
EXACT_LIMIT = 16
_NODES = 160
_LOG2PI = math.log(2 * math.pi)


@dataclass(frozen=True, eq=False)
class ClusterResult:
    """Posterior of the clustered model (fields as in the design card)."""

    prob_c: np.ndarray
    prob_heterogeneous: float
    coclustering: np.ndarray
    center_prob: np.ndarray
    log10_bf: float
    log10_bf_c1: float
    theta_mean: np.ndarray
    map_partition: tuple[int, ...]
    map_prob: float
    k: int
    n_partitions: int
    tau2_prior_rate: float
    mu_prior_sd: float | None
    study: tuple[str, ...] = ()
    exact: bool = True
    notes: tuple[str, ...] = ()
    partitions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    partition_prob: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mc_se: dict = field(default_factory=dict)

    def summary(self) -> str:
        """The result in words."""
        from metacore.numbers import format_number, format_prob

        p = format_prob(self.prob_heterogeneous)
        lines = [f"Clustered (MANTRA-type) model, k = {self.k}: P(more than one cluster) "
                 f"{p if p[0] in '<>' else '= ' + p}."]
        if np.isfinite(self.log10_bf):
            lines.append(f"Bayes factor, clustered effects vs no effect: 10^"
                         f"{format_number(self.log10_bf, 3)}; one common effect vs no "
                         f"effect: 10^{format_number(self.log10_bf_c1, 3)}.")
        return " ".join(lines + list(self.notes))

    def to_frame(self):
        """One row per study: its posterior mean effect and its cluster in the most probable
        partition (numbered from 1 in order of first appearance)."""
        import pandas as pd

        names = list(self.study) or [str(i + 1) for i in range(self.k)]
        return pd.DataFrame({"study": names, "theta_mean": np.asarray(self.theta_mean, float),
                             "map_cluster": list(self.map_partition)[:self.k]})


def distances_from(coords: np.ndarray) -> np.ndarray:
    """Euclidean distances between studies from per-study coordinates (k x d, or k).

    >>> distances_from(np.array([0.0, 1.0, 3.0]))[0].tolist()
    [0.0, 1.0, 3.0]
    """
    x = np.asarray(coords, float)
    x = x[:, None] if x.ndim == 1 else x
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def distances_from_groups(groups) -> np.ndarray:
    """Distances from a study-level grouping: 0 within a group, 1 between groups.

    >>> distances_from_groups(["EUR", "AFR", "EUR"]).tolist()
    [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    g = np.asarray([str(x) for x in groups])
    return (g[:, None] != g[None, :]).astype(float)


def _log_prior_sets(k: int) -> np.ndarray:
    """log P(S) for a centre set of size c = 1..k (index c)."""
    c = np.arange(1, k + 1)
    log_pc = np.where(c == 1, math.log(0.5),
                      -c * math.log(2) + (k - 1) * math.log(2) - math.log(2 ** (k - 1) - 1)
                      if k > 1 else 0.0)
    out = np.full(k + 1, -np.inf)
    out[1:] = log_pc - (special.gammaln(k + 1) - special.gammaln(c + 1)
                        - special.gammaln(k - c + 1))
    return out


def _sample_sets(k: int, n: int, seed: int) -> np.ndarray:
    """Centre sets drawn from their prior: a size c from P(C = c), then c studies at random."""
    rng = np.random.default_rng(seed)
    log_pc = _log_prior_sets(k)[1:] + (special.gammaln(k + 1) - special.gammaln(
        np.arange(1, k + 1) + 1) - special.gammaln(k - np.arange(1, k + 1) + 1))
    pc = np.exp(log_pc - special.logsumexp(log_pc))
    sizes = rng.choice(np.arange(1, k + 1), size=n, p=pc)
    keys = rng.random((n, k))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    return ranks < sizes[:, None]


def _assign(masks: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Each study's nearest centre (ties: the first listed) for each centre-set mask."""
    Dm = np.where(masks[:, None, :], D[None, :, :], np.inf)
    return np.argmin(Dm, axis=2)


def _canonical(assign: np.ndarray) -> np.ndarray:
    """Partition labels 0, 1, ... in order of first appearance (identical partitions match)."""
    k = assign.shape[1]
    same = assign[:, :, None] == assign[:, None, :]
    first = np.argmax(same, axis=2)                       # first study in the same cluster
    is_first = first == np.arange(k)[None, :]
    # label of study i = number of cluster-first studies before its own cluster's first
    before = is_first[:, None, :] & (np.arange(k)[None, None, :] < first[:, :, None])
    return before.sum(2)


def _partition_loglik(onehot: np.ndarray, y: np.ndarray, v: np.ndarray, t: np.ndarray,
                      mu_sd: float | None) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """log p(y | partition, tau^2) for every row of ``y``, partition and tau^2 node.

    ``onehot`` (partitions x studies x clusters, float) puts study i in cluster c; ``y``,
    ``v`` are (rows x studies) and ``t`` the tau^2 nodes (rows x nodes). Cluster effects
    and mu are integrated analytically. Returns the log-likelihoods (rows x partitions x
    nodes) and, for posterior means, each cluster's precision P and mean ybar (rows x
    partitions x clusters) and the sums s0, s1 (rows x partitions x nodes). Used by
    :func:`cluster_meta` (one row) and :func:`metacore.batch.cluster.cluster_meta_batch`.
    """
    w = 1.0 / v
    P = np.einsum("pic,ni->npc", onehot, w)
    S1 = np.einsum("pic,ni->npc", onehot, w * y)
    S2 = np.einsum("pic,ni->npc", onehot, w * y * y)
    cnt = onehot.sum(1)[None, :, :]
    used = cnt > 0
    safeP = np.where(used, P, 1.0)
    ybar = S1 / safeP
    within = np.where(used, S2 - S1 * ybar, 0.0)
    logR = (-0.5 * np.log(v).sum(1)[:, None]
            + np.where(used, -0.5 * (cnt - 1) * _LOG2PI - 0.5 * np.log(safeP) - 0.5 * within,
                       0.0).sum(2))
    # ybar_c ~ N(mu, tau^2 + 1/P_c) independently (rows x partitions x clusters x nodes);
    # an empty cluster has variance inf, so weight 0 and no where()
    Dv = t[:, None, None, :] + np.where(used, 1.0 / safeP, np.inf)[..., None]
    a = 1.0 / Dv
    s0 = a.sum(2)
    s1 = np.einsum("npct,npc->npt", a, ybar)
    s2 = np.einsum("npct,npc->npt", a, ybar * ybar)
    # log det as the log of a product (one log per node, not one per cluster); the sum of
    # logs where the product leaves the normal range (variances below 1e-19)
    used4 = used[..., None]
    prod = np.where(used4, Dv, 1.0).prod(2)
    if np.all((prod > 1e-300) & (prod < 1e300)):
        logdet = np.log(prod)
    else:
        logdet = np.log(np.where(used4, Dv, 1.0)).sum(2)
    G = used.sum(2)[:, :, None]
    if mu_sd is None:   # flat mu: the same improper constant for every partition
        ll = (-0.5 * (G - 1) * _LOG2PI - 0.5 * logdet - 0.5 * np.log(s0)
              - 0.5 * (s2 - s1**2 / s0))
    else:
        p0 = 1.0 / mu_sd**2
        ll = (-0.5 * G * _LOG2PI - 0.5 * logdet - 0.5 * np.log1p(s0 / p0)
              - 0.5 * (s2 - s1**2 / (s0 + p0)))
    return ll + logR[:, :, None], (P, ybar, s0, s1)


def _cluster_means(parts: np.ndarray, y: np.ndarray, v: np.ndarray, t: np.ndarray,
                   logw: np.ndarray, mu_sd: float | None) -> tuple[np.ndarray, np.ndarray]:
    """For one row of studies: log p(y | partition, tau^2) (partitions x nodes) and each
    cluster's posterior mean effect averaged over tau^2 (partitions x clusters)."""
    onehot = (parts[:, :, None] == np.arange(int(parts.max()) + 1)[None, None, :]).astype(float)
    ll, (P, ybar, s0, s1) = _partition_loglik(onehot, y[None], v[None], t[None], mu_sd)
    ll, P, ybar, s0, s1 = ll[0], P[0], ybar[0], s0[0], s1[0]
    # E[beta_c | y, tau^2] = (E[mu]/tau^2 + P_c ybar_c) / (1/tau^2 + P_c), E[mu] = s1/(s0+p0)
    p0 = 0.0 if mu_sd is None else 1.0 / mu_sd**2
    mu = s1 / (s0 + p0)
    beta = ((mu / t[None, :])[:, None, :] + (P * ybar)[:, :, None]) / (
        1.0 / t[None, None, :] + P[:, :, None])
    lw = ll + logw[None, :]
    node_w = np.exp(lw - special.logsumexp(lw, axis=1)[:, None])
    return ll, np.einsum("pcn,pn->pc", beta, node_w)


def _tau2_nodes(vmin: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and log weights of the tau^2 integral against Exp(rate), trapezoid in log
    tau^2, for rows whose smallest variances are ``vmin`` (rows x nodes each).

    The range covers the prior (e^-40 of its mass beyond) and the data's scale with a
    wide margin; the integrand is smooth in log tau^2, so the trapezoid rule converges
    spectrally.
    """
    vmin = np.atleast_1d(np.asarray(vmin, float))
    hi = math.log(40.0 / rate)
    lo = np.minimum(np.log(1e-10 * vmin), hi - 30)
    u = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _NODES)[None, :]
    h = (hi - lo) / (_NODES - 1)
    logw = math.log(rate) - rate * np.exp(u) + u + np.log(h)[:, None]
    logw[:, [0, -1]] -= math.log(2)
    return np.exp(u), logw


def cluster_meta(effects: EffectSizes, distances: np.ndarray, *, tau2_prior_rate: float = 1.0,
                 mu_prior_sd: float | None = 0.5, samples: int = 40_000,
                 seed: int = 0) -> ClusterResult:
    """MANTRA's clustered random-effects model, computed exactly.

    Parameters
    ----------
    effects
        Study effect sizes (any measure; analysis scale).
    distances
        k x k distances between the studies' populations (e.g. from ancestry principal
        components via :func:`distances_from`).
    tau2_prior_rate
        Rate of the exponential prior on tau^2.
    mu_prior_sd
        SD of the normal prior on mu (mean 0), or ``None`` for a flat prior (then the
        Bayes factors against "no effect" are undefined: NaN).
    samples, seed
        Beyond :data:`EXACT_LIMIT` studies, centre sets are drawn from their prior
        (importance sampling with the prior as proposal: each draw weighted by its
        marginal likelihood); ``mc_se`` then holds the Monte Carlo standard errors.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    >>> res = cluster_meta(eff, distances_from(np.arange(eff.k)), mu_prior_sd=None)
    >>> round(float(res.prob_c.sum()), 12)
    1.0
    """
    y, v = np.asarray(effects.yi, float), np.asarray(effects.vi, float)
    k = y.size
    D = np.asarray(distances, float)
    if k == 0:
        raise DataError("No study has a usable estimate.")
    if D.shape != (k, k) or not np.all(np.isfinite(D)):
        raise OptionError(f"distances must be a finite {k} x {k} matrix (one row and column "
                          "per study in the analysis).")
    if not tau2_prior_rate > 0:
        raise OptionError("The rate of the exponential prior on τ² must be positive.")
    if mu_prior_sd is not None and not mu_prior_sd > 0:
        raise OptionError("The SD of the prior on μ must be positive (or None for flat).")
    exact = k <= EXACT_LIMIT
    if exact:
        codes = np.arange(1, 2**k, dtype=np.int64)
        bits = 1 << np.arange(k, dtype=np.int64)
        masks = (codes[:, None] & bits[None, :]) != 0
    else:
        masks = _sample_sets(k, samples, seed)
    sizes = masks.sum(1)
    assign = np.concatenate([_assign(masks[i:i + 8192], D) for i in range(0, len(masks), 8192)])
    labels = np.concatenate([_canonical(assign[i:i + 8192])
                             for i in range(0, len(assign), 8192)])
    if exact:   # labels fit in 4 bits each: one 64-bit key per partition, a fast unique
        key = (labels.astype(np.uint64) << (4 * np.arange(k, dtype=np.uint64))[None, :]).sum(
            1, dtype=np.uint64)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(labels, axis=0, return_index=True, return_inverse=True)
    parts = labels[first]
    order = np.argsort(parts.max(1), kind="stable")    # similar cluster counts per chunk
    parts = parts[order]
    inverse = np.argsort(order)[inverse.ravel()]
    t, logw = _tau2_nodes(v.min(), tau2_prior_rate)
    t, logw = t[0], logw[0]
    chunks = [_cluster_means(parts[i:i + 2048], y, v, t, logw, mu_prior_sd)
              for i in range(0, len(parts), 2048)]
    ll = np.concatenate([c[0] for c in chunks])
    betas = np.zeros(parts.shape)
    row = 0
    for _, b in chunks:
        betas[row:row + len(b), :b.shape[1]] = b
        row += len(b)
    log_ml = special.logsumexp(ll + logw[None, :], axis=1)          # per partition
    # Exact: prior x likelihood for every set. Sampled from the prior: likelihood weights.
    log_prior = _log_prior_sets(k)[sizes] if exact else np.full(len(sizes), -math.log(
        len(sizes)))
    log_post_sets = log_prior + log_ml[inverse]
    log_z = special.logsumexp(log_post_sets)
    post_sets = np.exp(log_post_sets - log_z)
    prob_c = np.bincount(sizes, weights=post_sets, minlength=k + 1)[1:]
    post_parts = np.bincount(inverse, weights=post_sets, minlength=len(parts))
    same = parts[:, :, None] == parts[:, None, :]
    cocl = np.einsum("p,pij->ij", post_parts, same)
    center = np.zeros((k, k))
    for j in range(k):
        center[:, j] = post_sets @ (assign == j)
    # Posterior mean of each study's effect: its cluster's, averaged over partitions.
    theta = np.einsum("p,pi->i", post_parts, np.take_along_axis(betas, parts, axis=1))
    null = float(np.sum(-0.5 * (_LOG2PI + np.log(v)) - 0.5 * y * y / v))
    one = int(np.flatnonzero((parts == 0).all(1))[0])
    if mu_prior_sd is None:
        bf, bf1 = float("nan"), float("nan")
    else:
        bf = (log_z - null) / math.log(10)
        bf1 = (log_ml[one] - null) / math.log(10)
    best = int(np.argmax(post_parts))
    notes = []
    mc_se: dict[str, float] = {}
    if not exact:
        ess = 1.0 / float(np.sum(post_sets**2))
        het = (sizes > 1).astype(float)
        mc_se = {"prob_heterogeneous": float(np.sqrt(np.sum(post_sets**2 * (
            het - (1 - prob_c[0]))**2))),
            "log10_bf": float(np.sqrt(max(np.exp(special.logsumexp(2 * log_ml[inverse])
                                                 - 2 * special.logsumexp(log_ml[inverse])
                                                 + math.log(len(sizes))) - 1, 0.0)
                                      / len(sizes)) / math.log(10)),
            "effective_sample_size": ess}
        notes.append(f"k = {k} is beyond the exact limit ({EXACT_LIMIT} studies, "
                     f"{2**EXACT_LIMIT - 1:,} centre sets): {len(sizes):,} centre sets were "
                     "drawn from their prior and weighted by their likelihood (importance "
                     f"sampling; effective sample size {ess:,.0f}). Monte Carlo standard "
                     f"error of P(C > 1): {mc_se['prob_heterogeneous']:.2g}.")
    if mu_prior_sd is None:
        notes.append("With a flat prior on μ the Bayes factors against no effect are undefined.")
    return ClusterResult(
        prob_c=prob_c, prob_heterogeneous=float(1 - prob_c[0]), coclustering=cocl,
        center_prob=center, log10_bf=float(bf), log10_bf_c1=float(bf1), theta_mean=theta,
        map_partition=tuple(int(x) for x in parts[best]), map_prob=float(post_parts[best]),
        k=k, n_partitions=len(parts), tau2_prior_rate=float(tau2_prior_rate),
        mu_prior_sd=mu_prior_sd, study=effects.study, exact=exact, notes=tuple(notes),
        partitions=parts, partition_prob=post_parts, mc_se=mc_se)
