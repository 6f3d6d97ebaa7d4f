"""Generation: fine-tune a causal LM on prompt / target pairs, then generate for the evaluation prompts
with the trial's temperature, top_p and top_k, and score the texts against the targets.

Sampling is seeded with the study's seed, the same for every trial, so two trials' decoding choices are
compared on the same random draws. A decoding-only study (its space holds nothing but decoding entries)
trains nothing: each trial only generates and scores, reporting each prompt's score as a step, which is
what Optuna's Wilcoxon pruner compares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from hpsearch.spec import catalog
from hpsearch.train import data, scores
from hpsearch.train.tasks.base import Setup
from hpsearch.train.tasks.causal_lm import collator, load_model, loss_function, sequence_length, special_ids
from hpsearch.trial import TrialJob

DECODING = ("temperature", "top_p", "top_k")


def decoding(config: dict[str, Any]) -> dict[str, Any]:
    """generate()'s sampling options: greedy unless the trial sets a decoding entry, then sampling."""
    if not any(name in config for name in DECODING):
        return {"do_sample": False}
    return {"do_sample": True, **{name: config.get(name, catalog.get(name).default) for name in DECODING}}


@dataclass
class Scorer:
    """Generates for the evaluation prompts and scores each against its target."""

    tokenizer: Any
    prompts: list[list[int]]  # token ids, the start token included
    targets: list[str]
    options: dict[str, Any]
    max_new_tokens: int
    num_samples: int
    seed: int
    metric: str  # the score reported per prompt (the study's watched metric when it is a score)

    def score(self, model, report: Callable[[int, float], bool] | None = None) -> tuple[dict[str, float], bool]:
        """Mean scores over the prompts, and whether `report` (called with each prompt's score) said stop."""
        _, end, pad = special_ids(self.tokenizer)
        was_training = model.training
        model.eval()
        torch.manual_seed(self.seed)  # the same draws for every trial: differences come from the decoding
        totals: dict[str, float] = {}
        done, stopped = 0, False
        with torch.no_grad():
            for index, (prompt, target) in enumerate(zip(self.prompts, self.targets, strict=True)):
                ids = torch.tensor([prompt], device=model.device)
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                     max_new_tokens=self.max_new_tokens, num_return_sequences=self.num_samples,
                                     eos_token_id=end, pad_token_id=pad, **self.options)
                texts = self.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
                found = scores.score_all(texts, target)
                for name, value in found.items():
                    totals[name] = totals.get(name, 0.0) + value
                done += 1
                if report is not None and report(index, found.get(self.metric, found["eval_token_f1"])):
                    stopped = True
                    break
        model.train(was_training)
        return {name: total / done for name, total in totals.items()}, stopped

    def metrics(self, model, metrics: dict[str, float] | None = None) -> dict[str, float]:
        return self.score(model)[0]

    def for_config(self, config: dict[str, Any]) -> Scorer:
        """This scorer with the decoding options of `config` (a shared setup taken by a trial)."""
        return replace(self, options=decoding(config))


def setup(job: TrialJob, config: dict[str, Any]) -> Setup:
    """Model, tokenized pairs (the loss only on the target), and the generation scorer of one trial."""
    import datasets

    spec, task = job.spec, job.spec.task
    notes: list[str] = []
    model, tokenizer = load_model(job, config, notes)
    start, end, _ = special_ids(tokenizer)
    length = sequence_length(config, model, notes)
    prompt_column, target_column = data.text_columns(task.dataset)
    train, evaluation, _ = data.frames(task.dataset, spec.base_dir, (prompt_column, target_column))
    prefix = [start] if start is not None else []

    def prompt_ids(texts) -> list[list[int]]:
        shown = [task.prompt_template.replace("{prompt}", str(t)) for t in texts]
        return [prefix + ids for ids in tokenizer(shown, add_special_tokens=False)["input_ids"]]

    def encode(frame) -> datasets.Dataset:
        rows = {"input_ids": [], "attention_mask": [], "labels": []}
        targets = tokenizer([" " + str(t) for t in frame[target_column]], add_special_tokens=False)["input_ids"]
        for prompt, target in zip(prompt_ids(frame[prompt_column]), targets, strict=True):
            answer = target + [end]
            prompt = prompt[-max(1, length - len(answer)):]  # a long prompt loses its beginning, not the answer
            ids = (prompt + answer)[:length]
            rows["input_ids"].append(ids)
            rows["attention_mask"].append([1] * len(ids))
            rows["labels"].append(([-100] * len(prompt) + answer)[:length])  # learn the answer only
        return datasets.Dataset.from_dict(rows)

    watched = spec.metric if spec.metric in scores.SCORES else "eval_token_f1"
    scorer = Scorer(tokenizer, [p[-length:] for p in prompt_ids(evaluation[prompt_column])],
                    [str(t) for t in evaluation[target_column]], decoding(config), task.max_new_tokens,
                    task.num_samples, spec.study.seed, watched)
    every = task.eval_with == "generation"
    decoding_only = spec.decode_only  # nothing trains: the training pairs are never tokenized
    return Setup(model=model, tokenizer=tokenizer, train_dataset=None if decoding_only else encode(train),
                 eval_dataset=None if decoding_only else encode(evaluation),
                 data_collator=collator(tokenizer), compute_metrics=None, compute_loss_func=loss_function(config),
                 notes=notes, extra_metrics=scorer.metrics if every else None,
                 final_metrics=None if every else scorer.metrics, scorer=scorer)
