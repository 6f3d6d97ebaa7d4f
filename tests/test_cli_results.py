"""The commands that look at a stored study, on a study built with Optuna directly (no training)."""

import subprocess

import optuna
import pytest

from test_cli import COMMAND


def hpsearch(*args, cwd=None):
    return subprocess.run(COMMAND + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("top", ["0", "-1"])
def test_show_needs_at_least_one_best_trial(made_study, top):
    result = hpsearch("show", "made", "--top", top, cwd=made_study)
    assert result.returncode == 2 and result.stderr.strip() == f"error: --top must be at least 1, but got {top}"
    assert result.stdout == ""


def test_show_lists_the_best_trials(made_study):
    result = hpsearch("show", "made", "--top", "2", cwd=made_study)
    assert result.returncode == 0, result.stderr
    assert "the 2 best trials" in result.stdout


@pytest.mark.parametrize("command, tampered", [
    *(("show", t) for t in (42, {"study": "x"}, "study: [", "just text", "study: {name: made}\nspace: {lr: 1}\n")),
    ("confirm", "study: ["),
])
def test_a_tampered_stored_space_is_one_line_exit_1(made_study, tampered, command):
    study = optuna.load_study(study_name="made", storage=f"sqlite:///{made_study}/studies/hpsearch.db")
    study.set_user_attr("hpsearch:spec", tampered)
    result = hpsearch(command, "made", cwd=made_study)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: study 'made': its stored space (hpsearch:spec) is unreadable: "), line
