"""The study's sampler and pruner, built from a spec's options: the one place they are made and checked.

Validation (`spec/rules.py::plugin_options`) and every study (`store/studies.py`, the warm start of
`run/study_loop.py`, `spec/suggest.py`) call the same two functions, so an option the constructor rejects is
found once, at validation, and a build that fails later (a spec made without validation) raises the user's
error naming the key: never a silent fallback to Optuna's default sampler.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from hpsearch.errors import PluginError
from hpsearch.search import registry
from hpsearch.search.reseed import Reseeded


@dataclass(frozen=True)
class PluginOptions:
    """What a study's sampler and pruner are built from: the file's `sampler:` and `pruner:` mappings, and what
    hpsearch fills in itself (the budget, the grid's values, the priors, the watched metric)."""

    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "plateau"})
    n_trials: int = 20  # TPE's random start-up is fitted to the budget
    grid: dict[str, list] | None = None  # the grid sampler's search space (with `name: grid` only)
    priors: dict[str, Any] = field(default_factory=dict)  # entry name -> Prior (search.prior)
    objectives: int = 1  # several: no pruning (Optuna cannot prune such studies)
    metric: str = "eval_loss"  # what the plateau pruner's default noise margin is fitted to
    eval_size: int | None = None


def _check(kind: str, config: dict[str, Any], **filled: Any) -> Any:
    """The instance `config` names, or PluginError listing every problem under `study.<kind>`."""
    infinite = [k for k, v in config.items() if isinstance(v, float) and not math.isfinite(v)]
    if infinite:
        raise PluginError([(("study", kind, k), f"must be a finite number, but got {config[k]!r}") for k in infinite])
    plugins = registry.SAMPLERS if kind == "sampler" else registry.PRUNERS
    instance, errors = registry.build(kind, plugins, config, **filled)
    if errors:
        raise PluginError([(("study", kind, key) if key else ("study", kind), message) for key, message in errors])
    return instance


def build_sampler(options: PluginOptions, history: Sequence = ()) -> optuna.samplers.BaseSampler:
    """A fresh sampler as the file asks (for grid: over the space's grid values; TPE: the priors first).

    A seeded one is reseeded per trial (hpsearch.search.reseed), so a resumed or shared study never repeats itself.
    `history`: finished trials of earlier studies it learns from too (study.warm_start, hpsearch.store.history).
    Raises PluginError (exit 2) naming the option the sampler rejects.
    """
    config, use_priors = registry.sampler_config(options.sampler, options.n_trials)
    filled = {"search_space": options.grid or {}} if config.get("name") == "grid" else {}
    problems = [] if isinstance(use_priors, bool) else [
        (("study", "sampler", "priors"), f"must be true or false, but got {use_priors!r}")]
    try:
        instance = _check("sampler", config, **filled)
    except PluginError as exc:
        problems += exc.problems
    if problems:
        raise PluginError(problems)
    seed = config.get("seed")
    if seed is not None:
        instance = Reseeded(instance, seed)
    if history:
        from hpsearch.search.warm_start import WarmStart

        instance = WarmStart(instance, history)
    if use_priors and options.priors:
        from hpsearch.search.prior_sampler import PriorSampler

        return PriorSampler(instance, options.priors, startup=config.get("n_startup_trials", 10), seed=seed,
                            evidence=len(history))
    return instance


def build_pruner(options: PluginOptions) -> optuna.pruners.BasePruner:
    """A fresh pruner as the file asks (none with several objectives: Optuna cannot prune those, but the file's
    options are checked all the same). Raises PluginError (exit 2) naming the option the pruner rejects."""
    config = options.pruner
    instance = _check("pruner", config)
    if options.objectives > 1:
        return optuna.pruners.NopPruner()
    if config.get("name") == "plateau" and not {"margin", "relative_margin"} & set(config):
        return _check("pruner", config, **registry.noise_margin(options.metric, options.eval_size))
    return instance
