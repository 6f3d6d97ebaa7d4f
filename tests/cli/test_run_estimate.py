"""The cost estimate end to end: `run --dry-run` (from earlier trials, or `--calibrate`), stored at a study's
first run, and `show` printing it beside what the study spent."""

import subprocess

import optuna
import pytest

from helpers import COMMAND
from hpsearch.run.estimate import ATTR_ESTIMATE
from hpsearch.store.studies import storage_for


def hpsearch(project, *args):
    return subprocess.run(COMMAND + list(args), cwd=project.root, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # about 8 `hpsearch` processes end to end: 20-35 s
def test_estimate_from_calibration_then_from_earlier_trials_then_beside_the_cost(tiny_project):
    path = tiny_project(n_trials=1)
    calibrated = hpsearch(tiny_project, "run", path.name, "--dry-run", "--calibrate")
    assert calibrated.returncode == 0, calibrated.stderr
    assert "from one calibration trial of 10 steps on cpu" in calibrated.stdout and "device hours" in calibrated.stdout
    assert not (tiny_project.root / "studies" / "hpsearch.db").exists()  # a dry run stores nothing
    assert "--calibrate" in hpsearch(tiny_project, "run", path.name, "--dry-run").stdout  # nothing to time it by

    assert hpsearch(tiny_project, "run", path.name).returncode == 0
    other = tiny_project(n_trials=2, name="other.yaml")
    other.write_text(other.read_text().replace("name: tiny", "name: other"))
    dry = hpsearch(tiny_project, "run", other.name, "--dry-run")
    assert "expected compute: 2 trials x 30 steps (max_steps; 16 examples x 16 tokens a step)" in dry.stdout
    assert "from 1 earlier trials of model (studies tiny; on cpu)" in dry.stdout

    assert hpsearch(tiny_project, "run", other.name, "--n-trials", "1").returncode == 0
    stored = optuna.load_study(study_name="other", storage=storage_for(tiny_project.storage)).user_attrs[ATTR_ESTIMATE]
    assert stored["basis"].startswith("from 1 earlier trials of model") and len(stored["device_seconds"]) == 3
    shown = hpsearch(tiny_project, "show", "other").stdout
    assert "cost: estimated" in shown and "from 1 earlier trials of model" in shown and "spent" in shown


def test_calibrate_needs_a_dry_run(tiny_project):
    result = hpsearch(tiny_project, "run", tiny_project(n_trials=1).name, "--calibrate")
    assert result.returncode == 2 and "add --dry-run" in result.stderr
    assert not (tiny_project.root / "studies").exists()
