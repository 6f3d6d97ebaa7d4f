"""Where the commands that look at a study write (best -o, export -o, report -o and --png): every path is checked
before anything is written.

Never onto the study's database or the files SQLite keeps beside it, whatever the path's spelling (relative,
a symbolic link, a hard link), even with --force; never over an existing file unless --force; never into a
folder that does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from hpsearch.errors import UsageError
from hpsearch.store.database import sqlite_path


def check_file(path: Path, storage_url: str, force: bool, option: str = "--output") -> Path:
    """`path`, or a UsageError saying why `option` cannot write there."""
    database = _database_files(storage_url)
    if any(_same_file(path, file) for file in database):
        raise UsageError(f"{option} {path} is the study's database ({database[0]}); name another file")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; name a file")
    if (path.exists() or path.is_symlink()) and not force:
        raise UsageError(f"{option} {path} already exists; add --force to replace it, or name another file")
    if not path.absolute().parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {path.parent} does not exist")
    return path


def check_folder(folder: Path, files: list[Path], storage_url: str, force: bool, option: str = "--png") -> Path:
    """`folder` (created later where missing), or a UsageError saying why `files` cannot be written into it."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {folder} is a file; name a folder (it is created where missing)")
    for file in files:
        if any(_same_file(file, db) for db in _database_files(storage_url)) or file.exists() or file.is_symlink():
            check_file(file, storage_url, force, option)
    return folder


def _database_files(storage_url: str) -> list[Path]:
    """An SQLite study database's file and the files SQLite keeps beside it; nothing for a server database."""
    if not storage_url.startswith("sqlite"):
        return []
    path = sqlite_path(storage_url)
    return [path] + [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal")]


def _same_file(path: Path, other: Path) -> bool:
    """Whether `path` names `other`, by its resolved path or, where both exist, by its inode (a hard link)."""
    if path.resolve() == other.resolve():
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False
