"""Each trial logs to the user's tracker (`task.report_to`): TensorBoard here, offline."""

import os
import struct
from types import SimpleNamespace

import pytest

from hpsearch.errors import SpaceError
from hpsearch.run.study_loop import run_study
from hpsearch.spec import trackers as names
from hpsearch.spec.space import load_space, load_text
from hpsearch.train import trackers


def scalars(folder):
    """tag -> [(step, value)] of every TensorBoard event file in `folder` (records: length, crc, event, crc)."""
    from tensorboardX.proto import event_pb2

    found = {}
    for path in folder.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def test_each_trial_writes_its_tensorboard_run_under_the_study(tiny_project):
    pytest.importorskip("tensorboardX")
    path = tiny_project(n_trials=2)
    path.write_text(path.read_text().replace("  eval_every: 5\n", "  eval_every: 5\n  report_to: [tensorboard]\n"))
    run_study(load_space(path))
    runs = tiny_project.root / "studies" / "runs" / "hpsearch.db" / "tiny"
    assert sorted(p.name for p in runs.iterdir()) == ["trial-0", "trial-1"]
    logged = scalars(runs / "trial-0")
    assert [step for step, _ in logged["eval/accuracy"]] == [5, 10, 15, 20, 25, 30]
    assert "train/loss" in logged  # the training curve too, at each evaluation


def test_off_by_default_nothing_is_logged():
    job = SimpleNamespace(spec=load_text("study: {name: t}\ntask: {dataset: {path: d.csv}}\n"), number=0, log_dir=None)
    assert trackers.arguments(job) == {"report_to": "none", "logging_strategy": "no"}


def test_runs_are_named_after_the_study_and_grouped_by_it(monkeypatch, tmp_path):
    environ = {"MLFLOW_TAGS": '{"team": "nlp"}'}  # this test's own environment: nothing leaks to others
    monkeypatch.setattr(os, "environ", environ)
    monkeypatch.setitem(names.TRACKERS, "mlflow", ("json",))  # "installed", whatever this machine has
    spec = load_text("study: {name: s1}\ntask: {dataset: {path: d.csv}, eval_every: 7, "
                     "report_to: [tensorboard, mlflow, wandb]}\n")
    arguments = trackers.arguments(SimpleNamespace(spec=spec, number=4, log_dir=tmp_path / "trial-4"))
    assert arguments == {"report_to": ["tensorboard", "mlflow", "wandb"], "run_name": "s1-trial-4",
                         "logging_strategy": "steps", "logging_steps": 7}
    assert environ == {"TENSORBOARD_LOGGING_DIR": str(tmp_path / "trial-4"), "MLFLOW_EXPERIMENT_NAME": "s1",
                       "MLFLOW_TAGS": '{"team": "nlp", "hpsearch.study": "s1", "hpsearch.trial": "4"}',
                       "WANDB_PROJECT": "hpsearch", "WANDB_RUN_GROUP": "s1"}


def test_a_run_without_the_tracker_installed_touches_nothing(tiny_project, monkeypatch):
    path = tiny_project()
    path.write_text(path.read_text().replace("  eval_every: 5\n", "  eval_every: 5\n  report_to: wandb\n"))
    spec = load_text(path.read_text(), file=str(path), base_dir=str(path.parent))  # as `resume` reads it
    monkeypatch.setitem(names.TRACKERS, "wandb", ("hpsearch_no_such_package",))
    with pytest.raises(SpaceError, match=r"space.yaml:\d+: task.report_to: wandb needs the hpsearch_no_such_package"):
        run_study(spec)
    assert not (tiny_project.root / "studies").exists()
