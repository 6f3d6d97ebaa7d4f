"""Trial targets: what a study's trials run, each a function its worker process starts in, `main(conn, job)`.

The study loop is handed the target it runs (hpsearch.run.study_loop.run_study), as Optuna's `_optimize` is
handed `func`; `TARGETS` and `chosen` are the one place a study's target is chosen. A new kind of trial (several
processes per trial, say) is one module with its `main` and one line in `TARGETS`. A target that wraps another
adds to the trial what runs at each step (hpsearch.trial.step_hooks), as the chaos faults do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpsearch.run import faults
from hpsearch.train.process import train_trial
from hpsearch.trial import Channel, TrialJob, TrialResult, at_step

ZERO_COST_REPORTS = 10


@dataclass(frozen=True)
class Target:
    """One kind of trial: `main(conn, job)`, run in the trial's own process.

    `preloaded`: the process forks from the fork server, which has the training libraries loaded, and the study's
    model is checked in one before the study starts (hpsearch.run.preflight); False: it forks from the study process
    itself, in milliseconds, for a trial that needs no library.
    """

    main: Callable[[Any, TrialJob], None]
    preloaded: bool = True


TARGETS: dict[str, Target] = {
    "train": Target(train_trial),  # one process trains the trial (hpsearch.train.worker)
}


def chosen(spec: Any) -> Target:
    """The target that runs the trials of `spec`, with the faults $HPSEARCH_FAULTS plans (chaos tests) wrapped
    around it; a malformed plan is the user's error, raised before anything is made."""
    return faults.wrapped(TARGETS["train"])


def zero_cost_value(number: int) -> float:
    """What zero-cost trial `number` reports at every evaluation: spread over [0.5, 0.9] by the golden ratio, and a
    function of the number alone, so a pruner stops the same trials whatever the sampler drew."""
    return 0.5 + 0.4 * ((number * 0.6180339887) % 1.0)


def zero_cost_trial(conn, job: TrialJob) -> None:
    """A trial that trains nothing: ZERO_COST_REPORTS evaluations through the real pipe and protocol, then its result
    (the study's metric and every objective at that value). For the study loop's tests and the overhead benchmark."""
    channel = Channel(conn)
    value = zero_cost_value(job.number)
    history, state = [], "complete"
    for step in range(1, ZERO_COST_REPORTS + 1):
        at_step(step)
        history.append([step, value])
        if channel.report(step, value):
            state = "pruned"
            break
    metrics = {name: value for name in [job.spec.metric, *(o.name for o in job.spec.objectives)]}
    channel.done(TrialResult(state=state, value=value, best_step=1, stop_reason="pruned" if state == "pruned"
                             else "completed", stop_step=len(history), history=history, best_metrics=metrics,
                             threads=job.threads, gpu=job.gpu))
    conn.close()
    os._exit(0)


ZERO_COST = Target(zero_cost_trial, preloaded=False)
