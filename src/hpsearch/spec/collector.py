"""Every problem of one search-space file, in the order it was found.

Readers and rules say what is wrong as a `Finding`: a key path and a message, knowing nothing of files. The
collector alone knows the file's name and its YAML line map, and turns each finding into a `Problem` that
reads `FILE:LINE: key.path: message` (`FILE --set` where the command line gave the value).
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import Problem
from hpsearch.spec.reader import Document

Finding = tuple[tuple[Any, ...], str]  # (key path, message)


def problem_at(file: str, document: Document, path: tuple, message: str) -> Problem:
    """`message` about key `path` of `document`, with the file and line it was given on (or --set)."""
    where = f"{file} --set" if document.from_command_line(path) else file
    return Problem(where, document.line(path), dotted(path), message)


def dotted(path: tuple) -> str:
    """A key path as the user writes it: `space.learning_rate.low`."""
    return ".".join(str(p) for p in path)


class Collector:
    """The errors and the warnings of one file; the reader's own problems (syntax, duplicate keys) come first."""

    def __init__(self, file: str, document: Document):
        self.file = file
        self.document = document
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        for path, line, message in document.problems:
            where = "--set" if message.startswith("--set") else file
            self.errors.append(Problem(where, line, dotted(path), message.removeprefix("--set ")))

    def add(self, findings: list[Finding], warning: bool = False) -> None:
        """Record `findings` as errors, or as warnings (which never stop a study)."""
        kept = self.warnings if warning else self.errors
        kept.extend(problem_at(self.file, self.document, path, message) for path, message in findings)
