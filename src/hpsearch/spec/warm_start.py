"""Warm start from earlier studies: `study.warm_start: {from: [NAME, ...], top: N}` in the space file.

The complete trials of the named studies (same database) whose values fit this space become history the
sampler learns from (hpsearch.search.warm_start); they are never trials of this study. What the file alone
can say is checked here (`problems`, one of hpsearch.spec.rules); which studies exist, and their
objectives, only the database knows (hpsearch.store.history). Pure: nothing here touches a database.

A source trial fits when, walking this space in sampling order, every entry this space would sample under
the trial's own values (conditions respected: an entry whose `when:` does not hold is not required) has a
value in the trial that the entry can sample: inside its range and on its step, of its kind, among its
choices. Values this space does not sample are left out, so a source that searched more entries still
informs the ones searched here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hpsearch.search import registry as plugins
from hpsearch.spec.collector import Finding
from hpsearch.spec.entry import Entry
from hpsearch.spec.start_with import fit as fit_value
from hpsearch.spec.suggest import active

LEARNING_SAMPLERS = ("tpe", "gp")  # samplers that learn from every finished trial of the study they are given


def problems(study, n_objectives: int) -> list[Finding]:
    """What is wrong with a validated `study:` section's warm_start, as far as the file can tell."""
    warm = study.warm_start
    if warm is None:
        return []
    found: list[Finding] = []
    for index, name in enumerate(warm.from_):
        if name == study.name:
            found.append((("from", index), f"{name} is this study itself; its own trials inform it already"))
        elif name in warm.from_[:index]:
            found.append((("from", index), f"{name} is named twice (give each study once)"))
    sampler = study.sampler.get("name")
    if sampler in plugins.SAMPLERS and sampler not in LEARNING_SAMPLERS:
        found.append(((), f"the {sampler} sampler does not learn from earlier trials; warm start needs "
                          f"{' or '.join(LEARNING_SAMPLERS)} (study.sampler)"))
    if warm.top is not None and n_objectives > 1:
        found.append((("top",), "keeps the best trials by one objective, and this study has several (drop top: "
                                "to learn from every trial)"))
    return found


def fit(values: dict[str, Any], space: dict[str, Entry]) -> tuple[dict[str, Any] | None, str | None]:
    """A source trial's `values` as this (dependency-ordered) space samples them, or why they do not fit:
    a short reason such as 'learning_rate outside this space' or 'no warmup_ratio'."""
    fitted: dict[str, Any] = {}
    for name, entry in space.items():
        if not active(entry, fitted):
            continue  # inactive under the trial's own values: not required, not used
        if name not in values:
            return None, f"no {name}"
        value, problem = fit_value(entry, values[name])
        if problem:
            return None, f"{name} outside this space"
        fitted[name] = value
    return fitted, None


def best(trials: list[tuple[int, Any, float]], maximize: bool, top: int | None) -> list[tuple[int, Any, float]]:
    """The `top` best of (number, item, value) by value (ties: the earlier trial), in trial order; all for None."""
    if top is None:
        return list(trials)
    ranked = sorted(trials, key=lambda t: (-t[2] if maximize else t[2], t[0]))[:top]
    return sorted(ranked, key=lambda t: t[0])


def describe(name: str, used: int, skipped: Counter) -> str:
    """One line for the run's start: how many trials of study `name` inform the sampler, and why others do not."""
    trials = "1 trial of study {} informs" if used == 1 else f"{used} trials of study {{}} inform"
    line = f"warm start: {trials.format(name)} the sampler"
    if skipped:
        reasons = ", ".join(f"{reason} ({count})" for reason, count in skipped.most_common())
        line += f"; {sum(skipped.values())} skipped: {reasons}"
    return line
