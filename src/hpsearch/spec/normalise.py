"""The space rewritten into its explicit form before any rule looks at it, and put in sampling order.

An optimizer's or a loss's own parameter (momentum, focal_gamma) acts only under its choice. Where that
choice is itself searched, the entry gets the condition the file left implicit: `momentum: documented`
beside `optimizer: {choices: [sgd, adamw]}` is sampled only `when: {optimizer: sgd}`. The rules
(hpsearch.spec.rules) then check one form only, and the study samples what they checked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hpsearch.spec import catalog
from hpsearch.spec.entry import Entry


def implicit_conditions(fixed: dict[str, Any], space: dict[str, Entry]) -> dict[str, Entry]:
    """`space` with each parameter whose parent choice is searched conditioned on the parent's values that
    use it, unless the entry already names that parent under `when:` (the rules check what it names).

    A parent also under `fixed:`, or never sampling a value that uses the parameter, adds nothing: the
    rules report those.
    """
    explicit = dict(space)
    for name, entry in space.items():
        parent_rule = catalog.CATALOG[name].parent if name in catalog.CATALOG else None  # a custom task's own
        if parent_rule is None:
            continue
        parent, allowed = parent_rule
        if parent in fixed or parent not in space or parent in entry.when:
            continue
        sampled = tuple(c for c in space[parent].choices if c in allowed)
        if sampled:
            explicit[name] = replace(entry, when={**entry.when, parent: sampled})
    return explicit


def dependency_order(space: dict[str, Entry]) -> tuple[dict[str, Entry], list[str]]:
    """The space ordered so that every entry comes after those its `when:` names (the order it is sampled
    in), and the entries found closing a cycle of conditions (left out of the order where they close it)."""
    ordered: dict[str, Entry] = {}
    visiting: set[str] = set()
    cycles: list[str] = []

    def visit(name: str) -> None:
        if name in ordered or name not in space:
            return
        if name in visiting:
            cycles.append(name)
            return
        visiting.add(name)
        for other in space[name].when:
            visit(other)
        visiting.discard(name)
        ordered[name] = space[name]

    for name in space:
        visit(name)
    return ordered, cycles
