"""Memory of the study process over many trials: it must stay flat (growth under 50 MB over 100 trials).

Runs `hpsearch run` with 100 tiny trials (a model built from a config, 10 steps each, the median pruner
on) and reads the study process's resident memory that each trial records when it starts
(`study_process_rss_mb`). Trial processes are new for every trial, so only the study process can leak.

    python benchmarks/memory.py            # 100 trials
    python benchmarks/memory.py --quick    # 30 trials

Prints the growth from the 5th trial to the last (the first ones load the libraries) last; writes
benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

SPACE = """study:
  name: memory
  storage: sqlite:///{folder}/study.db
  n_trials: {n_trials}
  sampler: {{name: tpe, seed: 0}}
  pruner: median
task:
  model: {model}
  dataset: {{path: {csv}}}
  eval_every: 5
fixed: {{max_steps: 10, batch_size: 16, sequence_length: 16}}
space:
  learning_rate: {{low: 1.0e-3, high: 1.0e-1, log: true}}
  dropout: documented
  lr_scheduler: {{choices: [linear, cosine, constant]}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    n_trials = 30 if options.quick else 100
    sys.path.insert(0, str(HERE.parent / "tests"))
    import optuna
    from record import hpsearch_run, write

    from tiny import make_csv, make_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        space = folder / "space.yaml"
        space.write_text(SPACE.format(folder=folder, n_trials=n_trials, model=make_model(folder / "model"),
                                      csv=make_csv(folder / "data.csv", rows=200)))
        seconds = hpsearch_run(space)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trials = sorted(optuna.load_study(study_name="memory", storage=f"sqlite:///{folder}/study.db").trials,
                        key=lambda t: t.number)
    rss = [t.user_attrs["study_process_rss_mb"] for t in trials]
    growth = rss[-1] - rss[4]
    print(f"{len(trials)} trials in {seconds:.0f} s; study process RSS by trial (MB): "
          + ", ".join(f"{r:.0f}" for r in rss[:: max(1, len(rss) // 10)]) + f", last {rss[-1]:.0f}")
    figures = {"n_trials": len(trials), "rss_mb": rss, "growth_mb": growth, "peak_mb": max(rss)}
    write("memory", figures, quick=options.quick)
    print(f"study process memory growth from trial 5 to trial {len(trials)}: {growth:+.1f} MB "
          f"(goal under 50 MB: {'met' if growth < 50 else 'NOT met'})")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
