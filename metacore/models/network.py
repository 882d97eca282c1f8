"""Network meta-analysis: the contrast-based model of metafor's ``rma.mv``.

Every study enters as contrasts of its arms against its first arm, with the sampling
covariance of the shared arm between them, and one tau^2 for every comparison with
correlation 1/2 between the random effects of one study::

    rma.mv(yi, V, mods = ~ <treatment dummies> - 1, random = ~ comp | study, rho = 1/2)

Within a study the covariance V_s + tau^2 R_s (R_s: 1 on the diagonal, 1/2 elsewhere) is
brought to diagonal form once, by a transform T_s with T_s R_s T_s' = I and
T_s V_s T_s' = diag(lambda). The network then is an ordinary meta-regression with
variances lambda + tau^2 and the same (restricted) likelihood up to a constant, which is
maximised globally over tau^2 >= 0 as :mod:`metacore.models.tau2` does for ``pool``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pandas as pd
from scipy import optimize, special

from metacore.data.table import normalize_name
from metacore.errors import DataError, MeasureError, OptionError
from metacore.models.effects import MEASURE_LABELS, RATIO_MEASURES, Exclusion
from metacore.numbers import format_p

__all__ = [
    "NETWORK_MEASURES",
    "NetworkGeometry",
    "NetworkResult",
    "NetworkStudy",
    "fit_network",
    "network",
    "network_script",
    "network_from_studies",
    "parse_network",
    "study_transform",
]

NETWORK_MEASURES = ("OR", "RR", "RD", "MD", "SMD", "GEN")
_ARM_BINARY = ("OR", "RR", "RD")
_TAU2_METHODS = ("REML", "ML", "DL")
_TAU2_NAMES = {"REML": "restricted maximum likelihood", "ML": "maximum likelihood",
               "DL": "generalised DerSimonian-Laird (Jackson, White & Riley 2012; netmeta)"}

# Accepted spellings (after normalize_name) of the columns of an arm-level or a
# contrast-level (netmeta ``pairwise``) table.
_NETWORK_ALIASES: dict[str, tuple[str, ...]] = {
    "study": ("study", "studlab", "study_id", "trial", "author", "authors", "label", "id"),
    "treatment": ("treatment", "treat", "trt", "intervention", "arm", "group"),
    "events": ("events", "event", "r", "responders", "xi", "x"),
    "n": ("n", "total", "ni", "sample_size", "size", "participants"),
    "mean": ("mean", "mi", "m"),
    "sd": ("sd", "sdi", "std", "standard_deviation"),
    "treatment1": ("treatment1", "treat1", "trt1", "t1"),
    "treatment2": ("treatment2", "treat2", "trt2", "t2"),
    "yi": ("yi", "te", "effect", "estimate", "y"),
    "sei": ("sei", "sete", "se_te", "se", "standard_error"),
}

# Relative width at which a root bracket is as narrow as double precision allows.
_EPS = 4 * np.finfo(float).eps
_GRID = 48
_UNIT_GRID = np.concatenate([[0.0], np.linspace(0.0, 1.0, _GRID)])
# Beyond these bounds weights and squared residuals overflow (as in effects.py).
_MAX_ABS_Y, _MIN_V, _MAX_V = 1e50, 1e-50, 1e50
# A contrast-level multi-arm study whose contrasts disagree beyond this is inconsistent.
_CONSISTENT = 1e-6


# --- the studies, as the model sees them ---------------------------------------------

@dataclass(frozen=True, eq=False)
class NetworkStudy:
    """One study: its arms' treatments, arm-level values and arm variances.

    ``g[j] - g[0]`` is the contrast of arm j against the first arm and ``v`` holds the
    arm variances, so a contrast's variance is ``v[i] + v[j]`` and two contrasts
    against the first arm share the covariance ``v[0]``. ``n`` are the arm sizes (NaN
    when unknown) and ``events`` the arm events (NaN unless binary).
    """

    name: str
    treatments: tuple[str, ...]
    g: np.ndarray
    v: np.ndarray
    n: np.ndarray
    events: np.ndarray
    corrected: bool = False

    @property
    def design(self) -> str:
        """The set of treatments compared, sorted and joined by ':' (netmeta's design)."""
        return ":".join(sorted(self.treatments))


def _column_map(columns: Sequence[object]) -> dict[str, object]:
    """Canonical name -> column; the spelling listed first wins (metadat's tables carry
    both ``id``, one per arm, and ``study``)."""
    keys = {normalize_name(c): c for c in reversed(list(columns))}   # first column wins
    out: dict[str, object] = {}
    used: set[object] = set()
    for canon, names in _NETWORK_ALIASES.items():
        for name in names:
            col = keys.get(name)
            if col is not None and col not in used:
                out[canon] = col
                used.add(col)
                break
    return out


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(float)


def _names(values: pd.Series) -> list[str]:
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v).strip()
            for v in values.tolist()]


def _arm_rows(data: pd.DataFrame, cols: dict[str, object], measure: str,
              excluded: list[Exclusion]) -> dict[str, np.ndarray | list[str]]:
    """Canonical arm columns (study, treatment, numbers) of the rows that can be used."""
    need = ("events", "n") if measure in _ARM_BINARY else ("mean", "sd", "n")
    missing = [c for c in ("study", "treatment", *need) if c not in cols]
    if missing:
        kind = "events and n" if measure in _ARM_BINARY else "mean, sd and n"
        raise DataError(f"A network table for {MEASURE_LABELS.get(measure, measure)} needs one "
                        f"row per arm with columns study, treatment and {kind}; missing: "
                        + ", ".join(missing) + ".")
    study, trt = _names(data[cols["study"]]), _names(data[cols["treatment"]])
    num = {c: _numbers(data[cols[c]]) for c in need}
    n = num["n"]
    with np.errstate(invalid="ignore"):
        ok = np.all([np.isfinite(num[c]) for c in need], axis=0) & (n >= 1)
        if measure in _ARM_BINARY:
            x = num["events"]
            ok &= (n == np.round(n)) & (x >= 0) & (x <= n) & (x == np.round(x))
        else:
            ok &= num["sd"] > 0
            if measure == "SMD":
                ok &= n >= 2
    ok &= np.array([bool(a) and bool(b) for a, b in zip(study, trt, strict=True)], bool)
    for i in np.flatnonzero(~ok):
        r = {c: num[c][i] for c in need}
        bad = [c for c in need if not np.isfinite(r[c])]
        if not study[i] or not trt[i]:
            reason = "the study or treatment name is empty"
        elif bad:
            reason = "no number in " + ", ".join(bad)
        elif not r["n"] >= 1 or (r["n"] != round(r["n"]) and measure in _ARM_BINARY):
            reason = f"the arm size n = {r['n']:g} is not a positive whole number"
        elif measure in _ARM_BINARY:
            reason = (f"events = {r['events']:g} is not a whole number between 0 and "
                      f"n = {r['n']:g}")
        elif not r["sd"] > 0:
            reason = f"the standard deviation {r['sd']:g} is not positive"
        else:
            reason = "a standardised mean difference needs at least 2 participants per arm"
        excluded.append(Exclusion(study[i] or f"row {i + 1}",
                                  f"row {i + 1} ({study[i]}, {trt[i]}) is left out: {reason}."))
    keep = np.flatnonzero(ok)
    out: dict[str, np.ndarray | list[str]] = {c: v[keep] for c, v in num.items()}
    out["study"] = [study[i] for i in keep]
    out["treatment"] = [trt[i] for i in keep]
    return out


def _arm_studies(arms: dict, measure: str, excluded: list[Exclusion]) -> list[NetworkStudy]:
    rows: dict[str, list[int]] = {}
    for i, s in enumerate(arms["study"]):
        rows.setdefault(s, []).append(i)
    n_all = arms["n"]
    if measure in _ARM_BINARY:
        x_all = arms["events"]
        # A zero-event or all-event arm: 1/2 added to events and non-events of every arm.
        edge = (x_all == 0) | (x_all == n_all)
        flagged = {s for s, e in zip(arms["study"], edge, strict=True) if e}
        cc = np.array([0.5 if s in flagged else 0.0 for s in arms["study"]])
        xe, ne = x_all + cc, n_all + 2 * cc
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "OR":
                g_all, v_all = np.log(xe / (ne - xe)), 1 / xe + 1 / (ne - xe)
            elif measure == "RR":
                g_all, v_all = np.log(xe / ne), 1 / xe - 1 / ne
            else:
                g_all = xe / ne
                v_all = g_all * (1 - g_all) / ne
    elif measure == "MD":
        with np.errstate(over="ignore"):
            g_all, v_all = arms["mean"], arms["sd"] ** 2 / n_all
        flagged = set()
    else:
        flagged = set()
    treatments = arms["treatment"]
    bad_rows: set[str] = set()
    if measure != "SMD":
        bad = ~((np.abs(g_all) <= _MAX_ABS_Y) & (v_all >= _MIN_V) & (v_all <= _MAX_V))
        bad_rows = {arms["study"][i] for i in np.flatnonzero(bad)}
    studies = []
    for name, idx in rows.items():
        trt = tuple(treatments[i] for i in idx)
        if len(set(trt)) < len(trt):
            twice = sorted({t for t in trt if trt.count(t) > 1})
            excluded.append(Exclusion(name, f"Study '{name}' is left out: it has more than "
                                            f"one arm of {', '.join(twice)}; combine those "
                                            "arms (or give them different treatment names)."))
            continue
        if len(trt) < 2:
            excluded.append(Exclusion(name, f"Study '{name}' has only one usable arm "
                                            f"({trt[0]}), so it compares nothing."))
            continue
        ix = np.array(idx)
        if measure == "SMD":
            with np.errstate(all="ignore"):
                g, v = _smd_arms(arms["mean"][ix], arms["sd"][ix], n_all[ix])
        else:
            g, v = g_all[ix], v_all[ix]
        if (name in bad_rows if measure != "SMD" else not _usable(g, v)):
            excluded.append(Exclusion(name, f"Study '{name}' is left out: its numbers are too "
                                            "extreme to give finite contrasts and variances."))
            continue
        events = arms["events"][ix] if measure in _ARM_BINARY else np.full(len(ix), np.nan)
        studies.append(NetworkStudy(str(name), trt, np.asarray(g, float),
                                    np.asarray(v, float), n_all[ix], events,
                                    name in flagged))
    return studies


def _usable(g: np.ndarray, v: np.ndarray) -> bool:
    """Finite arm values and variances within the range double precision can weight."""
    # comparisons with NaN are False (and silent), so NaN is caught too
    return bool((np.abs(g) <= _MAX_ABS_Y).all() and (v >= _MIN_V).all()
                and (v <= _MAX_V).all())


def _smd_arms(m: np.ndarray, sd: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g of every arm against the first (escalc's SMD), as arm-level terms.

    The contrasts share the first arm's 1/n as covariance; the g^2 / (2 (n1 + nj)) part
    of each variance belongs to its contrast, so with three or more arms the result can
    depend slightly on which arm comes first (the other measures do not).
    """
    n1, m1, s1 = n[0], m[0], sd[0]
    nj, mj, sj = n[1:], m[1:], sd[1:]
    df = n1 + nj - 2
    pooled = np.sqrt(((n1 - 1) * s1**2 + (nj - 1) * sj**2) / df)
    c = np.exp(special.gammaln(df / 2) - 0.5 * np.log(df / 2) - special.gammaln((df - 1) / 2))
    d = c * (mj - m1) / pooled
    g = np.concatenate([[0.0], d])
    v = np.concatenate([[1 / n1], 1 / nj + d * d / (2 * (n1 + nj))])
    return g, v


def _contrast_studies(data: pd.DataFrame, cols: dict[str, object],
                      excluded: list[Exclusion]) -> list[NetworkStudy]:
    """Studies from a contrast-level table (netmeta ``pairwise``: yi = treatment1 - treatment2)."""
    tab = pd.DataFrame({"study": data[cols["study"]].astype(str).str.strip(),
                        "t1": data[cols["treatment1"]].astype(str).str.strip(),
                        "t2": data[cols["treatment2"]].astype(str).str.strip(),
                        "yi": _numbers(data[cols["yi"]]), "sei": _numbers(data[cols["sei"]]),
                        "row": np.arange(1, len(data) + 1)})
    ok = (np.isfinite(tab["yi"]) & np.isfinite(tab["sei"]) & (tab["sei"] > 0)
          & (tab["t1"] != tab["t2"]))
    for r in tab[~ok].itertuples(index=False):
        why = ("treatment1 and treatment2 are the same" if r.t1 == r.t2 else
               "the estimate is missing" if not np.isfinite(r.yi) else
               "the standard error is missing, infinite or not positive")
        excluded.append(Exclusion(r.study, f"row {r.row} ({r.study}, {r.t1} vs {r.t2}) is "
                                           f"left out: {why}."))
    studies = []
    for name, c in tab[ok].groupby("study", sort=False):
        trt: list[str] = []
        for a, b in zip(c["t1"], c["t2"], strict=True):
            trt.extend(t for t in (a, b) if t not in trt)
        idx = {t: i for i, t in enumerate(trt)}
        pairs = [(idx[a], idx[b]) for a, b in zip(c["t1"], c["t2"], strict=True)]
        if len(set(map(frozenset, pairs))) < len(pairs):
            excluded.append(Exclusion(str(name), f"Study '{name}' is left out: it gives the "
                                                 "same comparison more than once; keep one "
                                                 "row per pair of treatments."))
            continue
        m = len(trt)
        if m > 2 and len(pairs) < m * (m - 1) // 2:
            excluded.append(Exclusion(str(name), f"Study '{name}' is left out: it has {m} "
                                                 f"arms but only {len(pairs)} of its "
                                                 f"{m * (m - 1) // 2} comparisons; a multi-arm "
                                                 "study needs every pair (as netmeta's "
                                                 "pairwise gives) so that the covariance of "
                                                 "its contrasts is known."))
            continue
        # y_ij = g_i - g_j and var_ij = v_i + v_j, solved by least squares (exact when the
        # study's contrasts are consistent, as they are when computed from one set of arms).
        A = np.zeros((len(pairs), m))
        for r, (i, j) in enumerate(pairs):
            A[r, i], A[r, j] = 1.0, -1.0
        A[:, 0] = 0.0   # g_0 = 0
        g = np.linalg.lstsq(A[:, 1:], c["yi"].to_numpy(), rcond=None)[0]
        g = np.concatenate([[0.0], g])
        resid = A @ g - c["yi"].to_numpy()
        if m > 2 and np.max(np.abs(resid)) > _CONSISTENT * max(1.0, np.max(np.abs(g))):
            excluded.append(Exclusion(str(name), f"Study '{name}' is left out: the "
                                                 "comparisons of this multi-arm study do not "
                                                 f"add up ({trt[0]} vs {trt[1]} plus {trt[1]} "
                                                 f"vs {trt[2]} should equal {trt[0]} vs "
                                                 f"{trt[2]}); check its rows."))
            continue
        with np.errstate(over="ignore"):
            var = c["sei"].to_numpy() ** 2
        if m == 2:
            v = np.array([var[0] / 2, var[0] / 2])   # only the sum is identified, and used
        else:
            S = np.zeros((len(pairs), m))
            for r, (i, j) in enumerate(pairs):
                S[r, i] = S[r, j] = 1.0
            v = np.linalg.lstsq(S, var, rcond=None)[0]
            if np.any(v <= 0):
                excluded.append(Exclusion(str(name), f"Study '{name}' is left out: its "
                                                     "standard errors imply a non-positive "
                                                     "variance for one of its arms, so the "
                                                     "covariance of its contrasts is not "
                                                     "valid; check them."))
                continue
        if not _usable(g, v):
            excluded.append(Exclusion(str(name), f"Study '{name}' is left out: its estimates "
                                                 "or standard errors are too extreme to use."))
            continue
        studies.append(NetworkStudy(str(name), tuple(trt), g, v, np.full(m, np.nan),
                                    np.full(m, np.nan)))
    return studies


def parse_network(arms: pd.DataFrame, measure: str = "OR") -> tuple[list[NetworkStudy],
                                                                     list[Exclusion], str]:
    """Studies of an arm-level or contrast-level table, the exclusions, and the input kind.

    >>> import metacore as mc
    >>> studies, excluded, kind = parse_network(mc.datasets.load("hasselblad1998"), "OR")
    >>> len(studies), kind, studies[1].treatments
    (24, 'arms', ('no_contact', 'ind_counseling', 'grp_counseling'))
    """
    if measure not in NETWORK_MEASURES:
        raise MeasureError(f"Network meta-analysis supports {', '.join(NETWORK_MEASURES)}, "
                           f"not '{measure}'.")
    if not isinstance(arms, pd.DataFrame) or arms.empty:
        raise DataError("The network table is empty: give one row per arm (study, treatment "
                        "and the arm's numbers) or one row per comparison.")
    cols = _column_map(list(arms.columns))
    excluded: list[Exclusion] = []
    contrast = all(c in cols for c in ("treatment1", "treatment2", "yi", "sei"))
    if contrast:
        if "study" not in cols:
            raise DataError("A contrast-level network table needs a study column.")
        studies = _contrast_studies(arms, cols, excluded)
        kind = "contrasts"
    else:
        if measure == "GEN":
            raise DataError("A generic network needs one row per comparison with columns "
                            "study, treatment1, treatment2, yi (treatment1 minus treatment2) "
                            "and sei.")
        studies = _arm_studies(_arm_rows(arms, cols, measure, excluded), measure, excluded)
        kind = "arms"
    if not studies:
        raise DataError("No study has two usable arms, so there is no network to analyse"
                        + (f" ({excluded[0].reason})" if excluded else "") + ".")
    return studies, excluded, kind


# --- geometry -------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class NetworkGeometry:
    """The shape of a network.

    ``treatments``: one row per treatment (``treatment studies participants events``);
    ``edges``: one row per pair compared directly (``t1 t2 studies participants``);
    ``multi_arm``: studies with three or more arms; ``designs``: each set of treatments
    compared together with its studies.
    """

    treatments: pd.DataFrame
    edges: pd.DataFrame
    multi_arm: tuple[str, ...]
    designs: pd.DataFrame


def _components(studies: Sequence[NetworkStudy]) -> list[list[str]]:
    parent: dict[str, str] = {}

    def find(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for s in studies:
        for t in s.treatments:
            parent.setdefault(t, t)
        for t in s.treatments[1:]:
            a, b = find(s.treatments[0]), find(t)
            if a != b:
                parent[b] = a
    groups: dict[str, list[str]] = {}
    for t in parent:
        groups.setdefault(find(t), []).append(t)
    return [sorted(g) for g in groups.values()]


def _check_connected(studies: Sequence[NetworkStudy]) -> None:
    parts = _components(studies)
    if len(parts) == 1:
        return
    described = []
    for i, p in enumerate(sorted(parts, key=len, reverse=True), 1):
        names = [s.name for s in studies if s.treatments[0] in p]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        described.append(f"sub-network {i}: {', '.join(p)} (studies {shown})")
    raise DataError(f"The network is not connected: it falls into {len(parts)} sub-networks "
                    "that no study links, and these cannot be analysed as one — "
                    + "; ".join(described) + ". Analyse each sub-network separately, or add "
                    "a study that compares treatments of different sub-networks.")


def _geometry(studies: Sequence[NetworkStudy], treatments: Sequence[str]) -> NetworkGeometry:
    order = {t: i for i, t in enumerate(treatments)}
    n_st = dict.fromkeys(treatments, 0)
    n_pt = dict.fromkeys(treatments, 0.0)
    n_ev = dict.fromkeys(treatments, 0.0)
    edges: dict[tuple[str, str], list[float]] = {}
    designs: dict[str, list[str]] = {}
    for s in studies:
        for i, t in enumerate(s.treatments):
            n_st[t] += 1
            n_pt[t] += float(s.n[i])
            n_ev[t] += float(s.events[i])
            for j in range(i + 1, len(s.treatments)):
                a, b = sorted((t, s.treatments[j]), key=order.__getitem__)
                e = edges.setdefault((a, b), [0, 0.0])
                e[0] += 1
                e[1] += float(s.n[i] + s.n[j])
        designs.setdefault(s.design, []).append(s.name)
    tr = pd.DataFrame({"treatment": list(treatments), "studies": list(n_st.values()),
                       "participants": list(n_pt.values()), "events": list(n_ev.values())})
    keys = sorted(edges, key=lambda e: (order[e[0]], order[e[1]]))
    ed = pd.DataFrame({"t1": [a for a, _ in keys], "t2": [b for _, b in keys],
                       "studies": [int(edges[e][0]) for e in keys],
                       "participants": [edges[e][1] for e in keys]})
    ds = pd.DataFrame({"design": list(designs), "studies": [len(v) for v in designs.values()],
                       "names": [", ".join(v) for v in designs.values()]})
    return NetworkGeometry(tr, ed, tuple(s.name for s in studies if len(s.treatments) > 2), ds)


# --- the fit ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Whitened:
    """The network as a meta-regression with diagonal variances lam + tau^2."""

    X: np.ndarray      # whitened design, one column per non-reference treatment
    y: np.ndarray
    lam: np.ndarray
    study_of_row: np.ndarray   # index of the study of each (whitened) row


@cache
def _rho_root_inverse(m: int) -> np.ndarray:
    """L^-1 for the Cholesky factor L of R (m x m: 1 on the diagonal, 1/2 elsewhere)."""
    return np.linalg.inv(np.linalg.cholesky(0.5 * (np.ones((m, m)) + np.eye(m))))


def study_transform(s: NetworkStudy) -> tuple[np.ndarray, np.ndarray]:
    """T and lambda with T R T' = I and T V T' = diag(lambda) for one study's contrasts
    against its first arm (V: sampling covariance; R: 1 on the diagonal, 1/2 elsewhere)."""
    m = len(s.treatments) - 1
    if m == 1:
        return np.ones((1, 1)), np.array([s.v[0] + s.v[1]])
    V = np.full((m, m), s.v[0]) + np.diag(s.v[1:])
    Li = _rho_root_inverse(m)
    lam, Q = np.linalg.eigh(Li @ V @ Li.T)
    return Q.T @ Li, lam


def _whiten(studies: Sequence[NetworkStudy], others: Sequence[str]) -> _Whitened:
    col = {t: i for i, t in enumerate(others)}
    rows_t, cols_t, rows_b, cols_b, owner, y, lam = [], [], [], [], [], [], []
    multi = []
    r = 0
    for si, s in enumerate(studies):
        trt = s.treatments
        m = len(trt) - 1
        base = col.get(trt[0], -1)
        for j in range(1, m + 1):
            c = col.get(trt[j], -1)
            if c >= 0:
                rows_t.append(r + j - 1)
                cols_t.append(c)
            if base >= 0:
                rows_b.append(r + j - 1)
                cols_b.append(base)
        owner.extend([si] * m)
        if m == 1:
            y.append(s.g[1] - s.g[0])
            lam.append(s.v[0] + s.v[1])
        else:
            multi.append((r, s))
            y.extend(s.g[1:] - s.g[0])
            lam.extend([0.0] * m)
        r += m
    X = np.zeros((r, len(others)))
    X[rows_t, cols_t] = 1.0
    X[rows_b, cols_b] -= 1.0
    y_arr, lam_arr = np.array(y, float), np.array(lam, float)
    for start, s in multi:   # correlated contrasts: transform to independent ones
        rows = slice(start, start + len(s.treatments) - 1)
        T, lam_arr[rows] = study_transform(s)
        X[rows] = T @ X[rows]
        y_arr[rows] = T @ y_arr[rows]
    return _Whitened(X, y_arr, lam_arr, np.array(owner))


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares: (beta, (X'WX)^-1, residual quadratic form)."""
    Xw = X * w[:, None]
    inv = np.linalg.inv(X.T @ Xw)
    beta = inv @ (Xw.T @ y)
    r = y - X @ beta
    return beta, inv, float(r @ (w * r))


def _score(tau2: float, X: np.ndarray, y: np.ndarray, lam: np.ndarray, reml: bool) -> float:
    """d loglik / d tau^2 (times 2): y'PPy - tr(P) (REML) or - tr(W) (ML)."""
    w = 1.0 / (lam + tau2)
    beta, inv, _ = _wls(X, y, w)
    py = w * (y - X @ beta)
    if reml:
        trace = float(w.sum() - np.einsum("ij,ji->", inv, (X * (w * w)[:, None]).T @ X))
    else:
        trace = float(w.sum())
    return float(py @ py) - trace


def _scores(grid: np.ndarray, X: np.ndarray, y: np.ndarray, lam: np.ndarray,
            reml: bool) -> np.ndarray:
    """The score at every grid value at once."""
    k, p = X.shape
    W = 1.0 / (lam[None, :] + grid[:, None])                       # (G, k)
    # X'WX for every grid value in one product: rows of X (x) X, weighted
    Z = (X[:, :, None] * X[:, None, :]).reshape(k, p * p)
    inv = np.linalg.inv((W @ Z).reshape(-1, p, p))                 # (G, p, p)
    beta = (inv @ (W @ (X * y[:, None]))[..., None])[..., 0]       # (G, p)
    py = W * (y[None, :] - beta @ X.T)
    f = np.einsum("gk,gk->g", py, py)
    if reml:
        XtW2X = ((W * W) @ Z).reshape(-1, p, p)
        f -= W.sum(1) - np.einsum("gij,gji->g", inv, XtW2X)
    else:
        f -= W.sum(1)
    return f


def _loglik(tau2: float, X: np.ndarray, y: np.ndarray, lam: np.ndarray, reml: bool) -> float:
    w = 1.0 / (lam + tau2)
    _, inv, rss = _wls(X, y, w)
    ll = -0.5 * float(np.log(lam + tau2).sum()) - 0.5 * rss
    if reml:
        ll += 0.5 * float(np.linalg.slogdet(inv)[1])
    return ll


def _score_slope(tau2: float, X: np.ndarray, y: np.ndarray, lam: np.ndarray,
                 reml: bool) -> tuple[float, float]:
    """The score (as :func:`_score`) and its derivative in tau^2, using dP/dtau^2 = -P^2:
    d(y'PPy) = -2 y'P^3 y; d tr(P) = -tr(P^2); d tr(W) = -sum w^2."""
    w = 1.0 / (lam + tau2)
    Xw = X * w[:, None]
    A = np.linalg.inv(X.T @ Xw)
    py = w * (y - X @ (A @ (Xw.T @ y)))                  # P y
    ppy = w * py - Xw @ (A @ (Xw.T @ py))                # P P y
    score = float(py @ py)
    slope = -2.0 * float(py @ ppy)
    if reml:
        B = A @ (Xw.T @ Xw)                              # A X'W^2 X
        C = A @ ((Xw * w[:, None]).T @ Xw)               # A X'W^3 X
        w2 = float(w @ w)
        score -= float(w.sum()) - float(np.trace(B))
        slope += w2 - 2.0 * float(np.trace(C)) + float(np.sum(B * B.T))
    else:
        score -= float(w.sum())
        slope += float(w @ w)
    return score, slope


def _root(X, y, lam, reml: bool, lo: float, hi: float, f_lo: float, f_hi: float) -> float:
    """The score's root in [lo, hi] (score > 0 at lo, <= 0 at hi): Newton steps, bisection
    whenever a step would leave the bracket; stops when a step moves tau^2 by less than
    1e-12 of its value (quadratic convergence: the root is then exact to rounding)."""
    if f_hi == 0:
        return float(hi)
    x = lo + (hi - lo) * f_lo / (f_lo - f_hi)           # secant start
    for _ in range(100):
        f, d = _score_slope(x, X, y, lam, reml)
        if f == 0:
            return float(x)
        if f > 0:
            lo = x
        else:
            hi = x
        step = x - f / d if d < 0 else math.nan
        if not lo < step < hi:
            step = 0.5 * (lo + hi)
        if abs(step - x) <= 1e-12 * max(step, 1e-300) or hi - lo <= _EPS * hi:
            return float(step)
        x = step
    return float(optimize.brentq(_score, lo, hi, args=(X, y, lam, reml), xtol=1e-300,
                                 rtol=_EPS, maxiter=500))


def _likelihood_tau2(wh: _Whitened, reml: bool) -> tuple[float, str]:
    """The global maximum over tau^2 >= 0 of the (restricted) likelihood.

    Every + to - sign change of the score on a grid from 0 to a bound beyond which the
    score is provably negative brackets a local maximum, refined by safeguarded Newton;
    tau^2 = 0 is a candidate when the score is <= 0 there; the highest likelihood wins.
    Bound: for tau^2 >= max(lam) the score is below w_max^2 RSS_OLS - w_min (k - p),
    negative once tau^2 > 2 RSS_OLS / (k - p).
    """
    X, y, lam = wh.X, wh.y, wh.lam
    k, p = X.shape
    dfree = k - p if reml else k
    if dfree <= 0:
        return 0.0, ("τ² cannot be estimated: the network has no more comparisons than "
                     "treatment effects (no heterogeneity degrees of freedom); τ² is set to 0.")
    rss_ols = _wls(X, y, np.ones(k))[2]
    upper = 1.01 * max(float(lam.max()), 2.0 * rss_ols / dfree, 1e-12)
    lower = max(1e-4 * float(lam.min()), upper * 1e-16)
    grid = np.exp(_UNIT_GRID * math.log(upper / lower)) * lower
    grid[0] = 0.0
    f = _scores(grid, X, y, lam, reml)
    candidates = [0.0] if not f[0] > 0 else []
    for i in np.flatnonzero((f[:-1] > 0) & (f[1:] <= 0)):
        candidates.append(_root(X, y, lam, reml, grid[i], grid[i + 1], f[i], f[i + 1]))
    if not candidates:   # cannot happen beyond the bound; a guard
        candidates.append(float(grid[-1]))
    if len(candidates) == 1:
        return candidates[0], ""
    values = [_loglik(t, X, y, lam, reml) for t in candidates]
    best = candidates[int(np.argmax(values))]
    which = "restricted likelihood" if reml else "likelihood"
    return best, (f"The {which} of τ² has more than one maximum (at τ² = "
                  + ", ".join(f"{c:.4g}" for c in candidates)
                  + f"); the highest, τ² = {best:.4g}, is used.")


def _dl_tau2(wh: _Whitened) -> float:
    """netmeta's generalised DerSimonian-Laird: max(0, (Q - df) / tr(P0 R)).

    In the whitened form R is the identity, so tr(P0 R) = tr(P0) (Jackson, White & Riley
    2012; the same number as netmeta's tr((I - H) (B B' * E / 2) W))."""
    k, p = wh.X.shape
    if k <= p:
        return 0.0
    w = 1.0 / wh.lam
    _, inv, q = _wls(wh.X, wh.y, w)
    tr = float(w.sum() - np.einsum("ij,ji->", inv, (wh.X * (w * w)[:, None]).T @ wh.X))
    return max(0.0, (q - (k - p)) / tr)


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    vcov: np.ndarray          # in force (HKSJ-scaled under "hksj")
    vcov_z: np.ndarray        # unscaled
    tau2: float
    q: float
    k: int
    p: int
    s2: float
    notes: tuple[str, ...]


def fit_network(studies: Sequence[NetworkStudy], treatments: Sequence[str], *,
                model: str = "random", tau2_method: str = "REML", ci_method: str = "z",
                tau2: float | None = None) -> _Fit:
    """Fit the contrast-based model to studies; ``treatments[0]`` is the reference.

    ``tau2`` fixes tau^2 instead of estimating it (a sensitivity analysis)."""
    wh = _whiten(studies, treatments[1:])
    k, p = wh.X.shape
    notes: list[str] = []
    q = _wls(wh.X, wh.y, 1.0 / wh.lam)[2]
    if model == "common":
        t2 = 0.0
    elif tau2 is not None:
        t2 = float(tau2)
    elif k <= p:   # every contrast is fitted exactly: nothing is left for tau^2
        t2 = 0.0
        notes.append("τ² cannot be estimated: the network has no more comparisons than "
                     "treatment effects (no heterogeneity degrees of freedom); τ² is set to 0.")
    elif tau2_method == "DL":
        t2 = _dl_tau2(wh)
    else:
        t2, note = _likelihood_tau2(wh, tau2_method == "REML")
        if note:
            notes.append(note)
    w = 1.0 / (wh.lam + t2)
    beta, vcov, rss = _wls(wh.X, wh.y, w)
    s2 = 1.0
    scaled = vcov
    if ci_method == "hksj":
        s2 = rss / (k - p) if k > p else float("nan")
        scaled = vcov * s2
    return _Fit(beta, scaled, vcov, float(t2), float(q), k, p, s2, tuple(notes))


@dataclass(frozen=True, eq=False)
class NetworkResult:
    """A network meta-analysis (metafor's ``rma.mv`` contrast-based model).

    ``estimates``: each treatment vs the reference (``treatment estimate se ci_low ci_high
    pi_low pi_high``, analysis scale: log for OR and RR); ``league``: every ordered pair
    (``t1 t2 estimate se ci_low ci_high pi_low pi_high``, t1 minus t2); ``tau2``; ``q``,
    ``q_df``, ``q_pvalue``: the common-effect model's Q (heterogeneity and inconsistency
    together); ``i2`` = max(0, (Q - df) / Q) in percent, as netmeta; ``vcov``: covariance of
    the estimates vs the reference (in force: HKSJ-scaled under ``"hksj"``).
    """

    estimates: pd.DataFrame
    tau2: float
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    treatments: tuple[str, ...]
    reference: str
    vcov: np.ndarray
    vcov_z: np.ndarray
    k: int
    n_studies: int
    studies: tuple[NetworkStudy, ...]
    measure: str
    model: str
    tau2_method: str | None
    ci_method: str
    level: float
    df: int | None
    input_kind: str = "arms"
    excluded: tuple[Exclusion, ...] = ()
    notes: tuple[str, ...] = ()
    hksj_s2: float = 1.0

    @cached_property
    def league(self) -> pd.DataFrame:
        """Every ordered pair of treatments, t1 minus t2, with intervals (built on first use)."""
        d, C = self._full()
        n = d.size
        crit = self.crit
        i, j = np.where(~np.eye(n, dtype=bool))
        le = d[i] - d[j]
        lse = np.sqrt(np.maximum(C[i, i] + C[j, j] - 2 * C[i, j], 0.0))
        lpse = np.sqrt(lse * lse + self.tau2)
        names = np.array(self.treatments, dtype=object)
        return pd.DataFrame({"t1": names[i], "t2": names[j], "estimate": le, "se": lse,
                             "ci_low": le - crit * lse, "ci_high": le + crit * lse,
                             "pi_low": le - crit * lpse, "pi_high": le + crit * lpse})

    @cached_property
    def geometry(self) -> NetworkGeometry:
        """Treatments, direct comparisons, multi-arm studies and designs (built on first use)."""
        return _geometry(self.studies, self.treatments)

    @property
    def ratio(self) -> bool:
        """True when estimates are log ratios (shown exponentiated)."""
        return self.measure in RATIO_MEASURES

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def crit(self) -> float:
        """The quantile of the intervals: z, or t(k - p) under HKSJ."""
        a = 1 - self.level
        if self.df is not None:
            return float(special.stdtrit(self.df, 1 - a / 2))
        return float(special.ndtri(1 - a / 2))

    @property
    def settings(self) -> str:
        parts = ["Common effect" if self.model == "common" else "Random effects"]
        if self.model == "random" and self.tau2_method:
            parts.append(f"τ²: {_TAU2_NAMES[self.tau2_method]} ({self.tau2_method}), "
                         "one τ² for every comparison")
        parts.append("CI: " + ("Knapp-Hartung type (t, k − p df)" if self.df is not None
                               else "Wald z"))
        parts.append(f"level {self.level:.0%}")
        return "; ".join(parts)

    def _full(self) -> tuple[np.ndarray, np.ndarray]:
        """Effects vs the reference with the reference's 0, and their covariance."""
        n = len(self.treatments)
        d = np.zeros(n)
        d[1:] = self.estimates["estimate"].to_numpy()
        C = np.zeros((n, n))
        C[1:, 1:] = self.vcov
        return d, C

    def pscores(self, small_values: str = "good") -> pd.Series:
        """P-scores (Rücker & Schwarzer 2015): mean over j of P(i better than j).

        ``small_values="good"`` when a smaller effect is better (e.g. an odds ratio of an
        adverse outcome), ``"bad"`` otherwise. Normal probabilities from the network
        estimates and the covariance in force.

        >>> import metacore as mc
        >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
        >>> nm.pscores("bad").round(3).idxmax()
        'grp_counseling'
        """
        if small_values not in ("good", "bad"):
            raise OptionError("small_values must be 'good' (smaller effects are better) or "
                              f"'bad', not '{small_values}'.")
        d, C = self._full()
        n = d.size
        dv = np.diag(C)
        se = np.sqrt(np.maximum(dv[:, None] + dv[None, :] - 2 * C, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (d[None, :] - d[:, None]) / se   # z[i, j]: j's effect minus i's
        if small_values == "bad":
            z = -z
        P = special.ndtr(z)
        np.fill_diagonal(P, 0.0)
        return pd.Series(P.sum(1) / (n - 1), index=list(self.treatments), name="pscore")

    def rank_probabilities(self, small_values: str = "good", n_sim: int = 100_000,
                           seed: int = 2015) -> pd.DataFrame:
        """Probability of each rank (1 = best) for each treatment: the rankogram.

        Drawn from the multivariate normal of the network estimates (covariance in force),
        ``n_sim`` draws with a fixed ``seed``, so each probability has a Monte Carlo
        standard error of at most 0.5 / sqrt(n_sim) (0.0016 at the default).

        >>> import metacore as mc
        >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
        >>> probs = nm.rank_probabilities("bad", n_sim=20_000)
        >>> probs.shape, bool(abs(probs.sum(axis=1) - 1).max() < 1e-12)
        ((4, 4), True)
        """
        if small_values not in ("good", "bad"):
            raise OptionError(f"small_values must be 'good' or 'bad', not '{small_values}'.")
        if not (isinstance(n_sim, (int, np.integer)) and n_sim >= 100):
            raise OptionError(f"n_sim must be a whole number of at least 100, not {n_sim}.")
        d, C = self._full()
        n = d.size
        rng = np.random.default_rng(seed)
        draws = np.zeros((int(n_sim), n))
        if n > 1:
            L = np.linalg.cholesky(self.vcov + 1e-14 * np.eye(n - 1) * np.trace(self.vcov))
            draws[:, 1:] = d[1:] + rng.standard_normal((int(n_sim), n - 1)) @ L.T
        order = np.argsort(draws if small_values == "good" else -draws, axis=1, kind="stable")
        counts = np.stack([np.bincount(order[:, r], minlength=n) for r in range(n)], axis=1)
        return pd.DataFrame(counts / float(n_sim), index=list(self.treatments),
                            columns=list(range(1, n + 1)))

    def sucra(self, small_values: str = "good", n_sim: int = 100_000,
              seed: int = 2015) -> pd.Series:
        """SUCRA (Salanti et al. 2011) from :meth:`rank_probabilities`: (n - mean rank) / (n - 1).

        Its expectation equals the P-score (Rücker & Schwarzer 2015); the two differ by
        Monte Carlo error only.
        """
        probs = self.rank_probabilities(small_values, n_sim, seed)
        n = probs.shape[1]
        mean_rank = probs.to_numpy() @ np.arange(1, n + 1)
        return pd.Series((n - mean_rank) / (n - 1), index=probs.index, name="sucra")

    def league_matrix(self) -> pd.DataFrame:
        """Square table of network estimates (analysis scale): row t1 minus column t2."""
        m = self.league.pivot(index="t1", columns="t2", values="estimate")
        return m.reindex(index=list(self.treatments), columns=list(self.treatments))

    def transform(self, x):
        return np.exp(x) if self.ratio else x

    def natural(self) -> dict[str, pd.DataFrame]:
        """``estimates`` and ``league`` with estimates and intervals back-transformed."""
        out = {}
        for name in ("estimates", "league"):
            f = getattr(self, name).copy()
            for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
                f[c] = self.transform(f[c].to_numpy())
            out[name] = f.drop(columns="se")
        return out

    def summary(self, digits: int = 3) -> str:
        """The network and its estimates vs the reference, in words."""
        fmt = f"{{:.{digits}f}}"
        g = self.geometry
        label = MEASURE_LABELS.get(self.measure, self.measure)
        scale = " (back-transformed from the log scale)" if self.ratio else ""
        multi = len(g.multi_arm)
        lines = [f"Network meta-analysis of {len(self.treatments)} treatments in "
                 f"{self.n_studies} studies ({len(g.edges)} direct comparisons, {multi} "
                 f"multi-arm {'study' if multi == 1 else 'studies'}); {self.settings}",
                 f"{label}{scale} vs {self.reference}:"]
        nat = self.natural()["estimates"]
        for r in nat.itertuples(index=False):
            lines.append(f"  {r.treatment}: {fmt.format(r.estimate)} "
                         f"[{fmt.format(r.ci_low)}, {fmt.format(r.ci_high)}]"
                         + (f", prediction [{fmt.format(r.pi_low)}, {fmt.format(r.pi_high)}]"
                            if self.model == "random" else ""))
        if self.model == "random":
            lines.append(f"τ² = {fmt.format(self.tau2)}, τ = {fmt.format(self.tau)}")
        lines.append(f"Heterogeneity and inconsistency: Q({self.q_df}) = {self.q:.2f}, "
                     f"p = {format_p(self.q_pvalue)}; I² = {self.i2:.1f}%")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The estimates vs the reference with natural-scale columns beside them."""
        f = self.estimates.copy()
        if self.ratio:
            for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
                f[f"{c}_natural"] = np.exp(f[c].to_numpy())
        return f

    def metafor_script(self) -> str:
        """R code reproducing this fit with metafor's ``rma.mv`` (see :func:`network_script`)."""
        return network_script(self)


def _check_options(measure: str, model: str, tau2_method: str, ci_method: str,
                   level: float) -> None:
    if measure not in NETWORK_MEASURES:
        raise MeasureError(f"Network meta-analysis supports {', '.join(NETWORK_MEASURES)}, "
                           f"not '{measure}'.")
    if model not in ("common", "random"):
        raise OptionError(f"model must be 'common' or 'random', not '{model}'.")
    if tau2_method not in _TAU2_METHODS:
        raise OptionError(f"A network's τ² estimator is one of {', '.join(_TAU2_METHODS)}, "
                          f"not '{tau2_method}'.")
    if ci_method not in ("z", "hksj"):
        raise OptionError(f"ci_method must be 'z' or 'hksj', not '{ci_method}'.")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise OptionError(f"The confidence level must be between 0 and 1 (e.g. 0.95), not {level}.")


def _order(studies: Sequence[NetworkStudy], reference: str | None) -> list[str]:
    """Reference first, then the other treatments sorted (as netmeta lists them)."""
    seen: dict[str, int] = {}
    for s in studies:
        for t in s.treatments:
            seen[t] = seen.get(t, 0) + 1
    if reference is None:
        # the most studied treatment (usually placebo or usual care); ties: first in the data
        reference = max(seen, key=seen.__getitem__)
    elif reference not in seen:
        raise OptionError(f"The reference treatment '{reference}' is not in the network; "
                          "choose one of " + ", ".join(sorted(seen)) + ".")
    return [reference, *sorted(t for t in seen if t != reference)]


def network_from_studies(studies: Sequence[NetworkStudy], *, measure: str,
                         reference: str | None = None, model: str = "random",
                         tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
                         excluded: Sequence[Exclusion] = (), input_kind: str = "arms",
                         notes: Sequence[str] = ()) -> NetworkResult:
    """:func:`network` on already parsed studies (used for leave-one-out refits)."""
    _check_connected(studies)
    treatments = _order(studies, reference)
    if len(treatments) < 2:
        raise DataError("The network has a single treatment, so there is nothing to compare.")
    try:
        with np.errstate(all="ignore"):
            fit = fit_network(studies, treatments, model=model, tau2_method=tau2_method,
                              ci_method=ci_method)
        finite = (np.all(np.isfinite(fit.beta)) and np.all(np.isfinite(fit.vcov_z))
                  and np.isfinite(fit.tau2) and np.all(np.diag(fit.vcov_z) > 0))
    except (np.linalg.LinAlgError, ValueError):
        finite = False
    if not finite:
        raise DataError("The contrasts and variances of this network are too extreme to fit "
                        "reliably; check the studies with the smallest and largest variances "
                        "(standard deviations, arm sizes, events).")
    notes = list(notes) + list(fit.notes)
    k, p = fit.k, fit.p
    df: int | None = None
    if ci_method == "hksj":
        if k > p:
            df = k - p
        else:
            notes.append("The Knapp-Hartung adjustment needs more comparisons than treatment "
                         "effects; Wald z intervals are used.")
            ci_method = "z"
    vcov = fit.vcov if ci_method == "hksj" else fit.vcov_z
    a = 1 - level
    crit = float(special.stdtrit(df, 1 - a / 2)) if df else float(special.ndtri(1 - a / 2))
    se = np.sqrt(np.diag(vcov))
    pse = np.sqrt(se * se + fit.tau2)
    est = pd.DataFrame({"treatment": treatments[1:], "estimate": fit.beta, "se": se,
                        "ci_low": fit.beta - crit * se, "ci_high": fit.beta + crit * se,
                        "pi_low": fit.beta - crit * pse, "pi_high": fit.beta + crit * pse})
    q_df = k - p
    q_p = float(special.chdtrc(q_df, fit.q)) if q_df > 0 else float("nan")
    i2 = 100 * max(0.0, (fit.q - q_df) / fit.q) if q_df > 0 and fit.q > 0 else 0.0
    if model == "random" and tau2_method == "DL":
        notes.append("τ² by the generalised DerSimonian-Laird estimator of netmeta (Jackson, "
                     "White & Riley 2012): max(0, (Q − df) / tr(P R)), R the pattern of the "
                     "random effects (1, and 1/2 within a multi-arm study).")
    if df is not None:
        notes.append("Knapp-Hartung type intervals: the covariance is scaled by "
                     f"r'Σ⁻¹r / (k − p) = {fit.s2:.4g} (not truncated at 1), with t({df}) "
                     "quantiles, as metafor's test = 'knha' in rma.uni.")
    if any(s.corrected for s in studies):
        which = [s.name for s in studies if s.corrected]
        notes.append("0.5 was added to events and non-events of every arm of "
                     f"{len(which)} study(ies) with a zero-event or all-event arm: "
                     + ", ".join(which[:5]) + ("…" if len(which) > 5 else "") + ".")
    if measure == "SMD" and any(len(s.treatments) > 2 for s in studies):
        notes.append("Standardised mean differences of a multi-arm study share only the "
                     "first arm's 1/n as covariance, so its estimates can depend slightly "
                     "on which arm is listed first.")
    return NetworkResult(
        estimates=est, tau2=fit.tau2, q=fit.q, q_df=q_df, q_pvalue=q_p,
        i2=float(i2), treatments=tuple(treatments), reference=treatments[0], vcov=vcov,
        vcov_z=fit.vcov_z, k=k, n_studies=len(studies),
        studies=tuple(studies), measure=measure,
        model=model, tau2_method=tau2_method if model == "random" else None,
        ci_method=ci_method, level=float(level), df=df, input_kind=input_kind,
        excluded=tuple(excluded), notes=tuple(notes), hksj_s2=fit.s2)


def network(arms: pd.DataFrame, measure: str = "OR", reference: str | None = None,
            model: str = "random", tau2_method: str = "REML", ci_method: str = "z",
            level: float = 0.95) -> NetworkResult:
    """Network meta-analysis of an arm-level or contrast-level table.

    Parameters
    ----------
    arms
        One row per arm (``study``, ``treatment`` and ``events``, ``n`` for OR, RR, RD or
        ``mean``, ``sd``, ``n`` for MD, SMD), or one row per comparison (``study``,
        ``treatment1``, ``treatment2``, ``yi`` = treatment1 minus treatment2 on the analysis
        scale, ``sei``: netmeta's ``pairwise`` output; every pair of a multi-arm study).
    measure
        ``OR RR RD MD SMD`` for arms, ``GEN`` (or the measure of yi) for comparisons.
    reference
        The treatment every other is compared with; default the most studied one.
    model
        ``"random"`` (one τ² for every comparison) or ``"common"`` (τ² = 0).
    tau2_method
        ``REML``, ``ML`` (global maxima) or ``DL`` (netmeta's generalised DerSimonian-Laird).
    ci_method
        ``"z"`` or ``"hksj"`` (Knapp-Hartung type: covariance scaled by r'Σ⁻¹r / (k − p),
        t with k − p df; k contrasts, p = treatments − 1).
    level
        Confidence level of every interval.

    Returns
    -------
    NetworkResult

    Raises
    ------
    DataError
        Unusable table, an arm named twice in a study, or a network in sub-networks
        (each one named).

    Examples
    --------
    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    >>> round(nm.tau2, 4), nm.q_df
    (0.0999, 18)
    >>> round(float(nm.estimates.set_index("treatment").loc["metformin", "estimate"]), 3)
    -1.128
    """
    _check_options(measure, model, tau2_method, ci_method, level)
    studies, excluded, kind = parse_network(arms, measure)
    notes = [f"{e.reason}" for e in excluded]
    return network_from_studies(studies, measure=measure, reference=reference, model=model,
                                tau2_method=tau2_method, ci_method=ci_method, level=level,
                                excluded=excluded, input_kind=kind, notes=notes)


# --- R code -----------------------------------------------------------------------------

def _r_str(values: Sequence[str]) -> str:
    return "c(" + ", ".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
                            for v in values) + ")"


def _r_num(values) -> str:
    return "c(" + ", ".join(repr(float(v)) for v in values) + ")"


def network_script(result: NetworkResult) -> str:
    """R code that refits a network with metafor's ``rma.mv``; leaves the fit in ``res``.

    The contrasts against each study's first arm and the arm variances are written out as
    metacore computed them, so the script runs on its own.

    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    >>> "rho = 1/2" in network_script(nm)
    True
    """
    rows_study, rows_base, rows_treat, rows_y = [], [], [], []
    arm_v = []
    for s in result.studies:
        for j in range(1, len(s.treatments)):
            rows_study.append(s.name)
            rows_base.append(s.treatments[0])
            rows_treat.append(s.treatments[j])
            rows_y.append(s.g[j] - s.g[0])
        arm_v.append("  " + _r_num(s.v))
    others = list(result.treatments[1:])
    dummies = "\n".join(f'dat[["{t}"]] <- (dat$treat == "{t}") - (dat$base == "{t}")'
                        for t in others)
    formula = "~ " + " + ".join(f"`{t}`" for t in others) + " - 1"
    label = MEASURE_LABELS.get(result.measure, result.measure)
    lines = [
        "# Network meta-analysis as metacore ran it, with metafor's rma.mv",
        f"# {label}; reference: {result.reference}; {result.settings}",
        "library(metafor)",
        "# one row per contrast against the study's first arm (analysis scale)",
        f"dat <- data.frame(study = {_r_str(rows_study)},",
        f"                  base = {_r_str(rows_base)},",
        f"                  treat = {_r_str(rows_treat)},",
        f"                  yi = {_r_num(rows_y)})",
        "# arm variances of each study, first arm first: contrasts of one study share the",
        "# first arm's variance as their covariance",
        "arm_v <- list(\n" + ",\n".join(arm_v) + ")",
        "V <- bldiag(lapply(arm_v, function(v) {",
        "  m <- length(v) - 1; B <- matrix(v[1], m, m); diag(B) <- v[1] + v[-1]; B }))",
        'dat$comp <- paste(dat$base, dat$treat, sep = ":")',
        dummies,
    ]
    if result.model == "common":
        lines.append(f"res <- rma.mv(yi, V, mods = {formula}, data = dat)")
    elif result.tau2_method == "DL":
        lines += [
            "# generalised DerSimonian-Laird tau^2 (netmeta): (Q - df) / tr(P R)",
            f"X <- model.matrix({formula}, data = dat)",
            "R <- outer(dat$study, dat$study, '==') * 0.5; diag(R) <- 1",
            "Vi <- solve(V); P <- Vi - Vi %*% X %*% solve(t(X) %*% Vi %*% X) %*% t(X) %*% Vi",
            "tau2 <- max(0, (c(t(dat$yi) %*% P %*% dat$yi) - (nrow(X) - ncol(X))) / "
            "sum(diag(P %*% R)))",
            f"res <- rma.mv(yi, V, mods = {formula}, random = ~ comp | study, rho = 1/2,",
            "              tau2 = tau2, data = dat)",
        ]
    else:
        lines += [
            f"res <- rma.mv(yi, V, mods = {formula}, random = ~ comp | study, rho = 1/2,",
            f'              method = "{result.tau2_method}", data = dat)',
        ]
    if result.df is not None:
        lines += [
            "# Knapp-Hartung type: covariance scaled by r'S^-1 r / (k - p), t(k - p)",
            "S <- V + res$tau2 * (outer(dat$study, dat$study, '==') * 0.5 + "
            "diag(0.5, nrow(dat)))",
            "r <- res$yi - res$X %*% res$beta",
            "s2 <- c(t(r) %*% solve(S) %*% r) / (res$k - res$p)",
            "se_hk <- sqrt(diag(res$vb) * s2)",
        ]
    lines.append("res")
    return "\n".join(lines) + "\n"
