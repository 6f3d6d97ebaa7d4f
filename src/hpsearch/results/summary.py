"""Studies -> tables: every study of a database, one study's progress and best trials, a winner to train
with, and several studies side by side (one row per trial for export is `results.export`).

`studies` and `compare` read Optuna's tables directly (hpsearch.store.tables: grouped queries, a few columns, no
trial objects), so that they answer on 10,000-trial studies in under 2 s; `show`, `best`, `export` and the
report load the study through Optuna.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch.errors import StudyError, UsageError
from hpsearch.numbers import number
from hpsearch.store.best import best_trials, objective_names
from hpsearch.store.history import ATTR_WARM_START
from hpsearch.store.stored_trial import StoredTrial
from hpsearch.store.tables import Light, Tables
from hpsearch.store.trial_result import ranked


@dataclass
class StudyRow:
    """One study of a database, as `hpsearch studies` lists it."""

    name: str
    task: str | None
    model: str | None
    objectives: list[str]
    directions: list[str]
    states: dict[str, int]
    best: list[float] | None
    last_activity: datetime | None


def load(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """The study `name`, or a StudyError listing the studies the database has."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = [s.study_name for s in storage.get_all_studies()]
        raise StudyError(f"no study {name!r} in this database (it has: {', '.join(known) or 'none'})") from None


def list_studies(tables: Tables) -> list[StudyRow]:
    """Every study in the database with its state counts, best value and last activity: grouped queries
    over Optuna's tables, no trial loaded."""
    counts, last, best = tables.counts(), tables.last_activity(), tables.value_range()
    rows = []
    for stored in tables.studies():
        attrs = stored.user_attrs
        study_best = None
        if len(stored.directions) == 1 and stored.study_id in best:
            low, high = best[stored.study_id]
            study_best = [high if stored.directions[0] == "maximize" else low]
        rows.append(StudyRow(
            name=stored.name, task=attrs.get("task"), model=attrs.get("model"),
            objectives=objective_names(attrs, len(stored.directions)), directions=stored.directions,
            states=counts.get(stored.study_id, {}), best=study_best, last_activity=last.get(stored.study_id),
        ))
    return rows


def warm_start_line(study: optuna.Study) -> str | None:
    """Which earlier studies warm-started `study` with how many trials (its last start), or None."""
    used = study.user_attrs.get(ATTR_WARM_START)
    if not isinstance(used, dict) or not used:
        return None
    return ("warm-started from " + ", ".join(f"{name} ({count} trials used)" for name, count in used.items())
            + ": they informed the sampler and are not this study's trials")


@dataclass
class Boundary:
    """A searched range whose best trials crowd one of its ends; `domain` is what the entry can take at all."""

    name: str
    edge: str  # "low" or "high"
    value: float
    low: float
    high: float
    log: bool
    domain: tuple[float | None, float | None] = (None, None)
    domain_open: tuple[bool, bool] = (False, False)
    integer: bool = False

    def limits(self) -> tuple[tuple[float, bool], tuple[float, bool]]:
        """(low, open) and (high, open) that a range of this entry may reach: its domain within what every space
        accepts (a finite float, an int up to catalog.INT_LIMIT, a log range above 0)."""
        from hpsearch.spec.catalog import INT_LIMIT

        (lo, hi), (lo_open, hi_open) = self.domain, self.domain_open
        if lo is None:
            lo, lo_open = -(INT_LIMIT if self.integer else sys.float_info.max), False
        if self.log and lo <= 0:
            lo, lo_open = 0, True
        top = INT_LIMIT if self.integer else sys.float_info.max
        if hi is None or hi > top:
            hi, hi_open = top, False
        return (lo, lo_open), (hi, hi_open)

    def accepts(self, value: float) -> bool:
        """Whether `value` as the crowded edge's new bound is wider than the range and inside `limits`."""
        (lo, lo_open), (hi, hi_open) = self.limits()
        inside = (lo < value if lo_open else lo <= value) and (value < hi if hi_open else value <= hi)
        return inside and (value < self.low if self.edge == "low" else value > self.high)

    def wider(self) -> float | None:
        """A bound one step past the crowded edge and inside `limits`; None where the edge is already a limit."""
        lower = self.edge == "low"
        bound = self.low if lower else self.high
        if self.log:
            wider = bound / 10 if lower else bound * 10
        else:
            wider = bound - (self.high - self.low) if lower else bound + (self.high - self.low)
        if self.integer and math.isfinite(wider):
            wider = math.floor(wider) if lower else math.ceil(wider)
        (limit, is_open) = self.limits()[0 if lower else 1]
        if not (wider > limit if lower else wider < limit) and not (wider == limit and not is_open):
            if not is_open:
                wider = limit  # the edge of what the entry can take
            elif self.integer:
                wider = limit + 1 if lower else limit - 1  # the nearest integer inside
            else:
                wider = (bound + limit) / 2  # halfway to an edge the entry cannot take
        return wider if self.accepts(wider) else None

    def __str__(self) -> str:
        where = (f"{self.name}: the best trials sit at the {'lower' if self.edge == 'low' else 'upper'} edge of "
                 f"{number(self.low)} .. {number(self.high)} (best {number(self.value)})")
        wider = self.wider()
        if wider is None:
            bound = self.low if self.edge == "low" else self.high
            return (f"{where}; {number(bound)} is already the {'lowest' if self.edge == 'low' else 'highest'} value "
                    f"{self.name} can take")
        shown = number(wider)  # 4 digits, unless rounding them would leave the limits: then every digit
        return f"{where}; widen the range, e.g. {self.edge}: {shown if self.accepts(float(shown)) else repr(wider)}"


def boundaries(study: optuna.Study, top: int = 5, share: float = 0.1) -> list[Boundary]:
    """Numeric ranges whose `top` best trials all lie within `share` of one end (on its scale)."""
    from hpsearch.spec import catalog

    if len(study.directions) > 1:
        return []
    leaders = ranked(study)[:top]
    if len(leaders) < 2:
        return []
    found = []
    for name, dist in leaders[0].distributions.items():
        if not isinstance(dist, (optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution)):
            continue
        values = [t.params[name] for t in leaders if name in t.params]
        if len(values) < 2 or dist.high <= dist.low:
            continue
        scale = (lambda v: math.log(v)) if dist.log else (lambda v: v)
        span = scale(dist.high) - scale(dist.low)
        position = [(scale(v) - scale(dist.low)) / span for v in values]
        best = leaders[0].params.get(name)
        if best is None:
            continue
        entry = catalog.CATALOG.get(name)
        limits = {"domain": entry.domain, "domain_open": entry.domain_open} if entry else {}
        integer = isinstance(dist, optuna.distributions.IntDistribution)
        if all(p >= 1 - share for p in position):
            found.append(Boundary(name, "high", best, dist.low, dist.high, dist.log, **limits, integer=integer))
        elif all(p <= share for p in position):
            found.append(Boundary(name, "low", best, dist.low, dist.high, dist.log, **limits, integer=integer))
    return found


@dataclass
class Compute:
    """What a study's trials cost, and what pruning saved."""

    train_seconds: float = 0.0
    samples: int = 0
    saved_seconds: float = 0.0  # estimated: a pruned trial's remaining steps at its own pace
    saved_samples: int = 0


def compute(trials: list[Light]) -> Compute:
    spent = Compute()
    for trial in trials:
        attrs = trial.user_attrs
        seconds = float(attrs.get("train_seconds") or 0.0)
        steps = int(attrs.get("stop_step") or 0)
        batch = int(attrs.get("effective_batch_size") or 0)
        spent.train_seconds += seconds
        spent.samples += steps * batch
        planned = int(attrs.get("planned_steps") or (attrs.get("config") or {}).get("max_steps") or 0)
        if trial.state == "PRUNED" and planned > steps > 0:
            spent.saved_seconds += seconds / steps * (planned - steps)
            spent.saved_samples += (planned - steps) * batch
    return spent


@dataclass
class Comparison:
    name: str
    objectives: list[str]
    directions: list[str]
    best: list[float] | None
    best_params: dict[str, Any]
    states: dict[str, int]
    compute: Compute
    importances: dict[str, float] = field(default_factory=dict)
    importance_note: str = ""


def compare(tables: Tables, names: list[str]) -> list[Comparison]:
    """Each study's best, trial counts, compute spent and saved, and which hyperparameters mattered."""
    if not names:
        raise UsageError("name at least one study to compare")
    rows = []
    for name in names:
        stored = tables.study(name)
        trials = tables.light_trials(stored.study_id)
        states: dict[str, int] = {}
        for trial in trials:
            states[trial.state] = states.get(trial.state, 0) + 1
        complete = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
        if len(stored.directions) > 1:  # the Pareto front: Optuna's own, on its full trial objects
            leaders = best_trials(load(tables.storage(), name))
            best, params = (list(leaders[0].values), leaders[0].params) if leaders else (None, {})
        else:
            feasible = [t for t in complete if StoredTrial(t).feasible]
            maximize = stored.directions[0] == "maximize"
            winner = (max if maximize else min)(feasible, key=lambda t: t.value, default=None)
            best, params = ([winner.value], winner.params) if winner else (None, {})
        importances, note = _importances(complete, stored.directions[0])
        attrs = stored.user_attrs
        rows.append(Comparison(
            name=name, objectives=objective_names(attrs, len(stored.directions)),
            directions=stored.directions, best=best, best_params=params,
            states=states, compute=compute([t for t in trials if t.state in ("COMPLETE", "PRUNED")]),
            importances=importances, importance_note=note,
        ))
    return rows


def _importance_module():
    """optuna.importance, imported without scikit-learn where it is not yet loaded.

    The package imports its fANOVA evaluator eagerly, and that imports scikit-learn (2.5 s here) when it
    is installed; the default evaluator, PED-ANOVA, needs none of it. Hiding sklearn.ensemble during the
    import makes Optuna's own try_import defer it, so `hpsearch compare` answers in about a second.
    """
    import sys

    if "optuna.importance" in sys.modules or "sklearn.ensemble" in sys.modules:
        return sys.modules.get("optuna.importance") or __import__("optuna.importance").importance
    sys.modules["sklearn.ensemble"] = None  # type: ignore[assignment]  # an import of it now fails fast
    try:
        import optuna.importance as module
    finally:
        del sys.modules["sklearn.ensemble"]
    return module


IMPORTANCE_SAMPLE = 500  # more trials cost time and change the ranking little


def _importances(complete: list[Light], direction: str) -> tuple[dict[str, float], str]:
    """Optuna's parameter importances of the first objective (on at most 500 trials), or why there are none."""
    if len(complete) < 4:
        return {}, f"too few complete trials ({len(complete)}) to weigh the hyperparameters"
    import random
    import warnings

    sample = random.Random(0).sample(complete, IMPORTANCE_SAMPLE) if len(complete) > IMPORTANCE_SAMPLE else complete
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        scratch = optuna.create_study(direction=direction)
        scratch.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=t.value)
                            for t in sample])
        try:
            found = _importance_module().get_param_importances(scratch)  # Optuna's default evaluator (PED-ANOVA)
        except (RuntimeError, ValueError) as exc:
            return {}, f"importances unavailable: {exc}"
    note = f"(on {IMPORTANCE_SAMPLE} of {len(complete)} trials)" if len(complete) > IMPORTANCE_SAMPLE else ""
    return dict(found), note


def trial_record(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """What a user needs of a winning trial: its values, every value it used, its metrics."""
    objectives = objective_names(study.user_attrs, len(study.directions))
    stored = StoredTrial(trial)
    return {
        "study": study.study_name,
        "trial": trial.number,
        "objectives": dict(zip(objectives, trial.values or [], strict=False)),
        "searched": stored.params,
        "config": stored.config,
        "metrics": stored.metrics,
        "model_dir": stored.model_dir,
    }


def best_data(study: optuna.Study, leaders: list[FrozenTrial]) -> dict[str, Any]:
    """The best trial's record, or {"pareto_front": records} with several objectives."""
    records = [trial_record(study, t) for t in leaders]
    return records[0] if len(study.directions) == 1 else {"pareto_front": records}


def best_text(study: optuna.Study, leaders: list[FrozenTrial], format: str,
              extra: dict[str, Any] | None = None) -> str:
    """The best trial (or the Pareto front) as YAML or JSON, or its TrainingArguments as JSON (with the `extra` fields
    of the task's own arguments class: a sft trial's SFTConfig)."""
    from hpsearch.results.export import json_text

    if format == "args":
        from hpsearch.train.arguments import trainer_kwargs

        config = StoredTrial(leaders[0]).config
        kwargs = {"output_dir": f"{study.study_name}-trial-{leaders[0].number}", **trainer_kwargs(config),
                  **(extra or {})}
        return json_text(kwargs)
    data = best_data(study, leaders)
    if format == "json":
        return json_text(data)
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def not_trainer_arguments(config: dict[str, Any]) -> dict[str, Any]:
    """The values of `config` that are not TrainingArguments fields (model config, data, loss, LoRA)."""
    from hpsearch.spec import catalog

    return {k: v for k, v in config.items() if k in catalog.CATALOG and catalog.CATALOG[k].target in (
        "model_config", "model", "data", "loss", "callback", "generation") and k != "early_stopping_patience"} | (
        {"early_stopping_patience": config["early_stopping_patience"]} if "early_stopping_patience" in config
        else {})
