"""A trial's values as the transformers Trainer's arguments: the mapping from catalogue names to
TrainingArguments fields, pure and torch-free, shared by the worker and `hpsearch best --format args`."""

from __future__ import annotations

from typing import Any

from hpsearch.spec import catalog

# adamw: transformers' own default AdamW (the fused kernel on torch >= 2.8: about 15% faster a step on CPU)
FUSED_ADAMW = "adamw_torch_fused"


def value_of(config: dict[str, Any], name: str) -> Any:
    """The trial's value of catalogue entry `name`, or the catalogue's default."""
    return config.get(name, catalog.get(name).default)


def trainer_kwargs(config: dict[str, Any], adamw: str = FUSED_ADAMW) -> dict[str, Any]:
    """The TrainingArguments fields that the trial's values set (the knobs the Trainer owns)."""
    optimizer = value_of(config, "optimizer")
    scheduler = value_of(config, "lr_scheduler")
    # the schedules' own shape: transformers' defaults would make these two copies of cosine and linear
    scheduler_kwargs = {"cosine_with_restarts": {"num_cycles": int(value_of(config, "lr_cycles"))},
                        "polynomial": {"power": float(value_of(config, "lr_power"))}}.get(scheduler, {})
    return {
        "learning_rate": float(value_of(config, "learning_rate")),
        "per_device_train_batch_size": int(value_of(config, "batch_size")),
        "num_train_epochs": float(value_of(config, "num_epochs")),
        "max_steps": int(config.get("max_steps") or -1),  # when set, it wins over num_epochs
        "weight_decay": float(value_of(config, "weight_decay")),
        "warmup_steps": float(value_of(config, "warmup_ratio")),  # a float below 1 is a ratio of the steps
        "gradient_accumulation_steps": int(value_of(config, "gradient_accumulation_steps")),
        "optim": {"adamw": adamw, "sgd": "sgd", "adafactor": "adafactor"}[optimizer],
        "optim_args": f"momentum={value_of(config, 'momentum')}" if optimizer == "sgd" else None,
        "adam_beta1": float(value_of(config, "beta1")),
        "adam_beta2": float(value_of(config, "beta2")),
        "adam_epsilon": float(value_of(config, "epsilon")),
        "lr_scheduler_type": scheduler,
        "lr_scheduler_kwargs": scheduler_kwargs,
        "max_grad_norm": float(value_of(config, "max_grad_norm")),
        **_mixed_precision(value_of(config, "precision")),
    }


def _mixed_precision(precision: str) -> dict[str, bool]:
    """bf16=True or fp16=True for mixed precision (checked against the GPUs when the run starts); fp32: nothing."""
    return {} if precision == "fp32" else {precision: True}


def completion_only(task: Any, form: str) -> bool:
    """task.completion_only_loss, or its default: on for messages and prompt / completion data, off for text."""
    return task.completion_only_loss if task.completion_only_loss is not None else form != "text"


def sft_kwargs(config: dict[str, Any], form: str, completion_only: bool) -> dict[str, Any]:
    """The SFTConfig fields (TRL) that a sft trial's values and data form set, beyond trainer_kwargs'. SFTConfig's
    own defaults that differ from TrainingArguments' (bf16 and gradient checkpointing on) are set explicitly."""
    alpha = config.get("neftune_noise_alpha")
    return {
        "max_length": int(config.get("sequence_length", 1024)),  # TRL's default; the catalogue's 128 fits encoders
        "packing": bool(value_of(config, "packing")),
        "completion_only_loss": completion_only and form == "prompt-completion",
        "assistant_only_loss": completion_only and form == "messages",
        "gradient_checkpointing": bool(value_of(config, "gradient_checkpointing")),
        "neftune_noise_alpha": float(alpha) if alpha is not None else None,
        "bf16": value_of(config, "precision") == "bf16",
    }
