"""The schema of the `study:` and `task:` sections: pydantic models that forbid unknown keys and bound every
number, and how their errors read as hpsearch's messages (the key path and the rule, the value given).

Limits sit beside the fields they bound; `parse_duration` reads `timeout: 1h30m` for them and for --timeout.
"""

from __future__ import annotations

import math
import re
import typing
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hpsearch.errors import unknown
from hpsearch.spec import catalog
from hpsearch.spec.collector import Finding
from hpsearch.spec.storage_url import check_storage
from hpsearch.spec.trackers import TRACKERS

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
MAX_TRIALS = 1_000_000  # n_trials; a study is rarely past a few thousand
MAX_JOBS = 256  # n_jobs: trials at once on one machine
MAX_TRIALS_PER_GPU = 64  # trials_per_gpu: past that, each trial's share of even a 141 GB GPU is under 2.2 GB
MAX_DURATION = 365 * 24 * 3600  # timeout and trial_timeout, in seconds
MAX_SEED = 2**32 - 1  # numpy's and transformers' seeds must fit 32 bits
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds in `value`: a number of seconds, or text such as '90s', '15m', '1h30m'."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 15m, 2h or 90s, but got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match or not any(match.groups()):
            raise ValueError(f"must be a duration such as 15m, 2h or 90s, but got {value!r}")
        hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not math.isfinite(seconds):
        raise ValueError(f"must be a duration such as 15m, 2h or 90s, but got {value!r}")
    if not seconds > 0:
        raise ValueError(f"must be above 0, but got {value!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"must be at most 365 days ({MAX_DURATION // 3600}h), but got {value!r}")
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


Direction = Literal["maximize", "minimize"]


class Bound(_Model):
    """One constraint: the recorded quantity must stay at most `max` and / or at least `min`."""

    max: float | None = None
    min: float | None = None


class WarmStartConfig(_Model):
    """`study.warm_start:`: earlier studies of this database whose complete trials the sampler learns from."""

    from_: list[str] = Field(alias="from", min_length=1, max_length=100)  # study names (hpsearch.spec.warm_start)
    top: int | None = Field(default=None, ge=1, le=MAX_TRIALS)  # the best N of each source; default: every one

    @field_validator("from_", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"must be a study name or a list of them, but got {value!r}")
        for name in names:
            if "://" in name or "/" in name or ":" in name:
                raise ValueError(f"{name!r}: name a study of this study's own database; copy one from another "
                                 "database first (hpsearch copy NAME --from URL --to URL)")
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not a study name (letters, digits, - _ . only)")
        return names

    @field_validator("top", mode="before")
    @classmethod
    def _top(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"must be a positive integer (the best N trials of each study), but got {value!r}")
        return value


class StudyConfig(_Model):
    """The `study:` section: what to optimize, where to store it, how to search and prune."""

    name: str = Field(pattern=NAME_PATTERN)
    storage: str | None = None
    direction: Direction | list[Direction] | None = None
    metric: str | list[str] | None = None
    constraints: dict[str, Bound] = Field(default_factory=dict)
    n_trials: int = Field(default=20, ge=1, le=MAX_TRIALS)
    timeout: float | None = None
    n_jobs: int = Field(default=1, ge=1, le=MAX_JOBS)
    trials_per_gpu: int = Field(default=1, ge=1, le=MAX_TRIALS_PER_GPU)  # trials sharing each GPU at once
    trial_timeout: float | None = None
    sampler: dict[str, Any] = Field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = Field(default_factory=lambda: {"name": "plateau"})
    save: Literal["best", "all", "none"] = "best"
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    start_with: list[dict[str, Any]] = Field(default_factory=list)  # known configurations, run first (spec.start_with)
    warm_start: WarmStartConfig | None = None  # earlier studies the sampler learns from (spec.warm_start)

    @field_validator("warm_start", mode="before")
    @classmethod
    def _warm_start(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"must be a mapping such as {{from: [earlier-study], top: 20}}, but got {value!r}")
        return value

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if value is not None and item not in ("maximize", "minimize"):
                raise ValueError(f"must be maximize or minimize (or a list of them, one per metric), but got {item!r}")
        return value

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if value is not None and (not items or not all(isinstance(i, str) and i for i in items)):
            raise ValueError(f"must be a metric name (or a list of them), but got {value!r}")
        return value

    @field_validator("timeout", "trial_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _plugin(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        problem = None if value is None else check_storage(value)
        if problem:
            raise ValueError(problem)
        return value


class DatasetConfig(_Model):
    """The `task.dataset:` section: one of a built-in name, a local file, or a Hub data set."""

    name: str | None = None
    path: str | None = None
    hub: str | None = None
    config: str | None = None
    split: str = "train"
    eval_split: str | None = None
    train_size: int | None = Field(default=None, ge=1, le=catalog.INT_LIMIT)
    eval_size: int | None = Field(default=None, ge=1, le=catalog.INT_LIMIT)
    text_column: str = "text"
    label_column: str = "label"
    prompt_column: str | None = None  # generation: default "prompt" (built-in tweets: text)
    target_column: str | None = None  # generation: default "target" (built-in tweets: sentiment)
    # sft: which of TRL's data forms the rows are (auto: told by the columns) and where each form's columns are
    format: Literal["auto", "messages", "prompt-completion", "text"] = "auto"
    messages_column: str = "messages"
    completion_column: str = "completion"
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


class TaskConfig(_Model):
    """The `task:` section: what each trial trains, on which model and data, evaluated how often."""

    type: str = "sequence-classification"
    model: str = "minilm-l6"
    dataset: DatasetConfig = Field(default_factory=lambda: DatasetConfig(name="tweets-sentiment"))
    eval_every: int = Field(default=50, ge=1, le=catalog.INT_LIMIT)
    trust_remote_code: bool = False  # run a Hub model's own Python code only when the file says so
    peft: Literal["lora"] | None = None  # train LoRA adapters instead of every weight
    # generation only: how prompts are shown, generated for and scored
    prompt_template: str = "{prompt}"
    max_new_tokens: int = Field(default=16, ge=1, le=4096)
    num_samples: int = Field(default=1, ge=1, le=64)  # generations per prompt, averaged
    eval_with: Literal["loss", "generation"] = "loss"  # what evaluations during training measure
    from_study: str | None = Field(default=None, pattern=NAME_PATTERN)  # decode the best model of that study
    report_to: list[str] = Field(default_factory=list)  # experiment trackers each trial logs to (spec/trackers.py)
    # sft only: a Jinja chat template file for a tokenizer without one; the loss on completions / assistant turns
    # only (None: on for messages and prompt / completion data, off for plain text)
    chat_template: str | None = None
    completion_only_loss: bool | None = None
    entry: str | None = None  # custom only: the training function, "my_pkg.train:main" or "train.py:main"

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{prompt}" not in value:
            raise ValueError(f"must contain {{prompt}} where the prompt goes, but got {value!r}")
        return value

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _custom_model(self) -> TaskConfig:
        # a custom task trains no hpsearch model: its entry names what `studies` and `show` list as the model
        if self.type == "custom" and "model" not in self.model_fields_set:
            self.model = self.entry or "custom"
        return self

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to(cls, value: Any) -> Any:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"must be a tracker's name or a list of them ({', '.join(TRACKERS)}), but got {value!r}")
        for name in names:
            if name not in TRACKERS and name != "none":
                raise ValueError(unknown("tracker", name, list(TRACKERS)))
        return list(dict.fromkeys(n for n in names if n != "none"))




def read_section(model: type[BaseModel], data: dict, key: str, required: bool) -> tuple[Any, list[Finding]]:
    """Section `key` of the file's mapping `data` validated by `model`: the value (None when it is missing
    and `required`, or invalid) and what is wrong with it."""
    raw = data.get(key)
    if raw is None:
        if required:
            return None, [((), f"the {key}: section is missing (add at least {key}: {{name: my-study}})")]
        raw = {}
    if not isinstance(raw, dict):
        return None, [((key,), f"must be a mapping, but got {raw!r}")]
    try:
        return model.model_validate(raw), []
    except pydantic.ValidationError as exc:
        return None, [_finding(model, (key,) + tuple(err["loc"]), err) for err in exc.errors()]


def _finding(model: type[BaseModel], path: tuple, err: dict) -> Finding:
    """One pydantic error as hpsearch says it: unknown keys with the nearest known one, the value given."""
    kind = err["type"]
    if kind == "extra_forbidden":
        return path, unknown("key", path[-1], _fields_at(model, path[1:-1]))
    if kind == "missing":
        return path[:-1], f"{path[-1]} is missing (add it)"
    if kind == "string_pattern_mismatch" and path[-1] == "name":
        return path, (f"{err['input']!r} is not a valid study name (use letters, digits, - _ . only, starting "
                      "with a letter or digit)")
    message = err["msg"].removeprefix("Value error, ")
    if kind != "value_error" and "input" in err:
        message = f"{message[0].lower()}{message[1:]}, but got {err['input']!r}"
    return path, message


def _fields_at(model: type[BaseModel], path: tuple) -> list[str]:
    for key in path:
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        annotation = fields[key].annotation if key in fields else None
        for kind in (annotation, *typing.get_args(annotation)):  # an optional section: `X | None`
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                model = kind
    return [f.alias or name for name, f in model.model_fields.items()]
