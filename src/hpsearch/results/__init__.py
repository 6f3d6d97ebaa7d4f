"""results: what a stored study says: tables of studies and trials, importances, export, the HTML
report, and the dashboard.

Owns: `summary` (rows, best trials, compare, export), `report`, `dashboard`, `outputs` (where a result may
be written).
May import: hpsearch.errors, search, spec, store, train (TrainingArguments names only). Never run or the CLI.
"""
