"""Samplers and pruners by name: the registries a space file's `sampler:` and `pruner:` pick from.

Adding one is one line in a registry: the Optuna class (or any class with the same constructor style).
Options are checked against the class's own signature and then by building it, so Optuna's own
value checks (`reduction_factor` must be at least 2, ...) reach the user as validation errors.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

import optuna

from hpsearch.errors import unknown
from hpsearch.search.plateau import PlateauPruner

SAMPLERS: dict[str, type] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}

PRUNERS: dict[str, type] = {
    "plateau": PlateauPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "none": optuna.pruners.NopPruner,
}


def _check_hyperband(options: dict[str, Any]) -> None:
    """Hyperband checks its options only when it first prunes; its brackets' own check runs now."""
    sh_options = {k: options[k] for k in ("min_resource", "reduction_factor", "bootstrap_count") if k in options}
    optuna.pruners.SuccessiveHalvingPruner(**sh_options)
    max_resource = options.get("max_resource", "auto")
    if max_resource != "auto" and max_resource < options.get("min_resource", 1):
        raise ValueError(f"max_resource ({max_resource}) must be at least min_resource")


PRIOR_SAMPLERS = ("tpe",)  # samplers that take `priors: true | false` (on by default): see prior_sampler.py


def sampler_config(config: dict[str, Any], n_trials: int) -> tuple[dict[str, Any], Any]:
    """The sampler's constructor options, and hpsearch's own `priors` option taken out of them.

    TPE's random start-up is fitted to the budget (a fifth of it, 3 to 10 trials) unless the file sets it.
    """
    from hpsearch.search.prior_sampler import startup_trials

    config = dict(config)
    if config.get("name") not in PRIOR_SAMPLERS:
        return config, False
    use_priors = config.pop("priors", True)
    config.setdefault("n_startup_trials", startup_trials(n_trials))
    return config, use_priors


# Metrics that are a share of the evaluation's examples: their noise is a binomial standard error.
PROPORTIONS = ("eval_accuracy", "eval_f1", "eval_exact_match", "eval_token_f1")
UNKNOWN_EVAL_SIZE = 500  # examples assumed where the file does not say how many are evaluated
RELATIVE_NOISE = 0.02  # other metrics (losses, perplexity, errors): 2% of the threshold


def noise_margin(metric: str, eval_size: int | None) -> dict[str, float]:
    """The plateau pruner's margins for a metric: 2 standard errors of a proportion on the evaluation set
    (0.5 / sqrt(n) at worst, so 1 / sqrt(n): 0.058 for 300 examples), else 2% of the threshold."""
    if metric in PROPORTIONS:
        return {"margin": 1 / math.sqrt(eval_size or UNKNOWN_EVAL_SIZE)}
    return {"relative_margin": RELATIVE_NOISE}


SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)
_LAZY_CHECKS = {"hyperband": _check_hyperband}

# Constructor arguments a YAML file cannot express (callables, objects) or that hpsearch fills itself.
_NOT_OPTIONS = ("Callable", "Sampler", "Mutation", "Crossover", "FrozenTrial", "Mapping", "dict", "list")
_FILLED = {"search_space"}


def options_of(cls: type) -> list[str]:
    """The constructor options of `cls` that a space file may set."""
    names = []
    for param in inspect.signature(cls).parameters.values():
        annotation = str(param.annotation)
        if param.name in _FILLED or any(word in annotation for word in _NOT_OPTIONS):
            continue
        names.append(param.name)
    return names


def build(kind: str, registry: dict[str, type], config: dict[str, Any], **filled: Any) -> tuple[Any, list]:
    """Build the plug-in `config` names.

    Args:
        kind: "sampler" or "pruner", for messages.
        registry: SAMPLERS or PRUNERS.
        config: {"name": ..., option: value, ...}.
        filled: arguments hpsearch supplies itself (the grid's search space).

    Returns:
        The instance (None on error) and a list of (key, message) errors.
    """
    name = config.get("name")
    if not isinstance(name, str) or name not in registry:
        return None, [("name", unknown(kind, name, list(registry)))]
    cls = registry[name]
    allowed = options_of(cls)
    errors = []
    options = {k: v for k, v in config.items() if k != "name"}
    for key in options:
        if key not in allowed:
            errors.append((key, unknown(f"option of the {name} {kind}", key, allowed)))
        else:
            problem = _type_problem(inspect.signature(cls).parameters[key].default, options[key])
            if problem:
                errors.append((key, problem))
    if errors:
        return None, errors
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature notices are not the user's error
            instance = cls(**options, **filled)
            if name in _LAZY_CHECKS:
                _LAZY_CHECKS[name](options)
            return instance, []
    except Exception as exc:  # Optuna's own checks raise ValueError / TypeError with the rule
        return None, [("", f"the {name} {kind} rejects these options: {exc}")]


def _type_problem(default: Any, value: Any) -> str | None:
    """Why `value` cannot stand where the constructor's default is `default`, or None."""
    if default == "auto":
        ok = value == "auto" or (isinstance(value, int) and not isinstance(value, bool))
        return None if ok else f"must be an integer or 'auto', but got {value!r}"
    if default is None or default is inspect.Parameter.empty or isinstance(value, type(default)):
        return None
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return None
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[type(default)]
    return f"must be {expected}, but got {value!r}"


# Pruners that keep every trial before step `n_warmup_steps` and while fewer than `n_startup_trials` trials have
# finished (at least one): asked then, each would read every finished trial of the study only to say continue.
WARMING_UP = ("median", "percentile", "plateau")


def may_prune(config: dict[str, Any], step: int, finished: int) -> bool:
    """Whether the pruner `config` names could stop a trial at `step` while `finished` trials of the study have
    finished (complete or pruned); False only where it surely cannot, so that the study need not ask it."""
    name = config.get("name")
    if name == "none":
        return False
    if name not in WARMING_UP:
        return True
    defaults = inspect.signature(PRUNERS[name]).parameters
    option = lambda key: config.get(key, defaults[key].default)  # noqa: E731
    return step >= option("n_warmup_steps") and finished >= max(option("n_startup_trials"), 1)
