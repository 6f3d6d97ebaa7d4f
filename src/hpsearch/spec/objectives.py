"""What a study optimizes: one or several objectives, the metric watched while training, and constraints.

A trial records two kinds of quantities: the evaluation metrics of its task (eval_accuracy, eval_loss,
...), measured every `eval_every` steps, and quantities of the run itself (train_seconds, peak_memory_mb,
n_parameters), known when it ends. Any of them may be an objective or bounded by a constraint. One
evaluation metric is *watched* while training: the pruner sees it, early stopping follows it, and the
trial's model and metrics are taken at its best evaluation. With several objectives Optuna cannot prune
(Trial.report is single-objective only), so such studies train every trial to its end or early stop.
Pure data and arithmetic: no torch, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpsearch.errors import unknown
from hpsearch.spec.tasks import COMMON_METRICS, TASKS


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" or "minimize"


def as_list(value: Any) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def known_metrics(task_type: str) -> dict[str, str]:
    """Every quantity a trial of `task_type` records, with the direction in which it improves."""
    return {**TASKS[task_type].metrics, **COMMON_METRICS}


def objectives(metric: Any, direction: Any, task_type: str) -> tuple[Objective, ...]:
    """The study's objectives, in the file's order (the task's default metric when none is named)."""
    default = TASKS[task_type].default_metric
    names = as_list(metric) or ([default] if default else [])
    directions = as_list(direction)
    metrics = known_metrics(task_type)
    return tuple(Objective(name, directions[i] if i < len(directions) else metrics.get(name, "maximize"))
                 for i, name in enumerate(names))


def watched(objs: tuple[Objective, ...], task_type: str) -> Objective:
    """The evaluation metric followed while training: the first objective the task evaluates."""
    info = TASKS[task_type]
    found = next((o for o in objs if o.name in evaluated(task_type, [o.name])), None)
    if found is not None or info.default_metric is None:
        return found or (objs[0] if objs else Objective("", "maximize"))
    return Objective(info.default_metric, info.metrics[info.default_metric])


def evaluated(task_type: str, names: list[str]) -> list[str]:
    """Those of `names` a trial evaluates while training: the task's metrics, or for a custom task whatever its
    function reports (every name but the quantities of the run itself)."""
    if TASKS[task_type].custom:
        return [n for n in names if n not in COMMON_METRICS]
    return [n for n in names if n in TASKS[task_type].metrics]


def problems(metric: Any, direction: Any, constraints: dict[str, Any], task_type: str,
             pruner_given: str | None) -> list[tuple[tuple, str]]:
    """Everything wrong with the study's objectives and constraints, as (key path, message)."""
    if task_type not in TASKS:
        return []
    found: list[tuple[tuple, str]] = []
    metrics = known_metrics(task_type)
    names, directions = as_list(metric), as_list(direction)
    custom = TASKS[task_type].custom
    if custom:
        found += _custom_problems(names, direction)
    for i, name in enumerate(names):
        path = ("study", "metric", i) if isinstance(metric, list) else ("study", "metric")
        if name not in metrics and not custom:
            found.append((path, unknown(f"metric of {task_type}", name, list(metrics))))
    if len(set(names)) != len(names):
        found.append((("study", "metric"), f"names a metric twice: {names}"))
    if isinstance(metric, list) != isinstance(direction, list) and direction is not None:
        found.append((("study", "direction"), "give one direction per metric: a list when metric is a list, "
                                              "a single word when it is one"))
    elif directions and len(directions) != max(len(names), 1):
        found.append((("study", "direction"), f"gives {len(directions)} directions for {max(len(names), 1)} "
                                              "metrics (one each, in the same order)"))
    else:
        for i, obj in enumerate(objectives(metric, direction, task_type)):
            expected = metrics.get(obj.name)
            if directions and expected and obj.direction != expected:
                if isinstance(direction, list):
                    found.append((("study", "direction", i), f"{obj.name} improves when it goes the other way: "
                                                             f"set {expected} for it"))
                else:
                    found.append((("study", "direction"), f"{obj.name} improves when it goes the other way: "
                                                          f"set direction: {expected}"))
    if names and not evaluated(task_type, names) and not found:
        what = "your function reports" if custom else ", ".join(TASKS[task_type].metrics)
        found.append((("study", "metric"), f"needs at least one metric the task evaluates while training "
                                           f"({what}); {', '.join(names)} are known only at the end"))
    if len(names) > 1 and pruner_given not in (None, "none"):
        found.append((("study", "pruner"), f"Optuna cannot prune a study with several objectives, so the "
                                           f"{pruner_given} pruner would never act (set pruner: none, or keep one "
                                           "metric)"))
    for name, bound in constraints.items():
        if name not in metrics and not custom:
            found.append((("study", "constraints", name), unknown(f"recorded quantity of {task_type}", name,
                                                                  list(metrics))))
        elif bound.max is None and bound.min is None:
            found.append((("study", "constraints", name), "needs max: or min: (for example max: 2000)"))
        elif bound.max is not None and bound.min is not None and bound.min > bound.max:
            found.append((("study", "constraints", name), f"min ({bound.min}) must not be above max ({bound.max})"))
    return found


def _custom_problems(names: list[str], direction: Any) -> list[tuple[tuple, str]]:
    """A custom task's metric is whatever its function reports: the file must name it and its direction."""
    if not names:
        return [(("study", "metric"), "a custom task needs the metric your training function reports "
                                      "(for example metric: val_loss)")]
    if direction is None:
        return [(("study", "direction"), f"a custom task needs direction: maximize or minimize (hpsearch cannot "
                                         f"know which way {names[0]} improves)")]
    return []
