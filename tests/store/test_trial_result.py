"""A trial's result: its objective and constraint values, and what is stored of it on the trial."""

import pickle

import pytest

from hpsearch.spec.schema import Bound
from hpsearch.spec.space import load_text
from hpsearch.trial import TrialResult

BASE = "study:\n  name: t\n{study}\ntask: {{dataset: {{path: d.csv}}}}\n"


def result(**fields):
    return TrialResult(**{"state": "complete", "value": 0.8, "best_step": 10, "stop_reason": "completed",
                          "stop_step": 20, **fields})


def test_values_come_from_the_best_evaluation_and_the_run():
    objs = load_text(BASE.format(study="  metric: [eval_accuracy, train_seconds]"), file="f.yaml").objectives
    found = result(best_metrics={"eval_accuracy": 0.8, "eval_loss": 0.4}, train_seconds=12.5)
    assert found.values(objs) == [0.8, 12.5]
    assert result(best_metrics={}, train_seconds=3).values(objs) is None


def test_constraint_values_are_the_size_of_the_violation():
    bounds = {"n_parameters": Bound(max=100), "eval_accuracy": Bound(min=0.5)}
    assert result(n_parameters=80, best_metrics={"eval_accuracy": 0.4}).constraint_values(bounds) == \
        pytest.approx([-20, 0.1])
    assert result(n_parameters=80, best_metrics={}).constraint_values(bounds) is None


def test_a_name_that_is_no_quantity_has_no_value():
    assert result().quantity("values") is None and result().quantity("eval_f1") is None


def test_stored_attributes_keep_their_order_and_leave_out_what_a_trial_did_not_measure():
    trained = result(planned_steps=20, history=[[10, 0.8]], history_seconds=[1.0], best_metrics={"eval_accuracy": 0.8},
                     train_seconds=2.0, setup_seconds=0.5, samples_per_second=None, effective_batch_size=16,
                     peak_memory_mb=300.0, n_parameters=100, n_trainable_parameters=90, device="cpu", threads=2,
                     gpu=None, versions={"torch": "2"}, notes=[], model_dir="kept", worker_started=1.0)
    assert list(trained.attrs()) == [
        "best_step", "stop_reason", "stop_step", "planned_steps", "history", "history_seconds", "best_metrics",
        "train_seconds", "setup_seconds", "samples_per_second", "effective_batch_size", "peak_memory_mb",
        "n_parameters", "n_trainable_parameters", "device", "threads", "gpu", "versions", "notes", "model_dir",
        "worker_started"]
    assert trained.attrs()["gpu"] is None and trained.attrs()["samples_per_second"] is None  # measured: none
    decoded = result(decode_seconds=1.5, peak_memory_mb=300.0, n_parameters=100, device="cpu", threads=2,
                     versions={"torch": "2"}, notes=[], worker_started=1.0)
    assert list(decoded.attrs()) == [
        "best_step", "stop_reason", "stop_step", "history", "best_metrics", "train_seconds", "decode_seconds",
        "samples_per_second", "peak_memory_mb", "n_parameters", "device", "threads", "gpu", "versions", "notes",
        "worker_started"]


def test_a_result_with_only_the_essentials_stores_only_them_and_a_null_gpu_and_speed():
    assert result().attrs() == {"best_step": 10, "stop_reason": "completed", "stop_step": 20, "history": [],
                                "best_metrics": {}, "train_seconds": 0.0, "samples_per_second": None, "gpu": None}


def test_a_result_crosses_the_pipe():
    assert pickle.loads(pickle.dumps(result(notes=["warning: x"]))) == result(notes=["warning: x"])
