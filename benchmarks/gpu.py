"""hpsearch on a GPU: CUDA in trial processes forked from the fork server, the quickstart on the GPU against
the CPU, and finished trials per hour with 1, 2 and 4 trials per GPU.

1. CUDA in forked trials: processes forked from hpsearch's fork server (the one that preloads torch and
   transformers) set CUDA_VISIBLE_DEVICES as a trial does and use CUDA: each must see exactly its one
   device, compute on it, and never meet "Cannot re-initialize CUDA in forked subprocess" (which would mean
   the fork server itself touched CUDA). Two such processes share each GPU at once; one with no GPU
   (--gpus none) must see none. Every real trial of steps 2 and 3 must also have run on cuda:0 of its GPU.
2. The quickstart (search_spaces/quickstart.yaml: MiniLM-L6, 60 steps) on GPU 0 against the CPU
   (--gpus none, every core), one trial per arm per round, arms interleaved: seconds per training step
   and seconds per trial, medians and the ratio.
3. Finished trials per hour of 8 quickstart-like trials a GPU (pruner none, so every arm runs the same work)
   with --trials-per-gpu 1, 2 and 4 on every visible GPU, arms interleaved, 2 rounds: the medians and
   their ratios against 1.
4. A decoding-only study (a small GPT-2, 4 trials, 2 a GPU): every trial takes the model the fork server
   built once (`setup_shared`), moves it to its own GPU and generates there (cuda:0), none fails.
5. Instruction tuning (benchmarks/gpu_sft.py): an SFT LoRA study and a QLoRA study (4-bit NF4 base), 4 trials
   each, with every trial's peak GPU memory (peak_gpu_memory_mb).

    bash benchmarks/gpu.sh              # about 6 to 8 minutes on one H200; exits 2 at once without a GPU
    python benchmarks/gpu.py --smoke    # the same steps, tiny, on a CPU machine with a faked GPU: checks
                                        # the script itself, measures nothing

Prints one summary at the end (exit 1 if any check found a problem); writes benchmarks/results/gpu.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUICKSTART = ROOT / "search_spaces" / "quickstart.yaml"
CALL_LIMIT_S = 300  # one hpsearch invocation; a hang must not eat the machine's whole loan
PER_GPU_ARMS = (1, 2, 4)

SPACE = """study:
  name: pergpu
  n_trials: {n_trials}
  sampler: {{name: random, seed: 0}}
  pruner: none
  save: none
task:
  model: {model}
  dataset: {dataset}
  eval_every: {steps}
fixed: {{max_steps: {steps}, batch_size: 16, sequence_length: 64}}
space:
  learning_rate: {{low: 3.0e-5, high: 3.0e-4, log: true}}
  dropout: documented
"""


# -- 1. CUDA in processes forked from the fork server -------------------------------------------------------

def probe(conn, gpu: str) -> None:
    """In a process forked from hpsearch's fork server: what CUDA looks like to a trial given `gpu`."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # what hpsearch.train.worker.main does first
    import torch

    found = {"gpu": gpu, "bad_fork": torch.cuda._is_in_bad_fork(), "error": None}
    try:
        found["count"] = torch.cuda.device_count()
        if found["count"]:
            x = torch.ones(256, 256, device="cuda")
            found["sum"] = float((x @ x).sum().item())  # 256 x 256 x 256
            found["name"] = torch.cuda.get_device_name(0)
            time.sleep(0.5)  # so the processes sharing a GPU overlap
    except Exception as exc:  # noqa: BLE001 - the error is the finding
        found["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    conn.send(found)
    conn.close()


def check_forked_cuda(ids: list[str], smoke: bool) -> dict:
    """Two probes on each GPU at once, and one with no GPU, all forked from the fork server."""
    from hpsearch.run import protocol

    workers = [protocol.spawn(probe, gpu, name=f"probe-{gpu}") for gpu in ids for _ in range(2)]
    workers.append(protocol.spawn(probe, "", name="probe-none"))
    found = []
    for worker in workers:
        try:
            found.append(worker.conn.recv())
        except (EOFError, OSError):
            found.append({"error": protocol.death_reason(worker.process)})
        worker.process.join(timeout=30)
    problems = []
    for item in found:
        want = 0 if item.get("gpu") == "" or smoke else 1
        if item.get("error"):
            problems.append(f"GPU {item.get('gpu')!r}: {item['error']}")
        elif item["bad_fork"]:
            problems.append(f"GPU {item['gpu']!r}: the fork server had initialized CUDA before forking")
        elif item["count"] != want:
            problems.append(f"GPU {item['gpu']!r}: the process sees {item['count']} devices, not {want}")
        elif want and item["sum"] != 256.0 ** 3:
            problems.append(f"GPU {item['gpu']!r}: a matmul on it gave {item['sum']}")
    return {"probes": found, "problems": problems}


def trial_device_problems(trials: list, ids: list[str], smoke: bool) -> list[str]:
    """Real trials that did not run on cuda:0 of one of the run's GPUs, or failed over CUDA."""
    problems = []
    for trial in trials:
        attrs = trial.user_attrs
        reason = attrs.get("fail_reason", "")
        if "CUDA" in reason or "cuda" in reason:
            problems.append(f"trial {trial.number}: {reason[:200]}")
        elif attrs.get("device") is not None and not smoke and attrs.get("device") != "cuda:0":
            problems.append(f"trial {trial.number} ran on {attrs['device']}, not cuda:0")
        elif attrs.get("gpu") is not None and attrs["gpu"] not in ids:
            problems.append(f"trial {trial.number} recorded GPU {attrs['gpu']}, not one of {', '.join(ids)}")
    return problems


# -- running hpsearch ---------------------------------------------------------------------------------------

def hpsearch(args: list[str], env: dict, cwd: Path) -> tuple[float, str]:
    """`hpsearch ARGS` in a fresh process: its wall time and stderr; the benchmark stops if it fails."""
    started = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "hpsearch", *args], capture_output=True, text=True,
                                cwd=cwd, env=env, timeout=CALL_LIMIT_S)
    except subprocess.TimeoutExpired:
        sys.exit(f"hpsearch {' '.join(args)} ran past {CALL_LIMIT_S} s")
    if result.returncode != 0:
        sys.exit(f"hpsearch {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return time.perf_counter() - started, result.stderr


def trials_of(url: str, name: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def devices_line(stderr: str) -> str:
    """The run's start line about its GPUs (trials at once, memory per trial)."""
    return next((line for line in stderr.splitlines() if " at once on " in line), "(no GPU line)")


# -- 2. the quickstart, GPU against CPU ---------------------------------------------------------------------

def quickstart(folder: Path, env: dict, ids: list[str], rounds: int, space: Path) -> dict:
    """One quickstart trial per arm per round, interleaved; seconds per step and per trial of each arm."""
    arms = {"gpu": ["--gpus", ids[0]], "cpu": ["--gpus", "none"]}
    per_step: dict[str, list[float]] = {arm: [] for arm in arms}
    per_trial: dict[str, list[float]] = {arm: [] for arm in arms}
    problems = []
    for round_ in range(rounds):
        for arm, flags in arms.items():
            url = f"sqlite:///{folder}/quickstart-{arm}.db"
            hpsearch(["run", str(space), "--storage", url, "--n-trials", str(round_ + 1), *flags], env, ROOT)
            trials = [t for t in trials_of(url, _study_name(space)) if t.datetime_complete]
            last = max(trials, key=lambda t: t.datetime_complete)
            if arm == "gpu":
                problems += trial_device_problems([last], ids, smoke=env.get("HPSEARCH_SMOKE") == "1")
            elif last.user_attrs.get("device") != "cpu":  # --gpus none: the trial must not find the GPUs
                problems.append(f"--gpus none: trial {last.number} trained on {last.user_attrs.get('device')}")
            steps = last.user_attrs.get("stop_step") or 1
            per_step[arm].append(last.user_attrs.get("train_seconds", 0.0) / steps)
            per_trial[arm].append((last.datetime_complete - last.datetime_start).total_seconds())
            print(f"quickstart round {round_} {arm}: {per_step[arm][-1] * 1000:.1f} ms a step, "
                  f"{per_trial[arm][-1]:.1f} s the trial", flush=True)
    medians = {arm: {"seconds_per_step": statistics.median(per_step[arm]),
                     "seconds_per_trial": statistics.median(per_trial[arm])} for arm in arms}
    return {"rounds": rounds, "medians": medians, "problems": problems,
            "cpu_over_gpu_per_step": medians["cpu"]["seconds_per_step"] / medians["gpu"]["seconds_per_step"],
            "cpu_over_gpu_per_trial": medians["cpu"]["seconds_per_trial"] / medians["gpu"]["seconds_per_trial"]}


def _study_name(space: Path) -> str:
    from hpsearch.spec.space import load_space

    return load_space(space).study.name


# -- 3. trials per hour with 1, 2 and 4 trials per GPU ------------------------------------------------------

def per_gpu(folder: Path, env: dict, ids: list[str], rounds: int, workload: dict) -> dict:
    """Finished trials per hour of the same 8 trials with each trials_per_gpu, arms interleaved."""
    rates: dict[int, list[float]] = {n: [] for n in PER_GPU_ARMS}
    lines, problems = {}, []
    for round_ in range(rounds):
        for n in PER_GPU_ARMS:
            space = folder / f"pergpu-{n}-{round_}.yaml"
            url = f"sqlite:///{folder}/pergpu-{n}-{round_}.db"
            space.write_text(SPACE.format(**workload))
            _, stderr = hpsearch(["run", str(space), "--storage", url, "--trials-per-gpu", str(n)], env, folder)
            trials = trials_of(url, "pergpu")
            finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
            problems += trial_device_problems(trials, ids, smoke=env.get("HPSEARCH_SMOKE") == "1")
            problems += [f"--trials-per-gpu {n}: trial {t.number} failed: {t.user_attrs.get('fail_reason')}"
                         for t in trials if t.state.name == "FAIL"]
            # from the first trial's start to the last one's end: the study's start-up is not the trials'
            span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
            rates[n].append(len(finished) / span * 3600)
            lines[n] = devices_line(stderr)
            print(f"round {round_} --trials-per-gpu {n}: {rates[n][-1]:.0f} finished trials/hour ({lines[n]})",
                  flush=True)
    medians = {n: statistics.median(rates[n]) for n in PER_GPU_ARMS}
    return {"rounds": rounds, "trials": workload["n_trials"], "gpus": len(ids), "medians": medians,
            "ratio_to_1": {n: medians[n] / medians[1] for n in PER_GPU_ARMS}, "start_lines": lines,
            "problems": problems}


# -- 4. a decoding-only study: the fork server's model on each trial's GPU -------------------------------------

DECODE = """study: {{name: decode, n_trials: 4, sampler: {{name: random, seed: 0}}, pruner: none, save: none}}
task:
  type: generation
  model: {folder}/decoder
  dataset: {{path: {folder}/pairs.csv, eval_size: 20}}
  prompt_template: "{{prompt}} ->"
  max_new_tokens: 3
space:
  temperature: documented
  top_k: documented
"""


def decoding(folder: Path, env: dict, ids: list[str]) -> dict:
    """Four decoding trials, two a GPU: each must take the shared setup and generate on its GPU."""
    from tiny import make_csv, make_decoder, make_model

    make_decoder(folder / "decoder", make_model(folder / "tokenizer"))
    make_csv(folder / "pairs.csv", rows=100, header="prompt,target")
    space, url = folder / "decode.yaml", f"sqlite:///{folder}/decode.db"
    space.write_text(DECODE.format(folder=folder))
    hpsearch(["run", str(space), "--storage", url, "--trials-per-gpu", "2"], env, folder)
    trials = trials_of(url, "decode")
    problems = trial_device_problems(trials, ids, smoke=env.get("HPSEARCH_SMOKE") == "1")
    problems += [f"decoding trial {t.number} ended {t.state.name}: {t.user_attrs.get('fail_reason')}"
                 for t in trials if t.state.name != "COMPLETE"]
    problems += [f"decoding trial {t.number} built its own model (setup_shared is not true)"
                 for t in trials if t.user_attrs.get("setup_shared") is not True]
    return {"trials": len(trials), "setup_seconds": [t.user_attrs.get("setup_seconds") for t in trials],
            "problems": problems}


# -- the run ------------------------------------------------------------------------------------------------

def setup(folder: Path, smoke: bool, n_gpus: int) -> tuple[Path, dict, int]:
    """The quickstart's space and the per-GPU workload; tiny ones for --smoke."""
    if not smoke:
        workload = dict(model="minilm-l6", dataset="{name: tweets-sentiment, train_size: 1000, eval_size: 300}",
                        steps=60, n_trials=8 * n_gpus)  # 8 a GPU, so 4 per GPU still queues trials
        return QUICKSTART, workload, 3
    from tiny import make_csv, make_model

    model, data = make_model(folder / "model"), make_csv(folder / "data.csv", rows=200)
    workload = dict(model=model, dataset=f"{{path: {data}}}", steps=10, n_trials=4)
    space = folder / "quickstart.yaml"
    space.write_text(SPACE.format(**workload).replace("name: pergpu", "name: quickstart"))
    return space, workload, 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny, on a CPU machine with a faked GPU 0")
    options = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                        os.environ.get("PYTHONPATH")]))}
    import gpu_sft

    from hpsearch.run import gpus

    if options.smoke:  # GPU "0" that does not exist: the trials train on the CPU, the plumbing is the same
        env.update(CUDA_VISIBLE_DEVICES="0", HPSEARCH_SMOKE="1")
        os.environ["CUDA_VISIBLE_DEVICES"] = "0"
    found = gpus.detect()
    if not found:
        print("benchmarks/gpu.sh: no GPU here (nvidia-smi lists none, or CUDA_VISIBLE_DEVICES hides them); run it "
              "on a machine with a CUDA GPU", file=sys.stderr)
        sys.exit(2)
    ids = [g.id for g in found]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hpsearch-gpu-") as tmp:
        folder = Path(tmp)
        space, workload, rounds = setup(folder, options.smoke, len(ids))
        cuda = check_forked_cuda(ids, options.smoke)
        print(f"CUDA in forked trial processes: {len(cuda['probes'])} probes, {len(cuda['problems'])} problems",
              flush=True)
        quick = quickstart(folder, env, ids, rounds, space)
        shared = per_gpu(folder, env, ids, 1 if options.smoke else 2, workload)
        decoded = decoding(folder, env, ids)
        tuned = gpu_sft.sft(folder, env, options.smoke, CALL_LIMIT_S)
    figures = {"gpus": [g.__dict__ for g in found], "cuda": cuda, "quickstart": quick, "trials_per_gpu": shared,
               "decoding": decoded, "sft": tuned, "minutes": (time.perf_counter() - started) / 60}
    if not options.smoke:  # a smoke run measures nothing worth keeping
        from record import write

        write("gpu", figures)
    summary(figures)


def summary(figures: dict) -> None:
    import gpu_sft

    quick, shared, cuda = figures["quickstart"], figures["trials_per_gpu"], figures["cuda"]
    problems = (cuda["problems"] + quick["problems"] + shared["problems"] + figures["decoding"]["problems"]
                + figures["sft"]["problems"])
    names = ", ".join(f"{g['id']} ({g['name']})" for g in figures["gpus"])
    gpu, cpu = quick["medians"]["gpu"], quick["medians"]["cpu"]
    print(f"\n== hpsearch on GPU {names}: {figures['minutes']:.1f} min ==")
    print(f"CUDA in processes forked from the fork server: {'ok' if not cuda['problems'] else 'PROBLEMS'} "
          f"({len(cuda['probes'])} probes; each sees only its GPU; no re-initialization error)")
    print(f"quickstart, median of {quick['rounds']} trials an arm: GPU {gpu['seconds_per_step'] * 1000:.1f} ms a step, "
          f"{gpu['seconds_per_trial']:.1f} s a trial; CPU {cpu['seconds_per_step'] * 1000:.1f} ms a step, "
          f"{cpu['seconds_per_trial']:.1f} s a trial; CPU / GPU = {quick['cpu_over_gpu_per_step']:.2f}x a step, "
          f"{quick['cpu_over_gpu_per_trial']:.2f}x a trial")
    rates = ", ".join(f"{n}: {shared['medians'][n]:.0f} ({shared['ratio_to_1'][n]:.2f}x)" for n in PER_GPU_ARMS)
    print(f"finished trials per hour by trials_per_gpu ({shared['trials']} trials on {shared['gpus']} GPU(s), "
          f"median of {shared['rounds']}): {rates}")
    print(f"start line with 4 per GPU: {shared['start_lines'][4]}")
    decoded = figures["decoding"]
    print(f"decoding-only study, {decoded['trials']} trials, 2 a GPU: "
          f"{'ok' if not decoded['problems'] else 'PROBLEMS'} (the fork server's model on each trial's GPU; "
          f"setup {', '.join(f'{s:.3f}' for s in decoded['setup_seconds'] if s is not None)} s)")
    print(gpu_sft.line(figures["sft"]))
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT / "tests"))  # tiny.py: the tiny models and data of steps 4 and 5 (and --smoke)
    main()
