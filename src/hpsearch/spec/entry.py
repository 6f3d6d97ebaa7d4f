"""One `space:` entry: its accepted forms, parsed by a pure function into an `Entry`.

Forms (see the README): `documented`; `recommended`; `{low, high}` with optional `log`, `step`,
`type: int|float`; `{choices: [...]}`; `{documented: true}`; `{recommended: true}`; each mapping form may add
`when: {entry: value | [values]}` and `prior: value` with an optional `confidence: 0 .. 1`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from hpsearch.errors import did_you_mean, unknown
from hpsearch.numbers import number
from hpsearch.search import prior as priors
from hpsearch.spec.catalog import Hyperparameter
from hpsearch.spec.collector import Finding  # here, the key path below the entry
from hpsearch.spec.recommended import Recommendation

RANGE_KEYS = ("low", "high", "log", "step", "type")
PRIOR_KEYS = ("prior", "confidence")
ENTRY_KEYS = RANGE_KEYS + ("choices", "documented", "recommended", "when") + PRIOR_KEYS


@dataclass(frozen=True)
class Entry:
    """A validated search dimension: a numeric range or a list of choices, maybe under conditions."""

    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    prior: priors.Prior | None = None  # where the default sampler looks first (the file's, or the literature's)

    def to_distribution(self):
        """The Optuna distribution this entry samples from."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)

    def grid_values(self) -> list[Any] | None:
        """Every value a grid search visits, or None when the entry is continuous."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is not None:
            count = round((self.high - self.low) / self.step)
            return [round(self.low + i * self.step, 12) for i in range(count + 1)]
        return None

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        text = f"{number(self.low, 6)} .. {number(self.high, 6)}"
        if self.log:
            text += " log"
        if self.step is not None:
            text += f" step {number(self.step, 6)}"
        return text


def grid_space(space: dict[str, Entry]) -> dict[str, list]:
    """Every entry's grid values ([] for a continuous one): the grid sampler's search space."""
    return {name: entry.grid_values() or [] for name, entry in space.items()}


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def parse_entry(hp: Hyperparameter, raw: Any, recommendations: dict[str, Recommendation] | None = None,
                ) -> tuple[Entry | None, list[Finding], list[Finding]]:
    """Parse one `space:` value for catalogue entry `hp`.

    Args:
        recommendations: the literature's recommendations in the study's setting, by name (`recommended`).

    Returns:
        The entry (None when it is invalid), the errors and the warnings, each with its key path.
    """
    errors: list[Finding] = []
    warnings: list[Finding] = []
    if raw in ("documented", "recommended"):
        raw = {raw: True}
    if not isinstance(raw, dict):
        if isinstance(raw, list):
            fix = f"write {{choices: {raw}}}"
        elif raw is None:
            fix = "give documented, recommended, {low: ..., high: ...} or {choices: [...]}"
        else:
            fix = f"a single value belongs under fixed: ({hp.name}: {raw!r}); to search, give a range or choices"
        return None, [((), f"is not a search entry: {raw!r} ({fix})")], []
    for key in raw:
        if key not in ENTRY_KEYS:
            errors.append(((key,), unknown("key", key, list(ENTRY_KEYS))))
    when = _parse_when(raw.get("when"), errors)
    if "recommended" in raw:
        entry = _parse_recommended(hp, raw, when, recommendations or {}, errors)
    elif "documented" in raw:
        entry = _parse_documented(hp, raw, when, errors)
    elif "choices" in raw:
        clash = [k for k in RANGE_KEYS if k in raw]
        if clash:
            errors.append(((clash[0],), "cannot be combined with choices (give a range or choices, not both)"))
        entry = _parse_choices(hp, raw["choices"], when, errors, warnings)
    elif hp.kind == "categorical":
        return None, errors + [((), f"is categorical; give {{choices: [...]}} from {', '.join(hp.choices)}")], []
    else:
        entry = _parse_range(hp, raw, when, errors, warnings)
        rec = (recommendations or {}).get(hp.name)
        inside = entry is not None and rec is not None and rec.low is not None
        if inside and rec.low <= entry.low < entry.high <= rec.high:
            warnings.clear()  # beyond the documented range, inside what the literature recommends for fine-tuning
    if entry is not None and not errors and any(key in raw for key in PRIOR_KEYS):
        entry = _with_prior(entry, raw, errors)
    return (None if errors else entry), errors, warnings


def _parse_documented(hp, raw, when, errors) -> Entry | None:
    if raw["documented"] is not True:
        errors.append((("documented",), f"must be true, but got {raw['documented']!r}"))
    clash = [k for k in RANGE_KEYS + ("choices",) if k in raw]
    if clash:
        errors.append(((clash[0],), "cannot be combined with documented (drop one of them)"))
    if not hp.has_range:
        if hp.low is not None:
            message = (f"has no documented range; give {{low: {number(hp.low, 6)}, high: {number(hp.high, 6)}}} "
                       "(the conventional range)")
        else:
            message = f"{hp.note}; give {{low: ..., high: ...}} or {{choices: [...]}}"
        errors.append(((), message))
    if errors:
        return None
    if hp.choices:
        return Entry(hp.name, "categorical", choices=hp.choices, when=when)
    return Entry(hp.name, hp.kind, low=hp.low, high=hp.high, log=hp.scale == "log", when=when)


def _parse_recommended(hp, raw, when, recommendations: dict[str, Recommendation], errors) -> Entry | None:
    """`recommended`: the literature's range for the study's setting (a categorical entry: its choices)."""
    if raw["recommended"] is not True:
        errors.append((("recommended",), f"must be true, but got {raw['recommended']!r}"))
    clash = [k for k in RANGE_KEYS + ("choices", "documented") if k in raw]
    if clash:
        errors.append(((clash[0],), "cannot be combined with recommended (drop one of them)"))
    rec = recommendations.get(hp.name)
    if rec is None:
        having = ", ".join(sorted(recommendations)) or "none"
        errors.append(((), f"has no recommendation in this setting; entries that have one: {having}"))
    if errors:
        return None
    if hp.kind == "categorical":
        return with_recommended_prior(Entry(hp.name, "categorical", choices=hp.choices, when=when), rec)
    entry = Entry(hp.name, hp.kind, low=rec.low, high=rec.high, log=hp.scale == "log", when=when)
    return with_recommended_prior(entry, rec)


def _with_prior(entry: Entry, raw: dict, errors: list[Finding]) -> Entry | None:
    """The entry with the file's own `prior:` (and `confidence:`), checked against the entry's values."""
    if "prior" not in raw:
        errors.append((("confidence",), "needs a prior: value to be confident about (add prior:)"))
        return None
    value, confidence = raw["prior"], raw.get("confidence", priors.DEFAULT_CONFIDENCE)
    if not _is_number(confidence) or not 0 <= confidence < 1:
        errors.append((("confidence",), f"must be a number from 0 (no better than flat) up to, not including, 1, "
                                        f"but got {confidence!r}"))
    if entry.kind == "categorical":
        if isinstance(value, (dict, list)) or value not in entry.choices:
            errors.append((("prior",), f"must be one of the choices {', '.join(map(str, entry.choices))}, "
                                       f"but got {value!r}"))
    elif not _is_number(value):
        errors.append((("prior",), f"must be a number, but got {value!r}"))
    elif not entry.low <= value <= entry.high:
        errors.append((("prior",), f"({number(value, 6)}) must lie in the range {entry.describe()}"))
    elif entry.kind == "int" and not float(value).is_integer():
        errors.append((("prior",), f"must be an integer for an int entry, but got {value!r}"))
    if errors:
        return None
    belief = priors.from_confidence(entry.to_distribution(), value, float(confidence))
    return replace(entry, prior=belief)


def _parse_when(raw: Any, errors: list[Finding]) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        errors.append((("when",), f"must map entry names to a value or a list of values, but got {raw!r}"))
        return {}
    when: dict[str, tuple[Any, ...]] = {}
    for name, values in raw.items():
        values = tuple(values) if isinstance(values, list) else (values,)
        if not values:
            errors.append((("when", name), "needs at least one value"))
            continue
        when[str(name)] = values
    return when


def _parse_choices(hp, raw, when, errors, warnings) -> Entry | None:
    if not isinstance(raw, list) or not raw:
        errors.append((("choices",), f"must be a non-empty list, but got {raw!r}"))
        return None
    for index, value in enumerate(raw):
        if isinstance(value, (dict, list)):
            errors.append((("choices", index), f"must be a plain value, but got {value!r}"))
            continue
        problem = hp.check_value(value)
        if problem:
            hint = did_you_mean(value, list(hp.choices)) if hp.choices and isinstance(value, str) else ""
            errors.append((("choices", index), problem + hint))
    if errors:
        return None
    if len(set(map(repr, raw))) != len(raw):
        errors.append((("choices",), f"lists a value twice: {raw} (keep each once)"))
        return None
    if hp.low is not None and hp.documented:
        outside = [v for v in raw if _is_number(v) and not hp.low <= v <= hp.high]
        if outside:
            warnings.append((("choices",), f"{outside} lie outside the documented range "
                                           f"{number(hp.low, 6)} .. {number(hp.high, 6)}"))
    return Entry(hp.name, "categorical", choices=tuple(raw), when=when)


def _parse_range(hp, raw, when, errors, warnings) -> Entry | None:
    """`{low, high}` with optional `log`, `step` and `type`: a numeric range of the entry's own kind."""
    kind = _range_kind(hp, raw.get("type", hp.kind), errors)
    if kind is None:
        return None
    bounds = _bounds(hp, raw, kind, errors)
    log, step = _log_and_step(raw, kind, errors)
    if errors or len(bounds) < 2:
        return None
    low, high = bounds["low"], bounds["high"]
    _check_range(low, high, log, step, errors)
    if errors:
        return None
    if hp.documented and hp.low is not None and (low < hp.low or high > hp.high):
        warnings.append(((), f"range {number(low, 6)} .. {number(high, 6)} reaches beyond the documented "
                             f"{number(hp.low, 6)} .. {number(hp.high, 6)}"))
    if step is not None:
        step = float(step) if kind == "float" else int(step)
    return Entry(hp.name, kind, low=low, high=high, log=log, step=step, when=when)


def _range_kind(hp, kind, errors) -> str | None:
    """`type:` may only repeat the catalogue's kind: an int hyperparameter is never searched as floats."""
    if kind not in ("int", "float"):
        errors.append((("type",), f"must be int or float, but got {kind!r}"))
        return None
    if kind != hp.kind:
        article = "an" if hp.kind == "int" else "a"
        errors.append((("type",), f"{hp.name} is {article} {hp.kind} hyperparameter; drop type: {kind}"))
        return None
    return kind


def _bounds(hp, raw, kind, errors) -> dict[str, int | float]:
    """`low` and `high`, each a number of the entry's kind that the catalogue allows (those that are)."""
    bounds = {}
    for key in ("low", "high"):
        if key not in raw:
            errors.append(((), f"{key} is missing (give both low and high, or choices)"))
            continue
        value = raw[key]
        if not _is_number(value):
            errors.append(((key,), f"must be a number, but got {value!r}"))
        elif kind == "int" and not float(value).is_integer():
            errors.append(((key,), f"must be an integer for an int entry, but got {value!r}"))
        else:
            problem = hp.check_value(value)
            if problem:
                errors.append(((key,), problem))
            bounds[key] = int(value) if kind == "int" else float(value)
    return bounds


def _log_and_step(raw, kind, errors) -> tuple[bool, Any]:
    """`log:` (true or false) and `step:` (a number above 0, whole for an int entry), each on its own."""
    log = raw.get("log", False)
    if not isinstance(log, bool):
        errors.append((("log",), f"must be true or false, but got {log!r}"))
        log = False
    step = raw.get("step")
    if step is not None and (not _is_number(step) or step <= 0):
        errors.append((("step",), f"must be a number above 0, but got {step!r}"))
        step = None
    if step is not None and kind == "int" and not float(step).is_integer():
        errors.append((("step",), f"must be an integer for an int entry, but got {step!r}"))
        step = None
    return log, step


def _check_range(low, high, log, step, errors) -> None:
    """The bounds and options together: low below high, above 0 on a log scale, a step that divides."""
    if low > high:
        errors.append((("low",), f"low ({number(low, 6)}) must be below high ({number(high, 6)}) (swap them)"))
    elif low == high:
        errors.append((("low",), f"low equals high ({number(low, 6)}); a single value belongs under fixed:"))
    if log and low <= 0:
        errors.append((("low",), f"must be above 0 on a log scale, but got {number(low, 6)} (raise it or drop log)"))
    if log and step is not None:
        errors.append((("step",), "cannot be combined with log: true (Optuna samples either; drop one)"))
    if step is not None and not errors:
        count = (high - low) / step
        if abs(count - round(count)) > 1e-9:
            fixed_high = low + math.floor(count + 1e-9) * step
            errors.append((("step",), f"{number(step, 6)} does not divide high - low ({number(high - low, 6)}); "
                                      f"set high to {number(fixed_high, 6)}"))


def with_recommended_prior(entry: Entry, rec: Recommendation | None) -> Entry:
    """The entry with the literature's recommendation as its prior, unless it has its own (or none applies)."""
    if entry.prior is not None or rec is None:
        return entry
    belief = priors.from_recommendation(entry.to_distribution(), rec.value, rec.low, rec.high, rec.source)
    return entry if belief is None else replace(entry, prior=belief)
