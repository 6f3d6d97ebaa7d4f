"""A validated space -> the values of one Optuna trial, conditions included. Pure: no I/O, no training."""

from __future__ import annotations

from typing import Any

import optuna

from hpsearch.search.build import build_sampler
from hpsearch.spec.entry import Entry


def active(entry: Entry, values: dict[str, Any]) -> bool:
    """Whether every condition of `entry` holds for the values sampled so far."""
    return all(values.get(name) in allowed for name, allowed in entry.when.items())


def suggest(trial: optuna.Trial, space: dict[str, Entry]) -> dict[str, Any]:
    """Sample `space` (ordered: conditions before their users) on `trial`; inactive entries are skipped."""
    values: dict[str, Any] = {}
    for name, entry in space.items():
        if not active(entry, values):
            continue
        if entry.kind == "categorical":
            values[name] = trial.suggest_categorical(name, list(entry.choices))
        elif entry.kind == "int":
            values[name] = trial.suggest_int(name, int(entry.low), int(entry.high), step=int(entry.step or 1),
                                             log=entry.log)
        else:
            values[name] = trial.suggest_float(name, entry.low, entry.high, step=entry.step, log=entry.log)
    return values


def configuration(fixed: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
    """The values one trial trains with: the file's fixed values, then what the sampler chose."""
    return {**fixed, **sampled}


def sample(spec, n: int, first: list[dict[str, Any]] = (), history: list = ()) -> list[dict[str, Any]]:
    """`n` configurations drawn by the spec's own sampler in an in-memory study, the known configurations
    `first` (partial ones completed by the sampler) before the others, learning from a warm start's `history`
    too; nothing is stored."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=build_sampler(spec.plugin_options, history), direction=spec.direction)
    for values in first:
        study.enqueue_trial(values)
    return [suggest(study.ask(), spec.space) for _ in range(n)]
