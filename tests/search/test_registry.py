import optuna
import pytest

from hpsearch.search import registry as plugins


@pytest.mark.parametrize("name", list(plugins.SAMPLERS))
def test_every_sampler_builds_with_defaults(name):
    filled = {"search_space": {"x": [1, 2]}} if name == "grid" else {}
    sampler, errors = plugins.build("sampler", plugins.SAMPLERS, {"name": name}, **filled)
    assert errors == [] and isinstance(sampler, optuna.samplers.BaseSampler)


@pytest.mark.parametrize("name", list(plugins.PRUNERS))
def test_every_pruner_builds(name):
    required = {"percentile": {"percentile": 25.0}, "threshold": {"lower": 0.1}}
    config = {"name": name, **required.get(name, {})}
    pruner, errors = plugins.build("pruner", plugins.PRUNERS, config)
    assert errors == [] and isinstance(pruner, optuna.pruners.BasePruner)


def test_options_exclude_what_yaml_cannot_express():
    options = plugins.options_of(optuna.samplers.TPESampler)
    assert "seed" in options and "n_startup_trials" in options
    assert "gamma" not in options and "constraints_func" not in options
    assert "search_space" not in plugins.options_of(optuna.samplers.GridSampler)


def test_options_reach_the_instance():
    pruner, _ = plugins.build("pruner", plugins.PRUNERS, {"name": "median", "n_warmup_steps": 3})
    assert pruner._n_warmup_steps == 3


@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "hyperband", "reduction_factor": 1}, "reduction_factor >= 2"),
        ({"name": "hyperband", "min_resource": 5, "max_resource": 2}, "must be at least min_resource"),
        ({"name": "successive_halving", "min_resource": "soon"}, "must be an integer or 'auto'"),
        ({"name": "threshold", "lower": "x"}, "rejects these options"),
        ({"name": "wilcoxon", "p_threshold": True}, "must be a number"),
    ],
)
def test_bad_pruner_options(config, message):
    pruner, errors = plugins.build("pruner", plugins.PRUNERS, config)
    assert pruner is None and message in errors[0][1]
