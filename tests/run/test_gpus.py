"""GPUs on a faked machine: which ones a run uses, what each trial gets, which precisions they allow, and
trials_per_gpu: several trials sharing each GPU, never more, each failing alone when out of memory."""

import os
import signal
import subprocess
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from helpers import COMMAND, stored_trials
from hpsearch.cli import app
from hpsearch.errors import UsageError
from hpsearch.run import gpus
from hpsearch.run.faults import ENV as FAULTS
from hpsearch.run.gpus import Gpu, check_precision, choose, describe, out_of_memory, parse_listing, plan, plan_slots
from hpsearch.run.study_loop import run_study
from hpsearch.spec.schema import StudyConfig
from hpsearch.spec.space import load_space
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_REASON, ATTR_RERUN, ATTR_RETRY_OF
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


# -- several trials per GPU -------------------------------------------------------------------------------

@pytest.mark.parametrize(("n_jobs", "n_gpus", "per_gpu"), [
    (n_jobs, n_gpus, per_gpu) for n_jobs in (None, 1, 3, 5, 8, 64) for n_gpus in (1, 2, 3) for per_gpu in (1, 2, 4)
])
def test_slots_never_put_more_than_trials_per_gpu_on_one_gpu(n_jobs, n_gpus, per_gpu):
    ids = [str(i) for i in range(n_gpus)]
    slots = plan_slots(n_jobs, cpus=16, gpus=ids, per_gpu=per_gpu)
    on = Counter(s["gpu"] for s in slots)
    assert len(slots) == min(n_jobs or n_gpus * per_gpu, n_gpus * per_gpu)
    assert max(on.values()) <= per_gpu and max(on.values()) - min(on.values(), default=0) <= 1  # spread evenly
    assert set(on) == set(ids[:len(slots)])  # every GPU is used before one takes a second trial
    assert all(s["gpu_share"] == 1 / on[s["gpu"]] and s["threads"] == max(1, 16 // len(slots)) for s in slots)


def test_slots_go_round_the_gpus():
    assert [s["gpu"] for s in plan_slots(None, cpus=8, gpus=["0", "1"], per_gpu=2)] == ["0", "1", "0", "1"]
    assert [s["gpu_share"] for s in plan_slots(3, cpus=8, gpus=["0", "1"], per_gpu=2)] == [0.5, 1.0, 0.5]


@pytest.mark.parametrize(("fields", "devices", "expected"), [
    ({}, [A100, T4], ["0", "1"]),  # both unset: one trial per GPU
    ({"trials_per_gpu": 3}, [A100, T4], ["0", "1"] * 3),  # n_jobs unset: every slot
    ({"n_jobs": 8}, [A100, T4], ["0", "1"]),  # n_jobs alone is cut to the GPUs, as before trials_per_gpu
    ({"n_jobs": 3, "trials_per_gpu": 2}, [A100, T4], ["0", "1", "0"]),
    ({"n_jobs": 4, "trials_per_gpu": 2}, [A100, T4], ["0", "1", "0", "1"]),
    ({"n_jobs": 3, "trials_per_gpu": 2}, [], [None] * 3),  # no GPU: n_jobs on the CPU
])
def test_plan_combines_n_jobs_and_trials_per_gpu(fields, devices, expected):
    assert [s["gpu"] for s in plan(StudyConfig(name="s", **fields), devices, cpus=12)] == expected


def test_n_jobs_above_what_trials_per_gpu_allows_is_refused():
    with pytest.raises(UsageError) as caught:
        plan(StudyConfig(name="s", n_jobs=5, trials_per_gpu=2), [A100, T4])
    assert str(caught.value) == ("n_jobs 5 asks for more trials at once than trials_per_gpu 2 allows on 2 GPUs (0, 1): "
                                 "at most 4; set n_jobs to 4 or less, raise trials_per_gpu, or leave n_jobs unset")


def test_nvidia_smi_listing_gives_free_memory():
    listing = "0, NVIDIA H200, 9.0, 143000\n1, Tesla T4, [N/A], [N/A]\nNo devices were found\n"
    assert parse_listing(listing) == [Gpu("0", "NVIDIA H200", 9.0, 143000), Gpu("1", "Tesla T4", None, None)]


def test_the_start_line_shows_trials_and_memory_per_gpu():
    h200 = Gpu("0", "NVIDIA H200", 9.0, 143360)
    slots = plan_slots(None, cpus=8, gpus=["0", "1"], per_gpu=2)
    assert describe(slots, [h200, T4], 2) == ("4 trials at once on 2 GPUs: GPU 0 (NVIDIA H200, 140.0 GiB free, 70.0 GiB "
                                              "a trial): 2 trials; GPU 1 (Tesla T4, free memory unknown): 2 trials")
    assert describe(plan_slots(1, cpus=8, gpus=["0", "1"]), [h200, T4], 1).startswith("1 trial at once on 1 GPU: GPU 0")
    assert describe(plan_slots(2, cpus=8, gpus=[]), [], 1) is None
    assert describe(plan_slots(2, cpus=8, gpus=[]), [], 4) == ("trials_per_gpu 4 does not apply: this run has no GPU, "
                                                               "so its 2 trials at once run on the CPU")


TORCH_OOM = ("OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of "
             "79.15 GiB of which 3.75 MiB is free. Including non-PyTorch memory, this process has 79.14 GiB in use.")


@pytest.mark.parametrize(("error", "gpu", "sharing", "expected"), [
    (TORCH_OOM, "1", 2, "CUDA out of memory on GPU 1 (2 trials shared it): tried to allocate 20.00 MiB"),
    (TORCH_OOM, "3", 1, "CUDA out of memory on GPU 3 (it ran alone on it): tried to allocate 20.00 MiB"),
    ("RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`", "0", 4,
     "CUDA out of memory on GPU 0 (4 trials shared it)"),
    (TORCH_OOM, None, 1, TORCH_OOM),  # no GPU of ours: said as torch said it
    ("RuntimeError: injected fault in the model at step 3", "1", 2, "RuntimeError: injected fault in the model at "
                                                                    "step 3"),
    (None, "1", 2, None),
])
def test_out_of_memory_is_said_with_its_gpu_and_how_many_shared_it(error, gpu, sharing, expected):
    assert out_of_memory(error, gpu, sharing) == expected


def per_gpu_space(tiny_project, n_trials, per_gpu=2, pruner="{name: none}"):
    path = tiny_project(n_trials=n_trials, pruner=pruner)
    path.write_text(path.read_text().replace("  n_trials:", f"  trials_per_gpu: {per_gpu}\n  n_trials:"))
    return path


def most_at_once(trials, gpu=None):
    """The most of `trials` (on `gpu`, if named) that were running at one moment."""
    mine = [t for t in trials if gpu is None or t.user_attrs.get("gpu") == gpu]
    return max(sum(1 for o in mine if o.datetime_start <= t.datetime_start < o.datetime_complete) for t in mine)


def test_two_trials_share_each_gpu_and_one_out_of_memory_fails_alone(tiny_project, machine, monkeypatch):
    # Two faked GPUs, two trials on each: CUDA_VISIBLE_DEVICES names devices that do not exist here, so the
    # trials train on the CPU. Trial 1 runs out of GPU memory, trial 3's process segfaults; the others go on.
    machine(Gpu("0", "fake", None, 8192), Gpu("1", "fake", None, 8192))
    monkeypatch.setenv(FAULTS, "1:oom@3,3:segfault@2")
    lines = []
    progress = gpus_progress(lines)
    summary = run_study(load_space(per_gpu_space(tiny_project, n_trials=6)), progress=progress)
    assert summary.finished == 6
    trials = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage)).get_trials()
    assert "4 trials at once on 2 GPUs: GPU 0 (fake, 8.0 GiB free, 4.0 GiB a trial): 2 trials; GPU 1" in lines[0]
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 6 and len(trials) == 8
    failed = {t.number: t.user_attrs[ATTR_REASON] for t in trials if t.state == TrialState.FAIL}
    assert set(failed) == {1, 3} and "killed by SIGSEGV" in failed[3]
    assert failed[1].startswith(f"CUDA out of memory on GPU {trials[1].user_attrs['gpu']} (") and \
        failed[1].endswith("trials shared it): tried to allocate 2.00 GiB")
    assert all(t.user_attrs["gpu"] in ("0", "1") for t in trials)  # failed trials too
    assert all(t.user_attrs["threads"] == max(1, (os.cpu_count() or 1) // 4) for t in trials if "threads" in t.user_attrs)
    # never more than two on a GPU; two did share each (all four slots fill before the first trial ends)
    assert most_at_once(trials, "0") == 2 and most_at_once(trials, "1") == 2 and most_at_once(trials) == 4


def gpus_progress(lines):
    from hpsearch.run.progress import Progress

    class Recorder(Progress):
        def _line(self, text, live_too=True):
            lines.append(text)

    return Recorder(enabled=False)


def test_pruned_trials_free_their_slots(tiny_project, machine):
    machine(Gpu("0", "fake"))
    path = per_gpu_space(tiny_project, n_trials=5, pruner="{name: threshold, lower: 1.01}")
    assert run_study(load_space(path)).finished == 5  # five trials through two slots: each prune frees one
    trials = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage)).get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * 5 and most_at_once(trials, "0") == 2


def test_trials_per_gpu_out_of_bounds_is_one_line_and_exit_2(tiny_project, machine):
    machine(A100, T4)
    path = per_gpu_space(tiny_project, n_trials=2, per_gpu=0)
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == (f"{path}:4: study.trials_per_gpu: input should be greater than or equal to 1, "
                                     "but got 0")
    result = CliRunner().invoke(app, ["run", str(tiny_project(n_trials=2)), "--trials-per-gpu", "65"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "--trials-per-gpu: must be at most 64, but got 65" in result.output
    result = CliRunner().invoke(app, ["run", str(tiny_project(n_trials=2)), "--trials-per-gpu", "2", "--n-jobs", "5"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("error: n_jobs 5 asks for more trials at once than trials_per_gpu 2 allows")
    assert not (tiny_project.root / "studies" / "hpsearch.db").exists()


@pytest.mark.slow
def test_kill_9_with_trials_sharing_gpus_then_run_again_loses_nothing(tiny_project):
    # Two faked GPUs for the real command, through the environment: no nvidia-smi here, so these are the GPUs.
    path = per_gpu_space(tiny_project, n_trials=5)
    path.write_text(path.read_text().replace("max_steps: 30", "max_steps: 60"))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}
    process = subprocess.Popen(COMMAND + ["run", path.name], cwd=tiny_project.root, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len([t for t in stored_trials(tiny_project.storage) if t.state == TrialState.RUNNING]) < 4:
        time.sleep(0.1)
    assert len([t for t in stored_trials(tiny_project.storage) if t.state == TrialState.RUNNING]) == 4, "four trials never ran at once"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed = {t.number: t.params for t in [t for t in stored_trials(tiny_project.storage) if t.state == TrialState.RUNNING]}
    result = subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    trials = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage)).get_trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 5
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for number, params in killed.items():  # every killed trial failed, to run again, and its values did
        assert trials[number].state == TrialState.FAIL and trials[number].user_attrs[ATTR_RERUN]
        retry = next(t for t in trials if t.user_attrs.get(ATTR_RETRY_OF) == number)
        assert retry.params == params and retry.state == TrialState.COMPLETE
    assert most_at_once([t for t in trials if t.number not in killed], "0") <= 2


def test_trials_per_gpu_may_change_between_runs_of_a_study(tiny_project, machine):
    machine(Gpu("0", "fake"))
    path = per_gpu_space(tiny_project, n_trials=1, per_gpu=1)
    run_study(load_space(path))
    path.write_text(path.read_text().replace("trials_per_gpu: 1", "trials_per_gpu: 3"))
    assert run_study(load_space(path)).finished == 1  # how a run schedules, not a changed space: not refused
