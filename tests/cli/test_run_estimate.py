"""The cost estimate end to end: `run --dry-run` (from earlier trials, or `--calibrate`), stored at a study's
first run, and `show` printing it beside what the study spent."""

import pytest

from helpers import cli, hpsearch, load_study
from hpsearch.run.estimate import ATTR_ESTIMATE


@pytest.mark.slow  # three `hpsearch` processes that train (a calibration, two runs), the rest in-process
def test_estimate_from_calibration_then_from_earlier_trials_then_beside_the_cost(tiny_project):
    path = tiny_project(n_trials=1)
    calibrated = hpsearch("run", path.name, "--dry-run", "--calibrate", cwd=tiny_project.root, timeout=600)
    assert calibrated.returncode == 0, calibrated.stderr
    assert "from one calibration trial of 10 steps on cpu" in calibrated.stdout and "device hours" in calibrated.stdout
    assert not (tiny_project.root / "studies" / "hpsearch.db").exists()  # a dry run stores nothing
    assert "--calibrate" in cli("run", path.name, "--dry-run", cwd=tiny_project.root).stdout  # nothing to time it by

    assert hpsearch("run", path.name, cwd=tiny_project.root, timeout=600).returncode == 0
    other = tiny_project(n_trials=2, name="other.yaml")
    other.write_text(other.read_text().replace("name: tiny", "name: other"))
    dry = cli("run", other.name, "--dry-run", cwd=tiny_project.root)
    assert "expected compute: 2 trials x 30 steps (max_steps; 16 examples x 16 tokens a step)" in dry.stdout
    assert "from 1 earlier trials of model (studies tiny; on cpu)" in dry.stdout

    assert hpsearch("run", other.name, "--n-trials", "1", cwd=tiny_project.root, timeout=600).returncode == 0
    stored = load_study(tiny_project.storage, "other").user_attrs[ATTR_ESTIMATE]
    assert stored["basis"].startswith("from 1 earlier trials of model") and len(stored["device_seconds"]) == 3
    shown = cli("show", "other", cwd=tiny_project.root).stdout
    assert "cost: estimated" in shown and "from 1 earlier trials of model" in shown and "spent" in shown


@pytest.mark.no_training
def test_calibrate_needs_a_dry_run(tiny_project):
    result = cli("run", tiny_project(n_trials=1).name, "--calibrate", cwd=tiny_project.root)
    assert result.returncode == 2 and "add --dry-run" in result.stderr
    assert not (tiny_project.root / "studies").exists()
