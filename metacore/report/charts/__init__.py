"""Altair charts built from metacore results (pages only display them).

One module per chart family; every builder takes results and returns an Altair
chart. Ratio measures are drawn on a log axis labelled on the natural scale.
"""

from metacore._extras import check

# Before the submodules' ``import altair``: one line naming the extra, not a traceback.
check("altair", "Charts")


from metacore.report.charts.bayes import density_chart, interval_rows_chart
from metacore.report.charts.causal import (
           METHOD_COLORS,
           comparison_chart,
           many_scatter,
           simulation_chart,
)
from metacore.report.charts.cluster import cluster_map_chart, coclustering_chart, prob_c_chart
from metacore.report.charts.common import MAX_LABEL, clip_label, nice_ticks
from metacore.report.charts.forest import MAX_FOREST_STUDIES, forest_chart, forest_frame
from metacore.report.charts.rob import ROB_COLOURS, rob_summary_chart, traffic_light_chart
from metacore.report.charts.sensitivity import estimator_chart, leave_one_out_chart
from metacore.report.charts.shrinkage import (
    REVEAL_ROWS,
    covariate_shrinkage_chart,
    reveal_chart,
    shrinkage_chart,
)
from metacore.report.charts.smallstudy import baujat_chart, funnel_chart, gosh_chart
from metacore.report.charts.subgroups import bubble_chart, level_chart, subgroup_forest_chart

__all__ = ["MAX_FOREST_STUDIES", "MAX_LABEL", "METHOD_COLORS", "clip_label", "comparison_chart",
           "density_chart", "estimator_chart", "forest_chart", "forest_frame",
           "interval_rows_chart", "leave_one_out_chart", "many_scatter", "nice_ticks",
           "shrinkage_chart", "simulation_chart", "bubble_chart", "level_chart",
           "subgroup_forest_chart", "baujat_chart", "funnel_chart", "gosh_chart",
           "cluster_map_chart", "coclustering_chart", "prob_c_chart", "ROB_COLOURS",
           "rob_summary_chart", "traffic_light_chart",
           "REVEAL_ROWS", "covariate_shrinkage_chart", "reveal_chart"]
