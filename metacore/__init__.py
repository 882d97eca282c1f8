"""metacore: exact, fast meta-analysis.

Effect sizes (:func:`compute_effects`) -> a fit (:func:`pool`, :func:`pool_mh`,
:func:`pool_peto`) -> methods on the fit (``summary()``, ``to_frame()``,
``natural()``), reproducing R's metafor.

>>> import metacore as mc
>>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
>>> res = mc.pool(eff, model="random", tau2_method="REML")
>>> round(float(res.natural()["estimate"]), 4)
0.4894
"""

from metacore import datasets, export, io, priors
from metacore.batch import pool_batch
from metacore.bayes import BayesResult, bayes_pool
from metacore.causal import CausalResult, causal_many, causal_pool
from metacore.cluster import ClusterResult, cluster_meta, cluster_meta_batch, distances_from
from metacore.effects import (
    BINARY_MEASURES,
    CONTINUOUS_MEASURES,
    GENERIC_NAMES,
    MEASURE_LABELS,
    RATIO_MEASURES,
    EffectSizes,
    Exclusion,
    compute_effects,
    measure_name,
    measures_for,
)
from metacore.errors import DataError, MeasureError, MetacoreError, OptionError
from metacore.influence import baujat, cumulative, gosh, influence
from metacore.metareg import MetaRegResult, metareg
from metacore.mh import pool_mh, pool_peto
from metacore.pooling import PoolResult, pool
from metacore.sensitivity import compare_estimators, leave_one_out
from metacore.smallstudy import begg, egger, failsafe, trimfill
from metacore.sof import SummaryOfFindings, summary_of_findings
from metacore.subgroups import GroupResult, SubgroupResult, subgroups
from metacore.table import ALIASES, StudyTable, generic_scale, map_columns, standardize
from metacore.tau2 import ESTIMATORS, TAU2_LABELS, Interval

__all__ = [
    "ALIASES", "BINARY_MEASURES", "export", "BayesResult", "bayes_pool", "priors", "CausalResult",
    "causal_many", "causal_pool",
    "CONTINUOUS_MEASURES", "ESTIMATORS", "MEASURE_LABELS",
    "RATIO_MEASURES", "TAU2_LABELS", "DataError", "EffectSizes", "Exclusion", "Interval",
    "MeasureError", "MetacoreError", "OptionError", "PoolResult", "StudyTable",
    "compare_estimators", "compute_effects", "datasets", "io", "leave_one_out", "map_columns",
    "measures_for", "pool", "pool_mh", "pool_peto", "standardize",
    "GroupResult", "MetaRegResult", "SubgroupResult", "metareg", "subgroups",
    "baujat", "begg", "cumulative", "egger", "failsafe", "gosh", "influence", "trimfill",
    "ClusterResult", "cluster_meta", "cluster_meta_batch", "distances_from", "pool_batch",
    "GENERIC_NAMES", "SummaryOfFindings", "generic_scale", "measure_name",
    "summary_of_findings",
]

__version__ = "0.1.0"
