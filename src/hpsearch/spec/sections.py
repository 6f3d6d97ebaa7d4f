"""The four sections of a search-space file read into values, each with what is wrong with it.

`study:` and `task:` go through the schema; `fixed:` and `space:` through the catalogue and the entry
forms. A section that cannot be read is left out (None, or empty), and reading goes on, so that one run
reports every problem of the file. The rules across sections (hpsearch.spec.rules) then look at `Sections`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpsearch.errors import did_you_mean, unknown
from hpsearch.spec import catalog, custom, recommended
from hpsearch.spec.collector import Finding
from hpsearch.spec.entry import Entry, parse_entry, with_recommended_prior
from hpsearch.spec.schema import StudyConfig, TaskConfig, read_section
from hpsearch.spec.tasks import TASKS

SECTIONS = ("study", "task", "fixed", "space")


@dataclass(frozen=True)
class Sections:
    """A file's mapping (`raw`) and its sections as read: None or empty where a section could not be read."""

    raw: dict[str, Any]
    study: StudyConfig | None = None
    task: TaskConfig | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Entry] = field(default_factory=dict)
    setting: recommended.Setting = field(default_factory=recommended.Setting)


def read_sections(data: dict[str, Any], base_dir: str) -> tuple[Sections, list[Finding], list[Finding]]:
    """Every section of the file's mapping `data`, in the file's order of concern.

    Returns:
        The sections, the errors and the warnings found while reading them.
    """
    errors: list[Finding] = [((key,), unknown("section", key, list(SECTIONS))) for key in data if key not in SECTIONS]
    study, found = read_section(StudyConfig, data, "study", required=True)
    errors += found
    task, found = read_section(TaskConfig, data, "task", required=False)
    errors += found
    # a custom task's function may take names of its own; the literature's priors are for fine-tuning only
    own = task is not None and task.type in TASKS and TASKS[task.type].custom
    fixed, found = read_fixed(data.get("fixed"), own)
    errors += found
    setting = setting_of(task, fixed, base_dir)
    space, found, warnings = read_space(data.get("space"), setting, own)
    errors += found
    return Sections(data, study, task, fixed, space, setting), errors, warnings


def read_fixed(raw: Any, own: bool = False) -> tuple[dict[str, Any], list[Finding]]:
    """The `fixed:` section: catalogue names -> single values, each checked against its catalogue entry
    (`own`: a custom task, whose function may also take single values of its own names)."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [(("fixed",), f"must map hyperparameter names to values, but got {raw!r}")]
    fixed: dict[str, Any] = {}
    errors: list[Finding] = []
    for name, value in raw.items():
        if own and isinstance(name, str) and name not in catalog.CATALOG and name not in catalog.ALIASES:
            problem = custom.fixed_value_problem(value)
            if problem:
                errors.append((("fixed", name), problem))
            else:
                fixed[name] = value
            continue
        hp = _known(("fixed", name), name, errors)
        if hp is None:
            continue
        problem = hp.check_value(value) if not isinstance(value, (dict, list)) else (
            f"must be a single value, but got {value!r} (to search it, move it under space:)")
        if problem:
            hint = did_you_mean(value, list(hp.choices)) if hp.choices else ""
            errors.append((("fixed", name), problem + hint))
            continue
        fixed[name] = value
    return fixed, errors


def setting_of(task: TaskConfig | None, fixed: dict[str, Any], base_dir: str) -> recommended.Setting:
    """Full fine-tuning or LoRA, and the model's size: what the literature's recommendations depend on."""
    if task is None:
        return recommended.Setting()
    layers = fixed.get("model_size") if isinstance(fixed.get("model_size"), int) else None
    return recommended.setting_of(task.peft, task.model, base_dir, layers, decoder=task.type == "sft")


def read_space(raw: Any, setting: recommended.Setting, own: bool = False,
               ) -> tuple[dict[str, Entry], list[Finding], list[Finding]]:
    """The `space:` section: catalogue names -> entries (hpsearch.spec.entry), with the errors and warnings
    (`own`: a custom task, whose function may also take names of its own, with their values in full)."""
    if raw is None:
        return {}, [], []
    if not isinstance(raw, dict):
        return {}, [(("space",), f"must map hyperparameter names to search entries, but got {raw!r}")], []
    space: dict[str, Entry] = {}
    errors: list[Finding] = []
    warnings: list[Finding] = []
    recommendations = {} if own else {name: rec for name in catalog.CATALOG
                                      if (rec := recommended.recommend(name, setting)) is not None}
    for name, value in raw.items():
        hp = _own(name, value, errors) if own and name not in catalog.CATALOG else _known(("space", name), name, errors)
        if hp is None:
            continue
        entry, wrong, doubtful = parse_entry(hp, value, recommendations)
        errors += [(("space", name) + sub, message) for sub, message in wrong]
        warnings += [(("space", name) + sub, message) for sub, message in doubtful]
        if entry is not None:
            space[name] = with_recommended_prior(entry, recommendations.get(name))
    return space, errors, warnings


def _known(path: tuple, name: Any, errors: list[Finding]) -> catalog.Hyperparameter | None:
    if name in catalog.CATALOG:
        return catalog.CATALOG[name]
    errors.append((path, unknown("hyperparameter", name, list(catalog.CATALOG), catalog.ALIASES)))
    return None


def _own(name: Any, value: Any, errors: list[Finding]) -> catalog.Hyperparameter | None:
    hp, problem = custom.user_hyperparameter(name, value)
    if problem:
        errors.append((("space", name), problem))
    return hp
