"""Parallel scaling and storage under load.

1. Finished trials per hour of `hpsearch run --n-jobs 2` against `--n-jobs 1` on this machine (goal at
   least 1.7x). Real trials: MiniLM cut to 2 layers on 400 tweets (--quick: a tiny model), arms interleaved.
2. Zero-cost trials per second on one SQLite study opened as hpsearch opens it (WAL, busy timeout), from 2
   and from 8 processes at once, while a reader lists the study every 0.5 s as the dashboard does. Goal:
   zero lock errors ("database is locked" or any other failed write or read).

    python benchmarks/parallel.py            # about 10 minutes
    python benchmarks/parallel.py --quick    # about 2 minutes

Prints the n-jobs ratio last; writes benchmarks/results/parallel.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SPACE = """study:
  name: scaling
  storage: {storage}
  n_trials: {n_trials}
  sampler: {{name: random, seed: 0}}
  pruner: none
  save: none
task:
  model: {model}
  dataset: {dataset}
  eval_every: {steps}
fixed: {{max_steps: {steps}, batch_size: 16, sequence_length: 48{layers}}}
space:
  learning_rate: {{low: 1.0e-5, high: 3.0e-4, log: true}}
  dropout: documented
"""


def scaling_run(folder: Path, n_jobs: int, quick: bool) -> float:
    """Finished trials per hour of one `hpsearch run --n-jobs N` (the run's whole wall time)."""
    if quick:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from tiny import make_csv, make_model

        model = make_model(folder / "model")
        dataset = f"{{path: {make_csv(folder / 'data.csv', rows=400)}}}"
        workload = dict(model=model, dataset=dataset, steps=60, layers="", n_trials=8)
    else:
        workload = dict(model="minilm-l6", dataset="{name: tweets-sentiment, train_size: 400, eval_size: 100}",
                        steps=40, layers=", model_size: 2", n_trials=8)
    space = folder / "space.yaml"
    space.write_text(SPACE.format(storage=f"sqlite:///{folder}/study.db", **workload))
    from record import hpsearch_run

    seconds = hpsearch_run(space, "--n-jobs", str(n_jobs))
    return workload["n_trials"] / seconds * 3600


def zero_cost_writer(url: str, n: int, errors) -> None:
    import optuna

    from hpsearch.store.studies import storage_for

    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def objective(trial):
        value = trial.suggest_float("x", 0, 1)
        for step in range(10):
            trial.report(value, step)
        trial.set_user_attr("train_seconds", 0.0)
        return value

    try:
        study = optuna.load_study(study_name="load", storage=storage_for(url))
        study.optimize(objective, n_trials=n, catch=())
    except Exception as exc:  # noqa: BLE001 - every failure counts
        errors.put(f"writer: {type(exc).__name__}: {exc}")


def reader(url: str, stop, errors, reads) -> None:
    """What the dashboard and `hpsearch studies` do: list studies and load the trials, every 0.5 s."""
    import optuna

    from hpsearch.results import summary as results
    from hpsearch.store.studies import storage_for
    from hpsearch.store.tables import Tables

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = storage_for(url, create=False)
    tables = Tables.open(url)
    while not stop.is_set():
        try:
            results.list_studies(tables)
            optuna.load_study(study_name="load", storage=storage).get_trials(deepcopy=False)
            reads.put(1)
        except Exception as exc:  # noqa: BLE001
            errors.put(f"reader: {type(exc).__name__}: {exc}")
        stop.wait(0.5)


def storage_load(folder: Path, processes: int, trials_each: int) -> dict:
    import optuna

    from hpsearch.store.studies import storage_for

    url = f"sqlite:///{folder}/load-{processes}.db"
    optuna.create_study(study_name="load", storage=storage_for(url), direction="maximize")
    context = multiprocessing.get_context("spawn")
    errors, reads, stop = context.Queue(), context.Queue(), context.Event()
    watcher = context.Process(target=reader, args=(url, stop, errors, reads))
    watcher.start()
    writers = [context.Process(target=zero_cost_writer, args=(url, trials_each, errors)) for _ in range(processes)]
    started = time.perf_counter()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    found = []
    while not errors.empty():
        found.append(errors.get())
    count = 0
    while not reads.empty():
        count += reads.get()
    complete = len(optuna.load_study(study_name="load", storage=url).get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return {"processes": processes, "trials": complete, "expected": processes * trials_each,
            "trials_per_second": complete / seconds, "reader_polls": count, "errors": len(found),
            "first_errors": found[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    repeats = 1 if options.quick else 2
    rates: dict[int, list[float]] = {1: [], 2: []}
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for n_jobs in (1, 2):
                folder = Path(tmp) / f"jobs{n_jobs}-{repeat}"
                folder.mkdir()
                rates[n_jobs].append(scaling_run(folder, n_jobs, options.quick))
                print(f"run {repeat} --n-jobs {n_jobs}: {rates[n_jobs][-1]:.0f} finished trials/hour", flush=True)
        figures["storage"] = []
        for processes in (2, 8):
            found = storage_load(Path(tmp), processes, 25 if options.quick else 100)
            figures["storage"].append(found)
            print(f"SQLite, {processes} processes of zero-cost trials with a reader every 0.5 s: "
                  f"{found['trials']}/{found['expected']} trials, {found['trials_per_second']:.1f} trials/s, "
                  f"{found['reader_polls']} reads, {found['errors']} errors {found['first_errors']}", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    figures["n_jobs"] = {"1": one, "2": two, "ratio": two / one, "runs_per_arm": repeats}
    from record import write

    write("parallel", figures, quick=options.quick)
    errors = sum(f["errors"] for f in figures["storage"])
    print(f"storage under load: {errors} errors (goal 0: {'met' if errors == 0 else 'NOT met'})")
    print(f"finished trials per hour, --n-jobs 2 / --n-jobs 1 = {two / one:.2f} "
          f"(goal at least 1.7: {'met' if two / one >= 1.7 else 'NOT met'})")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
