"""Data in: study tables and their column aliases, upload readers (CSV, TSV, Excel),
the bundled datasets and table fingerprints. Imports nothing above it."""
