"""Charts of the clustered-heterogeneity (MANTRA-type) model."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from metacore.models.cluster import ClusterResult
from metacore.report.charts.common import PLOT_SIZED, clip_label, label_sides, nice_ticks, side_text

__all__ = ["cluster_map_chart", "coclustering_chart", "prob_c_chart"]

def cluster_names(res: ClusterResult) -> list[str]:
    """'Cluster 1', 'Cluster 2', ... for each study, from the most probable partition."""
    return [f"Cluster {c + 1}" for c in res.map_partition]


def coclustering_chart(res: ClusterResult, order: list[int], *, size: int = 380) -> alt.Chart:
    """Heat map of P(studies i and j share a cluster), studies in the given order."""
    names = [clip_label(res.study[i], 24) for i in order]
    # unique labels for the ordinal axes even when names repeat
    seen: dict[str, int] = {}
    labels = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        labels.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    rows = [{"a": labels[x], "b": labels[y], "p": float(res.coclustering[i, j]),
             "pair": f"{res.study[i]} & {res.study[j]}"}
            for x, i in enumerate(order) for y, j in enumerate(order)]
    # Labels never overprint: the font fits the row height (7-11 px), and where rows are
    # thinner still every other label is dropped ("parity") rather than drawn on top.
    band = size / max(len(order), 1)
    font = float(np.clip(np.floor(band * 0.85), 7, 11))
    thin = "parity" if band < 8 else False
    # Inline values: a 80-study table has 6,400 cells, past Altair's DataFrame row limit.
    return alt.Chart(alt.Data(values=rows)).mark_rect().encode(
        x=alt.X("a:N", sort=labels, title=None,
                axis=alt.Axis(labelAngle=-45, labelFontSize=font, labelOverlap=thin)),
        y=alt.Y("b:N", sort=labels, title=None,
                axis=alt.Axis(labelFontSize=font, labelOverlap=thin)),
        color=alt.Color("p:Q", title="P(same cluster)",
                        scale=alt.Scale(scheme="blues", domain=[0, 1])),
        tooltip=[alt.Tooltip("pair:N", title="Studies"),
                 alt.Tooltip("p:Q", title="P(same cluster)", format=".3f")]).properties(
        width=size, height=size, title=alt.TitleParams(
            "Which studies belong together?", anchor="start", fontSize=15,
            subtitle="Posterior probability that two studies share a cluster"))


def prob_c_chart(res: ClusterResult, *, width: int = 340) -> alt.Chart:
    """Posterior (and prior) probability of each number of clusters."""
    k = res.k
    c = np.arange(1, k + 1)
    prior = np.where(c == 1, 0.5, 2.0**-c * 2 ** (k - 1) / max(2 ** (k - 1) - 1, 1))
    frame = pd.DataFrame({"clusters": np.concatenate([c, c]),
                          "probability": np.concatenate([res.prob_c, prior]),
                          "which": ["posterior"] * k + ["prior"] * k})
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("clusters:O", title="Number of clusters C"),
        xOffset="which:N",
        y=alt.Y("probability:Q", title="Probability", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("which:N", title=None, scale=alt.Scale(
            domain=["posterior", "prior"], range=["#1d4ed8", "#cbd5e1"])),
        tooltip=[alt.Tooltip("clusters:O", title="C"), alt.Tooltip("which:N"),
                 alt.Tooltip("probability:Q", format=".4f")]).properties(
        width=width, height=220, title=alt.TitleParams(
            "How many clusters?", anchor="start", fontSize=15,
            subtitle="P(C = c): prior (grey) and posterior (blue)"))


def cluster_map_chart(coords: np.ndarray, res: ClusterResult, axes: list[str], *,
                      width: int = 300) -> alt.LayerChart:
    """Where the studies come from (first two coordinates, or one against the study),
    coloured by the most probable partition."""
    x = np.asarray(coords, float)
    x = x[:, None] if x.ndim == 1 else x
    names = cluster_names(res)
    one_d = x.shape[1] == 1
    # One coordinate: the clusters get a row each, so labels do not pile up on one line.
    frame = pd.DataFrame({"study": [clip_label(s, 30) for s in res.study], "cluster": names,
                          "x": x[:, 0],
                          "y": [c + 1 for c in res.map_partition] if one_d else x[:, 1]})
    # Vega's default colours in sorted order, as in the forest plot beside it.
    color = alt.Color("cluster:N", title="Most probable clustering",
                      legend=alt.Legend(orient="bottom", columns=4))
    y_title = "cluster" if one_d else axes[1]
    height = 220
    # axis ends chosen here, so the names are placed where the points are drawn
    xt = nice_ticks(float(frame["x"].min()), float(frame["x"].max()), False)
    yt = [0.5, frame["y"].max() + 0.5] if one_d else \
        nice_ticks(float(frame["y"].min()), float(frame["y"].max()), False)
    x_enc = alt.X("x:Q", title=axes[0], scale=alt.Scale(domain=[xt[0], xt[-1]], nice=False))
    y_enc = alt.Y("y:Q", title=y_title, scale=alt.Scale(domain=[yt[0], yt[-1]], nice=False),
                  axis=alt.Axis(values=list(range(1, int(yt[-1]) + 1)), format="d")
                  if one_d else alt.Axis())
    base = alt.Chart(frame).encode(
        x=x_enc, y=y_enc,
        tooltip=[alt.Tooltip("study:N"), alt.Tooltip("cluster:N"),
                 alt.Tooltip("x:Q", title=axes[0], format=".3~f")])
    # studies at the same place share one name; names go where they fit (the tooltip
    # names every study)
    spots = frame.groupby(["x", "y"], sort=False)["study"].agg(list).reset_index()
    groups = spots["study"].tolist()
    spots["study"] = [clip_label(", ".join(n), 40) for n in groups]

    def place():
        return label_sides(spots["x"], spots["y"], spots["study"].tolist(),
                           np.zeros(len(spots)), width=width, height=height,
                           x_domain=(xt[0], xt[-1]), y_domain=(yt[0], yt[-1]), gap_px=9)

    sides = place()
    # a list that does not fit is shortened to its first name and a count
    short = [i for i, n in enumerate(groups) if sides[i] == "" and len(n) > 1]
    if short:
        for i in short:
            spots.loc[i, "study"] = f"{clip_label(groups[i][0], 24)} +{len(groups[i]) - 1}"
        sides = place()
    return alt.layer(
        base.mark_circle(size=140, opacity=0.85).encode(color=color),
        side_text(spots, x_enc, y_enc, "study:N", sides, gap_px=9, fontSize=10,
                  color="#374151")).properties(
        width=width, height=height, autosize=PLOT_SIZED, title=alt.TitleParams(
            "Where the studies come from", anchor="start", fontSize=15,
            subtitle="Distances between studies decide which centre each joins"))
