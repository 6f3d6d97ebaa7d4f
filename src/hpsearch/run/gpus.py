"""GPUs without importing torch: which ones this machine has, which a run may use, and what each trial gets.

Everything about the devices comes from `detect()`, which asks $CUDA_VISIBLE_DEVICES and nvidia-smi;
tests replace that one function to play a machine with any GPUs. A trial's process sees only its own
GPU (CUDA_VISIBLE_DEVICES is set in the process before CUDA starts), so at most one trial runs on a GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from hpsearch.errors import UsageError

BF16_COMPUTE_CAPABILITY = 8.0  # Ampere (A100, RTX 30xx) and later compute in bfloat16
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Gpu:
    """One visible GPU: its CUDA index (or UUID), its name, its compute capability where known."""

    id: str
    name: str = "GPU"
    capability: float | None = None

    def supports(self, precision: str) -> bool:
        if precision == "bf16":  # an unknown capability is given the benefit of the doubt
            return self.capability is None or self.capability >= BF16_COMPUTE_CAPABILITY
        return True  # fp32 anywhere; fp16 on every CUDA GPU


def detect() -> list[Gpu]:
    """The GPUs this process may use: those of $CUDA_VISIBLE_DEVICES (if set), as nvidia-smi describes them."""
    listed = _nvidia_smi()
    declared = os.environ.get("CUDA_VISIBLE_DEVICES")
    if declared is None:
        return listed
    by_id = {gpu.id: gpu for gpu in listed}
    ids = [d.strip() for d in declared.split(",") if d.strip()]
    ids = ids[:ids.index("-1")] if "-1" in ids else ids  # CUDA stops at the first invalid entry
    return [by_id.get(i, Gpu(i)) for i in ids]


def _nvidia_smi() -> list[Gpu]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=index,name,compute_cap", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in listing.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 3 and fields[0].isdigit():
            try:
                capability = float(fields[2])
            except ValueError:
                capability = None
            gpus.append(Gpu(fields[0], fields[1], capability))
    return gpus


def choose(requested: str | None) -> list[Gpu]:
    """The GPUs a run uses: those `--gpus` names ("0,2"; "none" for the CPU), by default every visible one."""
    visible = detect()
    if requested is None:
        return visible
    wanted = [w.strip() for w in requested.split(",") if w.strip()]
    if wanted in (["none"], ["cpu"]):
        return []
    by_id = {gpu.id: gpu for gpu in visible}
    missing = [w for w in wanted if w not in by_id]
    if missing or not wanted or len(set(wanted)) != len(wanted):
        have = ", ".join(by_id) or "none"
        raise UsageError(f"--gpus {requested}: {', '.join(missing) or 'the list'} is not one GPU each of this "
                         f"machine's visible GPUs ({have}); name visible GPUs once each, or --gpus none for the CPU")
    return [by_id[w] for w in wanted]


def check_precision(precisions: set[str], gpus: list[Gpu]) -> None:
    """Refuse bf16 / fp16 where no GPU in use computes in it, before any study is touched."""
    for precision in sorted(precisions - {"fp32"}):
        unable = [gpu for gpu in gpus if not gpu.supports(precision)]
        if not gpus:
            raise UsageError(f"precision {precision} needs a GPU, and this run has none (use precision: fp32, "
                             "or run on a machine with a GPU)")
        if unable:
            names = ", ".join(f"{g.id} ({g.name}, compute capability {g.capability:g})" for g in unable)
            raise UsageError(f"precision {precision} needs compute capability {BF16_COMPUTE_CAPABILITY:g} or "
                             f"more, which GPU {names} lacks (use fp16 or fp32, or leave those GPUs out with --gpus)")


def plan_slots(n_jobs: int, cpus: int | None = None, gpus: list[str] | None = None) -> list[dict[str, Any]]:
    """What each concurrent trial gets: an equal share of CPU threads, and a GPU of its own.

    With GPUs, one trial runs per GPU: n_jobs larger than the GPUs is cut to their number.
    """
    cpus = cpus or os.cpu_count() or 1
    gpus = [g.id for g in detect()] if gpus is None else gpus
    n_jobs = min(n_jobs, len(gpus)) if gpus else n_jobs
    threads = max(1, cpus // n_jobs)
    return [{"threads": threads, "gpu": gpus[i] if gpus else None} for i in range(n_jobs)]
