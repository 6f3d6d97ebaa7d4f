"""The default search: priors first, then the wrapped sampler (TPE), the priors' weight decaying with evidence.

The first trial tries the priors' centres (the literature's recipe); the next ones draw from the priors
(the recipe's neighbourhood) while TPE would otherwise sample at random; after that each trial draws from
the priors with a probability that falls as trials accumulate, and from TPE otherwise. This is the
ensemble sampling policy of PriorBand (Mallik et al., NeurIPS 2023), whose prior weight decays as the
posterior of piBO (Hwang et al., ICLR 2022) decays its prior: a good prior is exploited from the first
trial, and a wrong one costs a shrinking share of the budget once TPE has evidence to learn from.

Entries without a prior are sampled by the wrapped sampler in every trial. Which trials draw from the
priors depends only on the seed and the trial's number, so a seeded study decides the same way whether
it runs in one go, resumed, or on several machines.
"""

from __future__ import annotations

import random
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from hpsearch.search import prior as priors

PROPOSED_BY = "proposed_by"  # the user attribute that records, on each trial, where its values came from


def startup_trials(n_trials: int) -> int:
    """Trials before the model-based sampler takes over: a fifth of the budget, 3 to 10 (Optuna's own: 10)."""
    return max(3, min(10, n_trials // 5))


def prior_probability(number: int, startup: int) -> float:
    """The probability that trial `number` draws from the priors: 1 in the start-up, then startup / number."""
    return 1.0 if number < startup else startup / (number + 1)


class PriorSampler(BaseSampler):
    """Wraps a sampler: the start-up trials and a decaying share of the later ones come from the priors.

    Args:
        base: the sampler that proposes the other trials (TPE), and the entries without a prior.
        priors: entry name -> Prior.
        startup: trials that come from the priors alone (the first one at their centres).
        seed: decides, with the trial's number, whether a trial draws from the priors, and what it draws.
        evidence: finished trials the base learns from before this study's first (a warm start's history,
            hpsearch.search.warm_start): they count as trials already seen, so the priors weigh less.
    """

    def __init__(self, base: BaseSampler, priors: dict[str, priors.Prior], startup: int = 5,
                 seed: int | None = None, evidence: int = 0) -> None:
        self.base = base
        self.priors = dict(priors)
        self.startup = startup
        self.seed = seed
        self.evidence = evidence
        self._modes: dict[int, str] = {}
        self._rngs: dict[int, random.Random] = {}

    def mode(self, number: int) -> str:
        """Where trial `number` takes the values of entries with a prior: 'centre', 'prior' or 'base'."""
        seen = number + self.evidence
        if seen == 0:
            return "centre"
        draw = random.Random(f"{self.seed}:mode:{number}").random() if self.seed is not None else random.random()
        return "prior" if draw < prior_probability(seen, self.startup) else "base"

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        # a trial queued with its values (a re-run, enqueue_trial) keeps them: Optuna never asks us for those
        queued = "fixed_params" in trial.system_attrs
        self._modes[trial.number] = "queued" if queued else self.mode(trial.number)
        self._rngs[trial.number] = random.Random(f"{self.seed}:draw:{trial.number}") if self.seed is not None \
            else random.Random()
        self.base.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        if self._modes.get(trial.number, "base") in ("centre", "prior"):
            return {}  # a prior trial: every entry is sampled one by one below (without a prior: by the base)
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        mode = self._modes.get(trial.number, "base")
        belief = self.priors.get(param_name)
        if mode in ("base", "queued") or belief is None:
            return self.base.sample_independent(study, trial, param_name, param_distribution)
        if mode == "centre":
            value = priors.centre(belief, param_distribution)
        else:
            value = priors.sample(belief, param_distribution, self._rngs[trial.number])
        return value

    def after_trial(self, study, trial, state, values) -> None:
        self._modes.pop(trial.number, None)
        self._rngs.pop(trial.number, None)
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def proposed_by(sampler: BaseSampler, number: int) -> str | None:
    """Where trial `number`'s values came from (recorded on the trial): the priors' centre, the priors, the
    sampler, or a queue (a re-run); None for a sampler without priors."""
    if not isinstance(sampler, PriorSampler):
        return None
    mode = sampler._modes.get(number)
    base = sampler.base
    while hasattr(base, "sampler") and isinstance(base.sampler, BaseSampler):  # a wrapper (reseed.Reseeded)
        base = base.sampler
    name = type(base).__name__.removesuffix("Sampler").lower()
    return {"centre": "prior centre", "prior": "prior", "base": name, "queued": "queued"}.get(mode)
