"""Overhead per trial with zero-cost trials: hpsearch's whole machinery against a plain Optuna script.

Each trial reports 10 evaluations and trains nothing, so all that is timed is the search itself: in hpsearch,
the study process, a process per trial from the fork server, the pipe, the pruner's answers and what hpsearch
records on the study; in the baseline, `study.optimize` on an objective that suggests the same values and
reports the same 10 numbers, in one process. Both on a fresh SQLite database opened the same way
(hpsearch's storage_for: WAL, busy timeout, heartbeats). Arms interleaved A B A B.

    python benchmarks/orchestration.py            # 3 runs per arm of 40 trials
    python benchmarks/orchestration.py --quick    # 2 runs per arm of 15 trials

Prints the median seconds per trial of each arm and their ratios: the whole run (start included: hpsearch
boots a fork server with torch and transformers once per run, ~4 s), the steady state (from the first
trial's end to the last's, per trial: what each further trial costs) and a trial from ask to tell; the last
line is the steady-state ratio against the issue-18 goal of at most 1.5. Writes
benchmarks/results/orchestration.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hpsearch.run.targets import ZERO_COST_REPORTS as REPORTS
from hpsearch.run.targets import zero_cost_value

HERE = Path(__file__).resolve().parent

SPACE = """study:
  name: zero
  n_trials: {n}
  sampler: {{name: tpe, seed: 0}}
  pruner: median
  save: none
task:
  model: {model}
  dataset: {{path: {csv}}}
space:
  learning_rate: {{low: 1.0e-5, high: 1.0e-3, log: true}}
  dropout: documented
"""


def arm_hpsearch(url: str, n: int, folder: Path) -> None:
    from dataclasses import replace

    from hpsearch.run import study_loop
    from hpsearch.run.targets import ZERO_COST
    from hpsearch.spec.space import load_text

    assets = folder.parent / "assets"  # built once by main(), outside the timed runs
    text = SPACE.format(n=n, model=assets / "model", csv=assets / "data.csv")
    # the tests' zero-cost trial, in a process forked from the fork server as a real trial's is
    study_loop.run_study(load_text(text, base_dir=str(folder)), url, target=replace(ZERO_COST, preloaded=True))


def arm_optuna(url: str, n: int, folder: Path) -> None:
    import optuna

    from hpsearch.store.studies import storage_for

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True)
        trial.suggest_float("dropout", 0.1, 0.5)
        value = zero_cost_value(trial.number)
        for step in range(1, REPORTS + 1):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study = optuna.create_study(study_name="zero", storage=storage_for(url), direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0), pruner=optuna.pruners.MedianPruner())
    study.optimize(objective, n_trials=n)


def run_arm(arm: str, n: int, folder: Path) -> tuple[float, float, list[float], float]:
    """Run one arm in a fresh process; its wall time, its steady seconds per trial (first trial's end to the
    last's, over n - 1), each trial's ask-to-tell seconds and the reports a trial (the same in both arms: see
    zero_cost_value)."""
    import optuna

    url = f"sqlite:///{folder}/study.db"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, __file__, "--arm", arm, "--url", url, "--n", str(n),
                             "--folder", str(folder)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"arm {arm} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name="zero", storage=url).get_trials(deepcopy=False)
    if len(trials) != n:
        sys.exit(f"arm {arm} ran {len(trials)} trials, not {n}")
    ends = sorted(t.datetime_complete.timestamp() for t in trials)
    return (seconds, (ends[-1] - ends[0]) / (n - 1), [t.duration.total_seconds() for t in trials if t.duration],
            sum(len(t.intermediate_values) for t in trials) / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, help="runs per arm (default 3, --quick 2)")
    parser.add_argument("--arm", choices=("hpsearch", "optuna"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.arm:
        (arm_hpsearch if options.arm == "hpsearch" else arm_optuna)(options.url, options.n, options.folder)
        return
    n, repeats = (15, 2) if options.quick else (40, 3)
    repeats = options.repeats or repeats
    whole: dict[str, list[float]] = {"optuna": [], "hpsearch": []}
    steady: dict[str, list[float]] = {"optuna": [], "hpsearch": []}
    each: dict[str, list[float]] = {"optuna": [], "hpsearch": []}
    reports: dict[str, list[float]] = {"optuna": [], "hpsearch": []}
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from tiny import make_csv, make_model

        make_model(Path(tmp) / "assets" / "model")
        make_csv(Path(tmp) / "assets" / "data.csv", rows=60)
        for repeat in range(repeats):
            for arm in ("optuna", "hpsearch"):
                folder = Path(tmp) / f"{arm}-{repeat}"
                folder.mkdir()
                seconds, per_trial, durations, per_trial_reports = run_arm(arm, n, folder)
                reports[arm].append(per_trial_reports)
                whole[arm].append(seconds / n)
                steady[arm].append(per_trial)
                each[arm].extend(durations[1:])
                print(f"run {repeat} {arm:8s} {seconds:6.2f} s for {n} trials; ask to tell median "
                      f"{statistics.median(durations[1:]) * 1000:.0f} ms; steady {per_trial * 1000:.0f} ms a trial; "
                      f"{per_trial_reports:.1f} reports a trial",
                      flush=True)
    figures = {"trials_per_run": n, "runs_per_arm": repeats, "reports_per_trial": REPORTS,
               "reports_per_trial_made": {arm: statistics.median(values) for arm, values in reports.items()}}
    for label, data in (("whole_run_s_per_trial", whole), ("steady_s_per_trial", steady), ("ask_to_tell_s", each)):
        base, ours = statistics.median(data["optuna"]), statistics.median(data["hpsearch"])
        figures[label] = {"optuna": base, "hpsearch": ours, "ratio": ours / base}
        print(f"median {label}: plain Optuna {base * 1000:.0f} ms, hpsearch {ours * 1000:.0f} ms; "
              f"ratio {ours / base:.2f}")
    from record import write

    write("orchestration", figures, quick=options.quick)
    ratio = figures["steady_s_per_trial"]["ratio"]
    print(f"zero-cost trials, hpsearch / plain Optuna, steady wall time per trial: ratio = {ratio:.2f} "
          f"(goal at most 1.5: {'met' if ratio <= 1.5 else 'NOT met'}); with the start: "
          f"{figures['whole_run_s_per_trial']['ratio']:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
