"""Where a database's files live on disk: the one place that decides the layout.

The root is the SQLite file's folder (a server's: `studies/` of the folder the run starts in). Under it:

    models/<database>/<study>/trial-N/   a trial's kept model
    runs/<database>/<study>/trial-N/     its TensorBoard logs
    .cache/                              tokenized data, shared by every study and run
    artifacts/                           the dashboard's artifact store

`<database>` is the SQLite file's name, or the server's host, port and database, so two databases never
share (nor clean up) each other's folders; models and logs are separate trees, so no study's name makes
them meet. Every path is absolute, so a path stored on a trial (`model_dir`, `best_model_dir`) reads the
same from any folder (a server's: the folder of the run that stored it; every machine must see it at that
path). Studies run before this layout stored their paths as they were (some relative to the folder of
their first run); those stay where they are, and nothing there is cleaned up.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from hpsearch.store.database import sqlite_path

TRIAL_FOLDER = re.compile(r"trial-(\d+)")


def files_root(url: str) -> Path:
    """The folder for a database's files: beside an SQLite file, else ./studies; absolute."""
    return (sqlite_path(url).parent if url.startswith("sqlite") else Path("studies")).resolve()


def database_key(url: str) -> str:
    """A folder name for the database at `url`, one per database: an SQLite file's name, else the server's
    host, port and database (characters a folder name cannot hold are %-escaped)."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        return sqlite_path(url).name
    parsed = make_url(url)
    parts = (parsed.host or "local", str(parsed.port or "default"), parsed.database or "default")
    return "-".join(quote(part, safe="") for part in parts)


def models_dir(url: str, study_name: str) -> Path:
    """The folder of a study's kept models (one `trial-N` folder per trial that keeps one)."""
    return files_root(url) / "models" / database_key(url) / study_name


def model_dir(url: str, study_name: str, number: int) -> Path:
    """Where trial `number` of the study saves its model."""
    return models_dir(url, study_name) / f"trial-{number}"


def trial_number(folder: Path) -> int | None:
    """The trial whose model `folder` holds; None for a folder of another name."""
    found = TRIAL_FOLDER.fullmatch(folder.name)
    return int(found.group(1)) if found else None


def log_dir(url: str, study_name: str, number: int) -> Path:
    """Where trial `number` of the study writes its tracker logs (`tensorboard --logdir <root>/runs`)."""
    return files_root(url) / "runs" / database_key(url) / study_name / f"trial-{number}"


def cache_dir(url: str) -> Path:
    """Where tokenized data is cached across trials and runs."""
    return files_root(url) / ".cache"


def artifacts_root(url: str) -> Path:
    """The artifact store's folder for the database at `url`."""
    return files_root(url) / "artifacts"
