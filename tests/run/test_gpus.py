"""GPUs on a faked machine: which ones a run uses, what each trial gets, which precisions they allow."""

import optuna
import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import UsageError
from hpsearch.run import gpus
from hpsearch.run.gpus import Gpu, check_precision, choose, plan_slots
from hpsearch.run.study_loop import run_study
from hpsearch.spec.space import load_space
from hpsearch.store.studies import storage_for
from hpsearch.train.arguments import trainer_kwargs

A100, T4 = Gpu("0", "NVIDIA A100", 8.0), Gpu("1", "Tesla T4", 7.5)


@pytest.fixture
def machine(monkeypatch):
    """Play a machine with the given GPUs."""

    def have(*devices):
        monkeypatch.setattr(gpus, "detect", lambda: list(devices))

    return have


def test_slots_share_threads_and_give_each_trial_a_gpu():
    assert plan_slots(2, cpus=8, gpus=[]) == [{"threads": 4, "gpu": None}] * 2
    assert plan_slots(3, cpus=2, gpus=[]) == [{"threads": 1, "gpu": None}] * 3
    assert [s["gpu"] for s in plan_slots(4, cpus=16, gpus=["0", "1", "2", "3"])] == ["0", "1", "2", "3"]
    assert [s["gpu"] for s in plan_slots(8, cpus=16, gpus=["0", "1"])] == ["0", "1"]  # one trial per GPU


def test_detect_follows_cuda_visible_devices(monkeypatch):
    monkeypatch.setattr(gpus, "_nvidia_smi", lambda: [Gpu("2", "NVIDIA H100", 9.0), Gpu("3", "NVIDIA H100", 9.0)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert gpus.detect() == [Gpu("2", "NVIDIA H100", 9.0), Gpu("3", "NVIDIA H100", 9.0)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpus.detect() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,-1,2")
    assert [g.id for g in gpus.detect()] == ["3"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert [g.id for g in gpus.detect()] == ["2", "3"]


def test_no_gpu_here_means_the_cpu(monkeypatch):
    monkeypatch.setattr(gpus.shutil, "which", lambda name: None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpus.detect() == [] and choose(None) == []


@pytest.mark.parametrize(("requested", "expected"), [
    (None, ["0", "1"]), ("1", ["1"]), ("1,0", ["1", "0"]), (" 0 , 1 ", ["0", "1"]), ("none", []), ("cpu", []),
])
def test_choose_names_visible_gpus(machine, requested, expected):
    machine(A100, T4)
    assert [g.id for g in choose(requested)] == expected


@pytest.mark.parametrize("requested", ["2", "0,7", "0,0", ",", "first"])
def test_choose_refuses_gpus_that_are_not_there(machine, requested):
    machine(A100, T4)
    with pytest.raises(UsageError, match=r"--gpus .*visible GPUs \(0, 1\)"):
        choose(requested)


@pytest.mark.parametrize(("precisions", "devices", "problem"), [
    ({"fp32"}, [], None),
    ({"fp32", "fp16"}, [T4], None),
    ({"bf16"}, [A100], None),
    ({"bf16"}, [Gpu("0")], None),  # capability unknown: allowed
    ({"bf16"}, [], "precision bf16 needs a GPU"),
    ({"fp16"}, [], "precision fp16 needs a GPU"),
    ({"bf16", "fp32"}, [A100, T4], "compute capability 8 or more, which GPU 1 .Tesla T4"),
])
def test_precision_needs_a_gpu_that_computes_in_it(precisions, devices, problem):
    if problem is None:
        check_precision(precisions, devices)
    else:
        with pytest.raises(UsageError, match=problem):
            check_precision(precisions, devices)


def test_precision_becomes_the_trainers_mixed_precision_flag():
    assert "bf16" not in trainer_kwargs({}) and "fp16" not in trainer_kwargs({"precision": "fp32"})
    assert trainer_kwargs({"precision": "bf16"})["bf16"] is True
    assert trainer_kwargs({"precision": "fp16"})["fp16"] is True


def test_a_run_asking_bf16_without_a_gpu_stops_before_any_study(tiny_project, machine):
    machine()
    path = tiny_project(extra="  precision: bf16\n")
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: precision bf16 needs a GPU, and this run has none (use precision: fp32, "
                                     "or run on a machine with a GPU)")
    assert not (tiny_project.root / "studies" / "hpsearch.db").exists()


def test_gpus_naming_a_missing_gpu_is_one_line_and_exit_2(tiny_project, machine):
    machine(A100)
    result = CliRunner().invoke(app, ["run", str(tiny_project()), "--gpus", "0,3"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "--gpus 0,3: 3 is not" in result.output
    assert not (tiny_project.root / "studies" / "hpsearch.db").exists()


def test_each_trial_gets_a_gpu_of_its_own_and_records_it(tiny_project, machine, monkeypatch):
    # Two faked GPUs: CUDA_VISIBLE_DEVICES names devices that do not exist, so torch sees none and the trials
    # train on the CPU, as they would on a GPU machine but for the device.
    machine(Gpu("0", "fake"), Gpu("1", "fake"))
    summary = run_study(load_space(tiny_project(n_trials=4)), devices="0,1")
    assert summary.finished == 4
    trials = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage)).get_trials()
    assert sorted(t.user_attrs["gpu"] for t in trials) == ["0", "0", "1", "1"]  # n_jobs unset: one per GPU
    overlapping = [(a.number, b.number) for a in trials for b in trials
                   if a.number < b.number and b.datetime_start < a.datetime_complete]
    assert overlapping and all(trials[a].user_attrs["gpu"] != trials[b].user_attrs["gpu"] for a, b in overlapping)
