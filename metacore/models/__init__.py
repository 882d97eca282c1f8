"""Models: effect sizes (escalc), tau^2 estimators, inverse-variance, Mantel-Haenszel and
Peto pooling, Bayesian, clustered (MANTRA) and causal pooling, meta-regression,
subgroups, shrinkage, and the analysis as the dashboard runs it. Imports ``data`` only."""
