"""`python -m hpsearch` runs the command line."""

from hpsearch.cli import app

app(prog_name="hpsearch")
