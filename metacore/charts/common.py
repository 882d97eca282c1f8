"""Shared pieces of every chart: colours, tick choice, axis titles, label clipping.

Ratio measures are drawn on a log axis whose ticks are labelled on the natural
scale; confidence intervals are explicit rules, not Vega-Lite error bars, which
misbehave on log scales.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from metacore.effects import MEASURE_LABELS
from metacore.numbers import format_effect

INK = "#1f2937"
GREY = "#9ca3af"
ACCENT = "#1d4ed8"
DIAMOND = {"common": "#b45309", "random": "#1d4ed8", "MH": "#7c3aed", "PETO": "#0f766e"}
ROW_PX = 24
#: Longest study label drawn; longer ones end in an ellipsis (the table keeps the full text).
MAX_LABEL = 60


def clip_label(text: object, limit: int = MAX_LABEL) -> str:
    """A label cut to ``limit`` characters with an ellipsis.

    >>> clip_label("x" * 70)[-3:], len(clip_label("x" * 70))
    ('xx…', 60)
    """
    # control characters crash the image renderer and show as nothing on screen
    text = str(text)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def largest_rows(rows: list[dict], weights, max_rows: int, sort: str) -> tuple[list[dict], int]:
    """Study rows for a readable forest plot: at most ``max_rows`` (the largest weights;
    the rest are counted), in input, estimate or weight order. Returns (rows, hidden)."""
    hidden = 0
    if len(rows) > max_rows:
        keep = set(np.argsort(-np.nan_to_num(np.asarray(weights, float), nan=0.0),
                              kind="stable")[:max_rows])
        hidden = len(rows) - max_rows
        rows = [r for i, r in enumerate(rows) if i in keep]
    if sort == "estimate":
        rows.sort(key=lambda r: r["est"])
    elif sort == "weight":
        rows.sort(key=lambda r: -r["weight"])
    return rows, hidden


POOLED_LABEL = {"common": "Common effect", "random": "Random effects",
                 "MH": "Mantel-Haenszel", "PETO": "Peto"}


def nice_ticks(lo: float, hi: float, log: bool, width: float | None = None) -> list[float]:
    """Tick values covering [lo, hi]: 1-2-5 steps on a log axis, round steps otherwise.

    With the axis ``width`` in pixels, ticks whose labels would touch are dropped (the
    line of no effect, 1 or 0, is kept), so tick density follows the chart's size.

    >>> nice_ticks(0.12, 1.9, log=True)
    [0.1, 0.2, 0.5, 1.0, 2.0]
    >>> nice_ticks(0.3, 1.0, log=True, width=200)
    [0.2, 0.3, 0.4, 0.6, 0.8, 1.0]
    """
    ticks = _nice_ticks(lo, hi, log)
    return thin_ticks(ticks, log, width) if width else ticks


def label_px(value: float) -> float:
    """Rough width in pixels of a tick label at the default 10-11 px font."""
    return 6.5 * len(f"{value:g}") + 10


def thin_ticks(ticks: list[float], log: bool, width: float) -> list[float]:
    """Keep ticks whose labels do not overlap at ``width`` pixels (no effect kept first)."""
    if len(ticks) < 3:
        return ticks
    f = (lambda t: math.log(t)) if log else (lambda t: t)
    a, b = f(ticks[0]), f(ticks[-1])
    if b <= a:
        return ticks
    pos = {t: (f(t) - a) / (b - a) * width for t in ticks}
    null = 1.0 if log else 0.0
    kept = [t for t in (ticks[0], ticks[-1], null) if t in pos]
    for t in sorted(ticks, key=lambda t: (abs(round(t / 10 ** math.floor(math.log10(abs(t))),
                                                       6) - 1) if t else 0, t)):
        gap = min(abs(pos[t] - pos[k]) - (label_px(t) + label_px(k)) / 2 for k in kept) \
            if kept else 1.0
        if t not in kept and gap >= 4:
            kept.append(t)
    # the end ticks were only anchors; drop one that now crowds its neighbour
    out = sorted(set(kept))
    return [t for i, t in enumerate(out)
            if i == 0 or pos[t] - pos[out[i - 1]] >= (label_px(t) + label_px(out[i - 1])) / 2
            or t == null]


def effect_scale(values: np.ndarray, ratio: bool, width: float) -> tuple[alt.Scale, list[float]]:
    """An x scale for effects that always shows the line of no effect (1 or 0), and its
    ticks: log for ratios (natural-scale values), linear otherwise."""
    vals = np.asarray(values, float).ravel()
    vals = vals[np.isfinite(vals) & ((vals > 0) if ratio else True)]
    null = 1.0 if ratio else 0.0
    lo = min(float(vals.min()), null) if vals.size else null - 1
    hi = max(float(vals.max()), null) if vals.size else null + 1
    ticks = nice_ticks(lo, hi, ratio, width=width)
    return alt.Scale(type="log" if ratio else "linear", nice=False, zero=False,
                     domain=[min(ticks[0], lo), max(ticks[-1], hi)]), ticks


def axis(width: float, **kwargs) -> alt.Axis:
    """A quantitative axis whose tick count follows its width (no overlapping labels)."""
    kwargs.setdefault("tickCount", max(2, int(width // 55)))
    kwargs.setdefault("labelOverlap", "greedy")
    kwargs.setdefault("labelSeparation", 6)
    return alt.Axis(**kwargs)


def _nice_ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log and hi / lo < 4:
        # A narrow range: round steps on the natural scale read better than 1-2-5 decades.
        return [t for t in _nice_ticks(lo, hi, log=False) if t > 0] or [lo, hi]
    if log:
        ticks = []
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            for m in (1, 2, 5):
                t = round(m * 10.0**e, 12)
                if lo / 1.0001 <= t * 2.5 and t / 2.5 <= hi * 1.0001:
                    ticks.append(t)
        inside = [t for t in ticks if lo * 0.999 <= t <= hi * 1.001]
        below = [t for t in ticks if t < lo * 0.999]
        above = [t for t in ticks if t > hi * 1.001]
        return ([below[-1]] if below else []) + inside + ([above[0]] if above else [])
    span = hi - lo or 1.0
    step = 10 ** math.floor(math.log10(span / 5))
    for m in (1, 2, 5, 10):
        if span / (m * step) <= 7:
            step *= m
            break
    start = math.floor(lo / step) * step
    return [round(start + i * step, 10) for i in range(int(math.ceil((hi - start) / step)) + 1)]


def axis_title(measure: str, ratio: bool, favours: tuple[str, str] | None) -> str:
    name = MEASURE_LABELS.get(measure, measure)
    title = f"{name} (log scale)" if ratio else name
    if favours:
        return f"\u2190 {favours[0]}        {title}        {favours[1]} \u2192"
    return title


def ci_text(est: float, lo: float, hi: float, kind: str, digits: int) -> str:
    if not np.isfinite(est):
        return "not estimable"
    text = (f"{format_effect(est, digits)} [{format_effect(lo, digits)}, "
            f"{format_effect(hi, digits)}]")
    return text + " left out" if kind == "excluded" else text



def records(frame: pd.DataFrame) -> list[dict]:
    """JSON-safe records (NaN becomes null)."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                 (v.item() if isinstance(v, np.generic) else v)) for k, v in row.items()}
            for row in frame.to_dict("records")]


