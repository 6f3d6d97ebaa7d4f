"""What the fine-tuning literature recommends, as data: a value and a range per hyperparameter and setting.

The catalogue (`catalog.py`) keeps each hyperparameter's *documented* range exactly as the source we follow
gives it. That range is for training in general; fine-tuning a pretrained transformer works in a narrower,
well-studied region, which this module records beside it, with its source. A recommendation depends on the
setting a study declares: full fine-tuning or LoRA adapters, and the model's size.

A space entry written `recommended` searches the recommended range; every entry with a recommendation also
gets it as its *prior* (where the default sampler looks first, see `prior.py`), unless the entry gives its
own `prior:`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Size = Literal["small", "base", "large", "under-1b", "1b-10b", "over-10b"]  # the last three: decoder LLMs (sft)
Method = Literal["full", "lora"]

SMALL_BELOW = 60e6  # parameters: BERT-small / MiniLM and below fine-tune like the BERT miniatures
LARGE_ABOVE = 200e6  # BERT-large / RoBERTa-large and above want the large-model rates

BERT = "BERT (Devlin et al. 2019), appendix A.3"
MINIATURES = "BERT miniatures (Turc et al. 2019; google-research/bert README)"
ROBERTA = "RoBERTa (Liu et al. 2019), GLUE fine-tuning, table 10"
MOSBACH = "Mosbach et al. 2021, On the Stability of Fine-tuning BERT"
LORA = "LoRA (Hu et al. 2022), appendix D, tables 9 and 11"
SMOOTHING = "Szegedy et al. 2016 (label smoothing 0.1)"
QLORA = "QLoRA (Dettmers et al. 2023)"
REGRET = "LoRA Without Regret (Thinking Machines 2025): LoRA's best learning rate is about 10x full fine-tuning's"
UNSLOTH = "practitioners' default: Unsloth's notebooks"
LLAMA_FACTORY = "practitioners' default: LLaMA-Factory's LoRA SFT examples"
DECODER_SIZES: tuple[Size, ...] = ("under-1b", "1b-10b", "over-10b")


@dataclass(frozen=True)
class Setting:
    """What a recommendation depends on: how the model is fine-tuned, and how big it is."""

    method: Method = "full"
    size: Size = "base"

    def describe(self) -> str:
        return f"{'LoRA' if self.method == 'lora' else 'full fine-tuning'}, {self.size} model"


@dataclass(frozen=True)
class Recommendation:
    """A recommended value (the prior's centre; a choice for a categorical entry) and range, with the source."""

    value: Any
    source: str
    low: float | None = None
    high: float | None = None


# (name, method or None for both, size or None for all) -> recommendation; the most specific key wins.
_TABLE: dict[tuple[str, Method | None, Size | None], Recommendation] = {
    # The learning rate depends on the setting most: small models take larger steps, adapters larger still.
    ("learning_rate", "full", "base"): Recommendation(3e-5, f"{BERT}: 2e-5, 3e-5, 5e-5", 2e-5, 5e-5),
    ("learning_rate", "full", "small"): Recommendation(1e-4, f"{MINIATURES}: best of 3e-5 .. 3e-4", 3e-5, 3e-4),
    ("learning_rate", "full", "large"): Recommendation(1.5e-5, f"{ROBERTA}: 1e-5, 2e-5, 3e-5", 1e-5, 3e-5),
    ("learning_rate", "lora", None): Recommendation(4e-4, f"{LORA}: 4e-4 .. 5e-4 (RoBERTa), 2e-4 (GPT-2)",
                                                    2e-4, 8e-4),
    ("batch_size", None, None): Recommendation(16, f"{BERT}: 16, 32; {ROBERTA}: 16, 32", 16, 32),
    ("num_epochs", None, None): Recommendation(3, f"{BERT}: 2, 3, 4 ({MOSBACH}: more on small data)", 2, 4),
    ("warmup_ratio", None, None): Recommendation(0.06, f"{ROBERTA}: 6%; {MOSBACH}: 10%", 0.0, 0.1),
    ("weight_decay", None, None): Recommendation(0.01, f"BERT's optimizer: 0.01; {ROBERTA}: 0.1", 0.01, 0.1),
    ("dropout", None, None): Recommendation(0.1, f"{BERT}: 0.1 in every layer; {ROBERTA}: 0.1", 0.05, 0.2),
    ("attention_dropout", None, None): Recommendation(0.1, f"{BERT}: 0.1; {ROBERTA}: 0.1", 0.05, 0.2),
    ("max_grad_norm", None, None): Recommendation(1.0, f"BERT's optimizer clips at 1.0; {MOSBACH}: 1.0", 0.5, 2.0),
    ("optimizer", None, None): Recommendation("adamw", f"{BERT}; {ROBERTA}; {MOSBACH} (Adam with bias correction)"),
    ("lr_scheduler", None, None): Recommendation("linear", f"{BERT}; {ROBERTA} (linear decay after warm-up)"),
    ("beta1", None, None): Recommendation(0.9, f"{BERT}; {ROBERTA}", 0.9, 0.95),
    ("beta2", None, None): Recommendation(0.98, f"{ROBERTA}: 0.98 (stabler than BERT's 0.999)", 0.98, 0.999),
    ("epsilon", None, None): Recommendation(1e-6, f"{ROBERTA}: 1e-6; BERT's optimizer: 1e-6", 1e-8, 1e-6),
    ("label_smoothing", None, None): Recommendation(0.1, SMOOTHING, 0.05, 0.2),
    ("lora_r", "lora", None): Recommendation(8, f"{LORA}: r = 8 (RoBERTa), 4 (GPT-2)", 4, 8),
    ("lora_alpha", "lora", None): Recommendation(16, f"{LORA}: alpha = 8 with r = 8 (RoBERTa), 32 with r = 4 "
                                                     "(GPT-2)", 8, 32),
    ("lora_dropout", "lora", None): Recommendation(0.1, f"{LORA}: 0.1 (GPT-2); {QLORA}: 0.1, 0.05 for 33B+",
                                                   0.05, 0.1),
    # Decoder LLMs instruction-tuned (task.type: sft), by size: the QLoRA paper's grid, LoRA Without Regret's ratio
    # for full fine-tuning, and the practitioners' defaults named as such.
    ("learning_rate", "lora", "under-1b"): Recommendation(2e-4, f"{LORA}: 2e-4 (GPT-2 124M-774M); {UNSLOTH}: 2e-4",
                                                          1e-4, 5e-4),
    ("learning_rate", "lora", "1b-10b"): Recommendation(2e-4, f"{QLORA}: 2e-4 for 7B and 13B; {UNSLOTH}: 2e-4; "
                                                        f"{LLAMA_FACTORY}: 1e-4", 1e-4, 3e-4),
    ("learning_rate", "lora", "over-10b"): Recommendation(1e-4, f"{QLORA}: 1e-4 for 33B and 65B", 5e-5, 2e-4),
    ("learning_rate", "full", "under-1b"): Recommendation(2e-5, f"{REGRET}: a tenth of LoRA's 2e-4", 1e-5, 5e-5),
    ("learning_rate", "full", "1b-10b"): Recommendation(2e-5, f"{REGRET}: a tenth of QLoRA's 2e-4", 1e-5, 3e-5),
    ("learning_rate", "full", "over-10b"): Recommendation(1e-5, f"{REGRET}: a tenth of QLoRA's 1e-4", 5e-6, 2e-5),
    **{("lora_r", "lora", size): Recommendation(r, f"{QLORA}: r = 64 (rank matters little once every linear layer "
                                                   f"is adapted); {UNSLOTH}: r = 16", low, 64)
       for size, r, low in (("under-1b", 16, 8), ("1b-10b", 16, 8), ("over-10b", 64, 16))},
    **{("lora_alpha", "lora", size): Recommendation(16, f"{QLORA}: alpha = 16; {UNSLOTH}: alpha = 16 (= r)", 16, 64)
       for size in DECODER_SIZES},
    **{("lora_dropout", "lora", size): Recommendation(0.1, f"{QLORA}: 0.1 up to 13B; {UNSLOTH}: 0", 0.0, 0.1)
       for size in ("under-1b", "1b-10b")},
    ("lora_dropout", "lora", "over-10b"): Recommendation(0.05, f"{QLORA}: 0.05 for 33B and 65B", 0.0, 0.1),
    **{("lora_target_modules", "lora", size): Recommendation("all-linear", f"{QLORA}: every linear layer, needed "
                                                             "to match 16-bit full fine-tuning; " + REGRET.split(":")[0]
                                                             + ": all layers, the MLP ones first")
       for size in DECODER_SIZES},
    **{("quantization", "lora", size): Recommendation(q, f"{QLORA}: 4-bit NF4 matches 16-bit LoRA and puts 33B-65B "
                                                         "on one 48 GB GPU; below that, only where memory is short")
       for size, q in (("under-1b", "none"), ("1b-10b", "none"), ("over-10b", "4bit"))},
    **{("gradient_checkpointing", None, size): Recommendation(size != "under-1b", "TRL's SFTConfig: on by default "
                                                              "(memory for ~20% compute); off where memory is ample")
       for size in DECODER_SIZES},
    ("packing", None, None): Recommendation(False, "TRL's SFTConfig: off by default (on: faster on short examples)"),
    ("neftune_noise_alpha", None, None): Recommendation(5.0, "NEFTune (Jain et al. 2023): alpha 5, 10, 15", 5.0, 15.0),
}


def recommend(name: str, setting: Setting) -> Recommendation | None:
    """The recommendation for `name` in `setting`, or None where the literature gives none."""
    for key in ((name, setting.method, setting.size), (name, setting.method, None), (name, None, None)):
        if key in _TABLE:
            return _TABLE[key]
    return None


def table() -> list[dict[str, Any]]:
    """Every recommendation, for `hpsearch ranges`: name, setting, value, range and source."""
    rows = []
    for (name, method, size), rec in _TABLE.items():
        rows.append({"name": name, "method": method or "any", "size": size or "any", "value": rec.value,
                     "low": rec.low, "high": rec.high, "source": rec.source})
    return rows


def setting_of(method: str | None, model: str, base_dir: str, layers: int | None = None,
               decoder: bool = False) -> Setting:
    """The setting of a study: LoRA or full fine-tuning, and the size class of its model.

    The size comes from the model's config.json where it is on disk (no weights are read, nothing is
    imported), else from its name (`...-large`, `...-small`); a Hub model seen only by name counts as base.
    `layers` is model_size when it keeps fewer layers than the model has. A `decoder` LLM (task.type sft) is
    sized in billions of parameters instead (`decoder_size`).
    """
    size = decoder_size(model, base_dir, layers) if decoder else _size(model, base_dir, layers)
    return Setting("lora" if method == "lora" else "full", size)


def decoder_size(model: str, base_dir: str, layers: int | None = None) -> Size:
    """A decoder LLM's size class: from its config.json on disk, else from the count in its name
    (`SmolLM2-135M-Instruct`, `Llama-3.1-8B`); a name without one counts as 1b-10b, the common case."""
    config = _config_file(model, base_dir)
    count = None
    if config is not None:
        try:
            count = estimated_parameters(json.loads(config.read_text()), layers)
        except (OSError, ValueError, TypeError):
            count = None
    if count is None and (found := re.findall(r"(\d+(?:\.\d+)?)([mb])(?![a-z])", model.lower())):
        number, unit = found[-1]
        count = float(number) * (1e6 if unit == "m" else 1e9)
    if count is None:
        return "1b-10b"
    return "under-1b" if count < 1e9 else "over-10b" if count > 10e9 else "1b-10b"


def _size(model: str, base_dir: str, layers: int | None) -> Size:
    config = _config_file(model, base_dir)
    if config is not None:
        try:
            data = json.loads(config.read_text())
            count = estimated_parameters(data, layers)
        except (OSError, ValueError, TypeError):
            count = None
        if count is not None:
            return "small" if count < SMALL_BELOW else "large" if count > LARGE_ABOVE else "base"
    lowered = model.lower()
    if re.search(r"(^|[-_/])(large|xl|xxl)([-_]|$)|\d+b([-_]|$)", lowered):
        return "large"
    if re.search(r"mini|small|tiny|distil", lowered):
        return "small"
    return "base"


def _config_file(model: str, base_dir: str) -> Path | None:
    from hpsearch.errors import AssetMissing
    from hpsearch.spec import assets

    if model in assets.BUILTIN_MODELS:
        try:
            return assets.locate(assets.BUILTIN_MODELS[model]) / "config.json"
        except AssetMissing:
            return None
    path = Path(base_dir) / model if not Path(model).is_absolute() else Path(model)
    candidate = path / "config.json"
    return candidate if candidate.is_file() else None


def positions(model: str, base_dir: str) -> int | None:
    """The positions the model reads at most (max_position_embeddings, or GPT-2's n_positions) from its config.json
    on disk; None where that is unknown (a Hub model seen only by name, a config without them)."""
    config = _config_file(model, base_dir)
    try:
        data = json.loads(config.read_text()) if config is not None else {}
    except (OSError, ValueError):
        return None
    limit = data.get("max_position_embeddings") or data.get("n_positions") if isinstance(data, dict) else None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


def estimated_parameters(config: dict[str, Any], layers: int | None = None) -> float | None:
    """A transformer's parameter count from its config: embeddings plus 12 x width^2 per layer."""
    width = config.get("hidden_size") or config.get("n_embd") or config.get("d_model")
    depth = config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers")
    vocab = config.get("vocab_size") or 0
    if not width or not depth:
        return None
    if layers is not None and 0 < layers < depth:
        depth = layers
    return float(vocab * width + 12 * depth * width * width)
