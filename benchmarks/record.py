"""What every benchmark writes beside its printout: one JSON record with the machine, the versions, the date
and the figures, in benchmarks/results/NAME.json (the latest run of each benchmark)."""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("hpsearch", "optuna", "torch", "transformers", "datasets", "sqlalchemy")


def machine() -> dict:
    """The machine and the library versions a figure was measured with."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "versions": versions}


def write(name: str, figures: dict, quick: bool = False) -> Path:
    """Write benchmarks/results/NAME.json (NAME-quick.json for a --quick run) and return its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{'-quick' if quick else ''}.json"
    record = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": quick,
              "machine": machine(), "figures": figures}
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"record: {path}")
    return path


def hpsearch_run(space: Path, *flags: str, cwd: Path | None = None) -> float:
    """Run `hpsearch run SPACE FLAGS...` in a fresh process and return its wall time; exit on failure."""
    import subprocess
    import sys

    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "hpsearch", "run", str(space), *flags], capture_output=True,
                            text=True, cwd=cwd)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"hpsearch run {space} {' '.join(flags)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds
