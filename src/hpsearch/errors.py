"""The one exception root of hpsearch, and the errors that carry where the user's input went wrong."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

LONG_VALUE = 200  # a quoted value longer than this, echoed in a message, is cut to SHOWN_VALUE characters ...
SHOWN_VALUE = 80  # (a long path or URL stays whole)
LONG_LINE = 400  # ... and any line, whatever it echoes, to about this many
# A quoted string as repr() writes it; the quote must not follow a letter ("the file's" opens nothing).
_QUOTED = re.compile(r"""(?<![\w'"])(?:'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'|"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+")""")


def shorten(text: str) -> str:
    """`text` with each quoted value longer than LONG_VALUE cut to SHOWN_VALUE (an ellipsis, then the value's length),
    and each line still longer than LONG_LINE cut in the middle: a 50 MB value must not come back whole in an error."""
    if len(text) <= LONG_VALUE:
        return text

    def cut(match: re.Match) -> str:
        quoted = match.group(0)
        if len(quoted) <= LONG_VALUE:
            return quoted
        return f"{quoted[:SHOWN_VALUE - 10]}…{quoted[0]} ({len(quoted) - 2:,} characters)"

    lines = _QUOTED.sub(cut, text).split("\n")
    for index, line in enumerate(lines):
        if len(line) > LONG_LINE:
            lines[index] = f"{line[:240]} … [{len(line) - 340:,} characters cut] … {line[-100:]}"
    return "\n".join(lines)


class HpsearchError(Exception):
    """Root of every error hpsearch raises on purpose; the CLI catches only this."""

    exit_code = 1

    def __str__(self) -> str:
        return shorten(super().__str__())


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or worth a warning about) an input file."""

    file: str
    line: int | None
    path: str
    message: str
    warning: bool = False  # worth a warning, not an error: said, and the study still runs

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        message = shorten(self.message)
        return f"{where}: {self.path}: {message}" if self.path else f"{where}: {message}"


class SpaceError(HpsearchError):
    """A search-space file (or a command-line override of it) is invalid; holds every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PluginError(HpsearchError):
    """The sampler or pruner a file names cannot be built with its options; each problem names its key path."""

    exit_code = 2

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = list(problems)
        super().__init__("\n".join(f"{'.'.join(map(str, path))}: {message}" for path, message in self.problems))


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



class AssetMissing(HpsearchError):
    """A built-in model or data set is named but the package that carries it is not installed."""

    exit_code = 2


class TrialSetupError(HpsearchError):
    """A trial's values cannot be applied to this model or data (the trial fails with this reason)."""


class ModelMissing(HpsearchError):
    """The model names a local folder that does not exist."""

    exit_code = 2


class DataError(HpsearchError):
    """The data set named by the space file cannot be loaded as asked."""

    exit_code = 2


class Interrupted(HpsearchError):
    """The user stopped the run (Ctrl-C or SIGTERM); the running trials are queued to run again."""

    exit_code = 130


def unknown(what: str, name: Any, known: list[str], aliases: dict[str, str] | None = None) -> str:
    """`unknown <what> 'name' (did you mean X?)`, or with the known names listed when none is close."""
    if aliases and name in aliases:
        return f"unknown {what} {name!r} (it is called {aliases[name]} here)"
    close = _closest(name, known)
    hint = f"did you mean {close}?" if close else f"choose from {', '.join(map(str, known))}"
    return f"unknown {what} {name!r} ({hint})"


def did_you_mean(name: Any, known: list[Any]) -> str:
    """' (did you mean X?)' when a known name is close to `name`, else ''."""
    close = _closest(name, known)
    return f" (did you mean {close}?)" if close else ""


def _closest(name: Any, known: list[Any]) -> str | None:
    """The known name nearest to `name`: a close spelling, or one that `name` begins."""
    text = str(name)
    close = difflib.get_close_matches(text, [str(k) for k in known], n=1, cutoff=0.6)
    if close:
        return close[0]
    starts = [str(k) for k in known if len(text) >= 3 and str(k).startswith(text)]
    return starts[0] if len(starts) == 1 else None
