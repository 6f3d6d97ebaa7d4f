"""The `hpsearch` app: the list of its commands, and the one place an error becomes an exit code.

Each command parses its arguments, calls one function of the library, and prints. Heavy libraries
(optuna, torch, transformers) are imported inside the commands that need them, so `hpsearch --help`,
`ranges` and `validate` answer quickly. Only HpsearchError is caught, here: it becomes one line per
problem on stderr and the error's exit code (2 for bad input); `--debug` shows the traceback too. Output
whose reader has gone (`| head`) is no error: the rest is dropped.
"""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from hpsearch.cli import results, run, space
from hpsearch.cli.common import report
from hpsearch.errors import HpsearchError

# In the order `hpsearch --help` lists them.
COMMANDS = [
    space.ranges, space.validate,
    run.run, run.resume, run.worker, run.copy,
    results.studies, results.show, results.best, results.compare, results.export, results.report,
    results.dashboard, results.confirm,
]


class _ErrorBoundary(TyperGroup):
    """The app's command group: a command's HpsearchError is printed and ends the program with its exit code.

    Here rather than around `app()`, so the console script, `python -m hpsearch` and typer's test runner
    all go through it.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HpsearchError as exc:
            report(exc, ctx)
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # the reader has gone (`| head`), having read what it wanted: the rest is dropped
            from hpsearch.run.progress import drop_output

            drop_output(sys.stdout)
            drop_output(sys.stderr)
            raise typer.Exit(0) from None


app = typer.Typer(
    cls=_ErrorBoundary,
    help="Hyperparameter search for fine-tuning language models, on Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False) -> None:
    del debug  # read from the context by the error boundary and `validate` (a docstring here would be the help)


for command in COMMANDS:
    app.command()(command)
