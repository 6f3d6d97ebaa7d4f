"""The default search: the priors' centre first, the priors through the start-up, then TPE, decaying."""

import optuna
import pytest

from hpsearch.search import registry as plugins
from hpsearch.search.build import build_sampler
from hpsearch.search.prior_sampler import PROPOSED_BY, PriorSampler, prior_probability, proposed_by, startup_trials
from hpsearch.spec.space import load_text

SPACE = """
study:
  name: s
  n_trials: {n_trials}
  sampler: {sampler}
task: {{model: minilm-l6}}
space:
  learning_rate: {{low: 1.0e-6, high: 1.0e-2, log: true}}
  batch_size: {{choices: [8, 16, 32]}}
  optimizer: {{choices: [adamw, sgd]}}
  warmup_ratio: {{low: 0.0, high: 0.2, prior: 0.05, confidence: 0.8}}
  sequence_length: {{low: 32, high: 128}}
"""


def spec(n_trials=40, sampler="{name: tpe, seed: 3}"):
    return load_text(SPACE.format(n_trials=n_trials, sampler=sampler))


def ask(sampler, n, storage=None, tell=True):
    """`n` trials of a study with `sampler` (told a value each), returned as their params."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler, storage=storage, study_name="s", load_if_exists=True)
    found = []
    for _ in range(n):
        trial = study.ask()
        params = {name: trial._suggest(name, entry.to_distribution()) for name, entry in spec().space.items()}
        study.tell(trial, params["learning_rate"])
        found.append(params)
    return found


def test_the_first_trial_is_the_priors_centre():
    first = ask(build_sampler(spec().plugin_options), 1)[0]
    # minilm-l6 is a small model: the miniatures' 1e-4; BERT's batch 16 and AdamW; the file's own 0.05
    assert first["learning_rate"] == pytest.approx(1e-4) and first["batch_size"] == 16
    assert first["optimizer"] == "adamw" and first["warmup_ratio"] == pytest.approx(0.05)


def test_start_up_trials_come_from_the_priors():
    trials = ask(build_sampler(spec().plugin_options), startup_trials(40))
    near = [t for t in trials if 1e-5 <= t["learning_rate"] <= 1e-3]
    assert len(near) >= len(trials) - 1  # a flat draw over 1e-6 .. 1e-2 lands there half of the time
    assert all(0.0 <= t["warmup_ratio"] <= 0.2 for t in trials)


def test_entries_without_a_prior_are_left_to_the_base_sampler():
    values = {t["sequence_length"] for t in ask(build_sampler(spec().plugin_options), 6)}
    assert len(values) >= 4  # sampled, not pinned to some centre


def test_a_seeded_study_draws_the_same_priors_in_one_go_or_resumed():
    startup = startup_trials(40)
    one_go = ask(build_sampler(spec().plugin_options), startup)
    storage = optuna.storages.InMemoryStorage()
    resumed = ask(build_sampler(spec().plugin_options), 2, storage) + ask(build_sampler(spec().plugin_options), startup + 4, storage)
    assert resumed == ask(build_sampler(spec().plugin_options), startup + 6)  # entries without a prior too (hpsearch.search.reseed)
    assert resumed[:startup] == one_go


def test_the_priors_weight_decays():
    assert prior_probability(3, 5) == 1.0
    assert prior_probability(9, 5) == 0.5 and prior_probability(49, 5) == 0.1


@pytest.mark.parametrize("n_trials, startup", [(12, 3), (20, 4), (40, 8), (200, 10)])
def test_start_up_fits_the_budget(n_trials, startup):
    config, use_priors = plugins.sampler_config({"name": "tpe"}, n_trials)
    assert config["n_startup_trials"] == startup and use_priors is True
    assert plugins.sampler_config({"name": "tpe", "n_startup_trials": 7}, n_trials)[0]["n_startup_trials"] == 7


def test_priors_can_be_turned_off_and_other_samplers_are_left_alone():
    assert isinstance(build_sampler(spec().plugin_options), PriorSampler)
    assert isinstance(build_sampler(spec(sampler="{name: tpe, priors: false}").plugin_options), optuna.samplers.TPESampler)
    assert isinstance(build_sampler(spec(sampler="{name: random}").plugin_options), optuna.samplers.RandomSampler)


def test_a_bad_priors_option_is_refused_with_its_key(make_spec):
    from hpsearch.errors import SpaceError

    with pytest.raises(SpaceError) as raised:
        make_spec("study:\n  name: t\n  sampler: {name: tpe, priors: maybe}\n")
    assert "study.sampler.priors: must be true or false" in str(raised.value)
    with pytest.raises(SpaceError) as raised:
        make_spec("study:\n  name: t\n  sampler: {name: random, priors: true}\n")
    assert "unknown option of the random sampler 'priors'" in str(raised.value)


@pytest.mark.slow
def test_a_run_records_where_each_trial_came_from(tiny_project):
    from hpsearch.run.study_loop import run_study
    from hpsearch.spec.space import load_space
    from hpsearch.store.studies import storage_for

    path = tiny_project(n_trials=3)
    path.write_text(path.read_text().replace("{name: random, seed: 0}", "{name: tpe, seed: 0}"))
    run_study(load_space(path))
    trials = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage)).get_trials()
    assert trials[0].user_attrs[PROPOSED_BY] == "prior centre"
    assert trials[0].params["dropout"] == pytest.approx(0.1)  # BERT's dropout: the prior's centre
    assert {t.user_attrs[PROPOSED_BY] for t in trials[1:]} == {"prior"}
    assert proposed_by(PriorSampler(build_sampler(spec().plugin_options).base, {}), 0) is None  # not asked yet


def test_each_trial_says_where_its_values_came_from():
    sampler = build_sampler(spec().plugin_options)
    study = optuna.create_study(sampler=sampler)
    numbers = [study.ask().number for _ in range(30)]  # asked, not told: the sampler still knows each
    said = [proposed_by(sampler, n) for n in numbers]
    assert said[0] == "prior centre" and set(said[1:startup_trials(40)]) == {"prior"}
    assert "tpe" in said  # the reseeding wrapper is looked through
