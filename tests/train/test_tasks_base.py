"""`task.trust_remote_code` reaches every `from_pretrained` call: a Hub model's own Python code runs only when
the file says so."""

import importlib

import pytest

from hpsearch.spec.space import load_text
from hpsearch.spec.tasks import TASKS
from hpsearch.train.tasks.base import check_model
from hpsearch.trial import TrialJob

LOADERS = ("AutoConfig", "AutoTokenizer", "AutoModelForSequenceClassification")


@pytest.fixture
def loads(monkeypatch):
    """(class name, keyword arguments) of every from_pretrained call of the Auto* classes hpsearch loads with;
    the real loading still happens."""
    import transformers

    calls = []
    for name in LOADERS:
        cls = getattr(transformers, name)

        def record(*args, _real=cls.from_pretrained, _name=name, **kwargs):
            calls.append((_name, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", record)
    return calls


def spec(tiny_assets, trust_line):
    text = f"study: {{name: t}}\ntask: {{model: model, dataset: {{path: data.csv}}{trust_line}}}\n"
    return load_text(text, base_dir=str(tiny_assets))


@pytest.mark.parametrize("trust_line, trusted", [(", trust_remote_code: true", True), ("", False)])
def test_the_classification_task_passes_the_flag_to_every_load(tiny_assets, loads, trust_line, trusted):
    job = TrialJob(spec(tiny_assets, trust_line), 0, {"dropout": 0.1}, cache_dir=None, save_dir=None)
    assert job.spec.task.type == "sequence-classification"
    importlib.import_module(TASKS[job.spec.task.type].module).setup(job, job.config)
    assert {name for name, _ in loads} == set(LOADERS)  # each loader was called, so the check below means something
    assert [(name, kwargs.get("trust_remote_code")) for name, kwargs in loads] == [
        (name, trusted) for name, _ in loads]


@pytest.mark.parametrize("trust_line, trusted", [(", trust_remote_code: true", True), ("", False)])
def test_check_model_passes_the_flag_when_it_reads_the_config(tiny_assets, loads, trust_line, trusted):
    assert check_model(spec(tiny_assets, trust_line)) == []
    assert [(name, kwargs.get("trust_remote_code")) for name, kwargs in loads] == [("AutoConfig", trusted)]
