"""Wall time per trial: hpsearch (`hpsearch run`, a process per trial) against a hand-written Optuna + Trainer
script (one process), on the same trials. Arms are interleaved A B A B so the machine's drift cancels.

    python benchmarks/overhead.py            # the built-in MiniLM on 500 tweets (needs the examples extra)
    python benchmarks/overhead.py --quick    # a tiny model built from a config: shows the fixed cost per trial

Prints each run, the median seconds per trial of each arm and their ratio (goal: at most 1.05 on real trials).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BREAKDOWN: list[dict[str, float]] = []  # hpsearch's trials after the first, over every run
sys.path.insert(0, str(HERE.parent / "tests"))


def workload(quick: bool, folder: Path) -> dict:
    if quick:
        from tiny import make_csv, make_model

        model, csv = make_model(folder / "model"), make_csv(folder / "data.csv", rows=300)
        return dict(model=str(model), csv=str(csv), text="text", label="label", encoding="utf-8", train_size=200,
                    eval_size=50, max_steps=30, eval_every=10, batch_size=16, sequence_length=16, n_trials=6,
                    learning_rate=[5e-3, 3e-2], dropout=[0.1, 0.5], repeats=3, dataset=f"{{path: {csv}, eval_size: 50, "
                    "train_size: 200}")
    from hpsearch.spec import assets

    model = assets.locate(assets.BUILTIN_MODELS["minilm-l6"])
    csv = assets.locate(assets.BUILTIN_DATASETS["tweets-sentiment"])
    return dict(model=str(model), csv=str(csv), text="text", label="sentiment", encoding="latin-1", train_size=500,
                eval_size=100, max_steps=20, eval_every=10, batch_size=16, sequence_length=64, n_trials=4,
                learning_rate=[1e-5, 3e-4], dropout=[0.1, 0.5], repeats=3,
                dataset="{name: tweets-sentiment, train_size: 500, eval_size: 100}")


SPACE = """study:
  name: bench
  storage: {storage}
  n_trials: {n_trials}
  sampler: {{name: tpe, seed: 0}}
  pruner: none
  save: none
task:
  model: {model}
  dataset: {dataset}
  eval_every: {eval_every}
fixed:
  max_steps: {max_steps}
  batch_size: {batch_size}
  sequence_length: {sequence_length}
  weight_decay: 0.0001
space:
  learning_rate: {{low: {learning_rate[0]}, high: {learning_rate[1]}, log: true}}
  dropout: {{low: {dropout[0]}, high: {dropout[1]}}}
"""


def trial_seconds(storage: str, study_name: str) -> list[float]:
    """Each complete trial's duration, from ask to tell, in the order the trials ran."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=storage)
    return [t.duration.total_seconds() for t in study.trials if t.duration is not None]


def breakdown(storage: str) -> list[dict[str, float]]:
    """Where each hpsearch trial's wall time (ask to tell) went, from what the trial recorded: the process
    start (ask to the worker's first line), setup (data, tokenization, model load, Trainer), training (its
    evaluations included) and the rest (result sent back, stored, the study told)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    found = (trial_parts(t, "training", "train_seconds") for t in optuna.load_study(study_name="bench",
                                                                                    storage=storage).trials)
    return [row for row in found if row is not None]


def trial_parts(trial, work: str, work_attr: str) -> dict[str, float] | None:
    """One hpsearch trial's wall time (ask to tell) split by what it recorded: process start, setup, its
    `work` (the seconds in its attribute `work_attr`) and the rest; None for a trial that recorded no start."""
    attrs = trial.user_attrs
    if trial.duration is None or "worker_started" not in attrs:
        return None
    wall = trial.duration.total_seconds()
    start = attrs["worker_started"] - trial.datetime_start.timestamp()
    return {"wall": wall, "process start": start, "setup": attrs["setup_seconds"], work: attrs[work_attr],
            "rest": wall - start - attrs["setup_seconds"] - attrs[work_attr]}


def run_hpsearch(cfg: dict, folder: Path) -> float:
    space = folder / "space.yaml"
    space.write_text(SPACE.format(storage=f"sqlite:///{folder}/hp.db", **cfg))
    started = time.perf_counter()
    _check(subprocess.run([sys.executable, "-m", "hpsearch", "run", str(space)], capture_output=True, text=True,
                          cwd=folder))
    BREAKDOWN.extend(breakdown(f"sqlite:///{folder}/hp.db")[1:])  # the first trial also waits for the fork server
    return time.perf_counter() - started, trial_seconds(f"sqlite:///{folder}/hp.db", "bench")


def run_baseline(cfg: dict, folder: Path) -> float:
    config = folder / "baseline.json"
    config.write_text(json.dumps({**cfg, "storage": f"sqlite:///{folder}/base.db", "output_dir": str(folder / "out")}))
    started = time.perf_counter()
    _check(subprocess.run([sys.executable, str(HERE / "baseline_optuna_trainer.py"), str(config)],
                          capture_output=True, text=True))
    return time.perf_counter() - started, trial_seconds(f"sqlite:///{folder}/base.db", _only_study(folder))


def _only_study(folder: Path) -> str:
    import optuna

    (summary,) = optuna.get_all_study_summaries(f"sqlite:///{folder}/base.db")
    return summary.study_name


def _check(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0:
        sys.exit(f"{' '.join(result.args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model: the fixed cost per trial")
    parser.add_argument("--repeats", type=int, help="runs per arm (default 3)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = workload(options.quick, Path(tmp))
        repeats = options.repeats or cfg["repeats"]
        times = {"hpsearch": [], "baseline": []}
        steady = {"hpsearch": [], "baseline": []}
        for repeat in range(repeats):
            for arm, runner in (("baseline", run_baseline), ("hpsearch", run_hpsearch)):
                folder = Path(tmp) / f"{arm}-{repeat}"
                folder.mkdir()
                seconds, trials = runner(cfg, folder)
                times[arm].append(seconds / cfg["n_trials"])
                steady[arm].extend(trials[1:])  # the first trial of a run also pays the run's start
                print(f"run {repeat} {arm:9s} {seconds:7.2f} s for {cfg['n_trials']} trials "
                      f"({seconds / cfg['n_trials']:.2f} s a trial; trials after the first: "
                      f"{', '.join(f'{t:.2f}' for t in trials[1:])})", flush=True)
    print(f"\nworkload: {'tiny model' if options.quick else 'MiniLM-L6 on tweets'}, {cfg['n_trials']} trials of "
          f"{cfg['max_steps']} steps, {repeats} runs per arm, interleaved")
    figures = {"workload": "tiny" if options.quick else "minilm-l6", "n_trials": cfg["n_trials"],
               "max_steps": cfg["max_steps"], "runs_per_arm": repeats}
    for key, label, data in (("whole_run", "whole run, start included", times),
                             ("steady", "a trial after the first (ask to tell)", steady)):
        base, ours = statistics.median(data["baseline"]), statistics.median(data["hpsearch"])
        figures[key] = {"baseline": base, "hpsearch": ours, "ratio": ours / base}
        print(f"median s/trial, {label}: baseline {base:.2f}, hpsearch {ours:.2f}; "
              f"ratio hpsearch/baseline = {ours / base:.3f}")
    parts = {k: statistics.median(row[k] for row in BREAKDOWN) for k in BREAKDOWN[0]} if BREAKDOWN else {}
    if parts:
        not_training = 1 - statistics.median(row["training"] / row["wall"] for row in BREAKDOWN)
        figures["breakdown_median_s"], figures["not_training_share"] = parts, not_training
        print("hpsearch trial breakdown (medians, s): " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))
        print(f"share of a trial's wall time that is not training: {not_training:.1%} "
              f"(goal under 5%: {'met' if not_training < 0.05 else 'NOT met'})")
    from record import write

    write("overhead", figures, quick=options.quick)
    print(f"ratio hpsearch/baseline, a trial after the first = {figures['steady']['ratio']:.3f}")

if __name__ == "__main__":
    main()
