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

from metacore.models.effects import MEASURE_LABELS
from metacore.numbers import format_effect

INK = "#1f2937"
GREY = "#9ca3af"
ACCENT = "#1d4ed8"
DIAMOND = {"common": "#b45309", "random": "#1d4ed8", "MH": "#7c3aed", "PETO": "#0f766e"}
ROW_PX = 24
#: A chart's whole width (plot, axes and legend) in half of the page: a 1280 px screen with
#: the sidebar open leaves 820 px, so a column of two is about 400 px.
HALF_PAGE = 380
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


def label_sides(x, y, texts, priority, *, width: float, height: float,
                x_domain: tuple[float, float] | None = None,
                y_domain: tuple[float, float] | None = None, log_x: bool = False,
                log_y: bool = False, font_px: float = 10.0, gap_px: float = 7.0,
                max_labels: int | None = None) -> np.ndarray:
    """Where each point's name can go without covering another name or point: "right" (text
    starting right of the point), "left" (ending left of it), "above", "below", or "" (no
    room; the tooltip still names it).

    Points are placed greedily in ``priority`` order (larger first; a point whose priority
    is not finite gets no name but stays in the way of others), each on the first of its
    right, left, top and bottom that stays inside the plot and clear of what is placed. The
    pixel positions follow the domains given (the data's range otherwise), so a nice-ed
    axis puts them a few pixels off; boxes carry a pixel of slack for that.

    >>> label_sides([0.5, 0.5, 0.45, 1], [0, 0.03, 0, 1], ["ab", "cd", "ef", "g"],
    ...             [4, 3, 2, 1], width=100, height=100).tolist()
    ['right', 'above', '', 'left']
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    tx = np.log(np.where(x > 0, x, np.nan)) if log_x else x
    ty = np.log(np.where(y > 0, y, np.nan)) if log_y else y

    def pixels(v, dom, log, size):
        lo, hi = (np.nanmin(v), np.nanmax(v)) if dom is None else \
            ((np.log(dom[0]), np.log(dom[1])) if log else dom)
        span = hi - lo if np.isfinite(hi - lo) and hi > lo else 1.0
        return (v - lo) / span * size

    with np.errstate(all="ignore"):
        px = pixels(tx, x_domain, log_x, width)
        py = height - pixels(ty, y_domain, log_y, height)
    ok = np.isfinite(px) & np.isfinite(py)
    # every point's box (±4 px; NaN for a point not drawn, which then blocks nothing), then
    # each placed name's; a name's own point is not in its way
    dots = np.column_stack([px - 4, py - 4, px + 4, py + 4])
    names: list[tuple[float, float, float, float]] = []

    def free(box, own: int) -> bool:
        hit = ((box[0] < dots[:, 2]) & (dots[:, 0] < box[2]) & (box[1] < dots[:, 3])
               & (dots[:, 1] < box[3]))
        hit[own] = False
        return not hit.any() and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
                                          and b[1] < box[3] for b in names)

    sides = np.full(len(x), "", dtype=object)
    priority = np.asarray(priority, dtype=float)
    for i in np.argsort(-priority, kind="stable"):
        if not (ok[i] and np.isfinite(priority[i])) or (max_labels is not None
                                                           and len(names) >= max_labels):
            continue
        w, h = 0.65 * font_px * len(str(texts[i])) + 1, 1.3 * font_px
        top, mid = py[i] - h / 2, px[i] - w / 2
        for side, x0, y0 in (("right", px[i] + gap_px - 1, top),
                             ("left", px[i] - gap_px - w + 1, top),
                             ("above", mid, py[i] - gap_px - h + 2),
                             ("below", mid, py[i] + gap_px - 2)):
            box = (x0, y0, x0 + w, y0 + h)
            # half a line may stick out above or below (nothing is drawn there); past the
            # right edge is the legend
            if box[0] >= 0 and box[2] <= width and box[1] >= -h / 2 \
                    and box[3] <= height + h / 2 and free(box, i):
                sides[i] = side
                names.append(box)
                break
    return sides


#: For charts whose point names are placed in pixels (:func:`label_sides`): ``width`` and
#: ``height`` are the plot's own, axes and legend added around it. Streamlit's default
#: ("fit") would shrink the plot inside the width by an amount only the browser knows.
PLOT_SIZED = alt.AutoSizeParams(type="pad", contains="padding")


def side_text(data: pd.DataFrame, x: alt.X, y: alt.Y, text: str, sides, *, gap_px: float = 7,
              **mark) -> alt.LayerChart:
    """Names beside their points as :func:`label_sides` placed them (none where "")."""
    data = data.assign(_side=np.asarray(sides, dtype=object))
    layers = [alt.Chart(data[data["_side"] == side]).mark_text(
        align=align, baseline=base, dx=dx, dy=dy, **mark).encode(x=x, y=y, text=text)
        for side, align, base, dx, dy in (("right", "left", "middle", gap_px, 0),
                                          ("left", "right", "middle", -gap_px, 0),
                                          ("above", "center", "bottom", 0, -gap_px + 2),
                                          ("below", "center", "top", 0, gap_px - 2))]
    return alt.layer(*layers)


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


def color_if(test: str, yes: str, no: str) -> alt.ColorValue:
    """A colour chosen per datum. Built as a channel object: ``alt.condition`` and shorthand
    strings make Altair search its schema (~20 ms each), which made a what-if slow."""
    return alt.ColorValue(no, condition={"test": test, "value": yes})


def chart_title(text: str, subtitle: str = "") -> alt.TitleParams:
    """A chart title anchored left with a grey subtitle, as the network and dependence
    charts draw them."""
    return alt.TitleParams(text, subtitle=subtitle or alt.Undefined, anchor="start",
                           fontSize=14, subtitleColor="#4b5563")
