"""A seeded sampler draws each trial from (seed, trial number): resumed and shared studies never repeat a trial."""

import multiprocessing
import textwrap

import optuna
import pytest

from hpsearch.search import registry as plugins
from hpsearch.search.build import build_sampler
from hpsearch.search.reseed import Reseeded, reseed
from hpsearch.spec.space import load_text
from hpsearch.spec.suggest import suggest
from hpsearch.store.studies import open_study, storage_for

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # asked here, outside Study.optimize

SPACE = """
study:
  name: s
  sampler: {sampler}
{study}task:
  type: sequence-classification
  dataset: {{path: data.csv}}
space:
  learning_rate: {{choices: [1.0e-5, 2.0e-5, 3.0e-5, 5.0e-5, 1.0e-4, 2.0e-4, 3.0e-4, 5.0e-4]}}
  batch_size: {{choices: [8, 16, 32, 64]}}
  dropout: {{low: 0.0, high: 0.5, step: 0.05}}
"""
# options that let the model-based samplers leave their random start within a few trials
SAMPLER_OPTIONS = {"tpe": "n_startup_trials: 2", "gp": "n_startup_trials: 2", "nsga2": "population_size: 4",
                   "cmaes": "n_startup_trials: 1"}


def make(sampler="{name: random, seed: 0}", study=""):
    return load_text(textwrap.dedent(SPACE.format(sampler=sampler, study=study)), file="s.yaml")


def ask(spec, url, n, value=lambda values: 0.5):
    """One run: open the study as `hpsearch run` does (a new sampler), ask and tell `n` trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(spec, storage_for(url))
    drawn = []
    for _ in range(n):
        trial = study.ask()
        values = suggest(trial, spec.space)
        drawn.append(tuple(values.values()))
        study.tell(trial, value(values))
    return drawn


def test_a_resumed_study_draws_new_values_the_same_as_in_one_go(tmp_path):
    spec = make()
    resumed = ask(spec, f"sqlite:///{tmp_path}/a.db", 2) + ask(spec, f"sqlite:///{tmp_path}/a.db", 2)
    in_one_go = ask(spec, f"sqlite:///{tmp_path}/b.db", 4)
    assert len(set(resumed)) == 4, resumed
    assert resumed == in_one_go


def test_another_seed_draws_other_values(tmp_path):
    assert ask(make(), f"sqlite:///{tmp_path}/a.db", 3) != ask(make("{name: random, seed: 1}"),
                                                               f"sqlite:///{tmp_path}/b.db", 3)


def test_an_unseeded_sampler_is_optunas_own():
    assert isinstance(build_sampler(make("{name: random}").plugin_options), optuna.samplers.RandomSampler)
    assert isinstance(build_sampler(make().plugin_options), Reseeded)


def _one_process(url, barrier, found):
    spec = make("{name: tpe, seed: 0}")
    barrier.wait()
    found.put(ask(spec, url, 3))


def test_two_processes_sharing_a_study_draw_distinct_values(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    storage_for(url)
    context = multiprocessing.get_context("spawn")
    barrier, found = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_one_process, args=(url, barrier, found)) for _ in range(2)]
    for process in processes:
        process.start()
    drawn = found.get(timeout=120) + found.get(timeout=120)
    for process in processes:
        process.join(timeout=30)
    assert len(drawn) == 6 and len(set(drawn)) == 6, drawn


def _take_turns(spec, url, machines):
    """`machines` processes (each its own sampler, built from one file) take turns on one study, then one more
    resumes it; the values each trial drew."""
    storage = storage_for(url)
    studies = [open_study(spec, storage) for _ in range(machines)]
    drawn = []
    for number in range(6):
        study = studies[number % machines] if number < 4 else open_study(spec, storage)  # 4, 5: resumed
        trial = study.ask()
        values = suggest(trial, spec.space)
        drawn.append(tuple(values.values()))
        score = values["learning_rate"] * 1e4 + values["dropout"]
        if len(spec.objectives) == 1:
            study.tell(trial, score)
        else:
            storage.set_trial_system_attr(trial._trial_id, optuna.samplers._base._CONSTRAINTS_KEY,
                                          [values["batch_size"] - 32.0])
            study.tell(trial, [score, values["batch_size"]])
    return drawn


@pytest.mark.parametrize("name", sorted(plugins.SAMPLERS))
@pytest.mark.parametrize("objectives", ["one", "two with a constraint"])
def test_every_sampler_proposes_alike_in_one_process_or_several(tmp_path, name, objectives):
    """Two machines sharing a study, then a resumed run, propose what one machine running alone proposes:
    which process asks no longer matters, so none replays another's values."""
    if objectives != "one" and name in plugins.SINGLE_OBJECTIVE_SAMPLERS:
        pytest.skip(f"{name} handles one objective")
    if name == "cmaes":
        pytest.importorskip("cmaes")  # Optuna's CMA-ES needs the package, which hpsearch does not require
    options = f", {SAMPLER_OPTIONS[name]}" if name in SAMPLER_OPTIONS else ""
    extra = "" if objectives == "one" else \
        "  metric: [eval_accuracy, train_seconds]\n  constraints: {n_parameters: {max: 100}}\n"
    spec = make(f"{{name: {name}, seed: 0{options}}}", extra)
    shared = _take_turns(spec, f"sqlite:///{tmp_path}/shared.db", machines=2)
    alone = _take_turns(spec, f"sqlite:///{tmp_path}/alone.db", machines=1)
    assert shared[0] != shared[1], shared  # the first two trials, each a random start, taken by two machines
    assert shared == alone


def test_the_wrapper_composes_and_reseeds_the_sampler_inside():
    inner = optuna.samplers.TPESampler(seed=0)
    outer = Reseeded(Reseeded(inner, 7), 0)
    assert reseed(outer, 0, 3) == 2  # TPE's own stream and its startup RandomSampler's
    first = inner._rng.rng.rand()
    reseed(outer, 0, 3)
    assert inner._rng.rng.rand() == first
    reseed(outer, 0, 4)
    assert inner._rng.rng.rand() != first
