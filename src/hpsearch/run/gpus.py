"""GPUs without importing torch: which ones this machine has, which a run may use, and what each trial gets.

Everything about the devices comes from `detect()`, which asks $CUDA_VISIBLE_DEVICES and nvidia-smi;
tests replace that one function to play a machine with any GPUs. A trial's process sees only its own
GPU (CUDA_VISIBLE_DEVICES is set in the process before CUDA starts). `study.trials_per_gpu` trials share
each GPU at once, each held to its share of the GPU's memory, so a trial that outgrows it fails alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from hpsearch.errors import UsageError

BF16_COMPUTE_CAPABILITY = 8.0  # Ampere (A100, RTX 30xx) and later compute in bfloat16
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Gpu:
    """One visible GPU: its CUDA index (or UUID), its name, its compute capability and free memory where known."""

    id: str
    name: str = "GPU"
    capability: float | None = None
    free_mb: int | None = None  # free memory when the run started (nvidia-smi), in MiB

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
        listing = subprocess.run(["nvidia-smi", "--query-gpu=index,name,compute_cap,memory.free",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_listing(listing)


def parse_listing(listing: str) -> list[Gpu]:
    """nvidia-smi's `index, name, compute_cap, memory.free` lines as Gpus ([N/A] fields unknown)."""
    gpus = []
    for line in listing.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 4 and fields[0].isdigit():
            capability = float(fields[2]) if re.fullmatch(r"\d+(\.\d+)?", fields[2]) else None
            free_mb = int(fields[3]) if fields[3].isdigit() else None
            gpus.append(Gpu(fields[0], fields[1], capability, free_mb))
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


def plan(study: Any, chosen: list[Gpu], cpus: int | None = None) -> list[dict[str, Any]]:
    """The slots of a run of `study` (its StudyConfig) on `chosen`, refusing n_jobs and trials_per_gpu that
    contradict each other.

    On GPUs, n_jobs unset means every slot: trials_per_gpu on each GPU. n_jobs set alone (trials_per_gpu at
    its default 1) is cut to the GPUs' slots, as before trials_per_gpu existed; both set, n_jobs may not ask
    for more trials at once than the GPUs' slots hold. Without a GPU, trials_per_gpu means nothing.
    """
    asked = study.model_fields_set
    per_gpu = study.trials_per_gpu
    n_jobs = study.n_jobs if "n_jobs" in asked or not chosen else None
    if chosen and n_jobs and "trials_per_gpu" in asked and n_jobs > len(chosen) * per_gpu:
        most = len(chosen) * per_gpu
        raise UsageError(f"n_jobs {n_jobs} asks for more trials at once than trials_per_gpu {per_gpu} allows on "
                         f"{_count(len(chosen), 'GPU')} ({', '.join(g.id for g in chosen)}): at most {most}; set "
                         f"n_jobs to {most} or less, raise trials_per_gpu, or leave n_jobs unset")
    return plan_slots(n_jobs, cpus, [g.id for g in chosen], per_gpu)


def plan_slots(n_jobs: int | None, cpus: int | None = None, gpus: list[str] | None = None,
               per_gpu: int = 1) -> list[dict[str, Any]]:
    """What each concurrent trial gets: an equal share of CPU threads, and a GPU shared by at most `per_gpu`
    trials, with its share of that GPU's memory.

    With GPUs, n_jobs larger than their slots (GPUs x per_gpu) is cut to them; None means all of them.
    Slots go round the GPUs, so fewer trials than slots spread over every GPU before one gets two.
    """
    cpus = cpus or os.cpu_count() or 1
    gpus = [g.id for g in detect()] if gpus is None else gpus
    if not gpus:
        n_jobs = n_jobs or 1
        return [{"threads": max(1, cpus // n_jobs), "gpu": None} for _ in range(n_jobs)]
    n_jobs = min(n_jobs or len(gpus) * per_gpu, len(gpus) * per_gpu)
    threads = max(1, cpus // n_jobs)
    placed = [gpus[i % len(gpus)] for i in range(n_jobs)]
    return [{"threads": threads, "gpu": gpu, "gpu_share": 1 / placed.count(gpu)} for gpu in placed]


def describe(slots: list[dict[str, Any]], chosen: list[Gpu], per_gpu: int) -> str | None:
    """The run's line about its devices: trials at once on each GPU and the free memory each trial gets."""
    if not chosen:
        return (f"trials_per_gpu {per_gpu} does not apply: this run has no GPU, so its "
                f"{_count(len(slots), 'trial')} at once run on the CPU") if per_gpu > 1 else None
    parts = []
    for gpu in chosen:
        sharing = sum(1 for s in slots if s["gpu"] == gpu.id)
        if not sharing:
            continue
        memory = "free memory unknown" if gpu.free_mb is None else (
            f"{gpu.free_mb / 1024:.1f} GiB free, {gpu.free_mb / 1024 / sharing:.1f} GiB a trial")
        parts.append(f"GPU {gpu.id} ({gpu.name}, {memory}): {_count(sharing, 'trial')}")
    return f"{_count(len(slots), 'trial')} at once on {_count(len(parts), 'GPU')}: " + "; ".join(parts)


OUT_OF_MEMORY = re.compile(r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED")
_TRIED = re.compile(r"Tried to allocate [\d.]+ [KMGT]?i?B")


def out_of_memory(error: str | None, gpu: str | None, sharing: int) -> str | None:
    """A failed trial's reason, said with its GPU and how many trials shared it when it ran out of GPU memory
    (`sharing`: this run's trials on that GPU then, itself included); any other reason unchanged."""
    if error is None or gpu is None or not OUT_OF_MEMORY.search(error):
        return error
    # torch names the device as the trial's process sees it (always cuda:0 here), so its "GPU 0" is left out
    tried = _TRIED.search(error)
    shared = f"{sharing} trials shared it" if sharing > 1 else "it ran alone on it"
    return f"CUDA out of memory on GPU {gpu} ({shared})" + (f": t{tried.group(0)[1:]}" if tried else "")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"
