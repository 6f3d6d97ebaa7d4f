"""The study loop: run (or continue) a study, up to n_jobs trials at once, each in its own worker process.

The loop only schedules: it asks Optuna for a trial, starts it in a worker (hpsearch.run.protocol) that runs
the trial target it was handed (hpsearch.run.targets: the real training, or the tests' zero-cost trial),
answers the worker's reports with the pruner's decision, and hands each ended trial to the one tell path
(hpsearch.run.outcomes). Heartbeats and recovery (hpsearch.run.recovery) and kept models
(hpsearch.run.keeping) live beside it. The study process never imports torch, and it is the only process
that writes to the database, which keeps SQLite free of "database is locked" with parallel trials.

Nothing is lost to a kill -9, a Ctrl-C or a crashing trial: a trial's own crash fails only that trial; an
interruption fails the running trials with their values queued again; a killed study process leaves its
trials RUNNING, and the next run (or any machine sharing the study) recovers them.
"""

from __future__ import annotations

import signal
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hpsearch.errors import Interrupted, StorageError
from hpsearch.run import estimate, gpus, preflight, protocol, recovery, targets
from hpsearch.run.evaluations import Evaluations
from hpsearch.run.keeping import Keeper
from hpsearch.run.outcomes import Outcomes
from hpsearch.run.progress import Progress
from hpsearch.run.protocol import Ended, Worker
from hpsearch.run.run_summary import RunSummary, summarize
from hpsearch.run.targets import Target
from hpsearch.search.build import build_sampler
from hpsearch.search.prior_sampler import PROPOSED_BY, proposed_by
from hpsearch.spec.space import StudySpec
from hpsearch.spec.start_with import labelled
from hpsearch.spec.storage_url import redact
from hpsearch.spec.suggest import configuration, suggest
from hpsearch.store import folders, history, known, optuna_private, studies, trials
from hpsearch.store.database import storage_problem
from hpsearch.trial import CONFIG, INTERRUPTED, TrialJob

WAIT_S = 1.0  # the longest the loop sleeps before it looks at time limits and heartbeats again


def run_study(spec: StudySpec, storage: str | None = None, force: bool = False,
              progress: Progress | None = None, devices: str | None = None,
              start_with: list[tuple[str, dict]] = (), target: Target | None = None) -> RunSummary:
    """Run (or continue) the study `spec` declares until it has n_trials finished trials or time runs out.

    `devices` is --gpus: the GPUs to use ("0,1"; "none"), by default every visible one, study.trials_per_gpu
    trials on each.
    `start_with`: known configurations (label, values) beside the file's study.start_with, queued once to run first.
    `target`: what each trial runs (hpsearch.run.targets), by default the one chosen for `spec`.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    target = target or targets.chosen(spec)
    progress = progress or Progress(enabled=False)
    plan = preflight.check(spec, storage, devices, progress, target.preloaded)
    warm = history.read(plan.spec, plan.url) if plan.spec.study.warm_start else None  # before anything is written
    storage_ = studies.storage_for(plan.url)
    try:
        study = studies.open_study(plan.spec, storage_, force=force)
    except studies.DATABASE_ERRORS as exc:
        raise StorageError(f"cannot use storage {redact(plan.url)!r}: {storage_problem(exc)}") from None
    if warm is not None:  # the history lives in the sampler only: the study never holds it
        study.sampler = build_sampler(plan.spec.plugin_options, warm.trials)
        history.record(study, warm)
        for note in warm.notes:
            progress.note(note)
    lock = folders.models_dir(plan.url, spec.study.name).with_name(f"{spec.study.name}.start_with.lock")
    for note in known.enqueue(study, labelled(plan.spec) + list(start_with), lock):
        progress.note(note)
    if estimate.ATTR_ESTIMATE not in study.user_attrs:  # made once, before the first trial: show compares it
        record = estimate.estimate(plan.spec, estimate.from_database(plan.spec, plan.url), len(plan.slots))
        study.set_user_attr(estimate.ATTR_ESTIMATE, record)
        for line in estimate.describe(record):
            progress.note(line)
    return StudyLoop(plan.spec, study, plan.url, progress, plan.slots, target).run()


@dataclass
class RunningTrial:
    """A trial whose worker process is alive (or has just ended)."""

    trial: optuna.Trial
    job: TrialJob
    worker: Worker
    slot: int  # its index in the loop's slots: the threads and GPU it uses
    started: float  # time.monotonic() at its start, for study.trial_timeout


class StudyLoop:
    """Schedules one run of a study: starts trials on free slots while the budget allows, relays what their
    workers say, and hands each ended trial to the tell path."""

    def __init__(self, spec: StudySpec, study: optuna.Study, url: str, progress: Progress, slots: list[dict],
                 target: Target):
        self.spec, self.study, self.url, self.progress, self.target = spec, study, url, progress, target
        self.slots = slots
        self.free = list(range(len(slots)))
        self.running: list[RunningTrial] = []
        self.summary = RunSummary(spec.study.name, url, target=spec.study.n_trials)
        self.outcomes = Outcomes(study, spec, progress)
        self.heartbeats = recovery.Heartbeats(study, progress)
        self.keeper = Keeper(study, spec, folders.models_dir(url, spec.study.name))
        self.evaluations = Evaluations(study, spec.study.pruner, judged=not spec.multi_objective)
        self.spare: Future | None = None  # the next trial's worker, forked ahead and waiting for its job
        self.forker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpsearch-fork")
        self.exiting = protocol.Exiting()  # ended trials' workers, exiting on their own
        self.owner = trials.owner_record()  # the same for every trial this process runs: read /proc once

    def run(self) -> RunSummary:
        spec = self.spec
        # 1. trials a dead run left RUNNING fail, and their values are queued to run again
        self.summary.notes = recovery.recover(self.study, self.progress)
        deadline = time.monotonic() + spec.study.timeout if spec.study.timeout else None
        previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops a run as Ctrl-C does
        try:
            self.progress.begin(spec, trials.finished_count(self.study))
            self._schedule(deadline)
            # 5. a run killed while claiming a trial leaves it unowned; the next run that lasts long enough sees it
            recovery.recover(self.study, self.progress)
        except KeyboardInterrupt:
            numbers = self._abandon("interrupted")
            raise Interrupted(f"interrupted; trial {', '.join(map(str, numbers)) or '-'} will run again with the "
                              f"same values on the next run (hpsearch resume {spec.study.name})") from None
        except studies.DATABASE_ERRORS as exc:  # the database itself failed: write nothing more, say why
            for run in self.running:
                protocol.stop(run.worker.process)
            raise StorageError(f"the study's database failed: {storage_problem(exc)}") from None
        except BaseException:
            self._abandon("interrupted: the study stopped")
            raise
        finally:
            self._drop_spare()
            self.exiting.join()
            signal.signal(signal.SIGTERM, previous_handler)
            self.progress.end()
        # 6. what the run did, for the CLI; the best trials' model and curve for the dashboard
        summarize(self.summary, self.study, spec, self.url, self.progress)
        return self.summary

    def _schedule(self, deadline: float | None) -> None:
        n_trials = self.spec.study.n_trials
        stopping, elsewhere = False, 0
        while True:
            # 2. fill the free slots while the budget allows. It counts every machine's trials: the finished
            # ones, and those running elsewhere (counting reads the database: only when a slot is free)
            if not stopping and self.free:
                finished, running = trials.budget_counts(self.study)
                elsewhere = len(running - {r.trial.number for r in self.running})
                if finished >= n_trials:
                    stopping = True
                elif deadline is not None and time.monotonic() >= deadline:
                    self.summary.stopped_by, stopping = "timeout", True
                while not stopping and self.free and finished + elsewhere + len(self.running) < n_trials:
                    self._launch()
                if not stopping:
                    self._fork_spare(finished, elsewhere)
            # 3. none of ours runs: the run is over, unless the last trials run on other machines; then stay,
            # to re-run any whose machine vanishes
            if not self.running:
                if stopping or not elsewhere:
                    return
                self.heartbeats.idle()
                continue
            # 4. wait for a worker to speak or die; answer it; tell the study how each ended trial ended
            self._wait()

    def _launch(self) -> None:
        """Ask the study for a trial, sample its values, claim it, and start it in a worker process on a free slot."""
        spec, study = self.spec, self.study
        with warnings.catch_warnings():
            # hpsearch keeps the heartbeat itself (see recovery.Heartbeats), which Optuna only expects of optimize()
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            trial = study.ask()
        slot = self.free.pop(0)
        try:
            values = suggest(trial, spec.space)
            config = configuration(spec.fixed, values)
            folder = folders.model_dir(self.url, spec.study.name, trial.number)
            job = TrialJob(spec, trial.number, config, folders.cache_dir(self.url),
                           None if spec.study.save == "none" else folder, **self.slots[slot],
                           log_dir=folders.log_dir(self.url, spec.study.name, trial.number))
            spare = self._take_spare()
            # The claim, one write before the trial starts: its owner (a kill from here on leaves a trial whose
            # dead owner the next run sees; a kill before it, an unowned trial that recovery fails after its
            # grace), how it runs, its worker's pid, and its first heartbeat (another machine must not take it
            # for a dead one).
            attrs = {trials.ATTR_OWNER: self.owner, CONFIG: config, "worker_pid": spare.process.pid,
                     "study_process_rss_mb": _rss_mb()}
            if job.gpu is not None:  # on the trial from its start: a trial that fails sends no result to carry it
                attrs["gpu"] = job.gpu
            if origin := proposed_by(study.sampler, trial.number):
                attrs[PROPOSED_BY] = origin
            optuna_private.set_trial_user_attrs(study, trial, attrs, beat=self.heartbeats.enabled)
            worker = protocol.start(spare, self.target.main, job, f"trial-{trial.number}", self.target.preloaded)
            if worker is not spare:  # the spare had died: the trial runs in a new process
                optuna_private.set_trial_user_attrs(study, trial, {"worker_pid": worker.process.pid})
        except BaseException:
            self.free.append(slot)
            self.outcomes.interrupted(trial, "interrupted before it started", shown=False)
            raise
        self.running.append(RunningTrial(trial, job, worker, slot, time.monotonic()))
        self.progress.trial_started(trial.number, values)

    def _take_spare(self) -> Worker:
        """The next trial's worker: the one forked ahead when it started, else one forked now (where a failure
        to fork is raised)."""
        return self._forked_ahead() or self._spawn_waiting()

    def _forked_ahead(self) -> Worker | None:
        """The worker forked ahead, once it has started; None when there is none or it could not start. The
        loop holds no spare afterwards."""
        ahead, self.spare = self.spare, None
        try:
            return None if ahead is None else ahead.result()
        except Exception:  # noqa: BLE001 - its failure to start is not the trial's: it is forked again
            return None

    def _fork_spare(self, finished: int, elsewhere: int) -> None:
        """Fork the next trial's worker now, while the running trials train, when another trial will follow.

        Forked from a thread: the fork server takes ~20 ms to fork and answer, time in which this process goes
        on answering its running trials."""
        if self.spare is None and finished + elsewhere + len(self.running) < self.spec.study.n_trials:
            self.spare = self.forker.submit(self._spawn_waiting)

    def _spawn_waiting(self) -> Worker:
        """A warm worker: started before its trial is known, it runs the target once handed the trial's job."""
        return protocol.spawn(protocol.waiting, self.target.main, "hpsearch-warm-worker", self.target.preloaded)

    def _drop_spare(self) -> None:
        """No trial for the spare: it exits when its pipe closes."""
        if (spare := self._forked_ahead()) is not None:
            protocol.close(spare)
        self.forker.shutdown(wait=True)

    def _wait(self) -> None:
        """Wait for any worker to speak or die, then serve every one that did; end those that ended."""
        protocol.wait([r.worker for r in self.running], timeout=WAIT_S)
        limit = self.spec.study.trial_timeout
        for run in list(self.running):
            try:
                ended = self._serve(run)
                if ended is not None and ended.error == INTERRUPTED:  # the user's interrupt, in the trial's process
                    raise KeyboardInterrupt
                self.evaluations.flush_due(run.trial)  # a quiet trial's last evaluations are stored within FLUSH_S
                if ended is None and limit and time.monotonic() - run.started > limit:
                    protocol.stop(run.worker.process)
                    ended = Ended(error=f"exceeded the trial time limit of {limit:g} s (study.trial_timeout)")
                if ended is not None:
                    gpu = self.slots[run.slot].get("gpu")
                    ended.error = gpus.out_of_memory(ended.error, gpu, sum(
                        self.slots[r.slot].get("gpu") == gpu for r in self.running))
                    self.running.remove(run)
                    self.free.append(run.slot)
                    try:
                        self._finish(run, ended)
                    finally:  # the worker exits while the study records its trial and starts the next
                        self.exiting.add(run.worker)
            except optuna.exceptions.UpdateFinishedTrialError:  # another machine failed it: its beat went stale
                self._disown(run)
        self.exiting.reap()
        self.heartbeats.beat([r.trial for r in self.running])

    def _serve(self, run: RunningTrial) -> Ended | None:
        """Answer what the trial's worker said: its reports get the pruner's answer."""
        number = run.trial.number
        return protocol.serve(run.worker, report=lambda step, value: self._report(run.trial, step, value),
                              keep=self.keeper.may_keep,
                              progress=lambda step, total: self.progress.step(number, step, total))

    def _report(self, trial: optuna.Trial, step: int, value: float) -> bool:
        """Record an evaluation; whether the pruner stops the trial."""
        prune = self.evaluations.report(trial, step, value)
        if not self.spec.decode_only:  # a decoding trial reports each prompt: progress, not news
            self.progress.evaluation(trial.number, step, value)
        return prune

    def _finish(self, run: RunningTrial, ended: Ended) -> None:
        """Tell the study how the trial ended; with save: best, keep only the best model."""
        self.summary.ran += 1
        self.evaluations.flush(run.trial)  # every evaluation is stored before the trial ends
        state = self.outcomes.tell(run.trial, ended)
        if state == TrialState.COMPLETE:
            self.keeper.keep_best(ended.result.model_dir)

    def _disown(self, run: RunningTrial) -> None:
        """Drop a trial that another machine has failed (its heartbeat was late); it re-runs as a retry."""
        protocol.stop(run.worker.process)
        self.evaluations.drop(run.trial)
        if run in self.running:
            self.running.remove(run)
            self.free.append(run.slot)
        self.progress.note(f"trial {run.trial.number} was failed by another machine (no heartbeat within the "
                           "grace period); its values run again as a retry")

    def _abandon(self, reason: str) -> list[int]:
        """Stop every running trial, record it failed with `reason`, queue its values again."""
        numbers = []
        for run in self.running:
            protocol.stop(run.worker.process)
            self.evaluations.flush(run.trial)
            self.outcomes.interrupted(run.trial, reason)
            numbers.append(run.trial.number)
        self.running = []
        return numbers


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _rss_mb() -> float | None:
    """The study process's resident memory now, so a leak across trials shows on the trials themselves."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
