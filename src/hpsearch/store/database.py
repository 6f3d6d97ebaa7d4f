"""Study databases: how to connect to one (its URL checked by hpsearch.spec.storage_url), and one line
saying what is wrong with one that cannot be opened or written.

An SQLite file is looked at before anything is written into it, opened read-only by the commands that only
look, and a wait for another process's lock is said. Imports only SQLAlchemy and the standard library, so
the commands that only read a database (hpsearch.store.tables) start fast; Optuna's storage is opened by
hpsearch.store.studies.
"""

from __future__ import annotations

import functools
import random
import sqlite3
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hpsearch.errors import StorageError, StudyError
from hpsearch.spec.storage_url import check_storage, redact, sqlite_file


def connect_kwargs(url: str, create: bool, read_only: bool = False) -> dict[str, Any]:
    """SQLAlchemy's engine arguments for `url`, after checking it: a StudyError for a URL hpsearch cannot use,
    or, when only reading (`create` False), for an SQLite file that does not exist; a StorageError for an SQLite
    file hpsearch must not write into (`create`: one that holds something else than Optuna's tables).

    `read_only`: the SQLite file is opened so that nothing can change it (no table, no WAL switch), on
    read-only media too.
    """
    path = check_url(url, create)
    if path is None:
        return {}
    _say_lock_waits()
    if read_only:
        return {"creator": functools.partial(_connect_read_only, str(path.resolve()))}
    if create:
        if path.exists() and path.stat().st_size:
            _check_optuna_file(url, path)
        path.parent.mkdir(parents=True, exist_ok=True)
    return {"connect_args": {"timeout": LOCK_TIMEOUT_S}}


def check_url(url: str, create: bool = True) -> Path | None:
    """Refuse, in one line and before anything is made, a storage URL hpsearch cannot use (a StudyError), an
    SQLite path that is no file (a folder, a device) or that the OS refuses (a name too long), and, to read
    (`create` False), a missing file. Returns the SQLite file, or None for a database server."""
    problem = check_storage(url)
    if problem:
        raise StudyError(f"storage {redact(url)!r} {problem}")
    if not url.startswith("sqlite"):
        return None
    path = sqlite_path(url)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        raise StudyError(f"storage {redact(url)!r}: {exc.strerror} ({path})") from None
    if mode is not None and not stat.S_ISREG(mode):
        what = "is a folder" if stat.S_ISDIR(mode) else "is not a regular file (a device, a pipe or a socket)"
        raise StudyError(f"storage {redact(url)!r}: {path} {what}: only a file can hold an SQLite database (point "
                         "--storage at a file)")
    if not create and mode is None:
        raise StudyError(f"no study database at {path} (run a study first, or name another with --storage)")
    return path


OPTUNA_TABLES = {"studies", "trials", "version_info"}  # every Optuna database has these, whatever its version
CREATION_LOOKS, CREATION_WAIT_S = 6, 0.5  # how long a half-made Optuna database is given to be completed
# Every table Optuna's RDB storage creates: a file holding only some of them is an Optuna database that
# another process is creating at this moment (the tables appear one by one), not something else's.
OPTUNA_OWN_TABLES = OPTUNA_TABLES | {
    "study_directions", "study_user_attributes", "study_system_attributes", "trial_params", "trial_values",
    "trial_intermediate_values", "trial_user_attributes", "trial_system_attributes", "trial_heartbeats",
    "alembic_version",
}


def _check_optuna_file(url: str, path: Path) -> None:
    """Refuse, untouched, an SQLite file that holds tables and not Optuna's (it is looked at read-only).

    A file holding only some of Optuna's tables may be one that another process is creating right now:
    it is looked at again for a few seconds before it is judged.
    """
    tables = _tables_of(url, path)
    for _ in range(CREATION_LOOKS):
        if not tables or OPTUNA_TABLES <= set(tables) or not set(tables) <= OPTUNA_OWN_TABLES:
            break
        time.sleep(CREATION_WAIT_S)
        tables = _tables_of(url, path)
    if tables and not OPTUNA_TABLES <= set(tables):
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise StorageError(f"cannot use storage {redact(url)!r}: {path} holds the tables of something else ({shown}); "
                           "hpsearch writes only into a new, empty or Optuna database, and changed nothing (point "
                           "--storage at another file)")


def _tables_of(url: str, path: Path) -> list[str]:
    """The names of the tables in the SQLite file at `path`, read without changing or locking it for long."""
    wal = Path(f"{path}-wal")
    # immutable: SQLite does not even put its -wal and -shm files beside it; but writes waiting in a -wal need them
    how = "mode=ro" if wal.exists() and wal.stat().st_size else "immutable=1"
    try:
        connection = sqlite3.connect(f"file:{quote(str(path.resolve()))}?{how}", uri=True, timeout=LOCK_TIMEOUT_S)
        try:
            return sorted(row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open storage {redact(url)!r}: {storage_problem(exc)}") from None


def _connect_read_only(path: str) -> sqlite3.Connection:
    """A connection that cannot change the database at `path`, even where its folder cannot be written.

    SQLite reads a WAL database through a shared-memory file beside it; on read-only media that file cannot be
    made, so the database is opened as immutable (nobody can write it there either), unless writes wait in its
    -wal file, which only a writable copy can read.
    """
    uri = f"file:{quote(path)}"
    connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=LOCK_TIMEOUT_S, check_same_thread=False)
    _wait_starts(id(connection), path)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _wait_ends(id(connection))
        return connection
    except sqlite3.Error as exc:  # any error ends the wait: one left behind is said as a lock wait seconds later
        _wait_ends(id(connection), failed=True)
        connection.close()
        if not isinstance(exc, sqlite3.OperationalError) or "unable to open" not in str(exc):
            raise
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size:
        raise sqlite3.OperationalError(f"its folder cannot be written and its last writes wait in {wal}, which only "
                                       "a writable copy can read (copy both files to a writable folder)")
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)


def use_wal(engine: Any) -> None:
    """Switch the SQLite database of `engine` to WAL (readers then never wait for a writer), unless it is already.

    The switch needs the file to itself, and SQLite refuses it at once, without waiting, while another process
    holds a write lock (one creating the tables of a new database, say): it is tried again for up to
    LOCK_TIMEOUT_S, like any other wait for a lock.
    """
    from sqlalchemy.exc import OperationalError

    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            with engine.connect() as connection:
                if str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() != "wal":
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            return
        except OperationalError as exc:
            if "database is locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.05, 0.25))  # processes waiting together do not retry in step


LOCK_TIMEOUT_S = 60  # SQLite waits this long for a lock another process holds, then the statement fails ...
LOCK_NOTICE_S = 5.0  # ... and after this long hpsearch says that it waits, and for what
_waits: dict[int, list] = {}  # id(connection) -> [when its statement started, the database file, whether said]
_watcher: list[threading.Thread] = []


def _say_lock_waits() -> None:
    """Say on stderr when a statement on an SQLite database has waited LOCK_NOTICE_S for another process's lock
    (SQLite itself waits up to LOCK_TIMEOUT_S without a word), and when it goes on; for every SQLite engine."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if _watcher:
        return

    def started(connection, *args) -> None:
        if connection.engine.url.get_backend_name() == "sqlite":
            _wait_starts(id(connection), connection.engine.url.database)

    event.listen(Engine, "before_cursor_execute", started)
    event.listen(Engine, "after_cursor_execute", lambda connection, *args: _wait_ends(id(connection)))
    event.listen(Engine, "handle_error", lambda context: _wait_ends(id(context.connection), failed=True))
    _watcher.append(threading.Thread(target=_watch, name="hpsearch-lock-waits", daemon=True))
    _watcher[0].start()


def _wait_starts(key: int, file: str) -> None:
    _waits[key] = [time.monotonic(), file, False]


def _wait_ends(key: int, failed: bool = False) -> None:
    wait = _waits.pop(key, None)
    if wait and wait[2] and not failed:
        print(f"the lock of {wait[1]} is free after {time.monotonic() - wait[0]:.0f} s; going on", file=sys.stderr,
              flush=True)


def _watch() -> None:
    while True:
        time.sleep(min(0.5, LOCK_NOTICE_S / 2))
        for wait in list(_waits.values()):
            if not wait[2] and time.monotonic() - wait[0] >= LOCK_NOTICE_S:
                wait[2] = True
                print(f"waiting for the database {wait[1]}: another process holds its lock (hpsearch waits up to "
                      f"{LOCK_TIMEOUT_S} s for it)", file=sys.stderr, flush=True)


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
    text = redact(_driver_text(exc))  # a DSN in it
    lowered = text.lower()
    if creation_race(exc):  # alembic_version's row inserted twice is a race, not another version of Optuna
        return f"another process was creating the database at the same moment ({text}); run again"
    if "file is not a database" in lowered or "not a database" in lowered:
        return "the file is not an SQLite database (point --storage at another file)"
    if "readonly" in lowered or "read-only" in lowered:
        return "the database is read-only (make it writable, or use another --storage)"
    if "database is locked" in lowered:
        return (f"another process holds the database's lock (hpsearch waited up to {LOCK_TIMEOUT_S} s for it; let "
                "that process finish, then rerun)")
    if "disk is full" in lowered or "no space" in lowered:
        return "the disk is full (free some space; nothing was written)"
    if "disk i/o error" in lowered:
        return "the database's disk cannot be written: is the disk full? (free some space; nothing was changed)"
    if "no longer compatible" in lowered or "schema" in lowered or "alembic" in lowered or "revision" in lowered:
        return f"the database was written by another version of Optuna ({text}); use a matching Optuna"
    return text


def sqlite_path(url: str) -> Path:
    """The file of an SQLite URL, also of one in SQLite's URI form (sqlite:///file:PATH?mode=ro&uri=true)."""
    from sqlalchemy.engine import make_url

    return Path(sqlite_file(make_url(url).database))
