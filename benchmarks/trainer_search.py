"""hpsearch against the transformers Trainer's own search, `Trainer.hyperparameter_search(backend="optuna")`,
with the same space (suggested in the same order, so TPE proposes the same values), sampler seed, pruner,
trial budget, model, data and steps. Each arm runs in a fresh process; arms interleaved A B A B.

    python benchmarks/trainer_search.py           # MiniLM-L6, 500 tweets, 6 trials of 20 steps, 2 runs per arm
    python benchmarks/trainer_search.py --quick   # 4 trials of 10 steps, 1 run per arm

Measures wall time, the best eval_accuracy, the peak memory of the largest process (the Trainer's one process;
for hpsearch its study process or a trial's process, whichever is larger) and memory growth per trial (the
Trainer: its process between trials; hpsearch: the study process, which outlives every trial). Prints the
wall-time ratio hpsearch / Trainer last; writes benchmarks/results/trainer_search.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SPACE = """study:
  name: versus
  storage: {storage}
  n_trials: {n_trials}
  sampler: {{name: tpe, seed: 0}}
  pruner: {{name: median, n_startup_trials: 2}}
  save: none
task:
  model: minilm-l6
  dataset: {{name: tweets-sentiment, train_size: 500, eval_size: 100}}
  eval_every: {every}
fixed: {{max_steps: {steps}, batch_size: 16, sequence_length: 64}}
space:
  learning_rate: {{low: 1.0e-5, high: 3.0e-4, log: true}}
  weight_decay: {{low: 1.0e-4, high: 1.0e-1, log: true}}
  warmup_ratio: {{low: 0.0, high: 0.1}}
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def arm_trainer(cfg: dict) -> dict:
    """The Trainer's search, on the very data and model hpsearch's trial builds (from the same file)."""
    import optuna
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

    from hpsearch.spec.space import load_text
    from hpsearch.spec.suggest import configuration
    from hpsearch.train.worker import prepare
    from hpsearch.trial import TrialJob

    spec = load_text(SPACE.format(storage="sqlite:///unused.db", **cfg))
    config = configuration(spec.fixed, {"learning_rate": 1e-4, "weight_decay": 0.01, "warmup_ratio": 0.0})

    class Quiet:
        def report(self, step, value):
            return False

        def progress(self, step, total):
            pass

    with tempfile.TemporaryDirectory() as tmp:
        setup = prepare(TrialJob(spec, 0, config, None, None), Quiet(), tmp).setup
        model_config = setup.model.config
        path = model_config._name_or_path
        memory = []

        evaluations: list[list[float]] = []  # each trial's eval_accuracy at every evaluation

        def objective(metrics: dict) -> float:  # called at each evaluation: the Trainer's objective is the last
            evaluations[-1].append(metrics["eval_accuracy"])
            return metrics["eval_accuracy"]

        def hp_space(trial):
            memory.append(rss_mb())  # at each trial's start
            evaluations.append([])
            return {"learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-4, log=True),
                    "weight_decay": trial.suggest_float("weight_decay", 1e-4, 1e-1, log=True),
                    "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.1)}

        args = TrainingArguments(output_dir=tmp, max_steps=cfg["steps"], per_device_train_batch_size=16,
                                 per_device_eval_batch_size=64, eval_strategy="steps", eval_steps=cfg["every"],
                                 save_strategy="no", logging_strategy="no", report_to=[], seed=0,
                                 disable_tqdm=True)
        trainer = Trainer(model_init=lambda trial=None: AutoModelForSequenceClassification.from_pretrained(
                              path, config=model_config), args=args, train_dataset=setup.train_dataset,
                          eval_dataset=setup.eval_dataset, data_collator=setup.data_collator,
                          compute_metrics=setup.compute_metrics)
        best = trainer.hyperparameter_search(
            hp_space=hp_space, backend="optuna", n_trials=cfg["n_trials"], direction="maximize",
            compute_objective=objective,
            sampler=optuna.samplers.TPESampler(seed=0), pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    memory.append(rss_mb())
    # The Trainer's objective is a trial's last evaluation; hpsearch records a trial's best evaluation (it keeps
    # that checkpoint). Both are reported, so the best values can be compared on the same definition.
    return {"best": best.objective, "best_params": best.hyperparameters,
            "best_of_evaluations": best_of(evaluations, cfg), "evaluations": evaluations,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_by_trial": memory}


def arm_hpsearch(cfg: dict, folder: Path) -> dict:
    import optuna

    url = f"sqlite:///{folder}/study.db"
    space = folder / "space.yaml"
    space.write_text(SPACE.format(storage=url, **cfg))
    from record import hpsearch_run

    seconds = hpsearch_run(space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="versus", storage=url)
    trials = sorted(study.trials, key=lambda t: t.number)
    study_rss = [t.user_attrs.get("study_process_rss_mb") for t in trials]
    trial_peak = max(t.user_attrs.get("peak_memory_mb", 0) for t in trials)  # each trial's own process
    evaluations = [[v for _, v in t.user_attrs.get("history", [])] for t in trials]
    return {"seconds": seconds, "best": max(e[-1] for e in ran_to_the_end(evaluations, cfg)),
            "best_of_evaluations": best_of(evaluations, cfg),
            "best_params": study.best_params, "evaluations": evaluations,
            "peak_mb": max(trial_peak, *(r for r in study_rss if r is not None)), "rss_by_trial": study_rss}


def ran_to_the_end(evaluations: list[list[float]], cfg: dict) -> list[list[float]]:
    """The evaluations of the trials that were not pruned (a pruned trial has fewer)."""
    return [e for e in evaluations if len(e) == cfg["steps"] // cfg["every"]]


def best_of(evaluations: list[list[float]], cfg: dict) -> float:
    """The best evaluation of the trials that ran to the end."""
    return max(max(e) for e in ran_to_the_end(evaluations, cfg))


def growth(series: list[float]) -> float:
    """Memory growth per trial, from the second trial on (the first loads the libraries)."""
    series = [s for s in series if s is not None]
    return (series[-1] - series[1]) / (len(series) - 2) if len(series) > 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    options = parser.parse_args()
    cfg = ({"n_trials": 4, "steps": 10, "every": 5} if options.quick else {"n_trials": 6, "steps": 20, "every": 10})
    if options.arm == "trainer":
        print(json.dumps(arm_trainer(cfg)))
        return
    repeats = 1 if options.quick else 2
    runs: dict[str, list[dict]] = {"trainer": [], "hpsearch": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            started = time.perf_counter()  # the whole process, as for hpsearch: imports and data included
            result = subprocess.run([sys.executable, __file__, "--arm", "trainer"] + (["--quick"] * options.quick),
                                    capture_output=True, text=True, cwd=tmp)
            if result.returncode != 0:
                sys.exit(f"the Trainer's search failed:\n{result.stderr[-3000:]}")
            runs["trainer"].append({**json.loads(result.stdout.strip().splitlines()[-1]),
                                    "seconds": time.perf_counter() - started})
            folder = Path(tmp) / f"hpsearch-{repeat}"
            folder.mkdir()
            runs["hpsearch"].append(arm_hpsearch(cfg, folder))
            for arm in ("trainer", "hpsearch"):
                r = runs[arm][-1]
                print(f"run {repeat} {arm:8s} {r['seconds']:6.1f} s, best last evaluation {r['best']:.4f}, best "
                      f"evaluation {r['best_of_evaluations']:.4f}, peak {r['peak_mb']:.0f} MB, growth "
                      f"{growth(r['rss_by_trial']):+.1f} MB/trial, best params {r['best_params']}", flush=True)
                print(f"          each trial's evaluations: {r['evaluations']}", flush=True)
    figures = {**cfg, "runs_per_arm": repeats, "arms": {}}
    for arm, found in runs.items():
        figures["arms"][arm] = {
            "median_seconds": statistics.median(r["seconds"] for r in found),
            "best": [r["best"] for r in found], "best_of_evaluations": [r["best_of_evaluations"] for r in found],
            "evaluations": [r["evaluations"] for r in found],
            "median_peak_mb": statistics.median(r["peak_mb"] for r in found),
            "median_growth_mb_per_trial": statistics.median(growth(r["rss_by_trial"]) for r in found)}
        a = figures["arms"][arm]
        print(f"{arm:8s} median {a['median_seconds']:.1f} s, best last evaluation {a['best']}, best evaluation "
              f"{a['best_of_evaluations']}, peak {a['median_peak_mb']:.0f} MB, "
              f"growth {a['median_growth_mb_per_trial']:+.1f} MB/trial")
    ratio = figures["arms"]["hpsearch"]["median_seconds"] / figures["arms"]["trainer"]["median_seconds"]
    figures["ratio"] = ratio
    from record import write

    write("trainer_search", figures, quick=options.quick)
    print(f"wall time, hpsearch / Trainer.hyperparameter_search = {ratio:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
