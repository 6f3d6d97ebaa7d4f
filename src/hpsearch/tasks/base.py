"""What every task hands the worker, and the model helpers they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hpsearch import assets, catalog
from hpsearch.errors import HpsearchError


class TrialSetupError(HpsearchError):
    """A trial's values cannot be applied to this model or data (the trial fails with this reason)."""


class ModelMissing(HpsearchError):
    """The model names a local folder that does not exist."""

    exit_code = 2


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


class Task(Protocol):
    def setup(self, job: Any, config: dict[str, Any]) -> Setup:
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


def load_config(path: str, config: dict[str, Any], notes: list[str], **overrides: Any):
    """The model config with the trial's dropout, attention dropout and layer count applied."""
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(path, **overrides)
    kind = model_config.model_type
    for name, table in (("dropout", catalog.DROPOUT_ATTRIBUTES), ("attention_dropout",
                                                                  catalog.ATTENTION_DROPOUT_ATTRIBUTES)):
        if name not in config:
            continue
        attributes = table.get(kind)
        if not attributes:
            raise TrialSetupError(f"{name}: {kind} models have no {name.replace('_', ' ')} attribute that hpsearch "
                                  f"knows (it knows {', '.join(table)}); remove {name} from the space")
        for attribute in attributes:
            setattr(model_config, attribute, float(config[name]))
    layers = config.get("model_size")
    if isinstance(layers, int):
        attribute = next((a for a in ("num_hidden_layers", "n_layer", "num_layers") if hasattr(model_config, a)), None)
        total = getattr(model_config, attribute, None) if attribute else None
        if total is None:
            raise TrialSetupError(f"model_size: {kind} models have no layer count hpsearch can change")
        if layers > total:
            raise TrialSetupError(f"model_size: {layers} layers asked, but the model has {total}")
        setattr(model_config, attribute, layers)
        notes.append(f"kept {layers} of {total} layers")
    return model_config
