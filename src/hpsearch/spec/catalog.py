"""The hyperparameters hpsearch knows, as data: meaning, documented range, scale, and where each one acts.

The 19 classic fine-tuning and decoding hyperparameters come first, in the order the literature lists
them; the optimizer's and the loss's own parameters follow, each tied to the choices it belongs to.
A "documented range" is the one the source we follow gives; where it gives none, `conventional` holds
the range practitioners usually search and `documented` is False, so nobody mistakes one for the other.
"""

from __future__ import annotations

from hpsearch.spec.hyperparameter import INT_LIMIT, Hyperparameter, Kind, Scale, Target, finite_problem

__all__ = ["INT_LIMIT", "Hyperparameter", "Kind", "Scale", "Target", "finite_problem"]  # their home: hyperparameter.py

# Where dropout-like knobs live in each architecture's config (model_type -> attribute names). An
# architecture missing from a table has no such knob: a space that tunes it there is refused at the start.
_BERT_LIKE = ("bert", "roberta", "xlm-roberta", "electra", "albert", "deberta", "deberta-v2", "camembert",
              "mpnet", "ernie")
_LLAMA_LIKE = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo", "smollm3")
DROPOUT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    **{kind: ("hidden_dropout_prob",) for kind in _BERT_LIKE},
    "distilbert": ("dropout",),
    "gpt2": ("resid_pdrop", "embd_pdrop"),
    "gptj": ("resid_pdrop", "embd_pdrop"),
    "gpt_neo": ("resid_dropout", "embed_dropout"),
    "opt": ("dropout",),
    "bart": ("dropout",),
    "t5": ("dropout_rate",),
    "mt5": ("dropout_rate",),
}
ATTENTION_DROPOUT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    **{kind: ("attention_probs_dropout_prob",) for kind in _BERT_LIKE},
    "distilbert": ("attention_dropout",),
    "gpt2": ("attn_pdrop",),
    "gptj": ("attn_pdrop",),
    "gpt_neo": ("attention_dropout",),
    "opt": ("attention_dropout",),
    "bart": ("attention_dropout",),
    **{kind: ("attention_dropout",) for kind in _LLAMA_LIKE},
}
# The config attribute holding the number of layers, for model_size given as a layer count.
LAYER_ATTRIBUTES = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")


_PROB = dict(domain=(0.0, 1.0), domain_open=(False, True))

CLASSIC: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "learning_rate", "step size of each optimizer update", "float", "TrainingArguments.learning_rate",
        "training_args", 5e-5, scale="log", low=1e-4, high=1e-1, domain=(0.0, None), domain_open=(True, False),
        note="pretrained transformers usually want 1e-5 .. 1e-4, below most of the documented range",
        aliases=("lr",),
    ),
    Hyperparameter(
        "batch_size", "examples in one forward/backward pass on one device", "int",
        "TrainingArguments.per_device_train_batch_size", "training_args", 16, scale="log", low=8, high=256,
        domain=(1, None), aliases=("per_device_train_batch_size",),
    ),
    Hyperparameter(
        "num_epochs", "passes over the training set", "int", "TrainingArguments.num_train_epochs",
        "training_args", 3, low=1, high=100, domain=(1, None), note="max_steps, when set, takes precedence",
        aliases=("epochs", "num_train_epochs"),
    ),
    Hyperparameter(
        "dropout", "probability of zeroing a hidden activation while training", "float",
        "model config (hidden_dropout_prob, dropout, resid_pdrop, ... per architecture)",
        "model_config", 0.1, low=0.1, high=0.5, **_PROB, aliases=("hidden_dropout", "hidden_dropout_prob"),
    ),
    Hyperparameter(
        "weight_decay", "decoupled L2 shrinkage applied to the weights at each step", "float",
        "TrainingArguments.weight_decay", "training_args", 0.01, scale="log", low=1e-4, high=1e-1,
        domain=(0.0, None),
    ),
    Hyperparameter(
        "sequence_length", "tokens kept per example; longer inputs are truncated", "int",
        "tokenizer truncation max_length", "data", 128, low=32, high=1000, domain=(1, None),
        note="capped by the model's max_position_embeddings", aliases=("max_length", "max_seq_length"),
    ),
    Hyperparameter(
        "warmup_ratio", "share of the training steps over which the learning rate ramps up from zero", "float",
        "TrainingArguments.warmup_steps (as a ratio)", "training_args", 0.0, low=0.0, high=0.1,
        domain=(0.0, 1.0), domain_open=(False, True), aliases=("warmup",),
    ),
    Hyperparameter(
        "gradient_accumulation_steps", "batches whose gradients add up before one optimizer update", "int",
        "TrainingArguments.gradient_accumulation_steps", "training_args", 1, low=1, high=10, domain=(1, None),
        note="effective batch = batch_size x gradient_accumulation_steps", aliases=("grad_accum",),
    ),
    Hyperparameter(
        "optimizer", "the update rule", "categorical", "TrainingArguments.optim", "optimizer", "adamw",
        choices=("adamw", "sgd", "adafactor"), note="own parameters: beta1, beta2, epsilon (adamw); momentum (sgd)",
        aliases=("optim",),
    ),
    Hyperparameter(
        "loss", "the training objective", "categorical", "the Trainer's loss function", "loss", "cross_entropy",
        choices=("cross_entropy", "label_smoothed_cross_entropy", "focal", "class_weighted_cross_entropy",
                 "mse", "huber"),
        note="own parameters: label_smoothing, focal_gamma, huber_delta; mse and huber for regression labels",
        aliases=("loss_function",),
    ),
    Hyperparameter(
        "max_steps", "optimizer updates after which training stops", "int", "TrainingArguments.max_steps",
        "training_args", None, documented=False, domain=(1, None),
        note="no documented range: it depends on the data size, so a space gives low/high",
        aliases=("steps",),
    ),
    Hyperparameter(
        "model_size", "how big a model to fine-tune: pretrained layers kept, or a checkpoint", "int",
        "the model (layers kept from the pretrained stack, or the checkpoint loaded)", "model", None,
        documented=False, domain=(1, None), checkpoints=True,
        note="no documented range: choose layer counts the model has, or checkpoint names",
    ),
    Hyperparameter(
        "temperature", "divides the logits before sampling; lower is more deterministic", "float",
        "GenerationConfig.temperature", "generation", 1.0, low=0.1, high=1.0, domain=(0.0, None),
        domain_open=(True, False), generation_only=True,
    ),
    Hyperparameter(
        "top_p", "nucleus sampling: keep the smallest set of tokens whose probability sums to p", "float",
        "GenerationConfig.top_p", "generation", 1.0, low=0.1, high=0.9, domain=(0.0, 1.0),
        domain_open=(True, False), generation_only=True,
        note="standard definition; the source of the range describes top-p and top-k the other way round",
    ),
    Hyperparameter(
        "top_k", "sampling keeps only the k most likely tokens", "int", "GenerationConfig.top_k", "generation",
        50, low=1, high=10, domain=(1, None), generation_only=True,
        note="standard definition; the source of the range describes top-p and top-k the other way round",
    ),
    Hyperparameter(
        "max_grad_norm", "gradients are rescaled so their global norm stays below this", "float",
        "TrainingArguments.max_grad_norm", "training_args", 1.0, scale="log", low=0.1, high=10.0,
        documented=False, domain=(0.0, None), domain_open=(True, False),
        note="no documented range; 0.1 .. 10 (log) is the conventional one", aliases=("gradient_clipping",),
    ),
    Hyperparameter(
        "lr_scheduler", "how the learning rate changes over training", "categorical",
        "TrainingArguments.lr_scheduler_type", "training_args", "linear",
        choices=("linear", "cosine", "constant", "constant_with_warmup", "polynomial", "cosine_with_restarts",
                 "inverse_sqrt"),
        aliases=("lr_scheduler_type", "scheduler"),
    ),
    Hyperparameter(
        "attention_dropout", "probability of zeroing an attention weight while training", "float",
        "model config (attention_probs_dropout_prob, attn_pdrop, ... per architecture)",
        "model_config", 0.1, low=0.1, high=0.5, **_PROB, aliases=("attention_probs_dropout_prob",),
    ),
    Hyperparameter(
        "early_stopping_patience", "evaluations without improvement before a trial stops", "int",
        "hpsearch's early-stopping callback", "callback", 3, low=1, high=10, documented=False, domain=(1, None),
        note="no documented range; 1 .. 10 evaluations is the conventional one", aliases=("patience",),
    ),
)

SUB_PARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "beta1", "decay of the first-moment (momentum) estimate", "float", "TrainingArguments.adam_beta1",
        "optimizer", 0.9, low=0.9, high=0.999, **_PROB, parent=("optimizer", ("adamw",)),
        aliases=("adam_beta1",),
    ),
    Hyperparameter(
        "beta2", "decay of the second-moment estimate", "float", "TrainingArguments.adam_beta2", "optimizer",
        0.999, low=0.9, high=0.999, **_PROB, parent=("optimizer", ("adamw",)), aliases=("adam_beta2",),
    ),
    Hyperparameter(
        "epsilon", "added to the denominator of Adam's update for stability", "float",
        "TrainingArguments.adam_epsilon", "optimizer", 1e-8, scale="log", low=1e-9, high=1e-6, documented=False,
        domain=(0.0, None), domain_open=(True, False), parent=("optimizer", ("adamw",)),
        note="no documented range; 1e-9 .. 1e-6 (log) is the conventional one", aliases=("adam_epsilon", "eps"),
    ),
    Hyperparameter(
        "momentum", "share of the previous update carried into the next", "float",
        "TrainingArguments.optim_args momentum", "optimizer", 0.9, low=0.9, high=0.999, **_PROB,
        parent=("optimizer", ("sgd",)),
    ),
    Hyperparameter(
        "decay_rate", "how fast Adafactor's second-moment estimate forgets: its decay is 1 - step^decay_rate",
        "float", "Adafactor decay_rate", "optimizer", -0.8, low=-1.0, high=-0.5, documented=False,
        domain=(None, 0.0), domain_open=(False, True), parent=("optimizer", ("adafactor",)),
        note="no documented range; -1 .. -0.5 is the conventional one (closer to 0 forgets faster)",
        aliases=("adafactor_decay_rate",),
    ),
    Hyperparameter(
        "lr_cycles", "cosine waves over the training, each restarting at the peak learning rate", "int",
        "TrainingArguments.lr_scheduler_kwargs num_cycles", "training_args", 2, low=2, high=5, documented=False,
        domain=(1, None), parent=("lr_scheduler", ("cosine_with_restarts",)),
        note="no documented range; 2 .. 5 is the conventional one (transformers' default, 1, never restarts)",
        aliases=("num_cycles",),
    ),
    Hyperparameter(
        "lr_power", "exponent of the polynomial decay of the learning rate (1 is the linear schedule)", "float",
        "TrainingArguments.lr_scheduler_kwargs power", "training_args", 2.0, low=0.5, high=3.0, documented=False,
        domain=(0.0, None), domain_open=(True, False), parent=("lr_scheduler", ("polynomial",)),
        note="no documented range; 0.5 .. 3 is the conventional one (transformers' default, 1, is linear)",
        aliases=("power",),
    ),
    Hyperparameter(
        "label_smoothing", "probability mass moved from the true label to the others", "float",
        "the label-smoothed cross-entropy loss", "loss", 0.1, low=0.0, high=0.3, documented=False, **_PROB,
        parent=("loss", ("label_smoothed_cross_entropy",)),
        note="no documented range; 0 .. 0.3 is the conventional one", aliases=("label_smoothing_factor",),
    ),
    Hyperparameter(
        "focal_gamma", "how strongly the focal loss down-weights easy examples", "float", "the focal loss",
        "loss", 2.0, low=0.5, high=5.0, documented=False, domain=(0.0, None), parent=("loss", ("focal",)),
        note="no documented range; 0.5 .. 5 is the conventional one", aliases=("gamma",),
    ),
    Hyperparameter(
        "huber_delta", "error size where the Huber loss turns from quadratic to linear", "float",
        "the Huber loss", "loss", 1.0, scale="log", low=0.1, high=10.0, documented=False, domain=(0.0, None),
        domain_open=(True, False), parent=("loss", ("huber",)),
        note="no documented range; 0.1 .. 10 (log) is the conventional one", aliases=("delta",),
    ),
)

# Beyond the documented 19: LoRA's own knobs (task.peft: lora), with the ranges practitioners usually search.
PEFT_PARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "lora_r", "rank of the low-rank update added to each adapted weight", "int", "peft LoraConfig.r", "model",
        8, scale="log", low=4, high=64, documented=False, domain=(1, None), peft=True,
        note="beyond the documented 19; 4 .. 64 (log) is the conventional range", aliases=("rank", "r"),
    ),
    Hyperparameter(
        "lora_alpha", "scale of the low-rank update (the update is multiplied by alpha / r)", "int",
        "peft LoraConfig.lora_alpha", "model", 16, scale="log", low=8, high=64, documented=False,
        domain=(1, None), peft=True, note="beyond the documented 19; 8 .. 64 (log) is the conventional range",
    ),
    Hyperparameter(
        "lora_dropout", "dropout on the adapter's input while training", "float", "peft LoraConfig.lora_dropout",
        "model", 0.05, low=0.0, high=0.3, documented=False, **_PROB, peft=True,
        note="beyond the documented 19; 0 .. 0.3 is the conventional range",
    ),
    Hyperparameter(
        "lora_target_modules", "which layers get an adapter", "categorical", "peft LoraConfig.target_modules",
        "model", "default", choices=("default", "all-linear", "attention"), documented=False, free_text=True, peft=True,
        note="beyond the documented 19; default: peft's choice for the architecture (BERT: query, value); "
             "all-linear: every linear layer but the head (QLoRA's finding: adapting all of them matters most); "
             "attention: the attention projections only (q/k/v/o_proj, query/key/value, c_attn); "
             "or module names, comma-separated ('query,key,value')",
        aliases=("target_modules",),
    ),
)

# Beyond the documented 19: what instruction tuning of decoder LLMs sets (task.type: sft, through TRL's SFTTrainer).
SFT_PARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "quantization", "the frozen base weights' storage: full precision, or 4-bit NF4 with double quantization "
        "(QLoRA)", "categorical", "bitsandbytes BitsAndBytesConfig(load_in_4bit, bnb_4bit_quant_type='nf4')",
        "model", "none", choices=("none", "4bit"), peft=True, tasks=("sft",),
        note="QLoRA (Dettmers et al. 2023): 4-bit NF4 base + LoRA on every linear layer matches 16-bit LoRA; "
             "needs a CUDA GPU and bitsandbytes",
    ),
    Hyperparameter(
        "gradient_checkpointing", "recompute activations in the backward pass instead of keeping them",
        "categorical", "TrainingArguments.gradient_checkpointing", "training_args", False, choices=(False, True),
        tasks=("sft",), note="saves activation memory for about 20% more compute (TRL's SFTConfig docs); "
                             "the loss is the same",
    ),
    Hyperparameter(
        "packing", "concatenate examples into full max_length blocks instead of padding each",
        "categorical", "trl SFTConfig.packing", "data", False, choices=(False, True), tasks=("sft",),
        note="TRL's best-fit-decreasing packing; fewer padded tokens, so faster on short examples",
    ),
    Hyperparameter(
        "neftune_noise_alpha", "scale of the uniform noise added to the input embeddings while training",
        "float", "TrainingArguments.neftune_noise_alpha", "training_args", None, low=5.0, high=15.0,
        domain=(0.0, None), domain_open=(True, False), tasks=("sft",),
        note="NEFTune (Jain et al. 2023): alpha 5, 10, 15 improved instruction-tuned LLaMA-2; unset: no noise",
        aliases=("neftune",),
    ),
)

# Beyond the documented 19: the arithmetic a GPU trains in (bf16 and fp16 need one; checked at the start of a run).
DEVICE_PARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "precision", "number format of training's arithmetic: fp32, or mixed precision with bf16 / fp16",
        "categorical", "TrainingArguments.bf16 / fp16", "training_args", "fp32", choices=("fp32", "bf16", "fp16"),
        documented=False, gpu=True, note="beyond the documented 19; bf16 needs a GPU of compute capability 8.0 or more "
        "(A100, RTX 30xx and later), fp16 any GPU", aliases=("mixed_precision",),
    ),
)

CATALOG: dict[str, Hyperparameter] = {
    hp.name: hp for hp in CLASSIC + SUB_PARAMETERS + PEFT_PARAMETERS + SFT_PARAMETERS + DEVICE_PARAMETERS
}
ALIASES: dict[str, str] = {alias: hp.name for hp in CATALOG.values() for alias in hp.aliases}


def get(name: str) -> Hyperparameter:
    """The catalogue entry called `name` (KeyError when there is none)."""
    return CATALOG[name]
