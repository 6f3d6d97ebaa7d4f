"""The one exception root of hpsearch, and the errors that carry where the user's input went wrong."""

from __future__ import annotations

from dataclasses import dataclass


class HpsearchError(Exception):
    """Root of every error hpsearch raises on purpose; the CLI catches only this."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or worth a warning about) an input file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpaceError(HpsearchError):
    """A search-space file (or a command-line override of it) is invalid; holds every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(HpsearchError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = 2


class StudyError(HpsearchError):
    """A study cannot be opened, created or continued as asked."""

    exit_code = 2


class StudyStopped(HpsearchError):
    """Trials kept failing, so the study stopped before its budget: a runtime failure (exit 1), not bad input."""

    exit_code = 1


class StorageError(HpsearchError):
    """The database cannot be opened or written: nothing was changed, and hpsearch says why (exit 1)."""

    exit_code = 1
