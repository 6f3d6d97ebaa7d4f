"""The whole benchmark suite, one benchmark after another, each in its own process.

    python benchmarks/run_all.py            # the full suite (about 1.5 hours here, the replay table shipped)
    python benchmarks/run_all.py --quick    # every benchmark's short version (about 25 minutes)
    python benchmarks/run_all.py --only search_efficiency,memory

Each benchmark prints its figures and its ratio last, and writes benchmarks/results/NAME.json; this prints
every benchmark's last line again at the end. docs/benchmarks.md holds the latest figures. Rebuilding the
replay's learning-curve table is a separate, hour-long step (see benchmarks/search_efficiency.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# In the order: search efficiency (replayed, then live on the quickstart), against the Trainer's
# search, overhead (zero-cost, then real trials, then a custom task's report), throughput, parallel scaling
# and storage, the 10,000-trial study, memory.
SUITE = ("search_efficiency", "live", "trainer_search", "orchestration", "overhead", "decoding", "reporting",
         "throughput", "parallel", "results_scale", "memory", "warm_start", "sft_overhead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated benchmark names, of: " + ", ".join(SUITE))
    options = parser.parse_args()
    chosen = SUITE if not options.only else tuple(options.only.split(","))
    unknown = [name for name in chosen if name not in SUITE]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)} (there are: {', '.join(SUITE)})")
    last_lines, failed = {}, []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(HERE / f"{name}.py")] + (["--quick"] * options.quick),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip())
        if process.wait() != 0:
            failed.append(name)
        useful = [line for line in lines if line and not line.startswith("record:")]
        last_lines[name] = (useful[-1] if useful else "(no output)", time.perf_counter() - started)
    print("\n=== summary ===")
    for name, (line, seconds) in last_lines.items():
        print(f"{name:18s} ({seconds:5.0f} s) {line}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
