"""Warm start, replayed: does a study learn faster from an earlier study on a neighbouring task?

Two learning-curve tables of benchmarks/curves/ are neighbours: `classification` (MiniLM cut to 2 layers,
2,000 tweets, accuracy) and `small` (1 layer, 640 tweets, macro F1). Each in turn is the earlier study: its
recorded configurations, each with its final value, are written as a study into a temporary database, and
the other table's study is replayed (benchmarks/search_efficiency.py's replay: WORKERS parallel workers,
the arm's pruner on every checkpoint) by hpsearch's default sampler and pruner, with and without
`study.warm_start: {from: [earlier]}`. The history goes through hpsearch's own path (hpsearch.store.history
reads the database, hpsearch.spec.space builds the sampler); the arms are interleaved within each seed.

`small` searches attention_dropout, which `classification` never did, so no classification trial would fit
it: when `small` is the target, its space (and the replay's distances) leave attention_dropout out.

    python benchmarks/warm_start.py            # 20 seeds per arm
    python benchmarks/warm_start.py --quick    # 5 seeds

Prints, per direction, the median compute until the best-so-far reaches 97% (and 95%, 90%) of the target
table's best, and the ratio warm / cold; writes benchmarks/results/warm_start.json.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from hpsearch.search.build import build_pruner, build_sampler

HERE = Path(__file__).resolve().parent
# (earlier study, target): the neighbours both ways, and one table split in two (every other configuration):
# the same task, a check that the history helps where it should
PAIRS = (("classification", "small"), ("small", "classification"), ("classification-odd", "classification-even"))
NOT_IN_SOURCE = {"small": ("attention_dropout",)}  # target entries the other table never searched
ARMS = {  # label: (warm-started, priors, the priors' schedule ignores the history)
    "cold, default": (False, True, False),
    "warm, default": (True, True, False),
    "warm, default, priors' schedule kept": (True, True, True),
    "cold, TPE without priors": (False, False, False),
    "warm, TPE without priors": (True, False, False),
}
RATIOS = (("warm, default", "cold, default"), ("warm, default, priors' schedule kept", "cold, default"),
          ("warm, TPE without priors", "cold, TPE without priors"))


def source_database(table, folder: Path) -> str:
    """A database holding the table's configurations as complete trials of a study named after the table."""
    import optuna

    url = f"sqlite:///{folder}/earlier.db"
    study = optuna.create_study(study_name=table.name, storage=url,
                                direction="maximize" if table.maximize else "minimize")
    last = len(table.steps) - 1
    study.add_trials([optuna.trial.create_trial(
        params=c["params"], distributions=table.distributions, value=table.value(c, last),
        user_attrs={"config": c["params"]}) for c in table.configs])
    return url


def target_spec(name: str, source: str, seed: int, warm: bool, priors: bool = True):
    """hpsearch's default study of table `name`, warm-started from study `source` or not."""
    from search_efficiency import BUDGET_TRIALS, CURVES

    from hpsearch.spec.space import load_text

    text = (CURVES / name / "space.yaml").read_text()
    text = re.sub(r"(?m)^  (sampler|pruner|n_trials): .*\n", "", text)
    for entry in NOT_IN_SOURCE.get(name, ()):
        text = re.sub(rf"(?m)^  {entry}: .*\n", "", text)
    sampler = f"{{name: tpe, seed: {seed}, priors: {str(priors).lower()}}}"
    study = f"study:\n  n_trials: {BUDGET_TRIALS}\n  sampler: {sampler}\n"
    if warm:
        study += f"  warm_start: {{from: [{source}]}}\n"
    return load_text(text.replace("study:\n", study, 1), file=str(CURVES / name / "space.yaml"))


def load(name: str):
    """Table `name`; `NAME-odd` / `NAME-even`: every other configuration of it."""
    from search_efficiency import CURVES, Table

    folder, _, half = name.partition("-")
    table = Table.load(CURVES / folder)
    if half:
        table = replace(table, name=name, configs=table.configs[half == "odd"::2], _cache={})
    return table


def run_pair(source_name: str, target_name: str, seeds: int) -> dict:
    from search_efficiency import BUDGET_TRIALS, OTHER_TARGETS, TARGET, compute_to, replay

    from hpsearch.store import history

    source, target = load(source_name), load(target_name)
    target_name = target_name.partition("-")[0]  # its space file
    kept = {k: v for k, v in target.distributions.items() if k not in NOT_IN_SOURCE.get(target_name, ())}
    target = replace(target, distributions=kept, _cache={})
    with tempfile.TemporaryDirectory() as folder:
        url = source_database(source, Path(folder))
        earlier = history.read(target_spec(target_name, source_name, 0, warm=True), url)
    print(f"\n== {source_name} -> {target.name}: {len(target.configs)} curves, best {target.best():.4f}; "
          + "; ".join(earlier.notes))
    curves: dict[str, list] = {arm: [] for arm in ARMS}
    for seed in range(seeds):  # arms interleaved within each seed
        for arm, (warm, priors, schedule_kept) in ARMS.items():
            spec = target_spec(target_name, source_name, seed, warm, priors)
            sampler = build_sampler(spec.plugin_options, earlier.trials if warm else ())
            if schedule_kept:  # the variant: the priors' start-up as without history, the history for TPE only
                sampler.evidence = 0
            curves[arm].append(replay(target, sampler, build_pruner(spec.plugin_options), name=f"replay-{seed}"))
    unit, censored = target.full_seconds(), BUDGET_TRIALS * target.full_seconds()
    figures: dict = {"history_used": earlier.used, "notes": earlier.notes, "arms": {}}
    for share in (TARGET,) + OTHER_TARGETS:
        threshold = target.target(share)
        medians = {arm: statistics.median(c if c is not None else censored for c in
                                          (compute_to(curve, threshold, target.maximize) for curve in runs))
                   for arm, runs in curves.items()}
        reached = {arm: sum(compute_to(c, threshold, target.maximize) is not None for c in runs)
                   for arm, runs in curves.items()}
        ratios = {f"{a} / {b}": medians[a] / medians[b] for a, b in RATIOS}
        figures["arms"][f"{share:.2f}"] = {"median_full_trials": {a: m / unit for a, m in medians.items()},
                                           "reached": reached, "ratios": ratios}
        print(f"   {share:.0%} of the best, median compute in full trials (seeds that reached it):")
        for arm in ARMS:
            print(f"      {arm:38s} {medians[arm] / unit:5.1f} ({reached[arm]}/{seeds})")
        for label, ratio in ratios.items():
            print(f"      ratio {label}: {ratio:.2f}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 seeds per arm instead of 20")
    options = parser.parse_args()
    seeds = 5 if options.quick else 20
    figures = {"seeds": seeds, "pairs": {}}
    for source, target in PAIRS:
        figures["pairs"][f"{source} -> {target}"] = run_pair(source, target, seeds)
    said = ", ".join(f"{pair} {f['arms']['0.97']['ratios']['warm, default / cold, default']:.2f}x"
                     for pair, f in figures["pairs"].items())
    print(f"\nwarm / cold, hpsearch default, compute to 97% of the best: {said}")
    from record import write

    write("warm_start", figures, quick=options.quick)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    main()
