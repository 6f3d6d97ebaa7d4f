"""The ask / tell loop: each trial runs in a worker process; its reports and the pruner's answers are relayed.

The study process never imports torch: worker processes fork from a fork server that has torch and
transformers loaded once, so a trial starts in a fraction of a second while a crash (segfault,
out-of-memory kill) takes down only that trial's process.
"""

from __future__ import annotations

import multiprocessing
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch import study as studies
from hpsearch.data import check_source
from hpsearch.errors import HpsearchError, StudyError
from hpsearch.job import TrialJob, entry
from hpsearch.progress import Progress
from hpsearch.space import StudySpec
from hpsearch.suggest import configuration, suggest
from hpsearch.tasks import TASKS
from hpsearch.tasks.base import resolve_model

MAX_FAILURES_IN_A_ROW = 3
PRELOAD = ["hpsearch.preload"]


class Interrupted(HpsearchError):
    """The user stopped the run (Ctrl-C or SIGTERM); the running trial is queued to run again."""

    exit_code = 130


@dataclass
class RunSummary:
    study_name: str
    storage: str
    ran: int = 0
    finished: int = 0
    target: int = 0
    states: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_model_dir: str | None = None
    notes: list[str] = field(default_factory=list)
    stopped_by: str = "budget"


_context = None


def worker_context():
    """The fork-server context, with the training libraries preloaded once per study process."""
    global _context
    if _context is None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        _context = multiprocessing.get_context(method)
        if method == "forkserver":
            _context.set_forkserver_preload(PRELOAD)
    return _context


def run_study(spec: StudySpec, storage: str | None = None, force: bool = False, progress: Progress | None = None,
              threads: int | None = None) -> RunSummary:
    """Run (or continue) the study `spec` declares until it has n_trials finished trials or time runs out."""
    if TASKS[spec.task.type].module is None:
        raise StudyError(f"task.type {spec.task.type} is declared but cannot train yet (use sequence-classification)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Missing packages and files are the user's to fix: say so before any study is created or touched.
    check_source(spec.task.dataset, spec.base_dir)
    resolve_model(None, spec.task.model, spec.base_dir)
    url = spec.storage_url(storage)
    study = studies.open_study(spec, studies.storage_for(url), force=force)
    progress = progress or Progress(enabled=False)
    summary = RunSummary(spec.study.name, url, target=spec.study.n_trials)
    summary.notes = studies.recover(study)
    for note in summary.notes:
        progress.note(note)
    deadline = time.monotonic() + spec.study.timeout if spec.study.timeout else None
    failures_in_a_row = 0
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        progress.begin(spec, studies.finished_count(study))
        while True:
            finished = studies.finished_count(study)
            if finished >= spec.study.n_trials:
                break
            if deadline is not None and time.monotonic() >= deadline:
                summary.stopped_by = "timeout"
                break
            state, reason = _run_one(spec, study, url, progress, threads)
            summary.ran += 1
            failures_in_a_row = failures_in_a_row + 1 if state == TrialState.FAIL else 0
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise StudyError(f"{failures_in_a_row} trials in a row failed, so the study stopped; the last "
                                 f"failed with: {reason}")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        progress.end()
    _summarize(study, summary)
    return summary


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _run_one(spec: StudySpec, study: optuna.Study, url: str, progress: Progress, threads: int | None):
    """Ask for one trial, run it in a worker process, tell the result. Returns (state, failure reason)."""
    trial = study.ask()
    study._storage.set_trial_user_attr(trial._trial_id, studies.ATTR_OWNER, studies.owner_record())
    try:
        values = suggest(trial, spec.space)
        config = configuration(spec.fixed, values)
        trial.set_user_attr("config", config)
        progress.trial_started(trial.number, values)
        folder = studies.artifacts_dir(url, spec.study.name) / f"trial-{trial.number}"
        save_dir = None if spec.study.save == "none" else folder
        job = TrialJob(spec, trial.number, config, studies.cache_dir(url), save_dir, threads)
        outcome = _relay(job, trial, study, spec, progress)
    except KeyboardInterrupt:
        studies.fail_trial(study, trial, "interrupted", rerun=True)
        progress.trial_finished(trial.number, "FAIL", None, "interrupted")
        raise Interrupted(f"interrupted; trial {trial.number} will run again with the same values on the next "
                          f"run (hpsearch resume {spec.study.name})") from None
    kind, payload = outcome
    if kind == "done":
        for key, value in payload.items():
            if key not in ("state", "value"):
                trial.set_user_attr(key, value)
        if payload["state"] == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
            progress.trial_finished(trial.number, "PRUNED", payload["value"], f"pruned at step {payload['stop_step']}")
            return TrialState.PRUNED, None
        if payload["value"] is None:
            studies.fail_trial(study, trial, "the trial made no evaluation (is the training set empty?)", False)
            return TrialState.FAIL, "no evaluation"
        study.tell(trial, payload["value"])
        _keep_best_model(study, spec, payload.get("model_dir"))
        progress.trial_finished(trial.number, "COMPLETE", payload["value"], payload["stop_reason"])
        return TrialState.COMPLETE, None
    reason = payload
    trial.set_user_attr("stop_reason", "failed")
    studies.fail_trial(study, trial, reason, rerun=False)
    progress.trial_finished(trial.number, "FAIL", None, reason)
    return TrialState.FAIL, reason


def _relay(job, trial: optuna.Trial, study: optuna.Study, spec: StudySpec, progress: Progress):
    """Start the worker and answer it until it is done; returns ("done", result) or ("error", reason)."""
    context = worker_context()
    parent, child = context.Pipe()
    process = context.Process(target=entry, args=(child, job), daemon=True, name=f"trial-{job.number}")
    process.start()
    child.close()
    trial.set_user_attr("worker_pid", process.pid)
    trial.set_user_attr("study_process_rss_mb", _rss_mb())
    try:
        while True:
            if not parent.poll(0.5):
                if not process.is_alive() and not parent.poll(0):
                    break
                continue
            try:
                message = parent.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "report":
                _, step, value = message
                trial.report(value, step)
                pruned = trial.should_prune()
                parent.send("prune" if pruned else "continue")
                progress.evaluation(job.number, step, value)
            elif kind == "progress":
                progress.step(job.number, message[1], message[2])
            elif kind == "keep?":
                parent.send(_should_keep(study, spec, message[1]))
            elif kind == "done":
                return "done", message[1]
            elif kind == "error":
                trial.set_user_attr("traceback", message[2][-4000:])
                return "error", message[1]
    except BaseException:
        _stop(process)
        raise
    finally:
        parent.close()
        process.join(timeout=30)
        _stop(process)
    return "error", _death_reason(process)


def _stop(process) -> None:
    if process.is_alive():
        process.kill()
        process.join(timeout=10)


def _death_reason(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the trial's process was killed by {name}{hint}"
    return f"the trial's process exited with code {code} before reporting a result"


def _should_keep(study: optuna.Study, spec: StudySpec, value: float) -> bool:
    if spec.study.save == "all":
        return True
    try:
        best = study.best_value
    except ValueError:  # no complete trial yet
        return True
    return value > best if spec.direction == "maximize" else value < best


def _keep_best_model(study: optuna.Study, spec: StudySpec, model_dir: str | None) -> None:
    """With save: best, only the best trial's folder stays; the study records where it is."""
    if model_dir is None or spec.study.save != "best":
        return
    if study.best_trial.user_attrs.get("model_dir") != model_dir:
        shutil.rmtree(model_dir, ignore_errors=True)
        return
    study.set_user_attr("best_model_dir", model_dir)
    for folder in Path(model_dir).parent.glob("trial-*"):
        if folder != Path(model_dir):
            shutil.rmtree(folder, ignore_errors=True)


def _summarize(study: optuna.Study, summary: RunSummary) -> None:
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: sum(t.state == state for t in trials) for state in TrialState}
    summary.states = {name: count for name, count in counts.items() if count}
    summary.finished = studies.finished_count(study)
    try:
        best = study.best_trial
    except ValueError:
        return
    summary.best_value, summary.best_params = best.value, best.params
    summary.best_model_dir = study.user_attrs.get("best_model_dir")


def _rss_mb() -> float | None:
    """The study process's resident memory now, so a leak across trials shows on the trials themselves."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
