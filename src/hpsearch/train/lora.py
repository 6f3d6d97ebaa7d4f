"""LoRA through peft: the pretrained weights stay frozen, small low-rank adapters (and the new head) train.

A trial's lora_r, lora_alpha, lora_dropout and lora_target_modules shape the adapters; what is saved for
the kept model is the adapter alone (peft's save_pretrained), a few hundred kilobytes, not the model.
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import TrialSetupError
from hpsearch.spec import catalog


def target_modules(value: str) -> str | list[str] | None:
    """peft's target_modules for lora_target_modules: None (peft's default), all-linear, or a list of names."""
    if value == "default":
        return None
    if value == "all-linear":
        return "all-linear"
    return [name.strip() for name in value.split(",") if name.strip()]


def wrap(model: Any, config: dict[str, Any], task_type: str, notes: list[str]):
    """`model` with LoRA adapters shaped by the trial's values; only the adapters and the head train."""
    from peft import LoraConfig, get_peft_model

    def value(name: str) -> Any:
        return config.get(name, catalog.get(name).default)

    targets = target_modules(str(value("lora_target_modules")))
    if isinstance(targets, list):
        import torch

        linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                         if isinstance(module, torch.nn.Linear)})
        missing = [t for t in targets if t not in linear]
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
