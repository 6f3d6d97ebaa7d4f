"""Training throughput inside a trial: hpsearch's trial (the Trainer as hpsearch sets it up: dynamic padding)
against a plain PyTorch loop (every batch padded to the sequence length, AdamW, the same steps), on the
same model, batch size, examples and learning rate. Arms interleaved A B A B, in this one process.

    python benchmarks/throughput.py            # MiniLM-L6 on the built-in tweets, 60 steps of 16, 3 runs per arm
    python benchmarks/throughput.py --quick    # 2 runs per arm of 30 steps

Samples per second = steps x batch / seconds; hpsearch's figure is the trial's own `samples_per_second`
(its training time, with one evaluation of 32 tweets at the end). Prints the ratio hpsearch / loop last
(goal at least 1.0); writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SPACE = """study: {{name: throughput, save: none}}
task:
  model: minilm-l6
  dataset: {{name: tweets-sentiment, train_size: 1000, eval_size: 32}}
  eval_every: {steps}
fixed: {{max_steps: {steps}, batch_size: {batch}, sequence_length: {length}, learning_rate: 5.0e-5}}
"""


class Quiet:
    """The study's end of the pipe, for a trial run in this process: never prunes, never keeps the model."""

    def report(self, step, value):
        return False

    def progress(self, step, total):
        pass

    def ask(self, *message):
        return False


def job(steps: int, batch: int, length: int):
    from hpsearch.spec.space import load_text
    from hpsearch.spec.suggest import configuration
    from hpsearch.trial import TrialJob

    spec = load_text(SPACE.format(steps=steps, batch=batch, length=length))
    return TrialJob(spec, 0, configuration(spec.fixed, {}), None, None)


def run_hpsearch(steps: int, batch: int, length: int) -> float:
    from hpsearch.train.worker import run

    return run(job(steps, batch, length), Quiet()).samples_per_second


def run_loop(steps: int, batch: int, length: int) -> float:
    """The loop a user writes by hand: fixed-length padding, AdamW, forward, backward, step."""
    import torch

    from hpsearch.train.worker import prepare

    with tempfile.TemporaryDirectory() as tmp:
        setup = prepare(job(steps, batch, length), Quiet(), tmp).setup  # the same model and tokenized tweets
    model, data = setup.model, setup.train_dataset
    pad = getattr(setup.data_collator.tokenizer, "pad_token_id", 0) or 0
    torch.manual_seed(0)
    order = torch.randperm(len(data)).tolist()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        rows = [data[i] for i in (order * 2)[step * batch:(step + 1) * batch]]
        ids = torch.full((batch, length), pad, dtype=torch.long)
        mask = torch.zeros((batch, length), dtype=torch.long)
        for r, row in enumerate(rows):
            tokens = row["input_ids"][:length]
            ids[r, :len(tokens)] = torch.tensor(tokens)
            mask[r, :len(tokens)] = 1
        labels = torch.tensor([row["labels"] if "labels" in row else row["label"] for row in rows])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    steps, repeats = (30, 2) if options.quick else (60, 3)
    batch, length = 16, 64
    import torch

    torch.set_num_threads(torch.get_num_threads())  # as a trial does: the machine's cores
    found: dict[str, list[float]] = {"loop": [], "hpsearch": []}
    for repeat in range(repeats):
        for arm, runner in (("loop", run_loop), ("hpsearch", run_hpsearch)):
            found[arm].append(runner(steps, batch, length))
            print(f"run {repeat} {arm:8s} {found[arm][-1]:7.1f} samples/s", flush=True)
    loop, ours = statistics.median(found["loop"]), statistics.median(found["hpsearch"])
    figures = {"steps": steps, "batch": batch, "sequence_length": length, "runs_per_arm": repeats,
               "samples_per_second": {"loop": loop, "hpsearch": ours}, "ratio": ours / loop}
    from record import write

    write("throughput", figures, quick=options.quick)
    print(f"median samples/s: plain PyTorch loop {loop:.1f}, hpsearch trial {ours:.1f}; "
          f"ratio hpsearch/loop = {ours / loop:.2f} (goal at least 1.0: {'met' if ours / loop >= 1 else 'NOT met'})")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
