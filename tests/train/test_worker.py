"""The trial's values become the real knobs; the Monitor prunes, stops early and keeps the best."""

from types import SimpleNamespace

import pytest

from hpsearch.errors import TrialSetupError
from hpsearch.spec.space import load_text
from hpsearch.train.tasks.base import load_config
from hpsearch.train.trainer import Monitor, training_arguments
from hpsearch.trial import TrialJob

SPEC = load_text("study: {name: t, seed: 7}\ntask: {eval_every: 5, dataset: {path: d.csv}}\n")


def job(spec=SPEC):
    return TrialJob(spec, 0, {}, None, None)


def args(config, tmp_path):
    return training_arguments(job(), config, str(tmp_path))


def test_defaults_come_from_the_catalogue(tmp_path):
    a = args({}, tmp_path)
    assert (a.learning_rate, a.per_device_train_batch_size, a.num_train_epochs, a.weight_decay) == (5e-5, 16, 3, 0.01)
    assert a.max_steps == -1 and a.eval_steps == 5 and a.seed == 7 and a.save_strategy == "no"


@pytest.mark.parametrize(
    "config, field, expected",
    [
        ({"learning_rate": 0.003}, "learning_rate", 0.003),
        ({"batch_size": 32}, "per_device_train_batch_size", 32),
        ({"num_epochs": 5}, "num_train_epochs", 5),
        ({"max_steps": 60}, "max_steps", 60),
        ({"weight_decay": 0.05}, "weight_decay", 0.05),
        ({"warmup_ratio": 0.08}, "warmup_steps", 0.08),
        ({"gradient_accumulation_steps": 4}, "gradient_accumulation_steps", 4),
        ({"max_grad_norm": 0.5}, "max_grad_norm", 0.5),
        ({"lr_scheduler": "cosine"}, "lr_scheduler_type", "cosine"),
        ({"optimizer": "sgd", "momentum": 0.95}, "optim_args", "momentum=0.95"),
        ({"optimizer": "adafactor"}, "optim", "adafactor"),
        ({"beta1": 0.8, "beta2": 0.95, "epsilon": 1e-7}, "adam_beta2", 0.95),
        ({"lr_scheduler": "cosine_with_restarts", "lr_cycles": 3}, "lr_scheduler_kwargs", {"num_cycles": 3}),
        ({"lr_scheduler": "polynomial"}, "lr_scheduler_kwargs", {"power": 2.0}),
        ({"lr_scheduler": "linear", "lr_power": 3.0}, "lr_scheduler_kwargs", {}),
    ],
)
def test_values_reach_training_arguments(tmp_path, config, field, expected):
    value = getattr(args(config, tmp_path), field)
    assert (value.value if hasattr(value, "value") else value) == expected


def test_dropout_and_layers_reach_the_model_config(tiny_assets):
    notes = []
    config = load_config(str(tiny_assets / "model"), {"dropout": 0.3, "attention_dropout": 0.2, "model_size": 1}, notes)
    assert (config.hidden_dropout_prob, config.attention_probs_dropout_prob, config.num_hidden_layers) == (0.3, 0.2, 1)
    assert notes == ["kept 1 of 2 layers"]


def test_too_many_layers_is_a_clear_error(tiny_assets):
    with pytest.raises(TrialSetupError, match="model_size: 5 layers asked, but the model has 2"):
        load_config(str(tiny_assets / "model"), {"model_size": 5}, [])


def test_dropout_on_an_architecture_without_one(tmp_path):
    from transformers import LlamaConfig

    LlamaConfig(vocab_size=10, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=2).save_pretrained(tmp_path)
    with pytest.raises(TrialSetupError, match="llama models have no dropout attribute"):
        load_config(str(tmp_path), {"dropout": 0.2}, [])
    assert load_config(str(tmp_path), {"attention_dropout": 0.2}, []).attention_dropout == 0.2


class FakeChannel:
    def __init__(self, prune_at=None):
        self.reports, self.prune_at = [], prune_at

    def report(self, step, value):
        self.reports.append((step, value))
        return step == self.prune_at


def evaluate(monitor, values, start=5):
    control = SimpleNamespace(should_training_stop=False)
    for i, value in enumerate(values):
        state = SimpleNamespace(global_step=start * (i + 1))
        monitor.on_evaluate(None, state, control, metrics={"eval_accuracy": value, "eval_loss": 1.0})
        if control.should_training_stop:
            return state.global_step
    return None


def test_monitor_stops_after_patience_flat_evaluations():
    monitor = Monitor(job(), FakeChannel(), patience=2, keep_best=False)
    assert evaluate(monitor, [0.5, 0.7, 0.6, 0.7, 0.9]) == 20
    assert monitor.stop == "stopped_early" and monitor.best == 0.7 and monitor.best_step == 10


def test_monitor_obeys_the_pruner_at_once():
    channel = FakeChannel(prune_at=10)
    monitor = Monitor(job(), channel, patience=None, keep_best=False)
    assert evaluate(monitor, [0.5, 0.6, 0.9]) == 10
    assert monitor.stop == "pruned" and channel.reports == [(5, 0.5), (10, 0.6)]


def test_monitor_minimizes_when_asked():
    spec = load_text("study: {name: t, metric: eval_loss}\ntask: {dataset: {path: d.csv}}\n")
    monitor = Monitor(job(spec), FakeChannel(), patience=None, keep_best=False)
    control = SimpleNamespace(should_training_stop=False)
    for step, loss in ((5, 0.9), (10, 0.4), (15, 0.6)):
        monitor.on_evaluate(None, SimpleNamespace(global_step=step), control, metrics={"eval_loss": loss})
    assert monitor.best == 0.4 and monitor.best_step == 10


def test_monitor_names_a_missing_metric():
    monitor = Monitor(job(), FakeChannel(), patience=None, keep_best=False)
    with pytest.raises(KeyError, match="reports no eval_accuracy"):
        monitor.on_evaluate(None, SimpleNamespace(global_step=5), SimpleNamespace(), metrics={"eval_loss": 1.0})


def test_peak_gpu_memory_is_recorded_on_cuda_only(monkeypatch):
    import torch

    from hpsearch.train.worker import peak_gpu_memory_mb
    from hpsearch.trial import TrialResult

    if not torch.cuda.is_available():  # this CPU machine: nothing measured, nothing stored
        assert peak_gpu_memory_mb() is None
        result = TrialResult(state="complete", value=0.5, best_step=1, stop_reason="completed", stop_step=1)
        assert "peak_gpu_memory_mb" not in result.attrs()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *args: 1536 * 2**20 + 2**19)
    assert peak_gpu_memory_mb() == 1536.5
    result = TrialResult(state="complete", value=0.5, best_step=1, stop_reason="completed", stop_step=1,
                         peak_gpu_memory_mb=peak_gpu_memory_mb())
    assert result.attrs()["peak_gpu_memory_mb"] == 1536.5
