"""A search-space file -> a validated StudySpec, or a SpaceError listing every problem with its line.

Validation happens here, where the spec is built, so nothing later needs to re-check the file: the
study section and the task section are pydantic models that forbid unknown keys; `fixed:` and `space:`
are checked against the catalogue; cross-entry rules (conditions, optimizer / loss parameters,
decoding entries on tasks that generate nothing, grid sampling) come last. Nothing here touches a
database or imports torch.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hpsearch.errors import Problem, SpaceError, did_you_mean, unknown
from hpsearch.search import registry as plugins
from hpsearch.search.reseed import Reseeded
from hpsearch.spec import catalog, objectives, recommended
from hpsearch.spec import reader as source
from hpsearch.spec.assets import BUILTIN_DATASETS, BUILTIN_MODELS
from hpsearch.spec.entry import Entry, parse_entry, with_recommended_prior
from hpsearch.spec.storage_url import DEFAULT_STORAGE, STORAGE_ENV, check_storage
from hpsearch.spec.tasks import TASKS

SECTIONS = ("study", "task", "fixed", "space")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
MAX_TRIALS = 1_000_000  # n_trials; a study is rarely past a few thousand
MAX_JOBS = 256  # n_jobs: trials at once on one machine
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
    trial_timeout: float | None = None
    sampler: dict[str, Any] = Field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = Field(default_factory=lambda: {"name": "plateau"})
    save: Literal["best", "all", "none"] = "best"
    seed: int = Field(default=0, ge=0, le=MAX_SEED)

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


@dataclass(frozen=True)
class StudySpec:
    """A validated search-space file: everything a study needs, and the text it came from."""

    file: str
    text: str
    study: StudyConfig
    task: TaskConfig
    fixed: dict[str, Any]
    space: dict[str, Entry]  # ordered so that every entry comes after those its `when` names
    warnings: tuple[Problem, ...] = field(default=())
    base_dir: str = "."
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE assignments applied over the file's text
    setting: recommended.Setting = field(default_factory=recommended.Setting)  # what the priors depend on

    @property
    def objectives(self) -> tuple[objectives.Objective, ...]:
        """What the study optimizes, in the file's order."""
        return objectives.objectives(self.study.metric, self.study.direction, self.task.type)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def decode_only(self) -> bool:
        """A generation study that tunes decoding alone: its trials generate and score, and train nothing."""
        names = set(self.fixed) | set(self.space)
        return TASKS[self.task.type].generates and bool(names) and all(
            catalog.CATALOG[n].generation_only for n in names)

    @property
    def metric(self) -> str:
        """The evaluation metric watched while training (pruning, early stopping, the kept model)."""
        return objectives.watched(self.objectives, self.task.type).name

    @property
    def direction(self) -> str:
        return objectives.watched(self.objectives, self.task.type).direction

    def improves(self, value: float, best: float | None) -> bool:
        """Whether `value` beats `best` (None: nothing to beat) in the study's direction."""
        if best is None:
            return True
        return value > best if self.direction == "maximize" else value < best

    def problem(self, path: tuple, message: str) -> Problem:
        """`message` about key `path` of this spec, with the file and line it was given on (or --set)."""
        parsed = source.parse(self.text)
        source.override(parsed, self.overrides)
        where = f"{self.file} --set" if parsed.from_command_line(path) else self.file
        return Problem(where, parsed.line(path), _dotted(path), message)

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join((self.text, *self.overrides)).encode()).hexdigest()

    def storage_url(self, override: str | None = None) -> str:
        """--storage, then $HPSEARCH_STORAGE, then the file's study.storage, then the default."""
        return override or os.environ.get(STORAGE_ENV) or self.study.storage or DEFAULT_STORAGE

    def with_budget(self, n_trials: int | None = None, timeout: Any = None, n_jobs: int | None = None) -> StudySpec:
        """The spec with command-line budget overrides applied (validated like the file's own)."""
        problems = []
        update: dict[str, Any] = {}
        for flag, key, value, most in (("--n-trials", "n_trials", n_trials, MAX_TRIALS),
                                       ("--n-jobs", "n_jobs", n_jobs, MAX_JOBS)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(Problem(self.file, None, flag, f"must be at least 1, but got {value!r}"))
            elif value > most:
                problems.append(Problem(self.file, None, flag, f"must be at most {most}, but got {value!r}"))
            update[key] = value
        if timeout is not None:
            try:
                update["timeout"] = parse_duration(timeout)
            except ValueError as exc:
                problems.append(Problem(self.file, None, "--timeout", str(exc)))
        if problems:
            raise SpaceError(problems)
        return replace(self, study=self.study.model_copy(update=update))

    def sampler(self):
        """A fresh sampler as the file asks (for grid: over the space's grid values; TPE: the priors first).

        A seeded one is reseeded per trial (hpsearch.search.reseed), so a resumed or shared study never repeats itself.
        """
        filled = {"search_space": _grid(self.space)} if self.study.sampler.get("name") == "grid" else {}
        config, use_priors = plugins.sampler_config(self.study.sampler, self.study.n_trials)
        instance, _ = plugins.build("sampler", plugins.SAMPLERS, config, **filled)
        seed = config.get("seed")
        if instance is not None and seed is not None:
            instance = Reseeded(instance, seed)
        beliefs = self.priors()
        if instance is not None and use_priors and beliefs:
            from hpsearch.search.prior_sampler import PriorSampler

            return PriorSampler(instance, beliefs, startup=config.get("n_startup_trials", 10), seed=seed)
        return instance

    def priors(self) -> dict[str, Any]:
        """Entry name -> Prior, for every searched entry that has one (the file's own, or the literature's)."""
        return {name: entry.prior for name, entry in self.space.items() if entry.prior is not None}

    def describe_priors(self) -> str:
        """One line: the setting and where the default sampler looks first, for `show` and `--dry-run`."""
        beliefs = self.priors()
        if not beliefs:
            return f"priors ({self.setting.describe()}): none"
        return f"priors ({self.setting.describe()}): " + ", ".join(f"{n} {p.describe()}" for n, p in beliefs.items())

    def pruner(self):
        """A fresh pruner as the file asks (none with several objectives: Optuna cannot prune those)."""
        if self.multi_objective:
            import optuna

            return optuna.pruners.NopPruner()
        config = self.study.pruner
        filled = {}
        if config.get("name") == "plateau" and not {"margin", "relative_margin"} & set(config):
            filled = plugins.noise_margin(self.metric, self.task.dataset.eval_size)
        instance, _ = plugins.build("pruner", plugins.PRUNERS, config, **filled)
        return instance


def load_space(path: str | os.PathLike, overrides: tuple[str, ...] | list[str] = ()) -> StudySpec:
    """Read and validate a search-space file, with `KEY.PATH=VALUE` overrides; SpaceError lists every problem."""
    text = source.read(path)  # a regular file of bounded size only: never a device or a pipe
    return load_text(text, file=str(path), base_dir=str(Path(path).parent), overrides=overrides)


def load_text(text: str, file: str = "<string>", base_dir: str = ".",
              overrides: tuple[str, ...] | list[str] = ()) -> StudySpec:
    """Validate search-space YAML `text` (with --set `overrides` applied); `file` names it in messages."""
    parsed = source.parse(text)
    source.override(parsed, overrides)
    checker = _Checker(file, parsed)
    spec = checker.check(text, base_dir)
    if spec is not None:
        spec = replace(spec, overrides=tuple(overrides))
    if checker.errors:
        raise SpaceError(checker.errors)
    return spec


class _Checker:
    """Collects every problem of one file; each check adds to it and goes on."""

    def __init__(self, file: str, src: source.Source):
        self.file = file
        self.src = src
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        for path, line, message in src.problems:
            where = "--set" if message.startswith("--set") else file
            self.errors.append(Problem(where, line, _dotted(path), message.removeprefix("--set ")))

    def error(self, path: tuple, message: str, warning: bool = False) -> None:
        where = f"{self.file} --set" if self.src.from_command_line(path) else self.file
        problem = Problem(where, self.src.line(path), _dotted(path), message)
        (self.warnings if warning else self.errors).append(problem)

    def check(self, text: str, base_dir: str) -> StudySpec | None:
        data = self.src.data
        if self.src.problems and data is None:
            return None
        if not isinstance(data, dict):
            what = "empty" if data is None else f"a {type(data).__name__}"
            self.error((), f"the file is {what}; it must be a mapping with the keys {', '.join(SECTIONS)}")
            return None
        for key in data:
            if key not in SECTIONS:
                self.error((key,), unknown("section", key, list(SECTIONS)))
        study = self._model(StudyConfig, data, "study", required=True)
        task = self._model(TaskConfig, data, "task", required=False)
        fixed = self._fixed(data.get("fixed"))
        setting = self._setting(task, fixed, base_dir)
        space = self._space(data.get("space"), setting)
        if task is not None:
            self._task(task)
            self._generation_task(task, data.get("task"), study, fixed, space)
        if study is not None and task is not None:
            self._objective(study, task, data.get("study"))
        if task is not None:
            self._generation_only(task, fixed, space)
            self._losses(task, fixed, space)
            self._peft(task, fixed, space)
        self._overlap(fixed, space)
        self._parents(fixed, space)
        ordered = self._conditions(space)
        raw_study = data.get("study")
        if isinstance(raw_study, dict):
            self._plugins(raw_study, space)
        if self.errors or study is None or task is None:
            return None
        return StudySpec(self.file, text, study, task, fixed, ordered, tuple(self.warnings), base_dir, setting=setting)

    # -- sections ------------------------------------------------------------------------------
    def _model(self, model: type[BaseModel], data: dict, key: str, required: bool):
        raw = data.get(key)
        if raw is None:
            if required:
                self.error((), f"the {key}: section is missing (add at least {key}: {{name: my-study}})")
                return None
            raw = {}
        if not isinstance(raw, dict):
            self.error((key,), f"must be a mapping, but got {raw!r}")
            return None
        try:
            return model.model_validate(raw)
        except pydantic.ValidationError as exc:
            for err in exc.errors():
                self._pydantic_error(model, (key,) + tuple(err["loc"]), err)
            return None

    def _pydantic_error(self, model: type[BaseModel], path: tuple, err: dict) -> None:
        kind = err["type"]
        if kind == "extra_forbidden":
            fields = _fields_at(model, path[1:-1])
            self.error(path, unknown("key", path[-1], fields))
        elif kind == "missing":
            self.error(path[:-1], f"{path[-1]} is missing (add it)")
        elif kind == "string_pattern_mismatch" and path[-1] == "name":
            self.error(path, f"{err['input']!r} is not a valid study name (use letters, digits, - _ . only, "
                             "starting with a letter or digit)")
        else:
            message = err["msg"].removeprefix("Value error, ")
            if kind != "value_error" and "input" in err:
                message = f"{message[0].lower()}{message[1:]}, but got {err['input']!r}"
            self.error(path, message)

    def _task(self, task: TaskConfig) -> None:
        if task.type not in TASKS:
            self.error(("task", "type"), unknown("task type", task.type, list(TASKS)))
        ds = task.dataset
        given = [k for k in ("name", "path", "hub") if getattr(ds, k) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            self.error(("task", "dataset"), f"needs exactly one of name, path, hub, but got {what}")
        elif ds.name is not None and ds.name not in BUILTIN_DATASETS:
            self.error(("task", "dataset", "name"),
                       unknown("built-in data set", ds.name, list(BUILTIN_DATASETS)) + " (path: or hub: for others)")

    def _objective(self, study: StudyConfig, task: TaskConfig, raw: dict) -> None:
        pruner = raw.get("pruner")
        pruner_name = pruner.get("name") if isinstance(pruner, dict) else pruner
        for path, message in objectives.problems(study.metric, study.direction, study.constraints, task.type,
                                                 pruner_name):
            self.error(path, message)
        sampler = raw.get("sampler")
        sampler_name = sampler.get("name") if isinstance(sampler, dict) else sampler
        if len(objectives.as_list(study.metric)) > 1 and sampler_name in plugins.SINGLE_OBJECTIVE_SAMPLERS:
            self.error(("study", "sampler"), f"the {sampler_name} sampler handles one objective only (use tpe, "
                                             "nsga2, gp, random or qmc for several)")
        if len(objectives.as_list(study.metric)) > 1 and pruner_name is None:
            self.error(("study", "metric"), "several objectives: pruning is off (Optuna cannot prune such "
                                            "studies), so every trial trains to its end or its early stop",
                       warning=True)

    def _fixed(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.error(("fixed",), f"must map hyperparameter names to values, but got {raw!r}")
            return {}
        fixed = {}
        for name, value in raw.items():
            hp = self._known(("fixed", name), name)
            if hp is None:
                continue
            problem = hp.check_value(value) if not isinstance(value, (dict, list)) else (
                f"must be a single value, but got {value!r} (to search it, move it under space:)")
            if problem:
                hint = did_you_mean(value, list(hp.choices)) if hp.choices else ""
                self.error(("fixed", name), problem + hint)
                continue
            fixed[name] = value
        return fixed

    def _setting(self, task: TaskConfig | None, fixed: dict, base_dir: str) -> recommended.Setting:
        """Full fine-tuning or LoRA, and the model's size: what the literature's recommendations depend on."""
        if task is None:
            return recommended.Setting()
        layers = fixed.get("model_size") if isinstance(fixed.get("model_size"), int) else None
        return recommended.setting_of(task.peft, task.model, base_dir, layers)

    def _space(self, raw: Any, setting: recommended.Setting) -> dict[str, Entry]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.error(("space",), f"must map hyperparameter names to search entries, but got {raw!r}")
            return {}
        space = {}
        recommendations = {name: rec for name in catalog.CATALOG
                           if (rec := recommended.recommend(name, setting)) is not None}
        for name, value in raw.items():
            hp = self._known(("space", name), name)
            if hp is None:
                continue
            entry, errors, warnings = parse_entry(hp, value, recommendations)
            for sub, message in errors:
                self.error(("space", name) + sub, message)
            for sub, message in warnings:
                self.error(("space", name) + sub, message, warning=True)
            if entry is not None:
                space[name] = with_recommended_prior(entry, recommendations.get(name))
        return space

    def _known(self, path: tuple, name: Any) -> catalog.Hyperparameter | None:
        if name in catalog.CATALOG:
            return catalog.CATALOG[name]
        self.error(path, unknown("hyperparameter", name, list(catalog.CATALOG), catalog.ALIASES))
        return None

    # -- rules across entries -----------------------------------------------------------------
    def _generation_only(self, task: TaskConfig, fixed: dict, space: dict) -> None:
        info = TASKS.get(task.type)
        if info is None or info.generates:
            return
        for section, names in (("fixed", fixed), ("space", space)):
            for name in names:
                if catalog.CATALOG[name].generation_only:
                    self.error((section, name), f"acts only when the task generates text, and {task.type} does "
                                                "not (use task.type: generation, or remove it)")

    def _generation_task(self, task: TaskConfig, raw: Any, study: StudyConfig | None, fixed: dict,
                         space: dict) -> None:
        info = TASKS.get(task.type)
        if info is None or not isinstance(raw, dict):
            return
        own = ("prompt_template", "max_new_tokens", "num_samples", "eval_with", "from_study")
        if not info.generates:
            for key in own:
                if key in raw:
                    self.error(("task", key), "acts only for task.type: generation (remove it, or set the type)")
            return
        names = set(fixed) | set(space)
        decode_only = bool(names) and all(catalog.CATALOG[n].generation_only for n in names)
        if task.from_study and not decode_only:
            self.error(("task", "from_study"), "decodes a trained model: the space may then hold only decoding "
                                               "entries (temperature, top_p, top_k); move the others out")
        if decode_only and not task.from_study and task.model in BUILTIN_MODELS:
            self.error(("task", "model"), f"a decoding-only study trains nothing, and {task.model} was never "
                                          "trained to generate: name a trained model (a path, or from_study:)",
                       warning=True)
        if study is not None and not decode_only and task.eval_with == "loss":
            metric = objectives.watched(objectives.objectives(study.metric, study.direction, task.type),
                                        task.type).name
            pruner = study.pruner.get("name")
            if metric != "eval_loss" and pruner != "none" and len(objectives.as_list(study.metric)) <= 1:
                self.error(("task", "eval_with"), f"evaluations during training measure eval_loss, so the "
                                                  f"{pruner} pruner never sees {metric} and will not prune (set "
                                                  "eval_with: generation, or metric: eval_loss, or pruner: none)",
                           warning=True)

    def _losses(self, task: TaskConfig, fixed: dict, space: dict[str, Entry]) -> None:
        """A loss must fit the task's labels: cross entropy for classes, mse / huber for numbers."""
        info = TASKS.get(task.type)
        if info is None or not info.losses:
            return
        fit = ", ".join(info.losses)
        if "loss" in fixed and fixed["loss"] not in info.losses:
            self.error(("fixed", "loss"), f"{fixed['loss']} does not fit {task.type} (it takes {fit})")
        if "loss" in space:
            wrong = [c for c in space["loss"].choices if c not in info.losses]
            if wrong:
                self.error(("space", "loss"), f"{', '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not fit "
                                              f"{task.type} (it takes {fit})")

    def _peft(self, task: TaskConfig, fixed: dict, space: dict) -> None:
        if task.peft == "lora":
            return
        for section, names in (("fixed", fixed), ("space", space)):
            for name in names:
                if catalog.CATALOG[name].peft:
                    self.error((section, name), "acts only in a LoRA fine-tune (add peft: lora under task:, or "
                                                "remove it)")

    def _overlap(self, fixed: dict, space: dict) -> None:
        for name in set(fixed) & set(space):
            self.error(("space", name), "is also under fixed: (keep it in one place)")

    def _parents(self, fixed: dict, space: dict[str, Entry]) -> None:
        """Optimizer and loss parameters act only under their choice: check it, or add the condition."""
        for section, names in (("fixed", fixed), ("space", space)):
            for name in list(names):
                hp = catalog.CATALOG[name]
                if hp.parent is None:
                    continue
                parent, allowed = hp.parent
                rule = f"{name} acts only when {parent} is {' or '.join(allowed)}"
                if parent in fixed:
                    if fixed[parent] not in allowed:
                        self.error((section, name), f"{rule}, but fixed.{parent} is {fixed[parent]} (remove it)")
                elif parent in space:
                    sampled = [c for c in space[parent].choices if c in allowed]
                    if not sampled:
                        self.error((section, name), f"{rule}, which space.{parent} never samples (remove it)")
                    elif section == "space" and parent in space[name].when:
                        wrong = [v for v in space[name].when[parent] if v not in allowed]
                        if wrong:
                            self.error((section, name, "when", parent), f"{rule}, not under {wrong} (remove them)")
                    elif section == "space":
                        entry = space[name]
                        space[name] = replace(entry, when={**entry.when, parent: tuple(sampled)})
                    elif section == "fixed":
                        self.error((section, name), f"{rule}, but {parent} is searched (move {name} under space: "
                                                    f"so it is sampled only then)")
                elif catalog.CATALOG[parent].default not in allowed:
                    self.error((section, name), f"{rule}, and {parent} is left at its default "
                                                f"{catalog.CATALOG[parent].default} (set it under fixed: or space:)")

    def _conditions(self, space: dict[str, Entry]) -> dict[str, Entry]:
        """Check every `when:` and return the space ordered so that conditions come before their users."""
        for name, entry in space.items():
            for other, values in entry.when.items():
                path = ("space", name, "when", other)
                if other == name:
                    self.error(path, "an entry cannot depend on itself")
                elif other not in space:
                    if other in catalog.CATALOG:
                        self.error(path, f"names {other}, which is not searched, so the condition never changes "
                                         "(drop it, or add it under space:)")
                    else:
                        self.error(path, unknown("entry", other, list(space)))
                elif space[other].kind != "categorical":
                    self.error(path, f"{other} is not categorical; conditions need an entry with choices")
                else:
                    bad = [v for v in values if v not in space[other].choices]
                    if bad:
                        self.error(path, f"{bad} not among the choices of {other} "
                                         f"({', '.join(map(str, space[other].choices))})")
        ordered: dict[str, Entry] = {}
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in ordered or name not in space:
                return
            if name in visiting:
                self.error(("space", name, "when"), "conditions form a cycle (an entry depends on itself)")
                return
            visiting.add(name)
            for other in space[name].when:
                visit(other)
            visiting.discard(name)
            ordered[name] = space[name]

        for name in space:
            visit(name)
        return ordered

    def _plugins(self, raw_study: dict, space: dict[str, Entry]) -> None:
        """Build the sampler and pruner once, so Optuna's own option checks run at validation."""
        configs = {}
        for key, default in (("sampler", "tpe"), ("pruner", "plateau")):
            config = raw_study.get(key, default)
            configs[key] = {"name": config} if isinstance(config, str) else config
        filled = {}
        if isinstance(configs["sampler"], dict) and configs["sampler"].get("name") == "grid":
            continuous = [name for name, entry in space.items() if entry.grid_values() is None]
            for name in continuous:
                self.error(("space", name), "the grid sampler needs choices or a step on a float entry "
                                            "(add step: or choices:)")
            if any(entry.when for entry in space.values()):
                self.error(("study", "sampler"), "the grid sampler does not handle when: conditions "
                                                 "(use another sampler, or drop the conditions)", warning=True)
            filled["search_space"] = _grid(space)
        if isinstance(configs["sampler"], dict):
            n_trials = raw_study.get("n_trials", 20)
            configs["sampler"], use_priors = plugins.sampler_config(configs["sampler"],
                                                                    n_trials if isinstance(n_trials, int) else 20)
            if not isinstance(use_priors, bool):
                self.error(("study", "sampler", "priors"), f"must be true or false, but got {use_priors!r}")
        for kind, registry, key in (("sampler", plugins.SAMPLERS, "sampler"), ("pruner", plugins.PRUNERS, "pruner")):
            if not isinstance(configs[key], dict):
                continue  # the study model has already said what is wrong with it
            infinite = [k for k, v in configs[key].items() if isinstance(v, float) and not math.isfinite(v)]
            for option in infinite:
                self.error(("study", key, option), f"must be a finite number, but got {configs[key][option]!r}")
            _, errors = ([], []) if infinite else plugins.build(kind, registry, configs[key], **filled)
            for option, message in errors:
                self.error(("study", key, option) if option else ("study", key), message)
            filled = {}


def _grid(space: dict[str, Entry]) -> dict[str, list]:
    return {name: entry.grid_values() or [] for name, entry in space.items()}


def _fields_at(model: type[BaseModel], path: tuple) -> list[str]:
    for key in path:
        annotation = model.model_fields[key].annotation if key in model.model_fields else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return list(model.model_fields)


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)
