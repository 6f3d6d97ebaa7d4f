"""What every task hands the worker, and the model helpers they share."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hpsearch.errors import ModelMissing, Problem, TrialSetupError
from hpsearch.spec import assets, catalog
from hpsearch.spec.tasks import TASKS
from hpsearch.trial import TrialJob


@dataclass
class Setup:
    """Everything a Trainer needs for one trial, built by a task."""

    model: Any
    tokenizer: Any
    train_dataset: Any
    eval_dataset: Any
    data_collator: Any
    compute_metrics: Callable | None
    compute_loss_func: Callable | None = None
    notes: list[str] = field(default_factory=list)
    # metrics the Trainer's evaluation cannot compute: (model, metrics) -> more metrics
    extra_metrics: Callable | None = None  # at every evaluation (perplexity; generation scores if the file asks)
    final_metrics: Callable | None = None  # once, on the kept model, after training (generation scores)
    scorer: Any = None  # generation: scores prompts one by one (a decoding-only trial's whole work)
    # a task with its own Trainer (sft: TRL's SFTTrainer and SFTConfig); None: transformers' Trainer and
    # TrainingArguments. `arguments` are the extra fields of its arguments class, `trainer_kwargs` its own
    trainer_class: Any = None
    arguments_class: Any = None
    arguments: dict[str, Any] = field(default_factory=dict)
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)


def reduce(each: Any, num_items_in_batch: Any = None) -> Any:
    """One loss from per-example losses: their sum over the items of all accumulated batches, so that k
    accumulated batches of b give the gradient of one batch of k x b (the Trainer does not divide a
    `compute_loss_func` loss by k); their mean where no count is given (evaluation)."""
    if num_items_in_batch is None:
        return each.mean()
    return each.sum() / num_items_in_batch


class Task(Protocol):
    def setup(self, job: TrialJob, config: dict[str, Any]) -> Setup:
        """Build the model, data and metrics of one trial with hyperparameters `config`."""


def resolve_model(model_size: Any, model: str, base_dir: str) -> str:
    """A local folder or Hub id for the model: a checkpoint given as model_size wins over task.model."""
    name = model_size if isinstance(model_size, str) else model
    if name in assets.BUILTIN_MODELS:
        return str(assets.locate(assets.BUILTIN_MODELS[name]))
    local = Path(name).expanduser()
    if not local.is_absolute() and (Path(base_dir) / local).exists():
        local = Path(base_dir) / local
    if local.exists():
        return str(local)
    if name.startswith((".", "/", "~")):
        raise ModelMissing(f"model {name!r}: no such folder (relative paths are read from the space file's folder)")
    return name  # a Hub id: transformers fetches it where a network exists


def _knob_problem(name: str, kind: str) -> str | None:
    """Why dropout-like entry `name` cannot act on `kind` models, or None when it can."""
    table = catalog.DROPOUT_ATTRIBUTES if name == "dropout" else catalog.ATTENTION_DROPOUT_ATTRIBUTES
    if kind in table:
        return None
    return (f"{kind} models have no {name.replace('_', ' ')} attribute that hpsearch knows (it knows "
            f"{', '.join(sorted(table))}); remove {name} from the space")


def _layer_attribute(model_config) -> str | None:
    if getattr(model_config, "is_encoder_decoder", False):
        return None  # an encoder and a decoder: which layers to keep is not one number
    return next((a for a in catalog.LAYER_ATTRIBUTES if hasattr(model_config, a)), None)


def load_config(path: str, config: dict[str, Any], notes: list[str], **overrides: Any):
    """The model config with the trial's dropout, attention dropout and layer count applied."""
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(path, **overrides)
    kind = model_config.model_type
    for name in ("dropout", "attention_dropout"):
        if name not in config:
            continue
        problem = _knob_problem(name, kind)
        if problem:
            raise TrialSetupError(f"{name}: {problem}")
        table = catalog.DROPOUT_ATTRIBUTES if name == "dropout" else catalog.ATTENTION_DROPOUT_ATTRIBUTES
        for attribute in table[kind]:
            setattr(model_config, attribute, float(config[name]))
    layers = config.get("model_size")
    if isinstance(layers, int):
        attribute = _layer_attribute(model_config)
        if attribute is None:
            raise TrialSetupError(f"model_size: {kind} models have no layer count hpsearch can change")
        total = getattr(model_config, attribute)
        if layers > total:
            raise TrialSetupError(f"model_size: {layers} layers asked, but the model has {total}")
        # from_pretrained then loads the first `layers` layers' weights and drops the rest
        setattr(model_config, attribute, layers)
        notes.append(f"kept {layers} of {total} layers")
    return model_config


def check_model(spec) -> list[Problem]:
    """The space against the model it tunes, before any trial: a knob the architecture lacks is an error.

    Reads only the models' config files (task.model, and each checkpoint model_size names).
    """
    from transformers import AutoConfig

    problems: list[Problem] = []

    def problem(path: tuple, message: str) -> None:  # at the key's line in the file, whatever --set changed
        problems.append(Problem(spec.file, spec.document.file_line(path), ".".join(map(str, path)), message))

    size = spec.fixed.get("model_size", spec.space.get("model_size"))
    size_path = ("fixed" if "model_size" in spec.fixed else "space", "model_size")
    values = [size] if not hasattr(size, "kind") else (list(size.choices) if size.kind == "categorical"
                                                       else [int(size.high)])
    names = [spec.task.model] + [v for v in values if isinstance(v, str)]
    layers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    for name in dict.fromkeys(names):
        path = ("task", "model") if name == spec.task.model else size_path
        try:
            model_config = AutoConfig.from_pretrained(resolve_model(name, name, spec.base_dir),
                                                      trust_remote_code=spec.task.trust_remote_code)
        except (OSError, ValueError) as exc:
            problem(path, f"{name!r}: cannot read the model's config ({str(exc).splitlines()[0][:200]})")
            continue
        kind = model_config.model_type
        for entry in ("dropout", "attention_dropout"):
            if entry in spec.fixed or entry in spec.space:
                why = _knob_problem(entry, kind)
                if why:
                    problem(("fixed" if entry in spec.fixed else "space", entry), why)
        if layers and name == spec.task.model:
            attribute = _layer_attribute(model_config)
            if attribute is None:
                problem(size_path, f"{kind} models have no single layer count to cut (layer counts work for "
                                   "encoder-only and decoder-only models; give checkpoint names instead)")
            elif max(layers) > getattr(model_config, attribute):
                problem(size_path, f"asks for up to {max(layers)} layers, but {name} has "
                                   f"{getattr(model_config, attribute)} (lower it)")
    own = getattr(importlib.import_module(TASKS[spec.task.type].module), "check", None)  # a task's own checks
    return problems + (own(spec) if own is not None and not problems else [])
