"""Instruction tuning (task.type: sft) with TRL's SFTTrainer: a decoder learns chat (`messages`), prompt /
completion or plain text data, by default only from the completions or the assistant's turns.

The task builds the model (LoRA adapters and 4-bit NF4 loading, QLoRA, where the space asks) and the rows
in TRL's columns; the trial's Trainer is then an SFTTrainer with an SFTConfig (`Setup.trainer_class`,
`Setup.arguments_class`), which renders the chat template, masks the prompt's labels and packs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpsearch.errors import Problem, TrialSetupError
from hpsearch.train import data, sft_data
from hpsearch.train.arguments import completion_only, sft_kwargs, value_of
from hpsearch.train.tasks.base import Setup, load_config, resolve_model
from hpsearch.train.tasks.causal_lm import perplexity
from hpsearch.trial import TrialJob


def load_tokenizer(task: Any, path: str, base_dir: str):
    """The model's tokenizer, with the space's chat_template file where it gives one, and a pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=task.trust_remote_code)
    if task.chat_template:
        tokenizer.chat_template = (Path(base_dir) / Path(task.chat_template).expanduser()).read_text()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(job: TrialJob, config: dict[str, Any], path: str, notes: list[str]):
    """The trial's decoder: 4-bit NF4 (QLoRA) where quantization says so, then LoRA adapters where task.peft does."""
    import torch
    from transformers import AutoModelForCausalLM

    from hpsearch.train import lora

    task = job.spec.task
    model_config = load_config(path, config, notes, trust_remote_code=task.trust_remote_code)
    kwargs: dict[str, Any] = {}
    four_bit = value_of(config, "quantization") == "4bit"
    if four_bit:
        from transformers import BitsAndBytesConfig

        kwargs = {"dtype": torch.bfloat16, "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)}
    model = AutoModelForCausalLM.from_pretrained(path, config=model_config, trust_remote_code=task.trust_remote_code,
                                                 **kwargs)
    if four_bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(value_of(config, "gradient_checkpointing")))
    if task.peft == "lora":
        model = lora.wrap(model, config, "CAUSAL_LM", notes)
    return model


def prompts_of(tokenizer, rows: dict[str, list]) -> list[str]:
    """Each row's prompt as the model reads it: the chat rendered up to the first assistant turn, or the prompt."""
    if "messages" not in rows:
        return rows.get("prompt", [])
    cut = [next((i for i, turn in enumerate(turns) if turn["role"] == "assistant"), len(turns))
           for turns in rows["messages"]]
    return [tokenizer.apply_chat_template(turns[:i], tokenize=False, add_generation_prompt=True)
            for turns, i in zip(rows["messages"], cut, strict=True)]


def long_prompts(tokenizer, rows: dict[str, list], length: int) -> int:
    """How many rows' prompt fills `length` tokens: under completion-only loss they leave nothing to learn
    (TRL drops them)."""
    prompts = prompts_of(tokenizer, rows)
    if not prompts:
        return 0
    return sum(len(ids) >= length for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"])


def setup(job: TrialJob, config: dict[str, Any]) -> Setup:
    """Model, TRL-form rows and SFTConfig fields for one sft trial."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    notes: list[str] = []
    task, base_dir = job.spec.task, job.spec.base_dir
    path = resolve_model(config.get("model_size"), task.model, base_dir)
    tokenizer = load_tokenizer(task, path, base_dir)
    model = load_model(job, config, path, notes)
    train, evaluation, _ = data.frames(task.dataset, base_dir, ())
    form = sft_data.detect(task.dataset, train.columns)
    wanted = [column for _, column in sft_data.columns(task.dataset, form)]
    train, evaluation = train.dropna(subset=wanted), evaluation.dropna(subset=wanted)
    train_rows, eval_rows = sft_data.rows(train, task.dataset, form), sft_data.rows(evaluation, task.dataset, form)
    only = completion_only(task, form)
    arguments = sft_kwargs(config, form, only)
    # the rows whose prompt fills sequence_length were counted before the study (check: a warning); all of them
    # fill it at this trial's value: nothing to learn
    if only and long_prompts(tokenizer, train_rows, arguments["max_length"]) == len(train) > 0:
        raise TrialSetupError(f"every training row's prompt fills sequence_length ({arguments['max_length']} "
                              "tokens): completion-only loss leaves nothing to learn (raise sequence_length)")
    notes.append(f"data: {form}, loss on {'completions / assistant turns only' if only else 'every token'}")
    return Setup(model=model, tokenizer=tokenizer, train_dataset=datasets.Dataset.from_dict(train_rows),
                 eval_dataset=datasets.Dataset.from_dict(eval_rows), data_collator=None, compute_metrics=None,
                 notes=notes, extra_metrics=perplexity, trainer_class=SFTTrainer, arguments_class=SFTConfig,
                 arguments=arguments, trainer_kwargs={"processing_class": tokenizer})


def _values(spec: Any, name: str) -> list[Any]:
    """The values entry `name` may take in the study: fixed, its choices, or its default."""
    if name in spec.fixed:
        return [spec.fixed[name]]
    entry = spec.space.get(name)
    return list(getattr(entry, "choices", None) or []) if entry is not None else [value_of({}, name)]


def _long_prompts(spec: Any, path: str, train: Any, form: str) -> list[Problem]:
    """The training rows whose prompt fills the study's shortest sequence_length: under completion-only loss they
    leave nothing to learn (a warning with their count); an error when every row's fills even the longest."""
    task = spec.task
    given = "fixed" if "sequence_length" in spec.fixed else "space" if "sequence_length" in spec.space else None
    where = (given, "sequence_length") if given else ("task", "type")  # sft's default length: at the task's type
    entry = spec.space.get("sequence_length")
    if entry is not None and getattr(entry, "choices", None):
        lengths = [int(v) for v in entry.choices]
    elif entry is not None:
        lengths = [int(entry.low), int(entry.high)]
    else:  # fixed, or sft's own default (TRL's 1024, train/arguments.py::sft_kwargs)
        lengths = [int(spec.fixed.get("sequence_length", sft_kwargs({}, form, True)["max_length"]))]
    wanted = [column for _, column in sft_data.columns(task.dataset, form)]
    rows = sft_data.rows(train.dropna(subset=wanted), task.dataset, form)
    tokenizer = load_tokenizer(task, path, spec.base_dir)
    shortest, longest = min(lengths), max(lengths)
    count, total = long_prompts(tokenizer, rows, shortest), len(next(iter(rows.values())))
    line = spec.document.file_line(where)
    if count and long_prompts(tokenizer, rows, longest) == total:
        return [Problem(spec.file, line, ".".join(where), f"every training row's prompt fills {longest} tokens "
                        "(sequence_length): completion-only loss leaves nothing to learn (raise sequence_length, or "
                        "set task.completion_only_loss: false)")]
    if count:
        return [Problem(spec.file, line, ".".join(where), f"{count} of {total} training rows have a prompt of "
                        f"{shortest} tokens or more (sequence_length): completion-only loss leaves them nothing to "
                        "learn", warning=True)]
    return []


def check(spec: Any) -> list[Problem]:
    """A sft space against its data, tokenizer and model, before any study: what would fail every trial."""
    import importlib.util

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from hpsearch.train import lora

    task, found = spec.task, []

    def problem(path: tuple, message: str) -> None:
        found.append(Problem(spec.file, spec.document.file_line(path), ".".join(map(str, path)), message))

    import pandas as pd

    train, evaluation, source = data.frames(task.dataset, spec.base_dir, ())
    form = sft_data.detect(task.dataset, train.columns)
    for path, message in sft_data.row_problems(pd.concat([train, evaluation]), task.dataset, source):
        problem(("task", "dataset") + path, message)
    if task.completion_only_loss and form == "text":
        problem(("task", "completion_only_loss"), "loss on completions only needs messages or prompt / completion "
                "data, but the data is plain text (set it false, or give prompt and completion columns)")
    template = Path(spec.base_dir) / Path(task.chat_template).expanduser() if task.chat_template else None
    if template is not None and not template.is_file():
        problem(("task", "chat_template"), f"{task.chat_template}: no such file (a Jinja chat template)")
    path = resolve_model(None, task.model, spec.base_dir)
    if form == "messages" and template is None:
        if not AutoTokenizer.from_pretrained(path, trust_remote_code=task.trust_remote_code).chat_template:
            problem(("task", "model"), f"{task.model}'s tokenizer has no chat template, and the data is messages "
                    "(give one: task.chat_template: a Jinja file)")
    where = ("fixed" if "quantization" in spec.fixed else "space", "quantization")
    if "4bit" in _values(spec, "quantization"):
        if not torch.cuda.is_available():
            problem(where, "4bit (QLoRA) needs a CUDA GPU, and this machine has none")
        elif importlib.util.find_spec("bitsandbytes") is None:
            problem(where, "4bit (QLoRA) needs bitsandbytes (pip install bitsandbytes)")
    if completion_only(task, form) and not found:  # the prompts render: a chat template, good rows
        found += _long_prompts(spec, path, train, form)
    named = [v for v in _values(spec, "lora_target_modules") if v not in ("default", "all-linear", "attention")]
    if named and task.peft == "lora":
        model_config = AutoConfig.from_pretrained(path, trust_remote_code=task.trust_remote_code)
        with torch.device("meta"):  # the layers' names, no weights
            linear = lora.linear_names(AutoModelForCausalLM.from_config(model_config))
        missing = [n for v in named for n in lora.target_modules(str(v)) if n not in linear]
        if missing:
            problem(("fixed" if "lora_target_modules" in spec.fixed else "space", "lora_target_modules"),
                    f"{task.model} has no linear layer named {', '.join(dict.fromkeys(missing))} (its linear layers: "
                    f"{', '.join(linear)})")
    return found
