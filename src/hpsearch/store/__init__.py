"""store: the study database: connect to it, create / open / copy a study, keep its spec, its trials'
bookkeeping, its artifacts, and read its tables fast.

Owns: `database` (connections, SQLite locks, one-line errors), `studies` (Optuna studies in storage),
`tables` (SQL reads for `studies` / `compare`), `artifacts` (kept models and curves for the dashboard).
May import: hpsearch.errors, hpsearch.search, hpsearch.spec, Optuna, SQLAlchemy.
"""
