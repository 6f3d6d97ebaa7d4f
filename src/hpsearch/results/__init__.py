"""results: what a stored study says: tables of studies and trials, importances, export, the HTML
report, and the dashboard.

Owns: `summary` (studies, best trials, boundaries, compare), `export` (one row per trial, to csv / json /
parquet), `report`, `dashboard`, `outputs` (where a result may be written), `load` (a stored study for the
Python API and the CLI).
May import: hpsearch.numbers, hpsearch.errors, search, spec, store, train (TrainingArguments names only).
Never run or the CLI.
"""
