"""The baseline: what a user writes by hand with Optuna and the transformers Trainer, in one process.

Usage: python benchmarks/baseline_optuna_trainer.py CONFIG.json
The config names the model folder, the CSV (text / label columns), sizes, steps and the space; the
benchmark writes it so that both arms train exactly the same trials.
"""

import json
import sys
import time

import numpy as np
import optuna
import pandas as pd
import transformers
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)


def main(path):
    cfg = json.load(open(path))
    transformers.logging.set_verbosity_error()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()

    frame = pd.read_csv(cfg["csv"], encoding=cfg.get("encoding", "utf-8")).dropna(subset=[cfg["text"], cfg["label"]])
    order = np.random.RandomState(0).permutation(len(frame))
    evaluation, train = frame.iloc[order[: cfg["eval_size"]]], frame.iloc[order[cfg["eval_size"]:]]
    train = train.iloc[np.random.RandomState(0).permutation(len(train))[: cfg["train_size"]]]
    names = sorted(set(frame[cfg["label"]].astype(str)))
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"])

    def encode(part):
        enc = tokenizer(list(part[cfg["text"]].astype(str)), truncation=True, max_length=cfg["sequence_length"])
        return Dataset.from_dict({**enc, "labels": [names.index(str(v)) for v in part[cfg["label"]]]})

    train_ds, eval_ds = encode(train), encode(evaluation)

    def accuracy(prediction):
        return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}

    class Report(TrainerCallback):
        def __init__(self, trial):
            self.trial = trial

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.trial.report(metrics["eval_accuracy"], state.global_step)
            if self.trial.should_prune():
                control.should_training_stop = True

    def objective(trial):
        lr = trial.suggest_float("learning_rate", *cfg["learning_rate"], log=True)
        dropout = trial.suggest_float("dropout", *cfg["dropout"])
        model = AutoModelForSequenceClassification.from_pretrained(cfg["model"], num_labels=len(names),
                                                                   hidden_dropout_prob=dropout)
        args = TrainingArguments(output_dir=cfg["output_dir"], learning_rate=lr, max_steps=cfg["max_steps"],
                                 per_device_train_batch_size=cfg["batch_size"], per_device_eval_batch_size=64,
                                 eval_strategy="steps", eval_steps=cfg["eval_every"], save_strategy="no",
                                 logging_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True)
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                          data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy,
                          callbacks=[Report(trial)])
        trainer.train()
        return max(trial.storage.get_trial(trial._trial_id).intermediate_values.values())

    study = optuna.create_study(storage=cfg["storage"], direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0), pruner=optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=cfg["n_trials"])
    print(json.dumps({"seconds": time.perf_counter() - started, "best": study.best_value,
                      "params": [t.params for t in study.trials]}))


if __name__ == "__main__":
    main(sys.argv[1])
