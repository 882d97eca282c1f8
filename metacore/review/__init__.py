"""A whole review: outcomes, studies, risk of bias, GRADE and the summary of findings.
Imports ``data``, ``models`` and ``diagnostics``."""
