"""The custom task in the trial's process: the Reporter, loading the entry, and one call of the function."""

import math
import textwrap
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from hpsearch.errors import TrialSetupError
from hpsearch.spec.space import load_text
from hpsearch.train.tasks import custom
from hpsearch.train.tasks.custom import Reporter, load_entry
from hpsearch.trial import TrialJob

TRAIN = '''
import json

def main(config, reporter):
    for step, value in enumerate(config["values"], start=1):
        if reporter.report(step, {"score": value, "loss": 1 - value}):
            break
    (reporter.save_dir / "weights.json").write_text(json.dumps(config))
    return config.get("final")

def with_options(config, reporter=None, *rest, verbose=False):
    pass

def one_argument(config):
    pass

def generator(config, reporter):
    yield 1

not_a_function = 3
'''


def reporter(maximize=True, patience=None, prune_at=None):
    asked = []

    def ask(step, value):
        asked.append((step, value))
        return step == prune_at

    made = Reporter("score", maximize, ask, patience)
    made.asked = asked
    return made


def test_the_reporter_keeps_the_best_evaluation_and_asks_the_study_each_time():
    r = reporter()
    assert r.report(1, {"score": 0.5, "loss": 0.9}) is False
    assert r.report(2, {"loss": 0.7}) is False  # without the metric: nothing to judge, nothing asked
    assert r.report(3, {"score": 0.8, "loss": 0.4}) is False
    assert r.report(4, {"score": 0.6}) is False
    assert r.best == 0.8 and r.best_step == 3 and r.best_metrics == {"score": 0.8, "loss": 0.4}
    assert r.history == [[1, 0.5], [3, 0.8], [4, 0.6]] and r.asked == [(1, 0.5), (3, 0.8), (4, 0.6)]
    low = reporter(maximize=False)
    low.report(1, {"score": 0.5})
    low.report(2, {"score": 0.8})
    assert low.best == 0.5 and low.best_step == 1


def test_the_reporter_says_stop_when_pruned_or_flat_for_patience_reports():
    pruned = reporter(prune_at=2)
    assert pruned.report(1, {"score": 0.1}) is False and pruned.report(2, {"score": 0.2}) is True
    assert pruned.stop == "pruned" and pruned.should_stop
    assert pruned.report(3, {"score": 0.9}) is True and pruned.best == 0.2  # nothing more is recorded
    flat = reporter(patience=2)
    assert [flat.report(s, {"score": v}) for s, v in [(1, 0.5), (2, 0.4), (3, 0.5), (4, 0.3)]] == [
        False, False, True, True]
    assert flat.stop == "stopped_early" and flat.best_step == 1


@pytest.mark.parametrize("step, metrics, error, match", [
    (1, {"score": math.nan}, FloatingPointError, "score at step 1 is nan"),
    (1, {"score": "high"}, TypeError, "score at step 1 must be a number"),
    (1.5, {"score": 0.1}, TypeError, r"step must be a whole number from 0 to 2147483647, but got float: 1.5"),
    ("2", {"score": 0.1}, TypeError, "step must be a whole number .* but got str: '2'"),
    (True, {"score": 0.1}, TypeError, "step must be a whole number .* but got bool: True"),
    (1, [0.1], TypeError, "metrics must be a dict"),
    (1, {"score": 1 + 2j}, TypeError, r"score at step 1 must be a number .*, but got complex: \(1\+2j\)"),
    (1, {"score": np.bool_(True)}, TypeError, "score at step 1 must be a number .*, but got bool: np.True_"),
    (1, {"score": torch.tensor([0.1, 0.2])}, TypeError, "score at step 1 must be a number .*, but got Tensor: "),
    (-1, {"score": 0.1}, ValueError, "step -1 is out of range: a step is a whole number from 0 to 2147483647"),
    (2**31, {"score": 0.1}, ValueError, "step 2147483648 is out of range: .* from 0 to 2147483647"),
    (10**30, {"score": 0.1}, ValueError, "step 1000000000000000000000000000000 is out of range"),
])
def test_the_reporter_refuses_what_it_cannot_record(step, metrics, error, match):
    with pytest.raises(error, match=match):
        reporter().report(step, metrics)


@pytest.mark.parametrize("step, value", [
    (np.int64(1), np.float32(0.5)), (np.int32(1), np.float64(0.5)), (torch.tensor(1), torch.tensor(0.5)),
    (1.0, torch.tensor([0.5])), (1, np.array(0.5)), (1, Fraction(1, 2)), (1, Decimal("0.5")), (1, 0.5),
])
def test_the_reporter_takes_any_real_number_and_integral_step(step, value):
    r = reporter()
    assert r.report(step, {"score": value, "loss": value}) is False
    assert r.history == [[1, 0.5]] and r.asked == [(1, 0.5)] and r.best == 0.5
    assert r.best_metrics == {"score": 0.5, "loss": 0.5}
    assert [type(x) for x in r.history[0] + list(r.best_metrics.values())] == [int, float, float, float]


def test_the_largest_step_the_study_stores_is_taken():
    r = reporter()
    assert r.report(2**31 - 1, {"score": 0.5}) is False and r.history == [[2**31 - 1, 0.5]]


def test_steps_must_increase():
    r = reporter()
    r.report(3, {"score": 0.1})
    with pytest.raises(ValueError, match="step 3 must be above the last reported step 3"):
        r.report(3, {"score": 0.2})


@pytest.fixture
def code(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "fit.py").write_text("def main(config, reporter):\n    return {'score': 1.0}\n")
    (tmp_path / "broken.py").write_text("import json\n\nvalue = undefined_name\n")
    (tmp_path / "syntax.py").write_text("def main(config, reporter)\n    pass\n")
    return tmp_path


@pytest.mark.parametrize("entry", ["train.py:main", "train.py:with_options", "pkg.fit:main"])
def test_entries_that_load(code, entry):
    assert callable(load_entry(entry, str(code)))


@pytest.mark.parametrize("entry, match", [
    ("missing.py:main", "no such file .*missing.py"),
    ("no_such_module:main", "cannot import no_such_module: ModuleNotFoundError"),
    ("broken.py:main", r"cannot import broken.py: NameError: name 'undefined_name' is not defined \(.*broken.py, "
                       r"line 3\)"),
    ("syntax.py:main", r"cannot import syntax.py: SyntaxError: .*syntax.py, line 1\)"),
    ("train.py:absent", "train.py has no function absent"),
    ("train.py:not_a_function", "train.py.not_a_function is a int, not a function"),
    ("train.py:one_argument", r"one_argument\(config\) cannot be called as one_argument\(config, reporter\)"),
    ("train.py:generator", "must be a plain function"),
])
def test_entries_refused_with_the_reason(code, entry, match):
    with pytest.raises(TrialSetupError, match=match):
        load_entry(entry, str(code))


def job(code, config, save=True, entry="train.py:main", patience=""):
    text = textwrap.dedent(f"""
        study: {{name: own, metric: score, direction: maximize}}
        task: {{type: custom, entry: {entry}}}
        {patience}""")
    spec = load_text(text, base_dir=str(code))
    return TrialJob(spec, 4, config, None, code / "kept" if save else None)


def test_a_call_records_the_best_report_and_keeps_the_saved_model(code):
    result = custom.run(job(code, {"values": [0.2, 0.7, 0.5], "final": {"test_score": 0.6, "n_parameters": 12}}),
                        ask=lambda step, value: False, keep=lambda value: True)
    assert (result.state, result.value, result.best_step, result.stop_reason, result.stop_step) == (
        "complete", 0.7, 2, "completed", 3)
    assert result.best_metrics == {"score": 0.7, "loss": pytest.approx(0.3), "test_score": 0.6, "n_parameters": 12}
    assert result.n_parameters == 12 and result.history == [[1, 0.2], [2, 0.7], [3, 0.5]]
    assert result.model_dir == str(code / "kept") and (code / "kept" / "weights.json").exists()


def test_a_model_the_study_does_not_keep_is_removed(code):
    result = custom.run(job(code, {"values": [0.2]}), ask=lambda step, value: False, keep=lambda value: False)
    assert result.model_dir is None and not (code / "kept").exists()
    pruned = custom.run(job(code, {"values": [0.2, 0.3, 0.4]}), ask=lambda step, value: step == 2,
                        keep=lambda value: pytest.fail("a pruned trial keeps no model"))
    assert (pruned.state, pruned.stop_step, pruned.value) == ("pruned", 2, 0.3) and not (code / "kept").exists()


def test_a_function_that_changes_folder_saves_into_the_kept_folder(code, monkeypatch):
    (code / "moves.py").write_text("import os\n\ndef main(config, reporter):\n    os.chdir(config['to'])  # as Hydra does\n"
                                   "    (reporter.save_dir / 'weights.bin').write_text('w')\n"
                                   "    reporter.report(1, {'score': 0.5})\n")
    (code / "elsewhere").mkdir()
    monkeypatch.chdir(code)
    moving = replace(job(code, {"to": str(code / "elsewhere")}, entry="moves.py:main"), save_dir=Path("kept"))
    result = custom.run(moving, ask=lambda step, value: False, keep=lambda value: True)
    assert result.model_dir == str(code / "kept") and (code / "kept" / "weights.bin").exists()
    assert not (code / "elsewhere" / "kept").exists()


def test_a_returned_metric_is_one_more_evaluation(code):
    result = custom.run(job(code, {"values": [0.2], "final": {"score": 0.9}}), ask=lambda step, value: False,
                        keep=lambda value: False)
    assert result.history == [[1, 0.2], [2, 0.9]] and result.value == 0.9


def test_a_function_that_never_reports_the_metric_fails_saying_what_it_reported(code):
    (code / "quiet.py").write_text("def main(config, reporter):\n    reporter.report(1, {'acc': 0.5})\n")
    with pytest.raises(ValueError, match=r"never reported score \(it reported acc\); call reporter.report"):
        custom.run(job(code, {}, entry="quiet.py:main"), ask=lambda step, value: False, keep=lambda value: True)
    assert not (code / "kept").exists()  # nothing left behind by a failed trial


def test_a_return_that_is_not_metrics_fails(code):
    (code / "odd.py").write_text("def main(config, reporter):\n    reporter.report(1, {'score': 1})\n    return 3\n")
    with pytest.raises(TypeError, match="returned int; return None or a dict of metrics"):
        custom.run(job(code, {}, entry="odd.py:main"), ask=lambda step, value: False, keep=lambda value: True)


def test_patience_from_the_configuration_stops_early(code):
    result = custom.run(job(code, {"values": [0.5, 0.4, 0.3, 0.9], "early_stopping_patience": 2}),
                        ask=lambda step, value: False, keep=lambda value: False)
    assert (result.stop_reason, result.stop_step, result.value) == ("stopped_early", 3, 0.5)


def test_numpy_and_tensor_values_give_the_trial_its_value(code):
    (code / "numeric.py").write_text(
        "import numpy as np, torch\n\n"
        "def main(config, reporter):\n"
        "    reporter.report(np.int64(1), {'score': np.float32(0.25)})\n"
        "    reporter.report(torch.tensor(2), {'score': torch.tensor(0.5)})\n"
        "    return {'test_score': np.float64(0.75), 'n_parameters': np.int64(12), 'note': 'text'}\n")
    result = custom.run(job(code, {}, entry="numeric.py:main"), ask=lambda step, value: False,
                        keep=lambda value: False)
    assert result.values(job(code, {}).spec.objectives) == [0.5]  # before: None, "the trial made no evaluation"
    assert result.best_metrics == {"score": 0.5, "test_score": 0.75, "n_parameters": 12.0}
    assert result.n_parameters == 12 and result.history == [[1, 0.25], [2, 0.5]]


def test_a_returned_metric_of_numpy_type_is_one_more_evaluation(code):
    (code / "final.py").write_text("import numpy as np\n\ndef main(config, reporter):\n"
                                   "    return {'score': np.float32(0.5)}\n")
    result = custom.run(job(code, {}, entry="final.py:main"), ask=lambda step, value: False,
                        keep=lambda value: False)
    assert result.history == [[0, 0.5]] and result.value == 0.5
