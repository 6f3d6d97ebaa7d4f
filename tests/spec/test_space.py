"""One test per class of bad input; every problem is one line `FILE:LINE: key.path: message`."""

import pickle
import textwrap
from dataclasses import replace

import pytest

from hpsearch.errors import SpaceError
from hpsearch.search.build import build_sampler
from hpsearch.spec.reader import parse
from hpsearch.spec.schema import parse_duration
from hpsearch.spec.space import load_space, load_text
from hpsearch.spec.storage_url import DEFAULT_STORAGE, check_storage

BASE = """\
study:
  name: t
task:
  type: sequence-classification
  dataset: {path: data.csv}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpaceError) as info:
        load_text(textwrap.dedent(text), file="f.yaml")
    return [str(p) for p in info.value.problems]


def one(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_quickstart_like_file_validates(make_spec):
    spec = make_spec()
    assert spec.study.name == "t" and spec.metric == "eval_accuracy" and spec.direction == "maximize"
    assert list(spec.space) == ["learning_rate"] and spec.fixed == {"max_steps": 4}


def test_shipped_files_validate():
    for name in ("quickstart", "documented"):
        spec = load_space(f"search_spaces/{name}.yaml")
        assert spec.study.name == name


def test_documented_file_searches_all_16_training_entries():
    from hpsearch.spec.catalog import CLASSIC

    spec = load_space("search_spaces/documented.yaml")
    training = {hp.name for hp in CLASSIC if not hp.generation_only}
    assert len(training) == 16 and training <= set(spec.space)


def test_yaml_syntax_error_names_the_line():
    assert one("study:\n  name: [t\n").startswith("f.yaml:3: invalid YAML")


def test_duplicate_keys_are_errors_with_both_lines():
    line = one(BASE + "space:\n  dropout: documented\n  dropout: {low: 0.1, high: 0.2}\n")
    assert line == "f.yaml:8: space.dropout: duplicate key (first given on line 7; keep one of them)"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just text\n"])
def test_a_file_that_is_not_a_mapping(text):
    assert "it must be a mapping with the keys study, task, fixed, space" in one(text)


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("spaces: {}\n", "f.yaml:6: spaces: unknown section 'spaces' (did you mean space?)"),
        ("study2: {}\n", "unknown section 'study2' (did you mean study?)"),
    ],
)
def test_unknown_top_level_keys(snippet, expected):
    assert expected in one(BASE + snippet)


def test_unknown_keys_at_every_level():
    found = problems("""
        study:
          name: t
          n_trial: 3
          sampler: {name: tpe, seeed: 1}
        task:
          modell: x
          dataset: {path: d.csv, text_col: t}
        space:
          learning_rat: documented
          dropout: {low: 0.1, hihg: 0.2}
    """)
    assert "f.yaml:4: study.n_trial: unknown key 'n_trial' (did you mean n_trials?)" in found
    assert "f.yaml:5: study.sampler.seeed: unknown option of the tpe sampler 'seeed' (did you mean seed?)" in found
    assert "f.yaml:7: task.modell: unknown key 'modell' (did you mean model?)" in found
    assert "f.yaml:8: task.dataset.text_col: unknown key 'text_col' (did you mean text_column?)" in found
    assert "f.yaml:10: space.learning_rat: unknown hyperparameter 'learning_rat' (did you mean learning_rate?)" in found
    assert "f.yaml:11: space.dropout.hihg: unknown key 'hihg' (did you mean high?)" in found


def test_all_errors_of_a_file_are_reported():
    found = problems(BASE + "space:\n  dropout: {low: 0.5, high: 0.1}\n  batch_size: {choices: []}\n  lr: documented\n")
    assert len(found) == 3
    assert [p.split(":")[1] for p in found] == ["7", "8", "9"]


@pytest.mark.parametrize(
    "study, message",
    [
        ("name: 'my study'", "'my study' is not a valid study name"),
        ("name: ../x", "is not a valid study name"),
        ("name: 12", "input should be a valid string"),
        ("name: t\n  n_trials: 0", "study.n_trials: input should be greater than or equal to 1, but got 0"),
        ("name: t\n  n_trials: many", "input should be a valid integer"),
        ("name: t\n  n_trials: 2.5", "input should be a valid integer"),
        ("name: t\n  timeout: soon", "study.timeout: must be a duration such as 15m"),
        ("name: t\n  timeout: -5", "study.timeout: must be above 0"),
        ("name: t\n  direction: up", "study.direction: must be maximize or minimize (or a list of them, one per metric), but got 'up'"),
        ("name: t\n  storage: 'nonsense'", "study.storage: is not a database URL"),
        ("name: t\n  storage: 'sqlite://'", "in-memory SQLite database, which keeps nothing"),
        ("name: t\n  storage: 'redis://h/0'", "uses 'redis'; hpsearch stores studies in sqlite, postgresql or mysql"),
        ("name: t\n  sampler: {name: tpee}", "study.sampler.name: unknown sampler 'tpee' (did you mean tpe?)"),
        ("name: t\n  sampler: {name: tpe, n_startup_trials: x}", "n_startup_trials: must be an integer"),
        ("name: t\n  sampler: {name: tpe, gamma: 3}", "unknown option of the tpe sampler 'gamma'"),
        ("name: t\n  pruner: {name: hyperband, reduction_factor: 1}", "the hyperband pruner rejects these options"),
        ("name: t\n  pruner: {name: percentile}", "the percentile pruner rejects these options"),
        ("name: t\n  pruner: {name: median, n_warmup_steps: -1}", "the median pruner rejects these options"),
        ("name: t\n  pruner: {name: medain}", "unknown pruner 'medain' (did you mean median?)"),
        ("name: t\n  pruner: 7", "study.pruner: input should be a valid dictionary"),
        ("name: t\n  metric: eval_acc", "study.metric: unknown metric of sequence-classification 'eval_acc' "
                                        "(did you mean eval_accuracy?)"),
        ("name: t\n  metric: eval_loss\n  direction: maximize", "set direction: minimize"),
        ("name: t\n  save: some", "study.save: input should be 'best', 'all' or 'none'"),
    ],
)
def test_bad_study_section(study, message):
    text = BASE.replace("name: t", study)
    assert any(message in p for p in problems(text)), problems(text)


def test_study_section_is_required():
    assert "the study: section is missing" in one("task: {type: sequence-classification}\n")


def test_study_name_required():
    assert one("study: {n_trials: 3}\n") == "f.yaml:1: study: name is missing (add it)"


@pytest.mark.parametrize(
    "task, message",
    [
        ("type: classification", "unknown task type 'classification' (did you mean sequence-classification?)"),
        ("dataset: {name: tweets}", "unknown built-in data set 'tweets' (did you mean tweets-sentiment?)"),
        ("dataset: {path: a.csv, hub: b/c}", "task.dataset: needs exactly one of name, path, hub, but got path and hub"),
        ("dataset: {train_size: 3}", "needs exactly one of name, path, hub, but got none"),
        ("dataset: {path: a.csv, train_size: 0}", "greater than or equal to 1"),
        ("eval_every: 0", "task.eval_every: input should be greater than or equal to 1"),
    ],
)
def test_bad_task_section(task, message):
    text = "study: {name: t}\ntask:\n  " + task + "\n"
    assert any(message in p for p in problems(text)), problems(text)


def test_task_defaults_to_the_builtins(make_spec):
    spec = make_spec("study: {name: t}\n")
    assert spec.task.model == "minilm-l6" and spec.task.dataset.name == "tweets-sentiment"
    assert spec.study.sampler == {"name": "tpe"} and spec.study.pruner == {"name": "plateau"}


@pytest.mark.parametrize(
    "fixed, message",
    [
        ("max_steps: 0", "fixed.max_steps: must be at least 1, but got 0"),
        ("optimizer: adam", "fixed.optimizer: must be one of adamw, sgd, adafactor, but got 'adam' (did you mean adamw?)"),
        ("batch_size: {low: 8}", "must be a single value"),
        ("learnin_rate: 0.1", "unknown hyperparameter 'learnin_rate' (did you mean learning_rate?)"),
    ],
)
def test_bad_fixed_values(fixed, message):
    assert message in one(BASE + "fixed:\n  " + fixed + "\n")


def test_fixed_and_space_overlap():
    assert "space.dropout: is also under fixed:" in one(BASE + "fixed: {dropout: 0.1}\nspace: {dropout: documented}\n")


@pytest.mark.parametrize("section", ["fixed: {temperature: 0.7}", "space: {top_k: documented}"])
def test_decoding_entries_need_a_generating_task(section):
    assert "acts only when the task generates text, and sequence-classification does not" in one(BASE + section + "\n")


def test_decoding_entries_pass_on_a_generation_task():
    spec = load_text("study: {name: t, metric: eval_chrf}\ntask: {type: generation}\nspace: {top_p: documented}\n")
    assert spec.direction == "maximize"


def test_a_decoding_only_study_names_no_fine_tuning_setting_for_its_priors():
    spec = load_text("study: {name: t}\ntask: {type: generation, model: m}\nspace: {top_p: documented}\n")
    assert spec.decode_only and spec.describe_priors() == "priors: none"  # it trains nothing
    training = load_text("study: {name: t}\ntask: {type: generation}\nspace: {learning_rate: documented}\n")
    assert training.describe_priors().startswith("priors (full fine-tuning")


def test_documented_without_a_documented_range():
    assert "no documented range: it depends on the data size" in one(BASE + "space: {max_steps: documented}\n")


class TestConditions:
    def test_condition_on_unknown_entry(self):
        text = BASE + "space:\n  optimizer: {choices: [sgd]}\n  dropout: {low: 0.1, high: 0.2, when: {optimiser: sgd}}\n"
        assert "space.dropout.when.optimiser: unknown entry 'optimiser' (did you mean optimizer?)" in one(text)

    def test_condition_on_non_categorical_entry(self):
        text = BASE + "space:\n  dropout: documented\n  weight_decay: {low: 0.001, high: 0.1, when: {dropout: 0.1}}\n"
        assert "dropout is not categorical" in one(text)

    def test_condition_value_not_among_choices(self):
        text = BASE + "space:\n  optimizer: {choices: [sgd, adamw]}\n  dropout: {low: 0.1, high: 0.2, when: {optimizer: adafactor}}\n"
        assert "['adafactor'] not among the choices of optimizer" in one(text)

    def test_condition_on_fixed_entry(self):
        text = BASE + "fixed: {optimizer: sgd}\nspace:\n  dropout: {low: 0.1, high: 0.2, when: {optimizer: sgd}}\n"
        assert "names optimizer, which is not searched" in one(text)

    def test_cycle(self):
        text = BASE + ("space:\n  optimizer: {choices: [sgd, adamw], when: {loss: focal}}\n"
                       "  loss: {choices: [focal, cross_entropy], when: {optimizer: sgd}}\n")
        assert any("conditions form a cycle" in p for p in problems(text))

    def test_nested_conditions_are_ordered(self, make_spec):
        spec = make_spec(BASE + (
            "space:\n"
            "  focal_gamma: {low: 1.0, high: 3.0, when: {loss: focal}}\n"
            "  loss: {choices: [focal, cross_entropy], when: {optimizer: sgd}}\n"
            "  optimizer: {choices: [sgd, adamw]}\n"))
        assert list(spec.space) == ["optimizer", "loss", "focal_gamma"]

    def test_sub_parameter_gets_its_condition_implicitly(self, make_spec):
        spec = make_spec(BASE + "space:\n  optimizer: {choices: [sgd, adamw]}\n  momentum: documented\n")
        assert spec.space["momentum"].when == {"optimizer": ("sgd",)}

    def test_sub_parameter_under_a_fixed_parent(self, make_spec):
        assert make_spec(BASE + "fixed: {optimizer: sgd}\nspace: {momentum: documented}\n").space["momentum"].when == {}
        assert "momentum acts only when optimizer is sgd, but fixed.optimizer is adamw" in one(
            BASE + "fixed: {optimizer: adamw}\nspace: {momentum: documented}\n")

    def test_sub_parameter_without_its_parent(self):
        assert "optimizer is left at its default adamw" in one(BASE + "space: {momentum: documented}\n")
        assert "loss is left at its default cross_entropy" in one(BASE + "fixed: {focal_gamma: 2.0}\n")

    def test_sub_parameter_whose_choice_is_never_sampled(self):
        text = BASE + "space:\n  optimizer: {choices: [adamw, adafactor]}\n  momentum: documented\n"
        assert "which space.optimizer never samples" in one(text)

    def test_sub_parameter_conditioned_on_a_wrong_choice(self):
        text = BASE + "space:\n  optimizer: {choices: [adamw, sgd]}\n  momentum: {documented: true, when: {optimizer: [sgd, adamw]}}\n"
        assert "momentum acts only when optimizer is sgd, not under ['adamw']" in one(text)


def test_grid_sampler_needs_discrete_entries():
    text = BASE.replace("name: t", "name: t\n  sampler: grid") + "space:\n  dropout: documented\n  optimizer: documented\n"
    assert "space.dropout: the grid sampler needs choices or a step" in one(text)


def test_grid_sampler_builds_the_grid(make_spec):
    spec = make_spec(BASE.replace("name: t", "name: t\n  sampler: grid") + "space:\n  batch_size: {low: 8, high: 24, step: 8}\n")
    assert build_sampler(spec.plugin_options)._search_space == {"batch_size": [8, 16, 24]}


def test_warnings_do_not_fail(make_spec):
    spec = make_spec(BASE + "space:\n  learning_rate: {low: 1.0e-6, high: 1.0e-3, log: true}\n")
    assert len(spec.warnings) == 1
    assert "space.learning_rate: range 1e-06 .. 0.001 reaches beyond" in str(spec.warnings[0])


def test_budget_overrides():
    spec = load_text(BASE)
    assert spec.with_budget(n_trials=7, timeout="1h30m").study.n_trials == 7
    assert spec.with_budget(timeout="1h30m").study.timeout == 5400
    with pytest.raises(SpaceError, match="--n-trials: must be at least 1"):
        spec.with_budget(n_trials=0)
    with pytest.raises(SpaceError, match="--timeout: must be a duration"):
        spec.with_budget(timeout="later")


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("2h", 7200), ("90s", 90), ("1h30m", 5400), (30, 30),
                                           ("1.5h", 5400)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_storage_precedence(monkeypatch):
    spec = load_text(BASE)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    assert spec.storage_url() == DEFAULT_STORAGE
    monkeypatch.setenv("HPSEARCH_STORAGE", "sqlite:///env.db")
    assert spec.storage_url() == "sqlite:///env.db"
    assert spec.storage_url("sqlite:///cli.db") == "sqlite:///cli.db"


@pytest.mark.parametrize("url, ok", [(DEFAULT_STORAGE, True), ("postgresql://u@h/db", True),
                                     ("postgresql+psycopg://h/db", True), ("sqlite:///:memory:", False), ("x", False)])
def test_check_storage(url, ok):
    assert (check_storage(url) is None) is ok


def test_unreadable_files(tmp_path):
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(SpaceError, match="is a folder"):
        load_space(tmp_path)
    (tmp_path / "latin.yaml").write_bytes(b"study: {name: caf\xe9}\n")
    with pytest.raises(SpaceError, match="is not UTF-8 text"):
        load_space(tmp_path / "latin.yaml")


def test_the_spec_keeps_its_text_and_hash():
    spec = load_text(BASE)
    assert spec.text == BASE and len(spec.sha256) == 64


@pytest.mark.parametrize(
    "snippet, message",
    [
        # non-finite numbers, wherever a number is given
        ("fixed: {learning_rate: .nan}", "f.yaml:6: fixed.learning_rate: must be a finite number, but got nan"),
        ("fixed: {weight_decay: .inf}", "f.yaml:6: fixed.weight_decay: must be a finite number, but got inf"),
        ("space: {learning_rate: {choices: [.nan, 0.1]}}",
         "f.yaml:6: space.learning_rate.choices.0: must be a finite number, but got nan"),
        ("space: {max_grad_norm: {choices: [1.0, .inf]}}",
         "f.yaml:6: space.max_grad_norm.choices.1: must be a finite number, but got inf"),
        ("space: {max_steps: {choices: [10, .inf]}}", "f.yaml:6: space.max_steps.choices.1: must be a finite number, "
                                                      "but got inf"),
        # integer hyperparameters stay within what an integer setting can hold
        ("fixed: {batch_size: 1e29}", "f.yaml:6: fixed.batch_size: must be at most 2147483647, but got 1e+29"),
        ("fixed: {max_steps: 99999999999999999999}",
         "f.yaml:6: fixed.max_steps: must be at most 2147483647, but got 99999999999999999999"),
        ("space: {batch_size: {low: 8, high: 1.0e+29}}",
         "f.yaml:6: space.batch_size.high: must be at most 2147483647, but got 1e+29"),
        ("space: {max_steps: {choices: [10, 1.0e+12]}}",
         "f.yaml:6: space.max_steps.choices.1: must be at most 2147483647, but got 1000000000000.0"),
    ],
)
def test_non_finite_and_absurd_hyperparameter_values(snippet, message):
    assert one(BASE + snippet + "\n") == message


@pytest.mark.parametrize(
    "study, message",
    [
        ("timeout: 99999999999999999999h", "f.yaml:1: study.timeout: must be at most 365 days (8760h), but got "
                                           "'99999999999999999999h'"),
        ("trial_timeout: .inf", "f.yaml:1: study.trial_timeout: must be a duration such as 15m, 2h or 90s, but got inf"),
        ("timeout: .nan", "f.yaml:1: study.timeout: must be a duration such as 15m, 2h or 90s, but got nan"),
        ("n_trials: 1e26", "f.yaml:1: study.n_trials: input should be a valid integer, but got 1e+26"),
        ("n_trials: 100000000000000000000000", "f.yaml:1: study.n_trials: input should be less than or equal to "
                                               "1000000, but got 100000000000000000000000"),
        ("seed: -1", "f.yaml:1: study.seed: input should be greater than or equal to 0, but got -1"),
        ("seed: 99999999999", "f.yaml:1: study.seed: input should be less than or equal to 4294967295, but got "
                              "99999999999"),
        ("constraints: {n_parameters: {max: .nan}}",
         "f.yaml:1: study.constraints.n_parameters.max: input should be a finite number, but got nan"),
        ("pruner: {name: threshold, upper: .nan}", "f.yaml:1: study.pruner.upper: must be a finite number, but got nan"),
        ("sampler: {name: tpe, seed: .inf}", "f.yaml:1: study.sampler.seed: must be a finite number, but got inf"),
        ("sampler: {name: grid, seed: .nan}", "f.yaml:1: study.sampler.seed: must be a finite number, but got nan"),
    ],
)
def test_non_finite_and_absurd_study_values(study, message):
    assert one(f"study: {{name: t, {study}}}\n") == message


@pytest.mark.parametrize(
    "task, message",
    [
        ("eval_every: 99999999999", "task.eval_every: input should be less than or equal to 2147483647"),
        ("dataset: {path: a.csv, train_size: 99999999999}",
         "task.dataset.train_size: input should be less than or equal to 2147483647"),
        ("dataset: {path: a.csv, seed: -1}", "task.dataset.seed: input should be greater than or equal to 0"),
    ],
)
def test_absurd_task_values(task, message):
    assert message in one("study: {name: t}\ntask:\n  " + task + "\n")


def test_budget_overrides_are_bounded_like_the_file():
    spec = load_text(BASE)
    with pytest.raises(SpaceError, match="--n-trials: must be at most 1000000, but got 10000000"):
        spec.with_budget(n_trials=10_000_000)
    with pytest.raises(SpaceError, match=r"--timeout: must be at most 365 days \(8760h\)"):
        spec.with_budget(timeout="9000h")
    with pytest.raises(SpaceError, match="--n-jobs: must be at most 256"):
        spec.with_budget(n_jobs=1000)


@pytest.mark.parametrize("snippet, message", [
    ("fixed: {learning_rate: HUGE}", "fixed.learning_rate: must be a finite number, but got 999"),
    ("space: {max_steps: {low: 1, high: HUGE}}", "space.max_steps.high: must be a number, but got 999"),
    ("space: {learning_rate: {low: 1.0e-5, high: HUGE}}", "space.learning_rate.high: must be a number, but got 999"),
])
def test_integers_beyond_any_float_are_one_line_not_a_traceback(snippet, message):
    assert message in one(BASE + snippet.replace("HUGE", "9" * 400) + "\n")


def test_the_spec_carries_the_document_it_was_read_from():
    spec = load_text(BASE + "space: {dropout: documented}\n", file="f.yaml", overrides=["study.n_trials=5"])
    fresh = parse(BASE + "space: {dropout: documented}\n", ["study.n_trials=5"])
    assert spec.document.data == fresh.data and spec.document.lines == fresh.lines  # validation changed nothing
    assert str(spec.problem(("space", "dropout"), "m")) == "f.yaml:6: space.dropout: m"
    assert str(spec.problem(("study", "n_trials"), "m")) == "f.yaml --set: study.n_trials: m"


def test_the_document_travels_to_workers_and_takes_no_part_in_equality():
    spec = load_text(BASE, overrides=["study.n_trials=5"])
    sent = pickle.loads(pickle.dumps(spec))
    assert sent == spec and sent.document.data == spec.document.data and sent.document.lines == spec.document.lines
    bare = replace(spec, _document=None)  # a spec built without one reads it again from its text when asked
    assert bare == spec and "_document" not in repr(spec)
    assert bare.document.data == spec.document.data and bare.document.overridden == {("study", "n_trials")}
