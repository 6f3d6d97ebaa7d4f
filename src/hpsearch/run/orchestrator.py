"""The ask / tell loop: up to n_jobs trials at once, each in a worker process, reports and answers relayed.

The study process never imports torch: worker processes fork from a fork server that has torch and
transformers loaded once, so a trial starts in a fraction of a second while a crash (segfault,
out-of-memory kill) takes down only that trial's process. The study process is the only one that
writes to the database, which is what keeps SQLite free of "database is locked" with parallel trials.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import signal
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.errors import HpsearchError, SpaceError, StorageError, StudyError, StudyStopped
from hpsearch.run import faults, gpus
from hpsearch.run.job import TrialJob, check_entry, death_reason, entry, receive
from hpsearch.run.progress import Progress
from hpsearch.search.prior_sampler import PROPOSED_BY, proposed_by
from hpsearch.spec import objectives
from hpsearch.spec.space import StudySpec
from hpsearch.spec.storage_url import redact
from hpsearch.spec.suggest import configuration, suggest
from hpsearch.spec.tasks import TASKS
from hpsearch.store import optuna_private, studies, trials
from hpsearch.train.data import check_source
from hpsearch.train.tasks.base import resolve_model

SAME_FAILURES_TO_STOP = 3  # failures in a row with the same reason stop the study
ANY_FAILURES_TO_STOP = 10  # failures in a row of any kind stop it too
PRELOAD = ["hpsearch.run.preload"]


class Interrupted(HpsearchError):
    """The user stopped the run (Ctrl-C or SIGTERM); the running trials are queued to run again."""

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
    pareto: list[tuple[int, list[float], dict[str, Any]]] = field(default_factory=list)  # several objectives
    warnings: list[str] = field(default_factory=list)
    infeasible: int = 0  # complete trials that break a constraint
    best_metrics: dict[str, float] = field(default_factory=dict)  # the task's metrics of the best trial
    best_model_dir: str | None = None
    notes: list[str] = field(default_factory=list)
    stopped_by: str = "budget"


@dataclass
class _Running:
    """A trial whose worker process is alive (or has just finished)."""

    trial: optuna.Trial
    job: TrialJob
    process: Any
    conn: Any
    slot: int
    started: float
    outcome: tuple[str, Any] | None = None  # ("done", result) or ("error", reason)


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


def run_study(spec: StudySpec, storage: str | None = None, force: bool = False,
              progress: Progress | None = None, devices: str | None = None) -> RunSummary:
    """Run (or continue) the study `spec` declares until it has n_trials finished trials or time runs out.

    `devices` is --gpus: the GPUs to use ("0,1"; "none"), by default every visible one, one trial per GPU.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if TASKS[spec.task.type].module is None:
        raise StudyError(f"task.type {spec.task.type} is declared but cannot train yet (use sequence-classification)")
    chosen = gpus.choose(devices)
    gpus.check_precision(_precisions(spec), chosen)
    n_jobs = spec.study.n_jobs
    if chosen and "n_jobs" not in spec.study.model_fields_set:
        n_jobs = len(chosen)  # n_jobs unset: every GPU in use
    # Missing packages, files and data that cannot train are the user's to fix: say so, each problem on its
    # line, before any study is created or touched.
    problems, notes = check_source(spec.task.dataset, spec.base_dir, spec.task.type)
    if problems:
        raise SpaceError([spec.problem(path, message) for path, message in problems])
    progress = progress or Progress(enabled=False)
    for path, message in notes:
        progress.note(f"{spec.problem(path, message)} [warning]")
    try:
        faults.parse(os.environ.get(faults.ENV))
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    url = spec.storage_url(storage)
    if spec.task.from_study:
        spec = _with_model_of(spec, spec.task.from_study, url)
    resolve_model(None, spec.task.model, spec.base_dir)
    _check_model(spec)
    storage_ = studies.storage_for(url)
    try:
        study = studies.open_study(spec, storage_, force=force)
    except studies.DATABASE_ERRORS as exc:
        raise StorageError(f"cannot use storage {redact(url)!r}: {studies.storage_problem(exc)}") from None
    slots = gpus.plan_slots(n_jobs, gpus=[g.id for g in chosen])
    return _Loop(spec, study, url, progress, slots).run()


def _precisions(spec: StudySpec) -> set[str]:
    """Every precision the study's trials may train in."""
    entry = spec.space.get("precision")
    return set(entry.choices) if entry is not None else {spec.fixed.get("precision", "fp32")}


def _with_model_of(spec: StudySpec, name: str, url: str) -> StudySpec:
    """`spec` with task.model set to the kept model of study `name`'s best trial (same database)."""
    try:
        earlier = optuna.load_study(study_name=name, storage=studies.storage_for(url, read_only=True))
    except KeyError:
        raise StudyError(f"task.from_study: no study {name!r} in {redact(url)} (run it first)") from None
    folder = earlier.user_attrs.get("best_model_dir")
    if not folder or not Path(folder).exists():
        raise StudyError(f"task.from_study: study {name!r} kept no model (it needs a complete trial and "
                         "study.save: best or all)")
    return replace(spec, task=spec.task.model_copy(update={"model": folder}))


def _check_model(spec: StudySpec) -> None:
    """Refuse a space whose knobs the model lacks, before any study is touched (read in a worker process,
    which also starts the fork server that the trials will need)."""
    parent, child = worker_context().Pipe()
    process = worker_context().Process(target=check_entry, args=(child, spec), daemon=True, name="check-model")
    process.start()
    child.close()
    try:
        kind, payload = parent.recv()
    except (EOFError, OSError):
        kind, payload = "error", death_reason(process)
    finally:
        process.join(timeout=10)
    if kind == "error":
        raise StudyError(f"cannot read the model's configuration: {payload}")
    if payload:
        raise SpaceError(payload)


class _Loop:
    def __init__(self, spec: StudySpec, study: optuna.Study, url: str, progress: Progress,
                 slots: list[dict[str, Any]]):
        self.spec, self.study, self.url, self.progress = spec, study, url, progress
        self.slots = slots
        self.free = list(range(len(slots)))
        self.running: list[_Running] = []
        self.failures: list[str] = []
        self.summary = RunSummary(spec.study.name, url, target=spec.study.n_trials)
        self.next_heartbeat = 0.0

    def run(self) -> RunSummary:
        spec = self.spec
        self.summary.notes = trials.recover(self.study)
        for note in self.summary.notes:
            self.progress.note(note)
        deadline = time.monotonic() + spec.study.timeout if spec.study.timeout else None
        previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
        stopping, elsewhere = False, 0
        try:
            self.progress.begin(spec, trials.finished_count(self.study))
            while True:
                if not stopping and self.free:  # counting trials reads the database: only when a slot is free
                    # the budget counts every machine's trials: finished ones, and those running elsewhere
                    finished, running = trials.budget_counts(self.study)
                    elsewhere = len(running - {r.trial.number for r in self.running})
                    if finished >= spec.study.n_trials:
                        stopping = True
                    elif deadline is not None and time.monotonic() >= deadline:
                        self.summary.stopped_by, stopping = "timeout", True
                    while not stopping and self.free and finished + elsewhere + len(self.running) < spec.study.n_trials:
                        self._launch()
                if not self.running:
                    if stopping or not elsewhere:
                        break
                    self._idle()  # the last trials run elsewhere: stay, to re-run any whose machine vanishes
                    continue
                self._wait()
            # a run killed while claiming a trial leaves it unowned; the next run that lasts long enough sees it
            for note in trials.recover(self.study):
                self.progress.note(note)
        except KeyboardInterrupt:
            numbers = self._abandon("interrupted")
            raise Interrupted(f"interrupted; trial {', '.join(map(str, numbers)) or '-'} will run again with the "
                              f"same values on the next run (hpsearch resume {spec.study.name})") from None
        except studies.DATABASE_ERRORS as exc:  # the database itself failed: write nothing more, say why
            for run in self.running:
                _stop(run.process)
            raise StorageError(f"the study's database failed: {studies.storage_problem(exc)}") from None
        except BaseException:
            self._abandon("interrupted: the study stopped")
            raise
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
            self.progress.end()
        self._summarize()
        return self.summary

    # -- one trial ---------------------------------------------------------------------------------
    def _launch(self) -> None:
        spec, study = self.spec, self.study
        with warnings.catch_warnings():
            # hpsearch keeps the heartbeat itself (see _beat), which Optuna only expects of optimize()
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            trial = study.ask()
        optuna_private.set_trial_user_attr(study, trial, trials.ATTR_OWNER, trials.owner_record())
        slot = self.free.pop(0)
        try:
            values = suggest(trial, spec.space)
            config = configuration(spec.fixed, values)
            trial.set_user_attr("config", config)
            folder = studies.artifacts_dir(self.url, spec.study.name) / f"trial-{trial.number}"
            job = TrialJob(spec, trial.number, config, studies.cache_dir(self.url),
                           None if spec.study.save == "none" else folder, **self.slots[slot],
                           fault=faults.for_trial(trial.number))
            context = worker_context()
            parent, child = context.Pipe()
            process = context.Process(target=entry, args=(child, job), daemon=True, name=f"trial-{trial.number}")
            process.start()
            child.close()
        except BaseException:
            self.free.append(slot)
            trials.fail_trial(study, trial, "interrupted before it started", rerun=True)
            raise
        attrs = {"worker_pid": process.pid, "study_process_rss_mb": _rss_mb()}
        if origin := proposed_by(study.sampler, trial.number):
            attrs[PROPOSED_BY] = origin
        optuna_private.set_trial_user_attrs(self.study, trial, attrs)
        self.running.append(_Running(trial, job, process, parent, slot, time.monotonic()))
        self.progress.trial_started(trial.number, values)
        if self._heartbeats():
            optuna_private.record_heartbeat(study, trial)

    def _wait(self) -> None:
        """Wait for any worker to speak or die, then serve every one that did."""
        handles = [r.conn for r in self.running] + [r.process.sentinel for r in self.running]
        multiprocessing.connection.wait(handles, timeout=1.0)
        limit = self.spec.study.trial_timeout
        for run in list(self.running):
            try:
                self._serve(run)
                if run.outcome is None and limit and time.monotonic() - run.started > limit:
                    _stop(run.process)
                    run.outcome = ("error", f"exceeded the trial time limit of {limit:g} s (study.trial_timeout)")
                if run.outcome is not None:
                    self.running.remove(run)
                    self.free.append(run.slot)
                    self._finish(run)
            except optuna.exceptions.UpdateFinishedTrialError:  # another machine failed it: its beat went stale
                self._disown(run)
        self._beat()

    def _disown(self, run: _Running) -> None:
        """Drop a trial that another machine has failed (its heartbeat was late); it re-runs as a retry."""
        _stop(run.process)
        if run in self.running:
            self.running.remove(run)
            self.free.append(run.slot)
        self.progress.note(f"trial {run.trial.number} was failed by another machine (no heartbeat within the "
                           "grace period); its values run again as a retry")

    def _serve(self, run: _Running) -> None:
        """Answer every message a worker has sent; notice when it died without a result."""
        while run.outcome is None:
            message = receive(run.conn, run.process)
            if message is None:
                break
            kind = message[0]
            if kind == "report":
                _, step, value = message
                if self.spec.multi_objective:  # Optuna records and prunes single-objective trials only
                    run.conn.send("continue")
                else:
                    run.trial.report(value, step)
                    run.conn.send("prune" if run.trial.should_prune() else "continue")
                if not self.spec.decode_only:  # a decoding trial reports each prompt: progress, not news
                    self.progress.evaluation(run.trial.number, step, value)
            elif kind == "progress":
                self.progress.step(run.trial.number, message[1], message[2])
            elif kind == "keep?":
                run.conn.send(self._should_keep(message[1]))
            elif kind == "done":
                run.outcome = ("done", message[1])
            elif kind == "error":
                run.trial.set_user_attr("traceback", message[2][-4000:])
                run.outcome = ("error", message[1])
            elif kind == "died":
                run.outcome = ("error", message[1])
        if run.outcome is not None:
            run.conn.close()
            run.process.join(timeout=30)
            _stop(run.process)

    def _finish(self, run: _Running) -> None:
        """Tell the study how the trial ended, and stop the study when trials keep failing the same way."""
        trial, (kind, payload) = run.trial, run.outcome
        self.summary.ran += 1
        if kind == "done":
            optuna_private.set_trial_user_attrs(self.study, trial,
                                   {k: v for k, v in payload.items() if k not in ("state", "value")})
            self._record_notes(payload.get("notes", []))
            self._record_constraints(trial, payload)
            if payload["state"] == "pruned":
                self.study.tell(trial, state=TrialState.PRUNED)
                self.progress.trial_finished(trial.number, "PRUNED", payload["value"],
                                             f"pruned at step {payload['stop_step']}")
                self.failures = []
                return
            values = objectives.values(self.spec.objectives, payload)
            if values is not None:
                self.study.tell(trial, values)
                self._keep_best_model(payload.get("model_dir"))
                self.progress.trial_finished(trial.number, "COMPLETE", values[0] if len(values) == 1 else values,
                                             payload["stop_reason"])
                self.failures = []
                return
            payload = "the trial made no evaluation (is the training set empty?)"
        trial.set_user_attr("stop_reason", "failed")
        trials.fail_trial(self.study, trial, payload, rerun=False)
        self.progress.trial_finished(trial.number, "FAIL", None, payload)
        self.failures.append(payload)
        same = [_kind_of(r) for r in self.failures[-SAME_FAILURES_TO_STOP:]]
        if len(same) == SAME_FAILURES_TO_STOP and len(set(same)) == 1:
            raise StudyStopped(f"{SAME_FAILURES_TO_STOP} trials in a row failed the same way, so the study stopped: "
                               f"{payload}")
        if len(self.failures) >= ANY_FAILURES_TO_STOP:
            raise StudyStopped(f"{len(self.failures)} trials in a row failed, so the study stopped; the last: "
                               f"{payload}")

    def _abandon(self, reason: str) -> list[int]:
        """Stop every running trial, record it failed with `reason`, queue its values again."""
        numbers = []
        for run in self.running:
            _stop(run.process)
            trials.fail_trial(self.study, run.trial, reason, rerun=True)
            self.progress.trial_finished(run.trial.number, "FAIL", None, reason)
            numbers.append(run.trial.number)
        self.running = []
        return numbers

    # -- heartbeats: for trials of other machines sharing the study ---------------------------------
    def _idle(self) -> None:
        """Wait while only other machines' trials run; fail those whose machine stopped beating."""
        due = time.monotonic() >= self.next_heartbeat
        time.sleep(1.0)
        self._beat()
        if due:  # a trial asked for but never claimed has no heartbeat: recover() fails it after its grace
            for note in trials.recover(self.study):
                self.progress.note(note)

    def _heartbeats(self) -> bool:
        return optuna_private.heartbeat_interval(self.study) is not None

    def _beat(self) -> None:
        """Record a heartbeat for our running trials, and fail other hosts' trials whose beat went stale."""
        if not self._heartbeats() or time.monotonic() < self.next_heartbeat:
            return
        for run in self.running:
            optuna_private.record_heartbeat(self.study, run.trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        self.next_heartbeat = time.monotonic() + optuna_private.heartbeat_interval(self.study)

    def _record_constraints(self, trial: optuna.Trial, payload: dict[str, Any]) -> None:
        """Constraint values go where Optuna's samplers and best_trial read them; violators stay, infeasible."""
        found = objectives.constraint_values(self.spec.study.constraints, payload)
        if found is None or not self.spec.study.constraints:
            return
        optuna_private.set_constraints(self.study, trial, found)
        trial.set_user_attr("feasible", all(v <= 0 for v in found))

    def _record_notes(self, notes: list[str]) -> None:
        """A trial's warnings about the space (a capped sequence length, ...) also go on the study, once."""
        known = list(self.study.user_attrs.get("warnings", []))
        new = [note for note in notes if note.startswith("warning:") and note not in known]
        if new:
            self.study.set_user_attr("warnings", known + new)
            for note in new:
                self.progress.note(note)

    # -- models and summary ------------------------------------------------------------------------
    def _should_keep(self, value: float) -> bool:
        if self.spec.study.save == "all" or self.spec.multi_objective:  # several objectives: decided after tell
            return True
        try:
            best = self.study.best_value
        except ValueError:  # no complete trial yet
            best = None
        return self.spec.improves(value, best)

    def _keep_best_model(self, model_dir: str | None) -> None:
        """With save: best, only the best trial's folder stays; the study records where it is."""
        if model_dir is None or self.spec.study.save != "best":
            return
        best = self.study.best_trials if self.spec.multi_objective else [self._best_trial()]
        keep = {t.user_attrs.get("model_dir") for t in best if t is not None}
        if model_dir not in keep:
            shutil.rmtree(model_dir, ignore_errors=True)
            return
        if not self.spec.multi_objective:
            self.study.set_user_attr("best_model_dir", model_dir)
        running = {str(r.job.save_dir) for r in self.running}
        for folder in Path(model_dir).parent.glob("trial-*"):
            if str(folder) not in keep and str(folder) not in running:
                shutil.rmtree(folder, ignore_errors=True)

    def _best_trial(self) -> optuna.trial.FrozenTrial | None:
        try:
            return self.study.best_trial
        except ValueError:  # nothing complete (or nothing feasible) yet
            return None

    def _summarize(self) -> None:
        every = self.study.get_trials(deepcopy=False)
        counts = {state.name: sum(t.state == state for t in every) for state in TrialState}
        self.summary.states = {name: count for name, count in counts.items() if count}
        self.summary.finished = trials.finished_count(self.study)
        self.summary.warnings = list(self.study.user_attrs.get("warnings", []))
        self.summary.infeasible = sum(t.user_attrs.get("feasible") is False for t in every
                                      if t.state == TrialState.COMPLETE)
        from hpsearch.store import artifacts  # the best trials' model and curve, for the dashboard

        for note in artifacts.register_best(self.study, self.url):
            self.progress.note(note)
            self.summary.notes.append(note)
        if self.spec.multi_objective:
            front = sorted(self.study.best_trials, key=lambda t: t.number)
            self.summary.pareto = [(t.number, list(t.values), t.params) for t in front]
            return
        best = self._best_trial()
        if best is None:
            return
        self.summary.best_value, self.summary.best_params = best.value, best.params
        known = TASKS[self.spec.task.type].metrics
        self.summary.best_metrics = {k: v for k, v in best.user_attrs.get("best_metrics", {}).items() if k in known}
        self.summary.best_model_dir = self.study.user_attrs.get("best_model_dir")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _kind_of(reason: str) -> str:
    """A failure's reason without its numbers, so 'loss is nan at step 3' and '... step 7' count as one."""
    return re.sub(r"\d+(\.\d+)?", "#", reason)


def _stop(process) -> None:
    if process.is_alive():
        process.kill()
        process.join(timeout=10)


def _rss_mb() -> float | None:
    """The study process's resident memory now, so a leak across trials shows on the trials themselves."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
