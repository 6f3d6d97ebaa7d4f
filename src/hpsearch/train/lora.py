"""LoRA through peft: the pretrained weights stay frozen, small low-rank adapters (and the new head) train.

A trial's lora_r, lora_alpha, lora_dropout and lora_target_modules shape the adapters; what is saved for
the kept model is the adapter alone (peft's save_pretrained), a few hundred kilobytes, not the model.
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import TrialSetupError
from hpsearch.spec import catalog

# The attention projections' names across architectures, for lora_target_modules: attention.
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj", "query", "key", "value", "c_attn", "q_lin", "k_lin", "v_lin",
             "out_lin", "qkv_proj", "Wqkv")


def target_modules(value: str, linear: list[str] | None = None) -> str | list[str] | None:
    """peft's target_modules for lora_target_modules: None (peft's default), all-linear, the attention
    projections among the model's `linear` layer names, or a list of names."""
    if value == "default":
        return None
    if value == "all-linear":
        return "all-linear"
    if value == "attention":
        return [name for name in linear or () if name in ATTENTION]
    return [name.strip() for name in value.split(",") if name.strip()]


def linear_names(model: Any) -> list[str]:
    """The names (last part) of the model's linear layers."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear)})


def wrap(model: Any, config: dict[str, Any], task_type: str, notes: list[str]):
    """`model` with LoRA adapters shaped by the trial's values; only the adapters and the head train."""
    from peft import LoraConfig, get_peft_model

    def value(name: str) -> Any:
        return config.get(name, catalog.get(name).default)

    linear = linear_names(model)
    targets = target_modules(str(value("lora_target_modules")), linear)
    if isinstance(targets, list):
        missing = [t for t in targets if t not in linear] or ([] if targets else ["of the attention projections"])
        if missing:
            raise TrialSetupError(f"lora_target_modules: no linear layer named {', '.join(missing)} in this "
                                  f"{model.config.model_type} model (its linear layers: {', '.join(linear)})")
    lora = LoraConfig(task_type=task_type, r=int(value("lora_r")), lora_alpha=int(value("lora_alpha")),
                      lora_dropout=float(value("lora_dropout")),
                      target_modules=targets)
    try:
        wrapped = get_peft_model(model, lora)
    except ValueError as exc:  # peft: no default target modules for this architecture, or names not found
        raise TrialSetupError(f"lora_target_modules: {str(exc).splitlines()[0][:300]} (name the model's linear "
                              "layers, comma-separated, or use all-linear)") from None
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    total = sum(p.numel() for p in wrapped.parameters())
    notes.append(f"LoRA: {trainable} of {total} parameters train ({100 * trainable / total:.2f}%)")
    return wrapped
