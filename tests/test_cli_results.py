"""The commands that look at a stored study, on a study built with Optuna directly (no training)."""

import subprocess

import optuna
import pytest

from hpsearch.space import load_text
from hpsearch.study import open_study, storage_for
from test_cli import COMMAND

SPACE = """
study:
  name: made
  n_trials: 3
task:
  type: sequence-classification
  dataset: {path: data.csv}
fixed:
  max_steps: 4
space:
  learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
  early_stopping_patience: {low: 1, high: 3}
"""


def hpsearch(*args, cwd=None):
    return subprocess.run(COMMAND + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def made(tmp_path, monkeypatch):
    """An hpsearch study of four complete trials in tmp_path/studies/hpsearch.db (the default storage there)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path}/studies/hpsearch.db"
    study = open_study(load_text(SPACE, file="made.yaml"), storage_for(url))
    distributions = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
                     "early_stopping_patience": optuna.distributions.IntDistribution(1, 3)}
    for number in range(4):
        params = {"learning_rate": 1e-3 * (number + 1), "early_stopping_patience": 1 + number % 3}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=0.5 + number / 10,
                                                  user_attrs={"config": params}))
    return tmp_path


@pytest.mark.parametrize("top", ["0", "-1"])
def test_show_needs_at_least_one_best_trial(made, top):
    result = hpsearch("show", "made", "--top", top, cwd=made)
    assert result.returncode == 2 and result.stderr.strip() == f"error: --top must be at least 1, but got {top}"
    assert result.stdout == ""


def test_show_lists_the_best_trials(made):
    result = hpsearch("show", "made", "--top", "2", cwd=made)
    assert result.returncode == 0, result.stderr
    assert "the 2 best trials" in result.stdout


@pytest.mark.parametrize("command, tampered", [
    *(("show", t) for t in (42, {"study": "x"}, "study: [", "just text", "study: {name: made}\nspace: {lr: 1}\n")),
    ("confirm", "study: ["),
])
def test_a_tampered_stored_space_is_one_line_exit_1(made, tampered, command):
    study = optuna.load_study(study_name="made", storage=f"sqlite:///{made}/studies/hpsearch.db")
    study.set_user_attr("hpsearch:spec", tampered)
    result = hpsearch(command, "made", cwd=made)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: study 'made': its stored space (hpsearch:spec) is unreadable: "), line
