"""Known configurations a study runs before its sampler takes over: `study.start_with:` in the space file and
`--start-with FILE` (what `hpsearch best -f json` writes), read and checked against the space.

A configuration maps searched entries to values; a partial one leaves the others to the sampler (Optuna
enqueues the given values as fixed parameters, and `suggest` samples the rest). Every value must be one the
entry can sample: inside its range and on its step, of its kind, among its choices, and under the choice its
`when:` names. Pure: nothing here touches a database; hpsearch.store.known enqueues them.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from hpsearch.errors import Problem, SpaceError, unknown
from hpsearch.spec import catalog, reader
from hpsearch.spec.collector import Finding
from hpsearch.spec.entry import Entry

MAX_CONFIGURATIONS = 1000  # a recipe list, not a grid: a grid belongs to the grid sampler


def check(configurations: list[Any], space: dict[str, Entry], fixed: dict[str, Any]
          ) -> tuple[list[dict[str, Any]], list[Finding]]:
    """The configurations with each value in the form its entry samples, and what is wrong with them.

    Findings' key paths are (index, name) below the list: the caller puts its own key in front.
    """
    if len(configurations) > MAX_CONFIGURATIONS:
        return [], [((), f"lists {len(configurations)} configurations; at most {MAX_CONFIGURATIONS}")]
    checked: list[dict[str, Any]] = []
    found: list[Finding] = []
    seen: dict[str, int] = {}
    for index, config in enumerate(configurations):
        values, wrong = check_one(config, space, fixed)
        found += [((index,) + path, message) for path, message in wrong]
        if wrong:
            continue
        if (first := seen.setdefault(key(values), index)) != index:
            found.append(((index,), f"repeats configuration {first} (give each once)"))
            continue
        checked.append(values)
    return checked, found


def check_one(config: Any, space: dict[str, Entry], fixed: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
    """One configuration: its values as its entries sample them, and what is wrong with it."""
    if not isinstance(config, dict) or not config:
        return {}, [((), f"must map searched entries to values, such as {{learning_rate: 3.0e-5}}, but got {config!r}")]
    values: dict[str, Any] = {}
    found: list[Finding] = []
    for name, value in config.items():
        problem = _not_searched(name, space, fixed)
        if problem is None:
            value, problem = fit(space[name], value)
        if problem:
            found.append(((name,), problem))
        else:
            values[name] = value
    for name in values:
        found += [((name,), message) for message in _conditions(space[name], config)]
    return values, found


def _not_searched(name: Any, space: dict[str, Entry], fixed: dict[str, Any]) -> str | None:
    if name in space:
        return None
    if name in fixed:
        return f"is fixed ({name}: {fixed[name]!r} under fixed:); a configuration gives searched values only"
    if name in catalog.CATALOG:
        return "is not searched in this space (add it under space:, or drop it here)"
    return unknown("entry", name, list(space))


def fit(entry: Entry, value: Any) -> tuple[Any, str | None]:
    """`value` as `entry` samples it (an int, a float, a choice), or why the entry can never sample it."""
    if entry.kind == "categorical":
        if isinstance(value, (dict, list)) or value not in entry.choices or not _same_kind(value, entry.choices):
            return value, f"must be one of {', '.join(map(str, entry.choices))}, but got {value!r}"
        return value, None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        what = "an integer" if entry.kind == "int" else "a number"
        return value, f"must be {what}, but got {value!r}"
    if entry.kind == "int" and not float(value).is_integer():
        return value, f"must be an integer for an int entry, but got {value!r}"
    if not entry.low <= value <= entry.high:
        return value, f"({value:g}) lies outside the searched range {entry.describe()}"
    if entry.step is not None:
        count = (value - entry.low) / entry.step
        if abs(count - round(count)) > 1e-9:
            return value, f"({value:g}) is not on the range's step ({entry.describe()})"
    return (int(value) if entry.kind == "int" else float(value)), None


def _same_kind(value: Any, choices: tuple[Any, ...]) -> bool:
    """True unless a bool stands for a number (True == 1 in Python, never in a space file)."""
    match = [c for c in choices if c == value]
    return any(isinstance(c, bool) == isinstance(value, bool) for c in match)


def _conditions(entry: Entry, config: dict[str, Any]) -> list[str]:
    """An entry under `when:` is sampled only under its parent's choice: the configuration must give that choice."""
    found = []
    for parent, allowed in entry.when.items():
        shown = " or ".join(map(str, allowed))
        if parent not in config:
            found.append(f"is sampled only when {parent} is {shown}: give {parent}: {allowed[0]} in this "
                         "configuration too")
        elif config[parent] not in allowed:
            found.append(f"is sampled only when {parent} is {shown}, and this configuration sets {config[parent]}")
    return found


def labelled(spec) -> list[tuple[str, dict[str, Any]]]:
    """The file's `study.start_with:` of a validated spec, each with its key path as its label."""
    checked, _ = check(spec.study.start_with, spec.space, spec.fixed)
    return [(f"study.start_with.{index}", values) for index, values in enumerate(checked)]


def key(values: dict[str, Any]) -> str:
    """One configuration as text, the same whatever the order of its keys: how a study knows it ran it."""
    return json.dumps(values, sort_keys=True, default=str)


def from_best_file(path: str, space: dict[str, Entry], fixed: dict[str, Any]) -> list[dict[str, Any]]:
    """The configurations of a file `hpsearch best -f json` wrote: each record's values of this space's entries.

    A record holds every value its trial used (`config`); values of entries this space does not search are
    left out, so a best trial of a neighbouring study starts this one. Raises SpaceError, one line per problem.
    """
    def refuse(where: str, message: str) -> SpaceError:
        return SpaceError([Problem(path, None, where, message)])

    writes = "the file `hpsearch best NAME -f json -o FILE` writes"
    text = reader.read(path, what="a best file", give=writes)  # the space file's limits: size, a regular file
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse("", f"is not JSON ({exc}); give {writes}") from None
    except RecursionError:  # Python's JSON reader recurses once a level: thousands of brackets exhaust it
        raise refuse("", f"is nested too deeply to be JSON hpsearch wrote; give {writes}") from None
    records = data.get("pareto_front") if isinstance(data, dict) and "pareto_front" in data else [data]
    where = "pareto_front.{}.config" if isinstance(data, dict) and "pareto_front" in data else "config"
    if not isinstance(records, list) or not all(isinstance(r, dict) and isinstance(r.get("config"), dict)
                                                 for r in records) or not records:
        raise refuse("", "is not what `hpsearch best NAME -f json` writes (a record with a config: mapping)")
    configurations: list[dict[str, Any]] = []
    for record in records:  # a Pareto front's trials may share this space's values: each runs once
        values = {k: v for k, v in record["config"].items() if k in space}
        if values and values not in configurations:
            configurations.append(values)
    if not configurations:
        raise refuse("config", f"gives none of the entries this space searches ({', '.join(space)})")
    checked, found = check(configurations, space, fixed)
    if found:
        raise SpaceError([Problem(path, None, ".".join([where.format(p[0]), *map(str, p[1:])]), m)
                          for p, m in found])
    return checked


def labelled_file(path: str | os.PathLike, spec) -> list[tuple[str, dict[str, Any]]]:
    """`--start-with FILE`'s configurations labelled as their trials are marked: `best.json`, `best.json.1`, ..."""
    name = os.path.basename(str(path))
    return [(f"{name}.{i}" if i else name, values)
            for i, values in enumerate(from_best_file(str(path), spec.space, spec.fixed))]
