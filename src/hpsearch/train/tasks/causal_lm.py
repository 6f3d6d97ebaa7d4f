"""Causal language modelling: a decoder learns the next token of a text column; scored by loss and perplexity.

Any model AutoModelForCausalLM loads works, decoder-only ones (GPT-2, Llama, ...) and an encoder made a
decoder (`is_decoder=True`: BERT and MiniLM become BertLMHeadModel, their attention made causal). The
loss is computed here on shifted logits, summed over the target tokens of all accumulated batches.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hpsearch.train import data
from hpsearch.train.tasks.base import Setup, load_config, reduce, resolve_model
from hpsearch.trial import TrialJob


def special_ids(tokenizer) -> tuple[int | None, int, int]:
    """(start, end, pad) token ids: BOS / EOS where the tokenizer has them, else BERT's [CLS] / [SEP]."""
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    if end is None:
        raise ValueError("the tokenizer has no end-of-text token (eos_token or sep_token)")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end
    return start, end, pad


def load_model(job: TrialJob, config: dict[str, Any], notes: list[str]):
    """The trial's causal LM (its dropout, layers and LoRA applied) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hpsearch.train import lora

    task = job.spec.task
    path = resolve_model(config.get("model_size"), task.model, job.spec.base_dir)
    trust = task.trust_remote_code
    model_config = load_config(path, config, notes, trust_remote_code=trust, is_decoder=True)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    _, end, pad = special_ids(tokenizer)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token_id = pad
    if getattr(model_config, "pad_token_id", None) is None:
        model_config.pad_token_id = pad
    model = AutoModelForCausalLM.from_pretrained(path, config=model_config, trust_remote_code=trust)
    if task.peft == "lora":
        model = lora.wrap(model, config, "CAUSAL_LM", notes)
    return model, tokenizer


def sequence_length(config: dict[str, Any], model, notes: list[str]) -> int:
    length = int(config.get("sequence_length", 128))
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if limit and length > limit:
        notes.append(f"warning: sequence_length is capped at the model's {limit} positions "
                     f"(max_position_embeddings); values above {limit} act as {limit}")
        return limit
    return length


def loss_function(config: dict[str, Any]):
    """Next-token cross entropy (label-smoothed if the trial says so) over the tokens whose label is set."""
    smoothing = float(config.get("label_smoothing", 0.1)) if config.get("loss") == "label_smoothed_cross_entropy" \
        else 0.0

    def next_token(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"][:, :-1, :]
        targets = labels[:, 1:]
        each = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                                                 ignore_index=-100, label_smoothing=smoothing, reduction="none")
        valid = targets.reshape(-1) != -100
        if num_items_in_batch is None:
            return each[valid].sum() / valid.sum().clamp(min=1)
        return reduce(each[valid], num_items_in_batch)

    return next_token


def perplexity(model, metrics: dict[str, float]) -> dict[str, float]:
    """exp(eval_loss): the number of tokens the model hesitates between, on average."""
    loss = metrics.get("eval_loss")
    return {} if loss is None else {"eval_perplexity": math.exp(min(loss, 50.0))}


def collator(tokenizer):
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)


def setup(job: TrialJob, config: dict[str, Any]) -> Setup:
    """Model, tokenized texts and loss for one causal-LM trial."""
    import datasets

    notes: list[str] = []
    model, tokenizer = load_model(job, config, notes)
    start, end, _ = special_ids(tokenizer)
    length = sequence_length(config, model, notes)
    column = job.spec.task.dataset.text_column if not job.spec.task.dataset.name else "text"
    train, evaluation, _ = data.frames(job.spec.task.dataset, job.spec.base_dir, (column,))

    def encode(texts) -> datasets.Dataset:
        rows = {"input_ids": [], "attention_mask": [], "labels": []}
        prefix = [start] if start is not None else []
        for ids in tokenizer([str(t) for t in texts], add_special_tokens=False)["input_ids"]:
            ids = (prefix + ids + [end])[:length]
            rows["input_ids"].append(ids)
            rows["attention_mask"].append([1] * len(ids))
            rows["labels"].append([-100] + ids[1:])  # the first token is never predicted
        return datasets.Dataset.from_dict(rows)

    return Setup(model=model, tokenizer=tokenizer, train_dataset=encode(train[column]),
                 eval_dataset=encode(evaluation[column]), data_collator=collator(tokenizer), compute_metrics=None,
                 compute_loss_func=loss_function(config), notes=notes, extra_metrics=perplexity)
