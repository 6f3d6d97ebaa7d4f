"""A custom task's report round trip: `reporter.report` in the trial's process, the pipe, the study process's
answer (hpsearch.run.evaluations), and back; against a bare pipe round trip between two processes.

Each arm runs in a fresh process, arms interleaved A B A B. The hpsearch arm runs a real study (`run_study`,
SQLite, a custom task) of 3 trials whose training function only reports, timing each `reporter.report`; its
pruner is the median rule (5 start-up trials: it cannot prune these 3, so no report needs a database read).
The baseline sends the same (tag, step, value) tuples over a multiprocessing pipe to a process that answers.

    python benchmarks/reporting.py            # 3 runs per arm, 300 reports a trial
    python benchmarks/reporting.py --quick    # 2 runs per arm, 100 reports a trial

Prints each arm's median round trip in milliseconds and the ratio; the last line holds the figure against the
issue-26 goal of under 2 ms a report when the pruner needs no database read. Writes
benchmarks/results/reporting.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

TRAIN = '''
import json, os, time

def main(config, reporter):
    times = []
    for step in range(config["n_reports"]):
        started = time.perf_counter()
        reporter.report(step, {"score": 0.5})
        times.append(time.perf_counter() - started)
    with open(os.environ["REPORT_TIMES"], "a") as out:
        out.write(json.dumps(times) + "\\n")
'''

SPACE = """study: {{name: reports, metric: score, direction: maximize, n_trials: 3, sampler: {{name: random, seed: 0}},
        pruner: median, save: none}}
task: {{type: custom, entry: train.py:main}}
fixed: {{n_reports: {n}}}
space:
  x: {{type: float, low: 0.1, high: 1.0}}
"""


def arm_hpsearch(folder: Path, n: int) -> list[float]:
    from hpsearch.run import study_loop
    from hpsearch.spec.space import load_text

    (folder / "train.py").write_text(TRAIN)
    os.environ["REPORT_TIMES"] = str(folder / "times.jsonl")
    study_loop.run_study(load_text(SPACE.format(n=n), base_dir=str(folder)), f"sqlite:///{folder}/study.db")
    return [t for line in (folder / "times.jsonl").read_text().splitlines() for t in json.loads(line)]


def _answer(conn) -> None:
    while True:
        message = conn.recv()
        if message is None:
            return
        conn.send("continue")


def arm_pipe(folder: Path, n: int) -> list[float]:
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=_answer, args=(child,))
    process.start()
    times = []
    for step in range(3 * n):
        started = time.perf_counter()
        parent.send(("report", step, 0.5))
        parent.recv()
        times.append(time.perf_counter() - started)
    parent.send(None)
    process.join()
    return times


def run_arm(arm: str, n: int, folder: Path) -> list[float]:
    result = subprocess.run([sys.executable, __file__, "--arm", arm, "--n", str(n), "--folder", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"arm {arm} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return json.loads((folder / "arm.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, help="runs per arm (default 3, --quick 2)")
    parser.add_argument("--arm", choices=("hpsearch", "pipe"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.arm:
        times = (arm_hpsearch if options.arm == "hpsearch" else arm_pipe)(options.folder, options.n)
        (options.folder / "arm.json").write_text(json.dumps(times))
        return
    n, repeats = (100, 2) if options.quick else (300, 3)
    repeats = options.repeats or repeats
    medians: dict[str, list[float]] = {"pipe": [], "hpsearch": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for arm in ("pipe", "hpsearch"):
                folder = Path(tmp) / f"{arm}-{repeat}"
                folder.mkdir()
                times = run_arm(arm, n, folder)
                medians[arm].append(statistics.median(times))
                print(f"run {repeat} {arm:8s} {len(times)} reports: median {medians[arm][-1] * 1000:.3f} ms, "
                      f"90th percentile {statistics.quantiles(times, n=10)[-1] * 1000:.3f} ms", flush=True)
    base, ours = statistics.median(medians["pipe"]), statistics.median(medians["hpsearch"])
    figures = {"reports_per_trial": n, "trials_per_run": 3, "runs_per_arm": repeats,
               "round_trip_s": {"pipe": base, "hpsearch": ours, "ratio": ours / base}}
    from record import write

    write("reporting", figures, quick=options.quick)
    print(f"a custom task's report round trip: hpsearch {ours * 1000:.2f} ms, bare pipe {base * 1000:.3f} ms; "
          f"ratio = {ours / base:.1f} (goal under 2 ms: {'met' if ours < 0.002 else 'NOT met'})")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
