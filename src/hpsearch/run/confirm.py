"""Is the winner real? Re-run a study's best configurations with other seeds and test the difference.

On small data a single run's score moves with the seed (the new head's initialisation, the batch order)
by as much as configurations differ. `confirm` trains each of the top configurations again under other
seeds (same data split, same values), records every score on the study, and names the configuration
whose mean beats the runner-up's beyond the noise (Welch's t-test), or says that none does.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

import optuna

from hpsearch.errors import StudyError, UsageError
from hpsearch.numbers import number
from hpsearch.run.alone import run_to_end
from hpsearch.spec.space import StudySpec
from hpsearch.store.stored_trial import StoredTrial
from hpsearch.store.trial_result import ranked
from hpsearch.train.process import train_trial
from hpsearch.trial import TrialJob

ATTR_CONFIRM = "hpsearch:confirm"  # study attr: {trial number: {seed: value}}


@dataclass
class Confirmed:
    number: int
    values: dict[int, float]  # seed -> value (the original run under the study's seed included)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values())

    @property
    def spread(self) -> float:
        return statistics.stdev(self.values.values()) if len(self.values) > 1 else 0.0


@dataclass
class Verdict:
    confirmed: list[Confirmed]
    winner: int | None  # the trial that wins beyond the noise, or None
    p_value: float | None
    notes: list[str] = field(default_factory=list)


def confirm(study: optuna.Study, spec: StudySpec, top: int, seeds: int, progress=print) -> Verdict:
    """Train the `top` best configurations under `seeds` more seeds each; runs already recorded are kept."""
    if spec.multi_objective:
        raise UsageError("confirm compares one objective; this study has several")
    if top < 2 or seeds < 1:
        raise UsageError(f"--top must be at least 2 and --seeds at least 1, but got {top} and {seeds}")
    leaders = [t for t in ranked(study) if StoredTrial(t).feasible][:top]
    if len(leaders) < 2:
        raise StudyError(f"study {spec.study.name!r} has {len(leaders)} complete trials; confirm needs two")
    recorded: dict[str, dict[str, float]] = dict(study.user_attrs.get(ATTR_CONFIRM, {}))
    planned = [spec.study.seed + offset for offset in range(1, seeds + 1)]
    for trial in leaders:
        runs = dict(recorded.get(str(trial.number), {}))
        for seed in planned:
            if str(seed) in runs:
                continue
            progress(f"trial {trial.number} under seed {seed} ...")
            value = _train(spec, trial, seed)
            runs[str(seed)] = value
            recorded[str(trial.number)] = runs
            study.set_user_attr(ATTR_CONFIRM, recorded)  # after each run: an interruption loses one at most
            progress(f"trial {trial.number} under seed {seed}: {number(value, places=4)}")
    confirmed = []
    for trial in leaders:
        runs = recorded.get(str(trial.number), {})
        values = {spec.study.seed: trial.value, **{int(s): v for s, v in runs.items() if int(s) in planned}}
        confirmed.append(Confirmed(trial.number, values))
    return _verdict(confirmed, spec.direction)


def _verdict(confirmed: list[Confirmed], direction: str) -> Verdict:
    """The best mean wins beyond the noise when Welch's t-test against the runner-up gives p < 0.05."""
    from scipy import stats

    order = sorted(confirmed, key=lambda c: c.mean, reverse=direction == "maximize")
    first, second = order[0], order[1]
    if len(first.values) < 2 or len(second.values) < 2:
        return Verdict(order, None, None, ["too few runs to tell"])
    if first.spread == 0 and second.spread == 0:
        p = 0.0 if first.mean != second.mean else 1.0
    else:
        p = float(stats.ttest_ind(list(first.values.values()), list(second.values.values()), equal_var=False).pvalue)
    return Verdict(order, first.number if p < 0.05 else None, p)


def _train(spec: StudySpec, trial: optuna.trial.FrozenTrial, seed: int) -> float:
    """One run of `trial`'s configuration under `seed`, in a worker process as a study's trials run."""
    config = StoredTrial(trial).config
    # a confirmation run is not a trial: it logs no run to the trials' tracker (task.report_to)
    rerun = replace(spec, study=spec.study.model_copy(update={"seed": seed}),
                    task=spec.task.model_copy(update={"report_to": []}))
    job = TrialJob(rerun, trial.number, config, None, None)
    ended = run_to_end(train_trial, job, name=f"confirm-{trial.number}-{seed}")
    if ended.result is None:
        raise StudyError(f"the run of trial {trial.number} under seed {seed} failed: {ended.error}")
    values = ended.result.values(spec.objectives)
    if values is None:
        raise StudyError(f"the run of trial {trial.number} under seed {seed} made no evaluation")
    return values[0]
