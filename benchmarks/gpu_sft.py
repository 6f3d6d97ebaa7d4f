"""Step 5 of benchmarks/gpu.py: instruction tuning on the GPU, an SFT LoRA study and a QLoRA one (the same
space with `quantization: 4bit`: NF4 base weights through bitsandbytes), with each trial's peak GPU memory
(`peak_gpu_memory_mb`, torch.cuda.max_memory_allocated in the trial's own process).

The model is $HPSEARCH_SFT_MODEL where set (a Hub id in the machine's cache, or a folder: for example
HuggingFaceTB/SmolLM2-135M-Instruct), else the tests' 2-layer chat Llama made here (no network: the GPU
machines this project borrows reach nothing outside). The data: 400 chats made here (tests/tiny.py).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SFT = """study: {{name: {name}, n_trials: 4, sampler: {{name: random, seed: 0}}, pruner: none, save: none}}
task:
  type: sft
  model: {model}
  peft: lora
  dataset: {{path: {folder}/chats.jsonl, eval_size: 50}}
  eval_every: 10
fixed:
  max_steps: 30
  batch_size: 8
  sequence_length: 128
  precision: {precision}
  lora_target_modules: all-linear{fixed}
space:
  learning_rate: {{low: 1.0e-4, high: 1.0e-3, log: true}}
  lora_r: {{choices: [8, 16]}}
"""


def sft(folder: Path, env: dict, smoke: bool, call_limit_s: int) -> dict:
    """An SFT LoRA study and a QLoRA one on each run's GPUs: their trials' peak GPU memory, and every trial
    finished with it recorded. --smoke runs the LoRA study on the CPU and skips QLoRA (no CUDA: refused)."""
    from tiny import make_chat_decoder, make_chat_rows

    model = os.environ.get("HPSEARCH_SFT_MODEL") or str(make_chat_decoder(folder / "chat"))
    (folder / "chats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_chat_rows(400)))
    figures: dict = {"model": model, "problems": []}
    for arm, fixed in (("lora", ""), ("qlora", "\n  quantization: 4bit")):
        if smoke and arm == "qlora":
            figures[arm] = {"skipped": "--smoke: no CUDA, 4bit is refused"}
            continue
        space, url = folder / f"sft_{arm}.yaml", f"sqlite:///{folder}/sft_{arm}.db"
        space.write_text(SFT.format(name=f"sft-{arm}", model=model, folder=folder, fixed=fixed,
                                    precision="fp32" if smoke else "bf16"))
        result = subprocess.run([sys.executable, "-m", "hpsearch", "run", str(space), "--storage", url],
                                capture_output=True, text=True, cwd=folder, env=env, timeout=call_limit_s)
        if result.returncode != 0:  # bitsandbytes missing, say: a problem of this arm, not the end of the run
            figures[arm] = {"failed": result.stderr.strip().splitlines()[-1:] or ["(no output)"]}
            figures["problems"].append(f"sft {arm}: hpsearch run exited {result.returncode}: {figures[arm]['failed']}")
            continue
        import optuna

        trials = optuna.load_study(study_name=f"sft-{arm}", storage=url).get_trials(deepcopy=False)
        peaks = [t.user_attrs.get("peak_gpu_memory_mb") for t in trials]
        figures["problems"] += [f"sft {arm}: trial {t.number} ended {t.state.name}: {t.user_attrs.get('fail_reason')}"
                                for t in trials if t.state.name not in ("COMPLETE", "PRUNED")]
        if not smoke:
            figures["problems"] += [f"sft {arm}: trial {t.number} recorded no peak_gpu_memory_mb"
                                    for t, peak in zip(trials, peaks, strict=True) if peak is None]
        measured = [p for p in peaks if p is not None]
        figures[arm] = {"trials": len(trials), "peak_gpu_memory_mb": peaks,
                        "median_peak_gpu_memory_mb": statistics.median(measured) if measured else None,
                        "lora_r": [t.params.get("lora_r") for t in trials],
                        "eval_loss": [t.value for t in trials],
                        "train_seconds": [t.user_attrs.get("train_seconds") for t in trials]}
        print(f"sft {arm}: {len(trials)} trials, peak GPU memory (MB) {peaks}", flush=True)
    return figures


def line(figures: dict) -> str:
    """The summary's line for step 5."""
    arms = []
    for arm in ("lora", "qlora"):
        got = figures.get(arm, {})
        if "median_peak_gpu_memory_mb" in got:
            peak = got["median_peak_gpu_memory_mb"]
            arms.append(f"{arm}: {got['trials']} trials, median peak GPU memory "
                        f"{'n/a' if peak is None else f'{peak:.0f} MB'}")
        else:
            arms.append(f"{arm}: {got.get('skipped') or got.get('failed')}")
    return f"sft on {Path(figures['model']).name}: " + "; ".join(arms)
