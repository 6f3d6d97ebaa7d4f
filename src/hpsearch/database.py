"""Study databases: the storage URL (checked, its password redacted), how to connect to it, and one line
saying what is wrong with one that cannot be opened or written.

Imports only SQLAlchemy's URL parsing, so the commands that only read a database (hpsearch.tables) start
fast; Optuna's storage is opened by hpsearch.study.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hpsearch.errors import StorageError, StudyError

DEFAULT_STORAGE = "sqlite:///studies/hpsearch.db"
STORAGE_ENV = "HPSEARCH_STORAGE"


def check_storage(url: Any) -> str | None:
    """Why `url` is not a storage URL hpsearch can use, or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not isinstance(url, str) or not url.strip():
        return f"must be a database URL such as {DEFAULT_STORAGE}, but got {url!r}"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"is not a database URL: {redact(url)!r} (for example {DEFAULT_STORAGE} or postgresql://user@host/db)"
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql"):
        return f"uses {backend!r}; hpsearch stores studies in sqlite, postgresql or mysql"
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        return "names an in-memory SQLite database, which keeps nothing (give a file: sqlite:///studies/x.db)"
    return None


def redact(url: str) -> str:
    """`url` with its password masked, for anything printed, logged or stored."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", str(url))


def connect_kwargs(url: str, create: bool) -> dict[str, Any]:
    """SQLAlchemy's engine arguments for `url`, after checking it: a StudyError for a URL hpsearch cannot use,
    or, when only reading (`create` False), for an SQLite file that does not exist."""
    problem = check_storage(url)
    if problem:
        raise StudyError(f"storage {redact(url)!r} {problem}")
    if not url.startswith("sqlite"):
        return {}
    path = sqlite_path(url)
    if not create and not path.exists():
        raise StudyError(f"no study database at {path} (run a study first, or name another with --storage)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return {"connect_args": {"timeout": 60}}


def open_error(url: str, exc: BaseException, reading: bool) -> StudyError | StorageError:
    """The one-line error for a database that could not be opened (`reading`: without creating its tables)."""
    if isinstance(exc, ImportError):
        return StudyError(f"storage {redact(url)!r} needs a database driver: {exc} (pip install -e \".[postgres]\")")
    if reading and _no_tables(exc):
        return StudyError(f"no study in {redact(url)}: the database holds no Optuna tables (start the study "
                          "there with hpsearch run FILE --storage URL, or copy one in with hpsearch copy)")
    return StorageError(f"cannot open storage {redact(url)!r}: {storage_problem(exc)}")


def _no_tables(exc: BaseException) -> bool:
    """Whether `exc` says the database lacks Optuna's tables (an empty database, opened without creating them)."""
    text = storage_problem(exc).lower()
    return ("version_info" in text or "studies" in text) and ("does not exist" in text or "no such table" in text)


def _driver_text(exc: BaseException) -> str:
    """The first line of what the driver said (Optuna wraps the driver's error, which says what happened)."""
    while type(exc).__module__.startswith("optuna") and exc.__cause__ is not None:
        exc = exc.__cause__
    return (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]


_SETUP_ROWS = ("alembic_version", "version_info", "pg_type")  # written once, when Optuna creates its tables


def creation_race(exc: BaseException) -> bool:
    """Whether `exc` is what a process gets when another creates the same tables at the same moment: a table
    that already exists, or a row written at creation (Optuna's version record, alembic's revision, on
    PostgreSQL a table's type) inserted twice."""
    text = _driver_text(exc).lower()
    twice = "unique constraint" in text or "duplicate key" in text
    return "already exists" in text or (twice and any(table in text for table in _SETUP_ROWS))


def storage_problem(exc: BaseException) -> str:
    """One line saying what is wrong with a database, from the error a driver or Optuna raised."""
    text = _driver_text(exc)
    lowered = text.lower()
    if creation_race(exc):  # alembic_version's row inserted twice is a race, not another version of Optuna
        return f"another process was creating the database at the same moment ({text}); run again"
    if "file is not a database" in lowered or "not a database" in lowered:
        return "the file is not an SQLite database (point --storage at another file)"
    if "readonly" in lowered or "read-only" in lowered:
        return "the database is read-only (make it writable, or use another --storage)"
    if "disk is full" in lowered or "no space" in lowered:
        return "the disk is full (free some space; nothing was written)"
    if "disk i/o error" in lowered:
        return "the database's disk cannot be written: is the disk full? (free some space; nothing was changed)"
    if "no longer compatible" in lowered or "schema" in lowered or "alembic" in lowered or "revision" in lowered:
        return f"the database was written by another version of Optuna ({text}); use a matching Optuna"
    return text


def database_key(url: str) -> str:
    """A folder name for the database at `url`: an SQLite file's stem, else the server's host and database."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        return sqlite_path(url).stem
    parsed = make_url(url)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{parsed.host or 'local'}-{parsed.database or 'default'}")


def sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    return Path(make_url(url).database)
