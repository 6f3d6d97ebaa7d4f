"""Each training hyperparameter has its real effect on a real (tiny) trial.

test_worker.py checks that the values reach TrainingArguments; these tests look at what a trial then does:
the optimizer's updates, the learning rate of each step, the batches the model trains on, the loss the
Trainer computes, the model that is built. Each would fail if its knob were silently ignored.
"""

from __future__ import annotations

import math
import random
from itertools import pairwise
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from hpsearch.spec.space import load_text
from hpsearch.train import worker
from hpsearch.trial import TrialJob
from tiny import Channel

TRAIN_ROWS = 150  # tiny_assets' 200 rows, less the 50 kept for evaluation
TOKENS = 7  # every tiny row is 5 known words: [CLS] + 5 + [SEP]
BASE = {"batch_size": 8, "sequence_length": 16, "learning_rate": 1e-3}
# One plain gradient step: p <- p - lr * g, nothing else (no momentum, decay, clipping or schedule).
PLAIN_SGD = {"optimizer": "sgd", "momentum": 0.0, "weight_decay": 0.0, "max_grad_norm": 1e9,
             "lr_scheduler": "constant"}
NO_DROPOUT = {"dropout": 0.0, "attention_dropout": 0.0}



def flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().flatten() for t in tensors]).clone()


class Probe(TrainerCallback):
    """What a trial did at each optimizer step, seen from inside the Trainer's loop.

    lrs: the learning rate each step used; norms: the total gradient norm the optimizer was handed (after
    clipping: on_pre_optimizer_step comes right after the Trainer's clip_grad_norm_); shapes: the
    (rows, tokens) of each batch the model trained on; with keep=True also each step's gradient and the
    parameters before and after the step, flattened.
    """

    def __init__(self, keep: bool = False):
        self.keep = keep
        self.lrs: list[float] = []
        self.norms: list[float] = []
        self.shapes: list[tuple[int, int]] = []
        self.grads: list[torch.Tensor] = []
        self.before: list[torch.Tensor] = []
        self.after: list[torch.Tensor] = []
        self.steps = 0

    def attach(self, prepared):
        prepared.trainer.add_callback(self)
        prepared.setup.model.register_forward_pre_hook(self._batch, with_kwargs=True)
        return self

    def _batch(self, module, args, kwargs):
        if module.training:
            self.shapes.append(tuple(kwargs["input_ids"].shape))

    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.lrs.append(optimizer.param_groups[0]["lr"])
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        self.norms.append(torch.linalg.vector_norm(flat(grads)).item())
        if self.keep:
            self.grads.append(flat(p.grad if p.grad is not None else torch.zeros_like(p) for p in model.parameters()))
            self.before.append(flat(model.parameters()))

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.steps += 1
        if self.keep:
            self.after.append(flat(model.parameters()))

    def assert_step(self, i: int, delta: torch.Tensor, rtol: float = 1e-6, atol: float = 1e-9) -> None:
        """The parameters after step i are those before it plus `delta` (compared as parameters: float32)."""
        assert delta.abs().max() > 1e3 * atol  # the step moves the weights well beyond the tolerance
        torch.testing.assert_close(self.after[i], self.before[i] + delta, rtol=rtol, atol=atol)

    def moved(self, i: int, delta: torch.Tensor, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
        return torch.allclose(self.after[i], self.before[i] + delta, rtol=rtol, atol=atol)


def spec(folder: Path, data: str = "data.csv", eval_every: int = 1000):
    """The study of these trials (no evaluation unless eval_every says so): model/ and `data` in `folder`."""
    task = f"{{model: model, dataset: {{path: {data}, eval_size: 50}}, eval_every: {eval_every}}}"
    return load_text(f"study: {{name: t, seed: 0}}\ntask: {task}\n", file="s.yaml", base_dir=str(folder))


def prepared(folder, tmp_path, config, keep=False, **spec_options):
    """A trial of `config` on the tiny model, ready to train, with a Probe attached."""
    job = TrialJob(spec(folder, **spec_options), 0, dict(config), None, None)
    trial = worker.prepare(job, Channel(), str(tmp_path / "out"))
    return trial, Probe(keep).attach(trial)


def trained(folder, tmp_path, config, keep=False, **spec_options):
    trial, probe = prepared(folder, tmp_path, config, keep, **spec_options)
    trial.trainer.train()
    return trial, probe


def run_trial(monkeypatch, folder, config, **spec_options):
    """worker.run, the trial as the study runs it, with a Probe attached to the Trainer it builds."""
    probe, original = Probe(), worker.prepare

    def prepare_and_watch(*args, **kwargs):
        trial = original(*args, **kwargs)
        probe.attach(trial)
        return trial

    monkeypatch.setattr(worker, "prepare", prepare_and_watch)
    job = TrialJob(spec(folder, **spec_options), 0, dict(config), None, None)
    return worker.run(job, Channel()), probe


def optimizer_of(trainer):
    return getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # under accelerate's wrapper


@pytest.fixture(scope="module", autouse=True)
def quick():
    """As in a worker process: the heap so far frozen (the Trainer's gc.collect() after each training then
    skips it) and one thread (tiny matrices gain nothing from two, and lose a lot on a busy machine)."""
    import gc

    threads = torch.get_num_threads()
    gc.collect()
    gc.freeze()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    gc.unfreeze()


@pytest.fixture(scope="module")
def folder(tiny_assets):
    return tiny_assets


@pytest.fixture(scope="module")
def odd_data(tiny_assets, tmp_path_factory):
    """The tiny model beside two more CSVs: imbalanced labels (4 good : 1 bad), and 80-word texts."""
    import shutil

    from tiny import FILLER, WORDS

    root = tmp_path_factory.mktemp("odd")
    shutil.copytree(tiny_assets / "model", root / "model")
    rng = random.Random(1)
    rows = ["text,label"]
    for i in range(200):
        label = "bad" if i % 5 == 0 else "good"
        rows.append(f"{' '.join(rng.sample(FILLER, 2) + rng.sample(WORDS[label], 3))},{label}")
    (root / "imbalanced.csv").write_text("\n".join(rows) + "\n")
    rows = ["text,label"]
    for i in range(200):
        label = "good" if i % 2 else "bad"
        rows.append(f"{' '.join(rng.choice(FILLER + WORDS[label]) for _ in range(80))},{label}")
    (root / "long.csv").write_text("\n".join(rows) + "\n")
    return root


# --- learning_rate ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lr", [1e-3, 3e-2])
def test_learning_rate_is_the_size_of_each_update(folder, tmp_path, lr):
    _, probe = trained(folder, tmp_path, {**BASE, **PLAIN_SGD, "learning_rate": lr, "max_steps": 2}, keep=True)
    assert probe.steps == 2
    for i, grad in enumerate(probe.grads):
        probe.assert_step(i, -lr * grad)


# --- batch_size, num_epochs, max_steps ----------------------------------------------------------------------

@pytest.mark.parametrize("batch, epochs", [(4, 1), (16, 1), (32, 2)])
def test_batch_size_and_num_epochs_set_the_batches_and_the_steps(folder, tmp_path, batch, epochs):
    trial, probe = trained(folder, tmp_path, {**BASE, "batch_size": batch, "num_epochs": epochs})
    per_epoch = math.ceil(TRAIN_ROWS / batch)
    assert trial.trainer.state.global_step == probe.steps == epochs * per_epoch
    rows = [r for r, _ in probe.shapes]
    expected_epoch = [batch] * (TRAIN_ROWS // batch) + ([TRAIN_ROWS % batch] if TRAIN_ROWS % batch else [])
    assert rows == expected_epoch * epochs  # each row seen once an epoch, `batch` rows a step
    assert sum(rows) == epochs * TRAIN_ROWS


@pytest.mark.parametrize("max_steps, epochs", [(7, 3), (25, 1)])
def test_max_steps_is_the_exact_number_of_updates_and_wins_over_num_epochs(folder, tmp_path, max_steps, epochs):
    assert max_steps != epochs * math.ceil(TRAIN_ROWS / BASE["batch_size"])  # the epochs alone would differ
    trial, probe = trained(folder, tmp_path, {**BASE, "max_steps": max_steps, "num_epochs": epochs})
    assert trial.trainer.state.global_step == probe.steps == len(probe.shapes) == max_steps


# --- gradient_accumulation_steps ----------------------------------------------------------------------------

@pytest.mark.parametrize("accumulation", [1, 2, 4])
def test_gradient_accumulation_makes_fewer_larger_updates(folder, monkeypatch, accumulation):
    result, probe = run_trial(monkeypatch, folder, {**BASE, "num_epochs": 1,
                                                    "gradient_accumulation_steps": accumulation})
    batches = math.ceil(TRAIN_ROWS / BASE["batch_size"])  # 19 forward/backward passes, whatever the accumulation
    assert result.effective_batch_size == BASE["batch_size"] * accumulation
    assert len(probe.shapes) == batches and sum(r for r, _ in probe.shapes) == TRAIN_ROWS
    assert result.stop_step == probe.steps == math.ceil(batches / accumulation)


@pytest.mark.parametrize("loss", ["cross_entropy", "label_smoothed_cross_entropy", "focal",
                                  "class_weighted_cross_entropy"])
def test_accumulated_gradient_equals_the_gradient_of_the_effective_batch(folder, tmp_path, loss):
    """8 rows x 2 accumulated and 16 rows at once see the same 16 rows: one update must get the same gradient."""
    config = {**BASE, **PLAIN_SGD, **NO_DROPOUT, "loss": loss, "max_steps": 1}
    _, whole = trained(folder, tmp_path, {**config, "batch_size": 16}, keep=True)
    _, accumulated = trained(folder, tmp_path, {**config, "batch_size": 8, "gradient_accumulation_steps": 2},
                             keep=True)
    assert [r for r, _ in whole.shapes] == [16] and [r for r, _ in accumulated.shapes] == [8, 8]
    ratio = (accumulated.grads[0].norm() / whole.grads[0].norm()).item()
    assert ratio == pytest.approx(1.0, rel=1e-4)  # a mean over the 16 rows, not a sum of 2 means
    torch.testing.assert_close(accumulated.grads[0], whole.grads[0], rtol=1e-4, atol=1e-7)


# --- optimizer (with beta1, beta2, epsilon, momentum) -------------------------------------------------------

def adamw_deltas(grads, lr, beta1, beta2, eps):
    """AdamW's first updates (no weight decay) for gradients `grads`, from its definition."""
    m, v, deltas = 0, 0, []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        deltas.append(-lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
    return deltas


def test_adamw_is_torch_adamw_with_the_trials_betas_and_epsilon(folder, tmp_path):
    hp = {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3}
    config = {**BASE, **PLAIN_SGD, **hp, "optimizer": "adamw", "learning_rate": 1e-2, "max_steps": 2}
    trial, probe = trained(folder, tmp_path, config, keep=True)
    optimizer = optimizer_of(trial.trainer)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert all(g["betas"] == (0.5, 0.9) and g["eps"] == 1e-3 for g in optimizer.param_groups)
    for i, delta in enumerate(adamw_deltas(probe.grads, 1e-2, 0.5, 0.9, 1e-3)):
        probe.assert_step(i, delta, rtol=1e-5, atol=1e-7)
    # the catalogue's defaults would have moved the weights otherwise
    assert not probe.moved(1, adamw_deltas(probe.grads, 1e-2, 0.9, 0.999, 1e-8)[1], rtol=1e-5, atol=1e-7)


def test_sgd_is_torch_sgd_with_the_trials_momentum(folder, tmp_path):
    lr, momentum = 1e-2, 0.5
    config = {**BASE, **PLAIN_SGD, "momentum": momentum, "learning_rate": lr, "max_steps": 2}
    trial, probe = trained(folder, tmp_path, config, keep=True)
    optimizer = optimizer_of(trial.trainer)
    assert isinstance(optimizer, torch.optim.SGD)
    assert all(g["momentum"] == momentum for g in optimizer.param_groups)
    g1, g2 = probe.grads
    probe.assert_step(0, -lr * g1)
    probe.assert_step(1, -lr * (g2 + momentum * g1))
    assert not probe.moved(1, -lr * (g2 + 0.9 * g1))  # the default momentum's step


def adafactor_first_delta(g, lr, clip=1.0, eps=1e-30):
    """Adafactor's first update of a matrix (no momentum, no relative step): g over a rank-1 (row x column)
    estimate of its second moment, scaled down to an RMS of at most `clip`, times lr."""
    square = g * g + eps
    row, column = square.mean(-1), square.mean(-2)
    update = g * (row / row.mean()).rsqrt()[:, None] * column.rsqrt()[None, :]
    return -lr * update / max(1.0, update.pow(2).mean().sqrt().item() / clip)


def test_adafactor_is_transformers_adafactor_with_factored_moments(folder, tmp_path):
    from transformers.optimization import Adafactor

    config = {**BASE, "optimizer": "adafactor", "learning_rate": 1e-2, "weight_decay": 0.0, "max_steps": 1,
              "lr_scheduler": "constant"}
    trial, probe = trained(folder, tmp_path, config, keep=True)
    optimizer, model = optimizer_of(trial.trainer), trial.setup.model
    assert isinstance(optimizer, Adafactor) and probe.steps == 1
    assert all(g["lr"] == 1e-2 and g["relative_step"] is False for g in optimizer.param_groups)
    matrix = model.bert.pooler.dense.weight
    state = optimizer.state[matrix]  # a 2-D weight keeps a row and a column second moment, not a full one
    assert state["exp_avg_sq_row"].shape == matrix.shape[:1] and state["exp_avg_sq_col"].shape == matrix.shape[1:]
    start = 0
    for name, p in model.named_parameters():
        if name == "bert.pooler.dense.weight":
            break
        start += p.numel()
    part = slice(start, start + matrix.numel())
    g, before, after = (v[part].view_as(matrix) for v in (probe.grads[0], probe.before[0], probe.after[0]))
    torch.testing.assert_close(after - before, adafactor_first_delta(g, 1e-2), rtol=1e-4, atol=1e-8)
    assert not torch.allclose(after - before, -1e-2 * g.sign(), rtol=1e-2)  # not Adam's first step


def test_adafactor_decay_rate_changes_its_second_step(folder, tmp_path):
    config = {**BASE, **NO_DROPOUT, "optimizer": "adafactor", "learning_rate": 1e-2, "weight_decay": 0.0,
              "max_steps": 2, "lr_scheduler": "constant"}
    runs = {rate: trained(folder, tmp_path, {**config, "decay_rate": rate}, keep=True) for rate in (-0.8, -0.5)}
    for rate, (trial, _) in runs.items():
        assert all(g["decay_rate"] == rate for g in optimizer_of(trial.trainer).param_groups)
    (_, slow), (_, fast) = runs.values()
    # step 1: the decay 1 - 1^rate is 0 whatever the rate; step 2: 1 - 2^-0.8 against 1 - 2^-0.5
    torch.testing.assert_close(slow.after[0], fast.after[0])
    assert not torch.allclose(slow.after[1], fast.after[1])


# --- loss (with label_smoothing, focal_gamma) ---------------------------------------------------------------

def focal(gamma):
    def loss(logits, labels, weights):
        log_p = F.log_softmax(logits, -1).gather(1, labels[:, None]).squeeze(1)
        return (-(1 - log_p.exp()) ** gamma * log_p).mean()

    return loss


def class_weights(dataset, n_labels=2):
    counts = torch.bincount(torch.tensor(dataset["labels"]), minlength=n_labels).float()
    return counts.sum() / (n_labels * counts)  # n / (k * count)


def loss_of(trial, rows, bias=None):
    """The loss the trial's Trainer computes on a fixed batch, with the logits the model gives it."""
    model = trial.setup.model.eval()  # no dropout: the same logits every time
    if bias is not None:  # a classifier that says `bias` whatever the text: a chosen confidence
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor(bias))
    batch = trial.setup.data_collator([trial.setup.train_dataset[i] for i in rows])
    labels = batch["labels"].clone()
    with torch.no_grad():
        loss = trial.trainer.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(len(rows)))
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    return loss.item(), logits, labels


LOSSES = [
    ({"loss": "cross_entropy"}, lambda lg, y, w: F.cross_entropy(lg, y)),
    ({"loss": "label_smoothed_cross_entropy", "label_smoothing": 0.1},
     lambda lg, y, w: F.cross_entropy(lg, y, label_smoothing=0.1)),
    ({"loss": "label_smoothed_cross_entropy", "label_smoothing": 0.3},
     lambda lg, y, w: F.cross_entropy(lg, y, label_smoothing=0.3)),
    ({"loss": "focal", "focal_gamma": 2.0}, focal(2.0)),
    ({"loss": "focal", "focal_gamma": 0.5}, focal(0.5)),
    # each example's cross entropy times its class's weight, averaged over the examples
    ({"loss": "class_weighted_cross_entropy"},
     lambda lg, y, w: (w[y] * F.cross_entropy(lg, y, reduction="none")).mean()),
]


@pytest.mark.parametrize("config, formula", LOSSES, ids=["-".join(map(str, c.values())) for c, _ in LOSSES])
@pytest.mark.parametrize("bias", [None, [-1.0, 3.0]], ids=["model", "confident"])
def test_the_trainer_computes_the_trials_loss(odd_data, tmp_path, config, formula, bias):
    trial, _ = prepared(odd_data, tmp_path, {**BASE, **config}, data="imbalanced.csv")
    loss, logits, labels = loss_of(trial, range(24), bias)
    assert 0 < labels.sum() < len(labels)  # both classes in the batch
    weights = class_weights(trial.setup.train_dataset)
    assert weights[0] > 1 > weights[1]  # "bad" is the rare class
    assert loss == pytest.approx(formula(logits, labels, weights).item(), rel=1e-5)


def test_each_loss_moves_as_its_math_says(folder, odd_data, tmp_path):
    def loss(config, bias, rows, where=folder, data="data.csv"):
        return loss_of(prepared(where, tmp_path, {**BASE, **config}, data=data)[0], rows, bias)

    # a confident, correct prediction: class 1 ("good") at p = 0.98 on rows that are all good
    trial, _ = prepared(folder, tmp_path, BASE)
    good = [i for i, y in enumerate(trial.setup.train_dataset["labels"]) if y == 1][:16]
    ce, *_ = loss({"loss": "cross_entropy"}, [0.0, 4.0], good)
    smoothed, *_ = loss({"loss": "label_smoothed_cross_entropy", "label_smoothing": 0.2}, [0.0, 4.0], good)
    focal_loss, *_ = loss({"loss": "focal", "focal_gamma": 2.0}, [0.0, 4.0], good)
    assert ce == pytest.approx(-math.log(1 / (1 + math.exp(-4))), rel=1e-5)
    assert smoothed > 10 * ce  # smoothing penalizes certainty even when it is right
    assert focal_loss < ce / 100  # focal (1 - p)^2 = 3e-4 nearly silences an easy example
    # imbalanced labels, a model that always says the majority class: weighting makes its errors on the rare
    # class cost more than plain cross entropy says
    ce, _, labels = loss({"loss": "cross_entropy"}, [0.0, 2.0], range(40), odd_data, "imbalanced.csv")
    weighted, *_ = loss({"loss": "class_weighted_cross_entropy"}, [0.0, 2.0], range(40), odd_data, "imbalanced.csv")
    assert 0 < (labels == 0).sum() < (labels == 1).sum()
    assert weighted > 1.5 * ce


# --- model_size ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layers", [1, 2])
def test_model_size_keeps_the_first_pretrained_layers(folder, tmp_path, layers):
    from safetensors.torch import load_file

    trial, _ = prepared(folder, tmp_path, {**BASE, "model_size": layers})
    model = trial.setup.model
    saved = load_file(str(folder / "model" / "model.safetensors"))
    assert model.config.num_hidden_layers == layers and len(model.bert.encoder.layer) == layers
    assert trial.setup.notes == [f"kept {layers} of 2 layers"]
    mine = {k: v for k, v in model.state_dict().items() if k.startswith("bert.")}
    assert {k for k in mine if ".layer." in k} == {k for k in saved if any(f".layer.{i}." in k for i in range(layers))}
    for name, tensor in mine.items():  # embeddings and the kept layers are the saved model's, not fresh ones
        torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0)
    assert not torch.equal(saved["bert.encoder.layer.0.output.dense.weight"],
                           saved["bert.encoder.layer.1.output.dense.weight"])  # layers differ: the check can fail


# --- max_grad_norm ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_norm", [0.01, 0.05])
def test_max_grad_norm_bounds_the_gradient_the_optimizer_uses(folder, tmp_path, max_norm):
    # transformers 5.x: _inner_training_loop calls _clip_grad_norm (clip_grad_norm_) and then
    # on_pre_optimizer_step, then optimizer.step(): the Probe sees exactly what the optimizer gets.
    config = {**BASE, "learning_rate": 1e-2, "max_steps": 6}
    _, free = trained(folder, tmp_path, {**config, "max_grad_norm": 1e9})
    _, clipped = trained(folder, tmp_path, {**config, "max_grad_norm": max_norm})
    assert free.norms[0] > 2 * max_norm  # unclipped, the first step's gradient (same data, same init) is larger
    assert clipped.norms[0] == pytest.approx(max_norm, rel=1e-3)
    assert max(clipped.norms) <= max_norm * (1 + 1e-4)


# --- lr_scheduler and warmup_ratio --------------------------------------------------------------------------

STEPS, PEAK = 20, 1e-2


def warmup(then, w):
    return lambda t: PEAK * t / w if t < w else then(t)


SCHEDULES = [  # lr_scheduler, warmup_ratio, the learning rate of step t (0-based) by the schedule's definition
    ("linear", 0.0, lambda t: PEAK * (1 - t / STEPS)),
    ("cosine", 0.0, lambda t: PEAK * 0.5 * (1 + math.cos(math.pi * t / STEPS))),
    ("constant", 0.0, lambda t: PEAK),
    ("constant_with_warmup", 0.2, warmup(lambda t: PEAK, 4)),
    ("polynomial", 0.0, lambda t: (PEAK - 1e-7) * (1 - t / STEPS) ** 2 + 1e-7),  # lr_power 2 down to lr_end 1e-7
    # lr_cycles 2: two cosine waves, the second restarting at the peak
    ("cosine_with_restarts", 0.0, lambda t: PEAK * 0.5 * (1 + math.cos(math.pi * ((2 * t / STEPS) % 1.0)))),
    # no warmup: the timescale is a tenth of the 20 steps
    ("inverse_sqrt", 0.0, lambda t: PEAK / math.sqrt((t + 2) / 2)),
    ("inverse_sqrt", 0.2, warmup(lambda t: PEAK * math.sqrt(4 / t), 4)),
    ("linear", 0.25, warmup(lambda t: PEAK * (STEPS - t) / (STEPS - 5), 5)),
    ("cosine", 0.1, warmup(lambda t: PEAK * 0.5 * (1 + math.cos(math.pi * (t - 2) / (STEPS - 2))), 2)),
]


def lrs_of(folder, tmp_path, scheduler, ratio):
    config = {**BASE, "batch_size": 4, "sequence_length": 8, "learning_rate": PEAK, "max_steps": STEPS,
              "lr_scheduler": scheduler, "warmup_ratio": ratio}
    _, probe = trained(folder, tmp_path, config)
    assert len(probe.lrs) == STEPS
    return probe.lrs


@pytest.mark.parametrize("scheduler, ratio, formula", SCHEDULES, ids=[f"{s}-{r}" for s, r, _ in SCHEDULES])
def test_lr_scheduler_gives_each_step_its_learning_rate(folder, tmp_path, scheduler, ratio, formula):
    lrs = lrs_of(folder, tmp_path, scheduler, ratio)
    assert lrs == pytest.approx([formula(t) for t in range(STEPS)], rel=1e-6, abs=1e-12)
    warm = math.ceil(ratio * STEPS)
    assert lrs[:warm] == sorted(lrs[:warm]) and (not warm or lrs[0] == 0)  # the warm-up ramps from 0
    after = lrs[warm:]
    if scheduler.startswith("constant"):
        assert max(after) == min(after) == PEAK  # flat at the peak once warm
    elif scheduler != "cosine_with_restarts":
        assert after[0] == PEAK and all(a > b for a, b in pairwise(after))  # decays from the peak
    if scheduler == "linear":
        assert after[-1] == pytest.approx(PEAK / (STEPS - warm), rel=1e-3)  # one step from 0
    if scheduler == "cosine" and not warm:
        assert lrs[STEPS // 2] == pytest.approx(PEAK / 2)  # half the peak at mid-training


def test_cosine_with_restarts_restarts(folder, tmp_path):
    lrs = lrs_of(folder, tmp_path, "cosine_with_restarts", 0.0)
    assert any(b > a for a, b in pairwise(lrs))  # the learning rate goes back up at least once


def test_inverse_sqrt_decays_without_warmup(folder, tmp_path):
    lrs = lrs_of(folder, tmp_path, "inverse_sqrt", 0.0)
    assert lrs[-1] < 0.9 * lrs[0]  # 1/sqrt decay from the first step: well under the peak after 20 steps


@pytest.mark.parametrize("ratio, warm", [(0.0, 0), (0.1, 2), (0.25, 5), (0.5, 10)])
def test_warmup_ratio_is_the_share_of_steps_spent_ramping_up(folder, tmp_path, ratio, warm):
    lrs = lrs_of(folder, tmp_path, "linear", ratio)
    assert lrs.index(max(lrs)) == warm and max(lrs) == PEAK
    assert lrs[:warm] == pytest.approx([PEAK * t / warm for t in range(warm)])


# --- dropout, attention_dropout -----------------------------------------------------------------------------

def dropouts(model):
    found = {"attention": [], "hidden": []}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Dropout):
            found["attention" if name.endswith("attention.self.dropout") else "hidden"].append(module.p)
    return found


@pytest.mark.parametrize("hidden, attention", [(0.0, 0.0), (0.4, 0.0), (0.0, 0.3), (0.25, 0.15)])
def test_dropout_and_attention_dropout_act_in_the_built_model(folder, tmp_path, hidden, attention):
    trial, _ = prepared(folder, tmp_path, {**BASE, "dropout": hidden, "attention_dropout": attention})
    model = trial.setup.model
    found = dropouts(model)
    # 2 layers: embeddings + 2 per layer + the classifier's dropout; one attention dropout per layer
    assert found == {"attention": [attention] * 2, "hidden": [hidden] * 6}
    batch = trial.setup.data_collator([trial.setup.train_dataset[i] for i in range(16)])
    batch.pop("labels")
    model.train()
    with torch.no_grad():
        first, second = model(**batch).logits, model(**batch).logits
    assert torch.equal(first, second) == (hidden == attention == 0)  # zeroing is random in training...
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, model(**batch).logits)  # ...and off in evaluation


# --- weight_decay -------------------------------------------------------------------------------------------

class ZeroGradients(TrainerCallback):
    """Leaves the optimizer no gradient, so that the decay is all that moves the weights."""

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        for p in model.parameters():
            if p.grad is not None:
                p.grad.zero_()


@pytest.mark.parametrize("decay", [0.0, 0.1, 0.5])
def test_weight_decay_shrinks_the_weights_but_not_biases_or_layernorm(folder, tmp_path, decay):
    lr = 0.1
    trial, _ = prepared(folder, tmp_path, {**BASE, "weight_decay": decay, "learning_rate": lr, "max_steps": 1,
                                           "lr_scheduler": "constant"})
    model = trial.setup.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trial.trainer.add_callback(ZeroGradients())
    trial.trainer.train()
    groups = optimizer_of(trial.trainer).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in groups if g["weight_decay"] == decay for p in g["params"]}
    if decay:
        assert decayed == {n for n in before if n.endswith(".weight") and "LayerNorm" not in n}
    for name, p in model.named_parameters():
        # AdamW, decoupled: p <- p (1 - lr * decay); with no gradient Adam's own step is 0
        factor = 1 - lr * decay if name in decayed else 1.0
        torch.testing.assert_close(p.detach(), before[name] * factor, rtol=1e-6, atol=0)


# --- sequence_length ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("length, tokens", [(4, 4), (6, 6), (16, TOKENS)])
def test_sequence_length_truncates_what_the_model_trains_on(folder, tmp_path, length, tokens):
    trial, probe = trained(folder, tmp_path, {**BASE, "sequence_length": length, "max_steps": 2})
    assert {len(ids) for ids in trial.setup.train_dataset["input_ids"]} == {tokens}
    assert {len(ids) for ids in trial.setup.eval_dataset["input_ids"]} == {tokens}
    assert probe.shapes == [(BASE["batch_size"], tokens)] * 2
    assert not [n for n in trial.setup.notes if n.startswith("warning:")]


@pytest.mark.parametrize("length, tokens, warned", [(48, 48, False), (64, 64, False), (100, 64, True)])
def test_sequence_length_above_the_models_positions_is_capped_with_a_warning(odd_data, tmp_path, length, tokens,
                                                                             warned):
    trial, probe = trained(odd_data, tmp_path, {**BASE, "sequence_length": length, "max_steps": 2},
                           data="long.csv")  # 80-word texts: 82 tokens untruncated
    assert {len(ids) for ids in trial.setup.train_dataset["input_ids"]} == {tokens}
    assert probe.shapes == [(BASE["batch_size"], tokens)] * 2  # and the model trains on them
    warnings = [n for n in trial.setup.notes if n.startswith("warning:")]
    assert bool(warnings) == warned and (not warned or "64" in warnings[0])


# --- early_stopping_patience --------------------------------------------------------------------------------

@pytest.mark.parametrize("patience", [None, 1, 3])
def test_early_stopping_patience_stops_after_that_many_flat_evaluations(folder, monkeypatch, patience):
    # learning_rate 1e-12: the weights do not move, so the accuracy never improves after its first evaluation
    config = {**BASE, "learning_rate": 1e-12, "max_steps": 40}
    if patience:
        config["early_stopping_patience"] = patience
    result, probe = run_trial(monkeypatch, folder, config, eval_every=5)
    values = [v for _, v in result.history]
    assert len(set(values)) == 1 and result.best_step == 5
    if patience is None:
        assert result.stop_reason == "completed" and result.stop_step == probe.steps == 40
    else:
        assert result.stop_reason == "stopped_early"
        assert result.stop_step == probe.steps == 5 * (patience + 1) and len(values) == patience + 1


def test_polynomial_power_shapes_the_decay(folder, tmp_path):
    config = {**BASE, "batch_size": 4, "sequence_length": 8, "learning_rate": PEAK, "max_steps": STEPS,
              "lr_scheduler": "polynomial"}
    _, square = trained(folder, tmp_path, {**config, "lr_power": 2.0})
    _, root = trained(folder, tmp_path, {**config, "lr_power": 0.5})
    middle = STEPS // 2
    assert square.lrs[middle] == pytest.approx((PEAK - 1e-7) * 0.25 + 1e-7)
    assert root.lrs[middle] == pytest.approx((PEAK - 1e-7) * 0.5**0.5 + 1e-7)
