import sys
import textwrap
from pathlib import Path

import pytest

from hpsearch.spec.space import load_text

sys.path.insert(0, str(Path(__file__).parent))

# `train` marks exactly the tests that train (a trial process that trains, or a Trainer), so `pytest -m "not
# train"` is the quick loop. Asking for stored_studies trains (the fixture runs two studies); a tiny_project runs
# its trials unless the test is marked no_training (it is refused, or dry-runs, before any trial starts). A test
# that trains with tiny_assets alone says so with @pytest.mark.train. Slow tests run only when -m names them.
TRAINS = {"stored_studies", "tiny_project"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINS & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("no_training"):
            item.add_marker(pytest.mark.train)
    if "slow" not in (config.getoption("markexpr") or ""):
        slow = [item for item in items if item.get_closest_marker("slow")]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if not item.get_closest_marker("slow")]


QUICK = """
study:
  name: t
  n_trials: 3
  sampler: {name: random, seed: 1}
task:
  type: sequence-classification
  dataset: {path: data.csv}
fixed:
  max_steps: 4
space:
  learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
"""


@pytest.fixture
def make_spec():
    """Validate a YAML snippet (dedented) as a space file."""

    def make(text: str = QUICK, file: str = "s.yaml"):
        return load_text(textwrap.dedent(text), file=file)

    return make


TINY_SPACE = """
study:
  name: tiny
  n_trials: {n_trials}
  sampler: {{name: random, seed: 0}}
  pruner: {pruner}
task:
  model: model
  dataset: {{path: data.csv, eval_size: 50}}
  eval_every: 5
fixed:
  max_steps: 30
  batch_size: 16
  sequence_length: 16
{extra}space:
  learning_rate: {{low: 5.0e-3, high: 3.0e-2, log: true}}
  dropout: documented
"""


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory):
    """A tiny BERT and a tiny CSV, made once per test session."""
    from tiny import make_csv, make_model

    folder = tmp_path_factory.mktemp("tiny")
    make_model(folder / "model")
    make_csv(folder / "data.csv")
    return folder


@pytest.fixture
def tiny_project(tmp_path, tiny_assets, monkeypatch):
    """A folder with the tiny model, data and a space file writer; the study database lives inside it."""
    import shutil

    shutil.copytree(tiny_assets / "model", tmp_path / "model")
    shutil.copy(tiny_assets / "data.csv", tmp_path / "data.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)

    def write(n_trials=3, pruner="{name: none}", extra="", name="space.yaml"):
        text = TINY_SPACE.format(n_trials=n_trials, pruner=pruner, extra=extra)
        (tmp_path / name).write_text(text)
        return tmp_path / name

    write.root = tmp_path
    write.storage = f"sqlite:///{tmp_path}/studies/hpsearch.db"
    return write


STORED_SPACE = """
study:
  name: {name}
  n_trials: 8
  sampler: {{name: random, seed: {seed}}}
  pruner: {{name: median, n_startup_trials: 2, n_warmup_steps: 5}}
task:
  model: model
  dataset: {{path: data.csv, eval_size: 50}}
  eval_every: 5
fixed:
  max_steps: 30
  batch_size: 16
  sequence_length: 16
space:
  learning_rate: {{low: 1.0e-4, high: 3.0e-2, log: true}}
  dropout: documented
  optimizer: {{choices: [adamw, sgd]}}
"""


@pytest.fixture(scope="session")
def stored_studies(tmp_path_factory, tiny_assets):
    """A database holding two finished studies of real tiny trials (made once per test session).

    Returns the folder; `.storage` is the database URL, `.names` the study names ("alpha", "beta").
    """
    import shutil
    from types import SimpleNamespace

    from hpsearch.run.study_loop import run_study
    from hpsearch.spec.space import load_space

    root = tmp_path_factory.mktemp("stored")
    shutil.copytree(tiny_assets / "model", root / "model")
    shutil.copy(tiny_assets / "data.csv", root / "data.csv")
    storage = f"sqlite:///{root}/studies/hpsearch.db"
    for name, seed in (("alpha", 0), ("beta", 1)):
        (root / f"{name}.yaml").write_text(STORED_SPACE.format(name=name, seed=seed))
        run_study(load_space(root / f"{name}.yaml"), storage=storage)
    return SimpleNamespace(root=root, storage=storage, names=["alpha", "beta"])


POSTGRES_ENV, REQUIRE_POSTGRES_ENV = "HPSEARCH_TEST_POSTGRES", "HPSEARCH_REQUIRE_POSTGRES"


@pytest.fixture
def postgres():
    """The URL of a fresh, empty PostgreSQL database of its own, dropped after the test.

    $HPSEARCH_TEST_POSTGRES names a server and a role that may create databases; without it the test
    skips, unless $HPSEARCH_REQUIRE_POSTGRES=1 (CI), where it fails instead.
    """
    import os
    import uuid

    import sqlalchemy

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        reason = f"${POSTGRES_ENV} is not set (a postgresql:// URL of a role that may create databases)"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{reason}, and ${REQUIRE_POSTGRES_ENV}=1 demands the PostgreSQL tests")
        pytest.skip(reason)
    name = f"hpsearch_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sqlalchemy.make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


MADE_SPACE = """
study:
  name: made
  n_trials: 3
task:
  type: sequence-classification
  dataset: {path: data.csv}
fixed:
  max_steps: 4
space:
  learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
  early_stopping_patience: {low: 1, high: 3}
"""


@pytest.fixture
def made_study(tmp_path, monkeypatch):
    """A study "made" of four complete trials, built without training, in tmp_path/studies/hpsearch.db (the
    default storage there, the current folder); returns tmp_path."""
    import optuna

    from hpsearch.store.studies import open_study, storage_for

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path}/studies/hpsearch.db"
    storage = storage_for(url)
    study = open_study(load_text(MADE_SPACE, file="made.yaml"), storage)
    distributions = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
                     "early_stopping_patience": optuna.distributions.IntDistribution(1, 3)}
    for number in range(4):
        params = {"learning_rate": 1e-3 * (number + 1), "early_stopping_patience": 1 + number % 3}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=0.5 + number / 10,
                                                  user_attrs={"config": params}))
    storage.engine.dispose()  # no connection of this process stays open on the file
    return tmp_path


@pytest.fixture
def zero_project(tmp_path, monkeypatch):
    """A folder with a space file writer and a small CSV, for studies of zero-cost trials (hpsearch.run.targets
    .ZERO_COST: nothing trains, no model is read); the study database lives inside it."""
    (tmp_path / "data.csv").write_text("text,label\n" + "a good movie,1\na bad movie,0\n" * 60)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)

    def write(n_trials=3, name="space.yaml"):
        (tmp_path / name).write_text(TINY_SPACE.format(n_trials=n_trials, pruner="{name: none}", extra=""))
        return tmp_path / name

    write.root = tmp_path
    write.storage = f"sqlite:///{tmp_path}/studies/hpsearch.db"
    return write
