"""hpsearch.errors: messages stay readable whatever value they echo."""

import subprocess

import pytest

from helpers import COMMAND
from hpsearch.errors import Problem, SpaceError, StudyError, shorten


def test_a_long_value_is_cut_with_its_length():
    message = f"must be a duration such as 15m, 2h or 90s, but got {'x' * 50_000_000!r} (fix it)"
    short = shorten(message)
    assert len(short) < 200 and short.endswith("' (50,000,000 characters) (fix it)")
    assert short.startswith("must be a duration such as 15m, 2h or 90s, but got 'xxxx") and "…" in short


@pytest.mark.parametrize("message", [
    "study 'alpha' has no complete trial; the file's space is fine",
    f"no study database at /tmp/{'deep/' * 30}hpsearch.db (run a study first)",  # a long path, not a value
    f"cannot open storage 'sqlite:////tmp/{'deep/' * 30}hpsearch.db': unable to open database file",
    "must be one of adamw, sgd, but got \"it's\" (it's wrong)",
])
def test_short_messages_are_left_alone(message):
    assert shorten(message) == message


def test_values_that_are_not_strings_are_cut_too():
    short = shorten(f"must be a mapping, but got {list(range(1_000_000))!r}")
    assert len(short) < 400 and "characters" in short


def test_errors_and_problems_print_short():
    big = "y" * 1_000_000
    assert len(str(StudyError(f"no study {big!r} in this database"))) < 200
    problem = Problem("s.yaml", 3, "study.name", f"{big!r} is not a valid study name")
    assert str(problem).startswith("s.yaml:3: study.name: 'yyy") and len(str(problem)) < 200
    assert len(str(SpaceError([problem, problem]))) < 400


def test_validate_prints_a_huge_value_short(tmp_path):
    space = tmp_path / "big.yaml"
    space.write_text(f"study: {{name: t, timeout: '{'z' * 900_000}'}}\n")
    result = subprocess.run(COMMAND + ["validate", space], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert len(line) < 300 and "(900,000 characters)" in line, line[:300]
