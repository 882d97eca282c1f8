"""Diagnostics on a fit: small-study effects, influence, leave-one-out and estimator
sensitivity, GOSH, cumulative meta-analysis. Imports ``data`` and ``models``."""
