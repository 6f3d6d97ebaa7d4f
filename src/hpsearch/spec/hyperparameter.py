"""One catalogue entry as data (`Hyperparameter`) and the value rules every entry shares; the entries
themselves are in `catalog.py`."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["float", "int", "categorical"]
Scale = Literal["linear", "log"]
Target = Literal["training_args", "model_config", "model", "data", "loss", "optimizer", "generation", "callback",
                 "user"]  # user: a custom task's own entry (hpsearch.spec.custom)

# The largest value of an integer hyperparameter: what a 32-bit integer holds (torch and the tokenizers
# store such settings in one); beyond it a value is a typo, never a setting (batch_size: 1e29).
INT_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Hyperparameter:
    """One catalogue entry.

    `domain` is the hard validity range (a value outside it is an error); `low`/`high` the documented
    range (a range outside it only earns a warning). `parent` ties an optimizer or loss parameter to the
    choices of that entry under which it acts.
    """

    name: str
    meaning: str
    kind: Kind
    acts_on: str
    target: Target
    default: Any
    scale: Scale = "linear"
    low: float | None = None
    high: float | None = None
    documented: bool = True
    choices: tuple[Any, ...] = ()
    domain: tuple[float | None, float | None] = (None, None)
    domain_open: tuple[bool, bool] = (False, False)
    generation_only: bool = False
    parent: tuple[str, tuple[str, ...]] | None = None
    checkpoints: bool = False  # choices may also name model checkpoints (model_size)
    free_text: bool = False  # besides its choices, any text is a value (lora_target_modules: module names)
    peft: bool = False  # acts only in a parameter-efficient (task.peft: lora) fine-tune
    gpu: bool = False  # some of its choices need a GPU (precision)
    tasks: tuple[str, ...] = ()  # the task types it acts in (packing: sft); empty: every task
    note: str = ""
    aliases: tuple[str, ...] = field(default=(), repr=False)

    @property
    def has_range(self) -> bool:
        """Whether `documented` may stand for this entry's range (or its choices)."""
        return self.documented and (self.low is not None or bool(self.choices))

    def check_value(self, value: Any) -> str | None:
        """Return why `value` is not a valid value of this hyperparameter, or None when it is."""
        if (infinite := finite_problem(value)) is not None:
            return infinite
        if self.kind == "categorical":
            if self.free_text and isinstance(value, str) and value.strip():
                return None
            if value not in self.choices:
                return f"must be one of {', '.join(map(str, self.choices))}, but got {value!r}"
            return None
        if self.checkpoints and isinstance(value, str) and value.strip():
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            what = "an integer" if self.kind == "int" else "a number"
            extra = " or a checkpoint name" if self.checkpoints else ""
            return f"must be {what}{extra}, but got {value!r}"
        number = float(value)  # finite: checked above
        if self.kind == "int" and not number.is_integer():
            return f"must be an integer, but got {value!r}"
        if self.kind == "int" and value > INT_LIMIT:
            return f"must be at most {INT_LIMIT}, but got {value!r}"
        lo, hi = self.domain
        lo_open, hi_open = self.domain_open
        if lo is not None and (value < lo or (lo_open and value == lo)):
            return f"must be {'above' if lo_open else 'at least'} {lo}, but got {value!r}"
        if hi is not None and (value > hi or (hi_open and value == hi)):
            return f"must be {'below' if hi_open else 'at most'} {hi}, but got {value!r}"
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("aliases")
        data["choices"] = list(self.choices)
        data["domain"] = list(self.domain)
        data["domain_open"] = list(self.domain_open)
        data["parent"] = {"entry": self.parent[0], "choices": list(self.parent[1])} if self.parent else None
        return data


def finite_problem(value: Any) -> str | None:
    """Why a number is no hyperparameter's value (nan, inf, an integer beyond any float), or None: the rule of
    the catalogue's entries and of a custom task's own names (hpsearch.spec.custom)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"must be a finite number, but got {value!r}" if number and not abs(value) <= sys.float_info.max else None


