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


@pytest.mark.parametrize("config, step, finished, expected", [
    ({"name": "none"}, 100, 100, False),
    ({"name": "median"}, 0, 4, False),  # its default: 5 start-up trials
    ({"name": "median"}, 0, 5, True),
    ({"name": "median", "n_startup_trials": 0}, 0, 0, False),  # no finished trial: nothing to compare with
    ({"name": "median", "n_startup_trials": 0}, 0, 1, True),
    ({"name": "percentile", "percentile": 25.0, "n_warmup_steps": 10}, 9, 50, False),
    ({"name": "percentile", "percentile": 25.0, "n_warmup_steps": 10}, 10, 50, True),
    ({"name": "plateau", "n_startup_trials": 2}, 3, 1, False),
    ({"name": "plateau", "n_startup_trials": 2}, 3, 2, True),
    ({"name": "threshold", "lower": 0.5}, 0, 0, True),  # it judges the trial alone
    ({"name": "hyperband"}, 0, 0, True),  # its rungs: asked every time
    ({"name": "wilcoxon"}, 0, 0, True),
])
def test_may_prune_is_false_only_where_the_pruner_surely_keeps_the_trial(config, step, finished, expected):
    assert plugins.may_prune(config, step, finished) is expected
    pruner, errors = plugins.build("pruner", plugins.PRUNERS, config)
    if not expected and not errors:  # the pruner itself agrees: with such a study it keeps the trial
        study = optuna.create_study(direction="maximize", pruner=pruner)
        for _ in range(finished):
            study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={s: 1.0 for s in range(20)}))
        trial = study.ask()
        trial.report(0.0, step)
        assert not trial.should_prune()
