"""A custom task's declarative side: the forms `task.entry` takes, the task keys that do not apply to it, and
the hyperparameters of the user's own training code that the catalogue does not know.

Nothing here imports the user's code (`hpsearch validate` stays fast and torch-free): whether the entry
imports and takes (config, reporter) is checked when a run starts (hpsearch.train.tasks.custom.check_entry,
in a worker process). May import: hpsearch.errors, hpsearch.spec.
"""

from __future__ import annotations

import re
from typing import Any

from hpsearch.spec.catalog import ALIASES, Hyperparameter, finite_problem
from hpsearch.spec.collector import Finding

ENTRY_FORMS = '"my_pkg.train:main" (an importable module) or "train.py:main" (a file beside the space file)'
# task keys that describe hpsearch's own model, data and Trainer, which a custom task does not use
BUILT_IN_KEYS = ("model", "dataset", "eval_every", "trust_remote_code", "peft", "report_to")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_FUNCTION = re.compile(r"^[A-Za-z_]\w*$")


def parse_entry(text: str) -> tuple[str, str, str]:
    """`task.entry` as (form, target, function): ("file", "train.py", "main") or ("module", "my_pkg.train", "main").

    Raises ValueError saying what is wrong with it.
    """
    target, colon, function = text.strip().rpartition(":")
    if not colon or not target or not _FUNCTION.match(function):
        raise ValueError(f"must name a function as {ENTRY_FORMS}, but got {text!r}")
    if target.endswith(".py"):
        return "file", target, function
    if not _MODULE.match(target):
        raise ValueError(f"{target!r} is neither a module name nor a .py file (give {ENTRY_FORMS})")
    return "module", target, function


def task_problems(raw_task: Any, entry: str | None, custom: bool) -> list[Finding]:
    """The `task:` keys of a custom task: an entry in one of its forms, and none of the built-in tasks' keys;
    `entry` only on a custom task."""
    given = raw_task if isinstance(raw_task, dict) else {}
    if not custom:
        return [(("task", "entry"), "names the training function of task.type: custom (set the type, or remove "
                                    "it)")] if "entry" in given else []
    found: list[Finding] = []
    for key in (k for k in BUILT_IN_KEYS if k in given):
        does = "logs to your tracker itself" if key == "report_to" else "loads its own model and data"
        found.append((("task", key), f"acts only for hpsearch's built-in task types; your training function {does} "
                                     "(remove it)"))
    if entry is None:
        found.append((("task",), f"entry is missing: a custom task names its training function, {ENTRY_FORMS}"))
        return found
    try:
        parse_entry(entry)
    except ValueError as exc:
        found.append((("task", "entry"), str(exc)))
    return found


def user_hyperparameter(name: Any, raw: Any) -> tuple[Hyperparameter | None, str | None]:
    """A `space:` entry of the training function's own (a name the catalogue does not know), as a catalogue
    entry without a documented range; or why it cannot be one. Such an entry says its values in full: a
    `type:` with `low` and `high`, or `choices:`."""
    if not isinstance(name, str) or not _FUNCTION.match(name):
        return None, f"{name!r} cannot be a configuration key: use letters, digits and _"
    if name in ALIASES:
        return None, (f"is called {ALIASES[name]} in hpsearch's catalogue: use that name (your function receives "
                      f"config[{ALIASES[name]!r}])")
    how = (f"{name} is not in hpsearch's catalogue, so it has no documented range: give {{type: float, low: ..., "
           "high: ...} (or type: int) or {choices: [...]}")
    if not isinstance(raw, dict) or "documented" in raw or "recommended" in raw:
        return None, how
    common = {"name": name, "meaning": "your training function's own", "acts_on": "your training function",
              "target": "user", "default": None, "documented": False}
    if "choices" in raw:
        choices = raw["choices"]
        return Hyperparameter(kind="categorical", choices=tuple(choices) if isinstance(choices, list) else (),
                              **common), None
    if raw.get("type") not in ("int", "float"):
        return None, how
    return Hyperparameter(kind=raw["type"], **common), None


def fixed_value_problem(value: Any) -> str | None:
    """Why `value` cannot be a fixed value of the training function's own, or None: a single plain value."""
    if value is None:
        return "needs a value (or remove it)"
    if isinstance(value, (dict, list)):
        return f"must be a single value, but got {value!r} (to search it, move it under space:)"
    return finite_problem(value)
