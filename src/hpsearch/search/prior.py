"""A prior: where a search entry's good values are believed to lie, before any trial has run.

A numeric prior is a normal distribution on the entry's own scale (log10 for a log range), truncated to
the range; a categorical one favours one choice and spreads the rest of the probability evenly. A prior
comes from the file (`prior:` with an optional `confidence:`) or from the literature's recommendation for
the study's setting (`recommended.py`). Pure: no I/O, no Optuna state.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from optuna.distributions import IntDistribution

from hpsearch.numbers import number

DEFAULT_CONFIDENCE = 0.5
# A recommendation's prior is never narrower than this share of the searched range (on its scale): a
# user who searches a wide range is less sure than the literature, and the sampler must still explore.
MIN_SPREAD = 0.1
RECOMMENDED_WEIGHT = 0.6  # the recommended choice of a categorical entry, against the others together


@dataclass(frozen=True)
class Prior:
    """The centre of the belief (a choice for a categorical entry) and how sure it is.

    `spread` is the standard deviation on the entry's scale (numeric entries); `weight` the probability
    of the favoured choice (categorical entries). `source` says where the belief comes from.
    """

    value: Any
    spread: float | None = None
    weight: float | None = None
    source: str = "the file"

    def describe(self) -> str:
        if self.weight is not None:
            return f"{self.value} ({self.weight:.0%} of draws)"
        return f"{number(self.value, 6)} (+-{self.spread:.2g} on its scale)"


def _scale(x: float, log: bool) -> float:
    return math.log10(x) if log else x


def _unscale(y: float, log: bool) -> float:
    return 10**y if log else y


def _bounds(distribution) -> tuple[float, float, bool]:
    return float(distribution.low), float(distribution.high), bool(distribution.log)


def width(distribution) -> float:
    """The searched range's width on its own scale."""
    low, high, log = _bounds(distribution)
    return _scale(high, log) - _scale(low, log)


def from_confidence(distribution, value: Any, confidence: float = DEFAULT_CONFIDENCE,
                    source: str = "the file") -> Prior:
    """A prior centred on `value` for an Optuna distribution, `confidence` in [0, 1): 0 is flat.

    Numeric: the spread is (1 - confidence) x half the range's width on its scale. Categorical: the favoured
    choice gets confidence + (1 - confidence) / k of the probability, k being the number of choices.
    """
    if hasattr(distribution, "choices"):
        k = len(distribution.choices)
        return Prior(value, weight=confidence + (1 - confidence) / k, source=source)
    return Prior(value, spread=(1 - confidence) * width(distribution) / 2, source=source)


def from_recommendation(distribution, value: Any, low: float | None, high: float | None, source: str) -> Prior | None:
    """The prior a literature recommendation gives on this distribution, or None when it does not apply.

    Numeric: centred on the recommended value (moved to the nearer bound when the searched range excludes
    it), spread half the recommended range's width on the entry's scale, never under MIN_SPREAD of the
    searched range. Categorical: the recommended choice, when searched, gets RECOMMENDED_WEIGHT.
    """
    if hasattr(distribution, "choices"):
        if value not in distribution.choices or len(distribution.choices) < 2:
            return None
        return Prior(value, weight=max(RECOMMENDED_WEIGHT, 1 / len(distribution.choices)), source=source)
    lo, hi, log = _bounds(distribution)
    centre = min(max(float(value), lo), hi)
    spread = MIN_SPREAD * width(distribution)
    if low is not None and high is not None and (not log or low > 0):
        spread = max(spread, (_scale(high, log) - _scale(low, log)) / 2)
    return Prior(centre, spread=spread, source=source)


def centre(prior: Prior, distribution) -> Any:
    """The prior's most likely value, as a value of `distribution`."""
    if hasattr(distribution, "choices"):
        return prior.value
    return _snap(float(prior.value), distribution)


def sample(prior: Prior, distribution, rng: random.Random) -> Any:
    """One value drawn from `prior`, inside `distribution`."""
    if hasattr(distribution, "choices"):
        others = [c for c in distribution.choices if c != prior.value]
        if not others or rng.random() < prior.weight:
            return prior.value
        return rng.choice(others)
    low, high, log = _bounds(distribution)
    a, b = _scale(low, log), _scale(high, log)
    mean = _scale(min(max(float(prior.value), low), high), log)
    spread = max(prior.spread or 0.0, 1e-12)
    for _ in range(64):  # rejection from the normal; the centre lies inside, so this ends quickly
        y = rng.gauss(mean, spread)
        if a <= y <= b:
            return _snap(_unscale(y, log), distribution)
    return _snap(_unscale(min(max(rng.gauss(mean, spread), a), b), log), distribution)


def _snap(x: float, distribution) -> Any:
    """`x` as a value the distribution holds: inside its bounds, on its step, an int where it is one."""
    low, high = distribution.low, distribution.high
    step = getattr(distribution, "step", None)
    if step:
        x = low + round((x - low) / step) * step
    x = min(max(x, low), high)
    if isinstance(distribution, IntDistribution):
        return int(round(x))
    return float(x)


def density(prior: Prior, distribution, x: Any) -> float:
    """The prior's (unnormalised) density at `x`: 1 at the centre, for tests and plots."""
    if hasattr(distribution, "choices"):
        if x == prior.value:
            return prior.weight
        return (1 - prior.weight) / max(len(distribution.choices) - 1, 1)
    _, _, log = _bounds(distribution)
    z = (_scale(float(x), log) - _scale(float(prior.value), log)) / max(prior.spread, 1e-12)
    return math.exp(-0.5 * z * z)
