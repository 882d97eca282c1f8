"""Inconsistency, contributions and sensitivity of a network meta-analysis.

- :func:`decomp_design`: design-by-treatment decomposition of Q (netmeta's ``decomp.design``).
- :func:`netsplit`: direct vs indirect evidence per comparison by back-calculation (SIDE,
  netmeta's ``netsplit``), with the z test of their difference.
- :func:`netcontrib`: the design-level hat-matrix contribution matrix (Krahn, Binder &
  König 2013).
- :func:`network_leave_one_out`: one comparison with each study (or design) left out.
- :func:`comparison_adjusted`: the points of a comparison-adjusted funnel plot.
- :func:`league_grid`: the league table as a grid, network below the diagonal, direct above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from metacore.errors import DataError, OptionError
from metacore.models.network import (
    NetworkResult,
    _whiten,
    _wls,
    network_from_studies,
    study_transform,
)

__all__ = ["DesignDecomposition", "comparison_adjusted", "decomp_design", "league_grid",
           "netcontrib", "netsplit", "network_leave_one_out"]


def _chi2_p(q: float, df: int) -> float:
    return float(special.chdtrc(df, q)) if df > 0 else float("nan")


@dataclass(frozen=True, eq=False)
class DesignDecomposition:
    """Q of the common-effect network split into within-design heterogeneity and
    between-design inconsistency (Krahn, Binder & König 2013; netmeta ``decomp.design``).

    ``table``: rows ``total``, ``within designs``, ``between designs`` with columns ``q df
    pvalue``; ``designs``: Q and df within each design; ``tau2_within``: the generalised
    DerSimonian-Laird τ² of the full design-by-treatment interaction model, with which
    ``q_between_random`` (and its p) tests inconsistency under random effects.
    """

    table: pd.DataFrame
    designs: pd.DataFrame
    tau2_within: float
    q_between_random: float
    q_between_random_pvalue: float

    def to_frame(self) -> pd.DataFrame:
        """The Q table with the random-effects between-designs row added."""
        extra = pd.DataFrame({"source": ["between designs (random effects)"],
                              "q": [self.q_between_random],
                              "df": [int(self.table.df.iloc[2])],
                              "pvalue": [self.q_between_random_pvalue]})
        return pd.concat([self.table, extra], ignore_index=True)

    def summary(self) -> str:
        """One sentence on inconsistency between designs, common and random effects."""
        t = self.table.set_index("source")
        b = t.loc["between designs"]
        return (f"Inconsistency between designs: Q({int(b.df)}) = {b.q:.2f}, p = {b.pvalue:.3g}; "
                f"under random effects (τ² within designs = {self.tau2_within:.3g}): "
                f"Q = {self.q_between_random:.2f}, p = {self.q_between_random_pvalue:.3g}.")


def _interaction_design(studies) -> tuple[np.ndarray, list[str]]:
    """Whitened design of the design-by-treatment interaction model: every design its own
    effects of its treatments against its first (sorted) treatment."""
    designs = list(dict.fromkeys(s.design for s in studies))
    cols: list[tuple[str, str]] = []
    for d in designs:
        tr = d.split(":")
        cols.extend((d, t) for t in tr[1:])
    index = {c: i for i, c in enumerate(cols)}
    blocks = []
    for s in studies:
        m = len(s.treatments) - 1
        X = np.zeros((m, len(cols)))
        first = sorted(s.treatments)[0]
        for j, t in enumerate(s.treatments[1:]):
            if t != first:
                X[j, index[(s.design, t)]] += 1.0
        if s.treatments[0] != first:
            X[:, index[(s.design, s.treatments[0])]] -= 1.0
        blocks.append(X)
    # whiten with the same per-study transform as the consistency model
    Xraw = np.vstack(blocks)
    return _apply_transform(studies, Xraw), designs


def _apply_transform(studies, Xraw: np.ndarray) -> np.ndarray:
    out, r = [], 0
    for s in studies:
        m = len(s.treatments) - 1
        out.append(study_transform(s)[0] @ Xraw[r:r + m])
        r += m
    return np.vstack(out)


def decomp_design(result: NetworkResult) -> DesignDecomposition:
    """Design-by-treatment decomposition of the network's Q (netmeta ``decomp.design``).

    Q total (common-effect consistency model) = Q within designs (the residual of the model
    in which every design has its own treatment effects) + Q between designs.

    Examples
    --------
    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    >>> dd = decomp_design(nm)
    >>> dd.table.round(2).q.tolist()
    [96.98, 74.45, 22.53]
    """
    studies = list(result.studies)
    treatments = list(result.treatments)
    wh = _whiten(studies, treatments[1:])
    Xi, designs = _interaction_design(studies)
    w0 = 1.0 / wh.lam
    k, p = wh.X.shape
    beta_i, inv_i, q_within = _wls(Xi, wh.y, w0)
    q_total = result.q
    df_total = k - p
    df_within = k - Xi.shape[1]
    q_between = q_total - q_within
    df_between = df_total - df_within
    resid = wh.y - Xi @ beta_i
    contrib = resid * resid * w0
    design_of_row = np.array([studies[i].design for i in wh.study_of_row])
    dq, ddf = [], []
    for d in designs:
        rows = design_of_row == d
        dq.append(float(contrib[rows].sum()))
        ddf.append(int(rows.sum()) - (len(d.split(":")) - 1))
    if df_within > 0:
        tr = float(w0.sum() - np.einsum("ij,ji->", inv_i, (Xi * (w0 * w0)[:, None]).T @ Xi))
        tau2w = max(0.0, (q_within - df_within) / tr)
    else:
        tau2w = 0.0
    w = 1.0 / (wh.lam + tau2w)
    q_rand = _wls(wh.X, wh.y, w)[2] - _wls(Xi, wh.y, w)[2]
    table = pd.DataFrame({"source": ["total", "within designs", "between designs"],
                          "q": [q_total, q_within, q_between],
                          "df": [df_total, df_within, df_between],
                          "pvalue": [_chi2_p(q_total, df_total), _chi2_p(q_within, df_within),
                                     _chi2_p(q_between, df_between)]})
    dframe = pd.DataFrame({"design": designs, "q": dq, "df": ddf,
                           "pvalue": [_chi2_p(q, d) for q, d in zip(dq, ddf, strict=True)]})
    return DesignDecomposition(table, dframe, float(tau2w), float(q_rand),
                               _chi2_p(q_rand, df_between))


def _direct(studies, treatments, tau2: float) -> list[dict]:
    """Direct estimate of every compared pair (t1 minus t2, t1 listed first): inverse-variance
    pooling of that pair's contrast in every study containing both, each with its own
    variance s_1^2 + s_2^2 (+ tau^2) — for a multi-arm study the full marginal variance, as
    netmeta's ``TE.direct`` (pooled from ``seTE.orig``) and Krahn's direct estimates."""
    order = {t: i for i, t in enumerate(treatments)}
    acc: dict[tuple[str, str], list[float]] = {}
    for s in studies:
        for i in range(len(s.treatments)):
            for j in range(len(s.treatments)):
                a, b = s.treatments[i], s.treatments[j]
                if order[a] >= order[b]:
                    continue
                w = 1.0 / (s.v[i] + s.v[j] + tau2)
                e = acc.setdefault((a, b), [0.0, 0.0, 0])
                e[0] += w * (s.g[i] - s.g[j])
                e[1] += w
                e[2] += 1
    out = []
    for (a, b), (wy, w, k) in sorted(acc.items(), key=lambda x: (order[x[0][0]],
                                                                  order[x[0][1]])):
        out.append({"t1": a, "t2": b, "k": k, "estimate": wy / w, "var": 1.0 / w})
    return out


def netsplit(result: NetworkResult) -> pd.DataFrame:
    """Direct and indirect evidence for every directly compared pair (SIDE by back-calculation).

    Direct: the inverse-variance pooled contrast of the studies comparing the pair, each
    with its own variance plus the network's τ² under random effects (netmeta's
    ``TE.direct``). Indirect: (θ_net − P θ_dir) / (1 − P), variance v_net / (1 − P), with
    P = v_net / v_dir the direct proportion (König et al. 2013; netmeta ``netsplit``,
    "Back-calculation"). The difference direct − indirect is tested with
    z = diff / sqrt(v_dir + v_ind). Wald (unscaled) variances are used throughout, also
    under HKSJ. Pairs with direct evidence only (P = 1) have no indirect estimate (NaN).

    Examples
    --------
    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
    >>> ns = netsplit(nm)
    >>> list(ns.columns[:4]), len(ns)
    (['t1', 't2', 'k', 'direct'], 6)
    """
    treatments = list(result.treatments)
    tau2 = result.tau2 if result.model == "random" else 0.0
    n = len(treatments)
    d = np.zeros(n)
    d[1:] = result.estimates["estimate"].to_numpy()
    C = np.zeros((n, n))
    C[1:, 1:] = result.vcov_z
    idx = {t: i for i, t in enumerate(treatments)}
    rows = []
    for e in _direct(result.studies, treatments, tau2):
        i, j = idx[e["t1"]], idx[e["t2"]]
        net, vn = d[i] - d[j], C[i, i] + C[j, j] - 2 * C[i, j]
        inv_ind = 1.0 / vn - 1.0 / e["var"]
        if inv_ind > 1e-10 / vn:
            vi = 1.0 / inv_ind
            ind = vi * (net / vn - e["estimate"] / e["var"])
            diff = e["estimate"] - ind
            dse = np.sqrt(e["var"] + vi)
            z = diff / dse
            pv = float(2 * special.ndtr(-abs(z)))
            ise = np.sqrt(vi)
        else:
            ind = ise = diff = dse = z = pv = float("nan")
        rows.append({"t1": e["t1"], "t2": e["t2"], "k": e["k"], "direct": e["estimate"],
                     "direct_se": np.sqrt(e["var"]), "indirect": ind, "indirect_se": ise,
                     "network": net, "network_se": np.sqrt(vn),
                     "prop_direct": min(1.0, vn / e["var"]), "diff": diff, "diff_se": dse,
                     "z": z, "pvalue": pv})
    return pd.DataFrame(rows)


def _design_level(result: NetworkResult) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   list[str]]:
    """Design-level estimates of the basic contrasts (each treatment of a design minus the
    design's first, sorted) with their covariance, the rows of those contrasts in the
    network's parameters, and labels: the full design-by-treatment interaction model fitted
    with the network's τ² (0 for a common-effect network)."""
    studies = list(result.studies)
    treatments = list(result.treatments)
    wh = _whiten(studies, treatments[1:])
    Xi, designs = _interaction_design(studies)
    tau2 = result.tau2 if result.model == "random" else 0.0
    beta, cov, _ = _wls(Xi, wh.y, 1.0 / (wh.lam + tau2))
    col = {t: i for i, t in enumerate(treatments[1:])}
    order = {t: i for i, t in enumerate(treatments)}
    rows, labels = [], []
    for d in designs:
        tr = d.split(":")
        for t in tr[1:]:
            x = np.zeros(len(col))
            if t in col:
                x[col[t]] += 1.0
            if tr[0] in col:
                x[col[tr[0]]] -= 1.0
            rows.append(x)
            a, b = sorted((t, tr[0]), key=order.__getitem__)   # named as the rows are
            labels.append(f"{a} vs {b}" + (f" [{d}]" if len(tr) > 2 else ""))
    return beta, cov, np.array(rows), labels


def netcontrib(result: NetworkResult) -> pd.DataFrame:
    """Contribution (percent) of each design's direct evidence to each network estimate.

    The design-level hat matrix of Krahn, Binder & König (2013), the starting point of
    Papakonstantinou et al. (2018): the network estimate of every pair is H × the
    design-level direct estimates (each design's studies pooled by GLS with the exact
    multi-arm covariance and the network's τ²; this two-step fit reproduces the network
    estimates exactly), and the contribution of column j to row i is |H_ij| / Σ_j |H_ij|.
    Rows: every pair ``"t1 vs t2"`` (t1 listed first in ``result.treatments``); columns: the
    basic contrasts of every design (each treatment against the design's first in sorted
    order), ``"A vs B"`` for a two-arm design and ``"A vs B [A:B:C]"`` for a contrast of a
    multi-arm design. Rows sum to 100. (Not netmeta's default "shortestpath" flow
    decomposition.)

    Examples
    --------
    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", model="common")
    >>> cm = netcontrib(nm)
    >>> cm.shape, bool(np.allclose(cm.sum(axis=1), 100))
    ((6, 10), True)
    """
    treatments = list(result.treatments)
    _, cov, Xd, labels = _design_level(result)
    n = len(treatments)
    pairs = [(a, b) for i, a in enumerate(treatments) for b in treatments[i + 1:]]
    Xa = np.zeros((len(pairs), n - 1))
    for r, (a, b) in enumerate(pairs):
        if a != treatments[0]:
            Xa[r, treatments.index(a) - 1] += 1.0
        if b != treatments[0]:
            Xa[r, treatments.index(b) - 1] -= 1.0
    prec = np.linalg.inv(cov)
    H = Xa @ np.linalg.solve(Xd.T @ prec @ Xd, Xd.T @ prec)
    A = np.abs(H)
    A[A < 1e-12 * A.max()] = 0.0   # rounding noise, not evidence
    pct = 100 * A / A.sum(1, keepdims=True)
    return pd.DataFrame(pct, index=[f"{a} vs {b}" for a, b in pairs], columns=labels)


def network_leave_one_out(result: NetworkResult, t1: str, t2: str, *,
                          by: str = "study") -> pd.DataFrame:
    """The comparison t1 minus t2 with each study (``by="study"``) or each design
    (``by="design"``) left out, refitted with the same settings.

    Columns ``omitted estimate se ci_low ci_high pi_low pi_high tau2 q note``; a row whose
    refit is impossible (t1 or t2 gone, or the network falls apart) has NaN numbers and
    says why in ``note``.

    Examples
    --------
    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
    >>> loo = network_leave_one_out(nm, "ind_counseling", "no_contact")
    >>> len(loo), loo.columns[0]
    (24, 'omitted')
    """
    if t1 not in result.treatments or t2 not in result.treatments or t1 == t2:
        raise OptionError(f"Choose two different treatments of the network, not '{t1}' and "
                          f"'{t2}'.")
    if by not in ("study", "design"):
        raise OptionError(f"by must be 'study' or 'design', not '{by}'.")
    studies = list(result.studies)
    groups = ([s.name for s in studies] if by == "study"
              else list(dict.fromkeys(s.design for s in studies)))
    rows = []
    for g in groups:
        keep = [s for s in studies if (s.name if by == "study" else s.design) != g]
        row = {"omitted": g}
        present = {t for s in keep for t in s.treatments}
        note = ""
        if t1 not in present or t2 not in present:
            gone = t1 if t1 not in present else t2
            note = f"without it no study includes {gone}"
        elif not keep:
            note = "no study is left"
        else:
            ref = result.reference if result.reference in present else t2
            try:
                r = network_from_studies(keep, measure=result.measure, reference=ref,
                                         model=result.model,
                                         tau2_method=result.tau2_method or "REML",
                                         ci_method=result.ci_method, level=result.level)
            except DataError as err:
                note = str(err)
            else:
                lg = r.league
                hit = lg[(lg.t1 == t1) & (lg.t2 == t2)].iloc[0]
                row.update({c: float(hit[c]) for c in ("estimate", "se", "ci_low", "ci_high",
                                                        "pi_low", "pi_high")})
                row.update({"tau2": r.tau2, "q": r.q})
        if note:
            row.update({c: float("nan") for c in ("estimate", "se", "ci_low", "ci_high",
                                                  "pi_low", "pi_high", "tau2", "q")})
        row["note"] = note
        rows.append(row)
    return pd.DataFrame(rows, columns=["omitted", "estimate", "se", "ci_low", "ci_high",
                                       "pi_low", "pi_high", "tau2", "q", "note"])


def comparison_adjusted(result: NetworkResult) -> pd.DataFrame:
    """Points of a comparison-adjusted funnel plot (Chaimani & Salanti 2012; netmeta's
    ``funnel.netmeta``): every pair of arms of every study, oriented as the treatment listed
    later in ``result.treatments`` minus the earlier one, centred on the network estimate of
    that comparison.

    Columns ``study t1 t2 yi sei network centred``; ``centred`` = yi − network, to plot
    against ``sei`` around 0. Under random effects ``sei`` is the sampling error only, as
    netmeta draws it.

    Examples
    --------
    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
    >>> len(comparison_adjusted(nm))   # 22 two-arm studies + 2 three-arm studies x 3 pairs
    28
    """
    order = {t: i for i, t in enumerate(result.treatments)}
    d = dict(zip(result.treatments, np.concatenate(
        [[0.0], result.estimates["estimate"].to_numpy()]), strict=True))
    rows = []
    for s in result.studies:
        for i in range(len(s.treatments)):
            for j in range(i + 1, len(s.treatments)):
                a, b = s.treatments[i], s.treatments[j]
                ia, ib = (i, j) if order[a] > order[b] else (j, i)
                t1, t2 = s.treatments[ia], s.treatments[ib]
                y = float(s.g[ia] - s.g[ib])
                net = d[t1] - d[t2]
                rows.append((s.name, t1, t2, y, float(np.sqrt(s.v[i] + s.v[j])), net, y - net))
    return pd.DataFrame(rows, columns=["study", "t1", "t2", "yi", "sei", "network", "centred"])


def league_grid(result: NetworkResult, *, natural: bool = True) -> pd.DataFrame:
    """The league table as cells of a square grid (netmeta's ``netleague`` layout).

    One row per ordered pair: ``row col estimate ci_low ci_high kind``, the effect of
    ``row`` minus ``col`` (a ratio row / col when ``natural`` and the measure is a ratio).
    Below the diagonal (row listed after col in ``result.treatments``) ``kind`` is
    ``"network"``; above it ``"direct"``, the pooled direct evidence of :func:`netsplit`
    (with the network's τ² under random effects, Wald interval), NaN where the pair was never
    compared directly.

    Examples
    --------
    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    >>> g = league_grid(nm)
    >>> len(g), sorted(g.kind.unique())
    (90, ['direct', 'network'])
    """
    order = {t: i for i, t in enumerate(result.treatments)}
    z = float(special.ndtri(0.5 + result.level / 2))
    direct = {(r.t1, r.t2): (r.direct, r.direct_se) for r in netsplit(result).itertuples()}
    net = result.league.set_index(["t1", "t2"])
    rows = []
    for (a, b), r in net.iterrows():
        if order[a] > order[b]:
            rows.append((a, b, r.estimate, r.ci_low, r.ci_high, "network"))
            continue
        est, se = direct.get((a, b), (np.nan, np.nan))
        rows.append((a, b, est, est - z * se, est + z * se, "direct"))
    out = pd.DataFrame(rows, columns=["row", "col", "estimate", "ci_low", "ci_high", "kind"])
    if natural and result.ratio:
        for c in ("estimate", "ci_low", "ci_high"):
            out[c] = np.exp(out[c].to_numpy())
    return out
