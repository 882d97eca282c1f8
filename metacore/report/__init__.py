"""Hand an analysis on: the metafor R script, the results record, HTML and Word reports,
results in words, numbers rendered to images, and the Altair charts (``charts``).
The top layer of the engine: imports any layer below, never ``store``."""
