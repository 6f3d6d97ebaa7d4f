"""Seeded samplers that never repeat a study's trials: each trial's random draws start from (seed, trial number).

An Optuna sampler built with `seed` draws from one random stream that starts at `seed`. hpsearch builds a
new sampler in every process (`run`, `resume`, `worker`, each machine), so a resumed study replayed its
stream from the start (trial 2 got trial 0's values) and two processes sharing a study proposed the same
values. `Reseeded` wraps any sampler and, before each trial, restarts every random stream the sampler
owns from (seed, trial number, the stream's place in the sampler): trial n draws the same values whether
the study ran in one go or was resumed, and no two trials of a study share a stream.

This is the one module that reaches inside Optuna's samplers. Optuna's public `reseed_rng()` reseeds the
same streams, but from the operating system's entropy, which cannot be reproduced; so the streams are found
by walking the sampler's attributes (Optuna keeps them in `LazyRandomState` objects, e.g. TPE's `_rng` and
its startup `_random_sampler._rng`) and reseeded with numpy's public `RandomState.seed`. Plain values such
as QMC's sequence seed, which every process must share, are left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers._lazy_random_state import LazyRandomState  # private: where Optuna's samplers keep their RNG
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


class Reseeded(BaseSampler):
    """`sampler`, with its random streams restarted from (`seed`, trial number) before each trial.

    Every other call goes to `sampler` unchanged, so wrappers compose: Reseeded(Mixing(TPE(...)), seed).
    """

    def __init__(self, sampler: BaseSampler, seed: int):
        self.sampler = sampler
        self.seed = seed

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        reseed(self.sampler, self.seed, trial.number)  # first: the wrapped sampler may draw here (grid does)
        self.sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()  # the next before_trial seeds from the trial number again

    def __repr__(self) -> str:
        return f"Reseeded({self.sampler!r}, seed={self.seed})"


def reseed(sampler: Any, seed: int, number: int) -> int:
    """Seed every random stream inside `sampler` from (`seed`, `number`, where it sits); returns how many."""
    count = 0
    for path, rng in _streams(sampler, "", set()):
        digest = hashlib.sha256(f"{seed}|{number}|{path}".encode()).digest()
        rng.seed(int.from_bytes(digest[:4], "little"))
        count += 1
    return count


def _streams(obj: Any, path: str, seen: set[int]) -> Iterator[tuple[str, np.random.RandomState]]:
    """The numpy RandomStates held by `obj` and, recursively, by the samplers and sampler parts it holds.

    Attributes are visited in their (deterministic) definition order; a stream held twice (NSGA-II's sampler
    and its child generation share one) is seeded once, under the first path it is found at.
    """
    if id(obj) in seen or not hasattr(obj, "__dict__"):
        return
    seen.add(id(obj))
    for name, value in vars(obj).items():
        where = f"{path}.{name}"
        if isinstance(value, LazyRandomState):
            if id(value) not in seen:
                seen.add(id(value))
                yield where, value.rng
        elif isinstance(value, np.random.RandomState):
            if id(value) not in seen:
                seen.add(id(value))
                yield where, value
        elif isinstance(value, BaseSampler) or type(value).__module__.startswith("optuna.samplers."):
            yield from _streams(value, where, seen)
