"""A sft trial's cost: hpsearch (`hpsearch run`, task sft, a process per trial) against a hand-written TRL
SFTTrainer + Optuna script (one process), on the same chat data, model, steps and values. Arms are
interleaved B A B A so the machine's drift cancels; each arm's figure is the median seconds of a trial after
the first (ask to tell: the first trial of a run also pays the run's start).

    python benchmarks/sft_overhead.py            # 4 trials of 20 steps a run, 3 runs per arm
    python benchmarks/sft_overhead.py --quick    # 3 trials a run, 2 runs per arm

The model is the tests' 2-layer chat Llama (tests/tiny.py, built from a config: no network), so the figure
is the fixed cost per trial at its largest share. Goal: at most 1.05x per trial.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

SPACE = """study:
  name: bench
  storage: sqlite:///{folder}/hp.db
  n_trials: {n_trials}
  sampler: {{name: tpe, seed: 0}}
  pruner: none
  save: none
task:
  type: sft
  model: {folder}/../chat
  dataset: {{path: {folder}/../chat.jsonl, eval_size: 40}}
  eval_every: 10
fixed: {{max_steps: 20, batch_size: 16, sequence_length: 32}}
space:
  learning_rate: {{low: 1.0e-3, high: 1.0e-2, log: true}}
"""


def baseline(config_path: str) -> None:
    """The hand-written script: what a user writes with Optuna and TRL alone, the same values as the space."""
    import datasets
    import optuna
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    cfg = json.loads(Path(config_path).read_text())
    rows = [json.loads(line) for line in Path(cfg["data"]).read_text().splitlines()]
    data = datasets.Dataset.from_list(rows).train_test_split(test_size=40, seed=0)

    def objective(trial: optuna.Trial) -> float:
        torch.manual_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
        model = AutoModelForCausalLM.from_pretrained(cfg["model"])
        args = SFTConfig(output_dir=cfg["output_dir"], learning_rate=trial.suggest_float("learning_rate", 1e-3, 1e-2,
                                                                                         log=True),
                         max_steps=20, per_device_train_batch_size=16, per_device_eval_batch_size=64,
                         eval_strategy="steps", eval_steps=10,
                         save_strategy="no", report_to=[], use_cpu=True, bf16=False, gradient_checkpointing=False,
                         assistant_only_loss=True, max_length=32, disable_tqdm=True, dataloader_num_workers=0)
        trainer = SFTTrainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data["test"],
                             processing_class=tokenizer)
        trainer.train()
        return trainer.evaluate()["eval_loss"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="bench", storage=cfg["storage"], sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=cfg["n_trials"])


def trial_seconds(storage: str) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=storage)
    return [t.duration.total_seconds() for t in study.trials if t.duration is not None]


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)  # the hand-written script's own process
    options = parser.parse_args()
    if options.baseline:
        return baseline(options.baseline)
    from tiny import make_chat_decoder, make_chat_rows

    n_trials, repeats = (3, 2) if options.quick else (4, 3)
    steady: dict[str, list[float]] = {"baseline": [], "hpsearch": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_chat_decoder(root / "chat")
        (root / "chat.jsonl").write_text("\n".join(json.dumps(r) for r in make_chat_rows(200)) + "\n")
        for repeat in range(repeats):
            for arm in ("baseline", "hpsearch"):
                folder = root / f"{arm}-{repeat}"
                folder.mkdir()
                if arm == "hpsearch":
                    (folder / "space.yaml").write_text(SPACE.format(folder=folder, n_trials=n_trials))
                    command = [sys.executable, "-m", "hpsearch", "run", str(folder / "space.yaml")]
                    storage = f"sqlite:///{folder}/hp.db"
                else:
                    storage = f"sqlite:///{folder}/base.db"
                    (folder / "cfg.json").write_text(json.dumps({
                        "model": str(root / "chat"), "data": str(root / "chat.jsonl"), "storage": storage,
                        "output_dir": str(folder / "out"), "n_trials": n_trials}))
                    command = [sys.executable, __file__, "--baseline", str(folder / "cfg.json")]
                started = time.perf_counter()
                run(command)
                seconds = time.perf_counter() - started
                trials = trial_seconds(storage)
                steady[arm].extend(trials[1:])
                print(f"run {repeat} {arm:9s} {seconds:7.2f} s for {n_trials} trials (trials after the first: "
                      f"{', '.join(f'{t:.2f}' for t in trials[1:])})", flush=True)
    base, ours = statistics.median(steady["baseline"]), statistics.median(steady["hpsearch"])
    from record import write

    write("sft_overhead", {"n_trials": n_trials, "max_steps": 20, "runs_per_arm": repeats,
                           "steady": {"baseline": base, "hpsearch": ours, "ratio": ours / base}}, quick=options.quick)
    print(f"median s per trial after the first: baseline {base:.2f}, hpsearch {ours:.2f}")
    print(f"ratio hpsearch/baseline, a sft trial after the first = {ours / base:.3f}")


if __name__ == "__main__":
    main()
