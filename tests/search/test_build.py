import textwrap
from dataclasses import replace

import optuna
import pytest

from helpers import hpsearch
from hpsearch.errors import PluginError
from hpsearch.search.build import PluginOptions, build_pruner, build_sampler
from hpsearch.search.prior_sampler import PriorSampler
from hpsearch.spec.space import load_text
from hpsearch.store.studies import open_study, storage_for

SPACE = """
study:
  name: s
  sampler: {sampler}
task:
  type: sequence-classification
  dataset: {{path: data.csv}}
space:
  learning_rate: {{low: 1.0e-5, high: 1.0e-3, log: true}}
"""


def spec_with(sampler="tpe"):
    return load_text(textwrap.dedent(SPACE.format(sampler=sampler)), file="s.yaml")


def test_an_option_the_sampler_constructor_rejects_is_one_line_at_validation_exit_2(tmp_path):
    space = tmp_path / "s.yaml"
    space.write_text(textwrap.dedent(SPACE.format(sampler="{name: nsga2, population_size: 1}")))
    result = hpsearch("validate", space, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{space}:4: study.sampler: the nsga2 sampler rejects these options: "
        "`population_size` must be greater than or equal to 2."]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_a_sampler_that_cannot_be_built_is_the_users_error_not_optunas_default(tmp_path):
    """A spec that skipped validation (changed after it) used to get Optuna's default sampler without a word."""
    spec = spec_with()
    bad = replace(spec, study=spec.study.model_copy(update={"sampler": {"name": "qmc", "qmc_type": "x"}}))
    with pytest.raises(PluginError) as raised:
        build_sampler(bad.plugin_options)
    assert raised.value.exit_code == 2
    assert str(raised.value).startswith("study.sampler: the qmc sampler rejects these options: The `qmc_type='x'`")
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with pytest.raises(PluginError):
        open_study(bad, storage_for(url))
    assert optuna.get_all_study_names(url) == []  # nothing created with a fallback sampler


def test_a_pruner_that_cannot_be_built_names_its_option():
    options = PluginOptions(pruner={"name": "median", "n_warmup_steps": "x"})
    with pytest.raises(PluginError) as raised:
        build_pruner(options)
    assert raised.value.problems == [(("study", "pruner", "n_warmup_steps"), "must be an integer, but got 'x'")]


def test_several_objectives_still_check_the_pruners_options_then_prune_nothing():
    with pytest.raises(PluginError):
        build_pruner(PluginOptions(pruner={"name": "median", "n_warmup_steps": -1}, objectives=2))
    assert isinstance(build_pruner(PluginOptions(objectives=2)), optuna.pruners.NopPruner)


def test_every_problem_of_the_sampler_at_once():
    with pytest.raises(PluginError) as raised:
        build_sampler(PluginOptions(sampler={"name": "tpe", "priors": "maybe", "n_startup_trials": float("inf")}))
    assert [path for path, _ in raised.value.problems] == [("study", "sampler", "priors"),
                                                           ("study", "sampler", "n_startup_trials")]


def test_the_spec_gives_the_builders_its_options():
    spec = spec_with()
    assert isinstance(build_sampler(spec.plugin_options), PriorSampler)  # learning_rate has the literature's prior
    assert spec.plugin_options.grid is None  # only the grid sampler is handed the grid's values
    assert spec.plugin_options.metric == spec.metric and spec.plugin_options.n_trials == spec.study.n_trials
