"""store: the study database: connect to it, create / open / copy a study, keep its spec, its trials'
bookkeeping, its artifacts, and read its tables fast.

Owns: `database` (connections, SQLite locks, one-line errors), `studies` (open / create / copy Optuna
studies in storage), `stored_spec` (the space a study keeps), `trials` (owners, heartbeat settings, stale
and interrupted trials, queued re-runs), `optuna_private` (every use of Optuna's private names), `tables`
(SQL reads for `studies` / `compare`), `folders` (where a database's models, logs and caches live on disk),
`artifacts` (kept models and curves for the dashboard).
May import: hpsearch.numbers, hpsearch.errors, hpsearch.search, hpsearch.spec, Optuna, SQLAlchemy.
"""
