"""cli: the `hpsearch` command: a thin typer app over the library, one error boundary.

Owns: `main` (the app: its explicit list of commands, the error boundary), `common` (shared options, the
default database, how errors print), and the commands by subject: `space` (ranges, validate), `run` (run,
resume, worker, copy), `results` (studies, show, best, compare, export, report, dashboard, confirm).
May import: every layer, heavy ones inside the command that needs them (`hpsearch --help` imports no torch).
"""

from hpsearch.cli.main import app

__all__ = ["app"]
