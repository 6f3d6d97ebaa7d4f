"""cli: the `hpsearch` command: a thin typer app over the library, one error boundary.

May import: every layer, heavy ones inside the command that needs them (`hpsearch --help` imports no torch).
"""

from hpsearch.cli.main import app

__all__ = ["app"]
