"""Where studies are stored: the default database, the environment variable that overrides it, what a
usable storage URL is, and how a URL's password is hidden wherever one is printed, logged or stored.

Declarative rules only (SQLAlchemy's URL parser and the standard library); connecting is hpsearch.store.database.
May import: hpsearch.errors.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote

DEFAULT_STORAGE = "sqlite:///studies/hpsearch.db"
STORAGE_ENV = "HPSEARCH_STORAGE"
# SQLite (its unix build) opens no database whose full path is longer than 512 bytes less its "-journal" suffix.
SQLITE_MAX_PATH = 504


def default_storage() -> str:
    """The database used where no URL is given: $HPSEARCH_STORAGE, else the default file."""
    import os

    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


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
    return _sqlite_problem(parsed.database or "", parsed.query) if backend == "sqlite" else None


def _sqlite_problem(database: str, query) -> str | None:
    """Why an SQLite database (SQLAlchemy's `database` and `query` of its URL) cannot hold a study, or None."""
    if (database in ("", ":memory:") or database.startswith("file::memory:") or query.get("mode") == "memory"
            or query.get("vfs") == "memdb"):
        return "names an in-memory SQLite database, which keeps nothing (give a file: sqlite:///studies/x.db)"
    size = len(os.fsencode(os.path.abspath(sqlite_file(database))))
    if size > SQLITE_MAX_PATH:
        return (f"names a file whose full path has {size} bytes: too long for SQLite, which opens a database whose "
                f"full path has at most {SQLITE_MAX_PATH} bytes (give a shorter path)")
    return None


def sqlite_file(database: str) -> str:
    """The file of an SQLite URL's database part, also of SQLite's URI form (file:PATH?mode=ro)."""
    return unquote(database[len("file:"):].partition("?")[0]) if database.startswith("file:") else database


_URL = re.compile(r"""[A-Za-z][\w+.-]*://[^\s'"]+""")  # a URL inside any text: up to a space or a quote
_SCHEME = re.compile(r"[A-Za-z][\w+.-]*://")
_QUERY_PASSWORD = re.compile(r"""(?i)([?&;][\w.-]*(?:password|passwd|pwd)=)[^&#\s'"]*""")


def redact(text: str) -> str:
    """`text` (a URL, or any text holding URLs) with every password masked, for anything printed, logged or stored.

    The one place that hides a secret: in the user part (`user:***@host`, whatever the password holds, an
    unencoded @ or / included) and in the query string (`?password=***`), of URLs SQLAlchemy cannot parse too.
    Where it cannot tell, it hides more rather than less.
    """
    text = _QUERY_PASSWORD.sub(r"\1***", str(text))
    if "\n" not in text and _SCHEME.match(text.strip("'\" ")):
        return _mask_user_password(text)  # one URL: its password may hold even a space
    return _URL.sub(lambda match: _mask_user_password(match.group(0)), text)


def _mask_user_password(url: str) -> str:
    """One URL with the password of its user part masked: it runs from the user's first ':' to the '@' that
    starts the host (the last '@' before the query, else the last one at all)."""
    start = url.index("://") + 3
    colon = url.find(":", start)
    if colon < 0 or "/" in url[start:colon]:  # no user part (a port, or an SQLite path)
        return url
    query = url.find("?", colon)
    at = url.rfind("@", colon, query) if query >= 0 else -1
    if at < 0:
        at = url.rfind("@", colon)
    return url if at <= colon + 1 else f"{url[:colon + 1]}***{url[at:]}"
