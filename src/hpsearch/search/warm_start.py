"""Warm start: a sampler that also learns from history, trials of earlier studies that are not this study's.

Optuna's samplers read what they learn from off the `study` they are handed (TPE and GP: its finished trials).
`WarmStart` hands the wrapped sampler a view of the study instead: an in-memory study (Optuna's own
InMemoryStorage and `add_trials`) holding the history, then every trial of the real study, then the trial
being sampled, built afresh before each trial. So the wrapped sampler learns from the history as from
earlier trials of its own, and the real study never holds it: nothing stores, counts or shows the history
there, and the budget counts the study's own trials only.

The view is rebuilt from the same history and the study's trials at every trial, so a resumed study, or a
second process on the same study, samples as one that ran in one go would (with a seeded sampler: the
reseeding of hpsearch.search.reseed goes by the real trial's number). Calls that act on the study itself
(`before_trial`, `after_trial`) get the real study.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


class WarmStart(BaseSampler):
    """`sampler`, learning from `history` (finished trials of this study's space) as well as from the study.

    Args:
        sampler: the sampler that proposes the values (TPE, GP; hpsearch.search.reseed.Reseeded around one).
        history: finished trials, their parameters in this study's distributions (hpsearch.store.history).
    """

    def __init__(self, sampler: BaseSampler, history: Sequence[FrozenTrial]):
        self.sampler = sampler
        self.history = list(history)
        self._views: dict[int, tuple[Study, FrozenTrial]] = {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._views[trial.number] = self.view(study, trial)
        self.sampler.before_trial(study, trial)

    def view(self, study: Study, trial: FrozenTrial) -> tuple[Study, FrozenTrial]:
        """An in-memory study of the history, `study`'s other trials and `trial` (last); and `trial` in it."""
        view = optuna.create_study(storage=optuna.storages.InMemoryStorage(), directions=study.directions,
                                   sampler=optuna.samplers.RandomSampler(seed=0))  # never asked: a cheap one
        own = [t for t in study.get_trials(deepcopy=False)
               if t.number != trial.number and t.state != TrialState.WAITING]  # WAITING: queued, nothing learnt
        view.add_trials(self.history + own)
        view.add_trial(trial)  # the wrapped sampler may write on the trial it samples (GP, TPE's constant liar)
        return view, view.get_trials(deepcopy=False)[-1]

    def _in_view(self, study: Study, trial: FrozenTrial) -> tuple[Study, FrozenTrial]:
        if trial.number not in self._views:  # a caller that skipped before_trial: build one now
            self._views[trial.number] = self.view(study, trial)
        return self._views[trial.number]

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(*self._in_view(study, trial))

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.sampler.sample_relative(*self._in_view(study, trial), search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        view, current = self._in_view(study, trial)
        return self.sampler.sample_independent(view, current, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._views.pop(trial.number, None)
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()

    def __repr__(self) -> str:
        return f"WarmStart({self.sampler!r}, {len(self.history)} trials of history)"
