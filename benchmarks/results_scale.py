"""Listing and comparing big studies: `hpsearch studies` and `hpsearch compare` on two 10,000-trial studies,
against the plain Optuna calls a user would make (the study summaries; every trial loaded), same database.

    python benchmarks/results_scale.py             # two studies of 10,000 trials each (built once, ~2 min)
    python benchmarks/results_scale.py --quick     # 1,000 trials each

The studies are built directly through Optuna's storage API (no training), with the attributes hpsearch
records on a trial. Each command runs 3 times, interleaved with the baseline; medians are printed, then
the ratio hpsearch / baseline last. Goal: each command under 2 s on 10,000 trials.
"""

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = """
import optuna, sys
optuna.logging.set_verbosity(optuna.logging.WARNING)
url = sys.argv[1]
summaries = optuna.get_all_study_summaries(url, include_best_trial=True)
for summary in summaries:
    trials = optuna.load_study(study_name=summary.study_name, storage=url).get_trials(deepcopy=False)
    print(summary.study_name, len(trials), summary.best_trial.value)
"""


def build(url: str, name: str, n_trials: int, seed: int) -> None:
    """A finished study of `n_trials` trials with hpsearch's attributes (complete, pruned, a few failed)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState

    from hpsearch.spec.space import load_text
    from hpsearch.store.stored_spec import store_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(seed)
    text = (f"study: {{name: {name}}}\ntask: {{dataset: {{path: d.csv}}}}\nfixed: {{max_steps: 60}}\n"
            "space:\n  learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}\n  dropout: documented\n"
            "  lr_scheduler: {choices: [linear, cosine, constant]}\n")
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    store_spec(study, load_text(text))
    distributions = {"learning_rate": FloatDistribution(1e-5, 1e-3, log=True), "dropout": FloatDistribution(0.1, 0.5),
                     "lr_scheduler": CategoricalDistribution(["linear", "cosine", "constant"])}
    trials = []
    for _ in range(n_trials):
        params = {"learning_rate": 10 ** rng.uniform(-5, -3), "dropout": rng.uniform(0.1, 0.5),
                  "lr_scheduler": rng.choice(["linear", "cosine", "constant"])}
        roll = rng.random()
        state = TrialState.PRUNED if roll < 0.4 else TrialState.FAIL if roll < 0.45 else TrialState.COMPLETE
        steps = 20 if state == TrialState.PRUNED else 60
        history = [[s, rng.uniform(0.3, 0.8)] for s in range(20, steps + 1, 20)]
        attrs = {"config": {**params, "max_steps": 60}, "history": history, "stop_step": steps, "planned_steps": 60,
                 "train_seconds": steps * 0.8, "effective_batch_size": 16,
                 "best_metrics": {"eval_accuracy": max(v for _, v in history)}, "stop_reason": "completed"}
        trials.append(optuna.trial.create_trial(
            params=params, distributions=distributions, user_attrs=attrs, state=state,
            value=attrs["best_metrics"]["eval_accuracy"] if state == TrialState.COMPLETE else None,
            intermediate_values={int(s): v for s, v in history} if state != TrialState.FAIL else None))
    study.add_trials(trials)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 trials a study instead of 10,000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", type=Path, help="keep the built database in this file (reused when it exists)")
    options = parser.parse_args()
    n_trials = 1_000 if options.quick else 10_000
    # built in memory-backed /dev/shm where there is one: SQLite's fsync per insert would take minutes
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        path = options.db or Path(tmp) / "hpsearch.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            started = time.perf_counter()
            for index, name in enumerate(("big-a", "big-b")):
                build(url, name, n_trials, seed=index)
            print(f"built 2 studies of {n_trials} trials in {time.perf_counter() - started:.0f} s")
        hpsearch = [sys.executable, "-m", "hpsearch"]
        arms = {
            "studies": (hpsearch + ["studies", "--storage", url], [sys.executable, "-c", BASELINE, url]),
            "compare": (hpsearch + ["compare", "big-a", "big-b", "--storage", url], [sys.executable, "-c", BASELINE,
                                                                                      url]),
        }
        record = {"n_trials": n_trials, "date": time.strftime("%Y-%m-%d"), "commands": {}}
        for label, (ours, theirs) in arms.items():
            mine, base = [], []
            for run in range(options.repeats):
                base.append(timed(theirs))
                mine.append(timed(ours))
                print(f"run {run} {label:8s} baseline {base[-1]:.2f} s, hpsearch {mine[-1]:.2f} s")
            record["commands"][label] = {"hpsearch": statistics.median(mine), "baseline": statistics.median(base)}
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from record import write

        write("results_scale", record, quick=options.quick)
        for label, figures in record["commands"].items():
            print(f"{label}: median hpsearch {figures['hpsearch']:.2f} s, baseline (summaries + every trial loaded) "
                  f"{figures['baseline']:.2f} s; ratio hpsearch/baseline = "
                  f"{figures['hpsearch'] / figures['baseline']:.2f}; goal under 2 s: "
                  f"{'met' if figures['hpsearch'] < 2 else 'NOT met'}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
