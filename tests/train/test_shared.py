"""A decoding-only study's model, tokenizer and prompts are built once, in the fork server, for every trial:
taken only when nothing they were built from has changed, the same scores as a trial's own setup, and a
kill -9 loses nothing."""

import base64
import dataclasses
import os
import pickle
import signal
import subprocess

import pytest
from optuna.trial import TrialState

from helpers import COMMAND, hpsearch, stored_trials, wait_for_trials
from hpsearch.spec.space import load_text
from hpsearch.store.trials import ATTR_RETRY_OF
from hpsearch.train import shared
from hpsearch.train.worker import run
from hpsearch.trial import TrialJob
from tiny import Channel, make_csv, make_decoder

DECODE = """study: {{name: decode, n_trials: {n}, sampler: {{name: random, seed: 3}}, pruner: none}}
task:
  type: generation
  model: decoder
  dataset: {{path: pairs.csv, eval_size: {prompts}}}
  prompt_template: "{{prompt}} ->"
  max_new_tokens: 3
space:
  temperature: {{low: 0.1, high: 2.0, log: true}}
  top_k: documented
"""


@pytest.fixture
def project(tmp_path, tiny_assets):
    make_decoder(tmp_path / "decoder", tiny_assets / "model")
    make_csv(tmp_path / "pairs.csv", 300, header="prompt,target")

    def write(n=4, prompts=20, text=DECODE):
        (tmp_path / "space.yaml").write_text(text.format(n=n, prompts=prompts))
        return load_text(text.format(n=n, prompts=prompts), base_dir=str(tmp_path))

    write.root = tmp_path
    return write


@pytest.fixture
def built(monkeypatch):
    """Builds in this process as the fork server would; forgets it afterwards."""
    monkeypatch.setattr(shared, "_built", None)

    def build(spec):
        with shared.offered(spec):
            assert os.environ[shared.ENV]
            shared.build()
        assert shared.ENV not in os.environ  # the offer is gone: the trials never see it

    return build


def job(spec, number, config):
    return TrialJob(spec, number, {**spec.fixed, **config}, None, None)


def test_trials_take_one_model_and_put_their_own_decoding_options_on_it(project, built):
    spec = project()
    built(spec)
    cold, hot = shared.take(job(spec, 0, {"temperature": 0.1})), shared.take(job(spec, 1, {"temperature": 2.0}))
    assert cold.model is hot.model and cold.scorer.prompts is hot.scorer.prompts  # built once, not per trial
    assert cold.scorer.options["temperature"] == 0.1 and hot.scorer.options["temperature"] == 2.0


def test_a_shared_setup_scores_as_the_trials_own_setup_does(project, built):
    spec = project()
    configs = [{"temperature": 0.3, "top_k": 2}, {"temperature": 1.7, "top_k": 9}]
    own = [run(job(spec, n, c), Channel()) for n, c in enumerate(configs)]
    built(spec)
    taken = [run(job(spec, n, c), Channel()) for n, c in enumerate(configs)]
    assert [r.setup_shared for r in own] == [False, False] and [r.setup_shared for r in taken] == [True, True]
    assert [r.history for r in taken] == [r.history for r in own] and own[0].history != own[1].history


def test_nothing_is_taken_once_the_model_or_the_data_changed_on_disk(project, built):
    spec = project()
    built(spec)
    assert shared.take(job(spec, 0, {"temperature": 0.5})) is not None
    weights = project.root / "decoder" / "model.safetensors"
    weights.write_bytes(weights.read_bytes())
    os.utime(weights, ns=(0, 0))
    assert shared.take(job(spec, 0, {"temperature": 0.5})) is None
    built(spec)
    (project.root / "pairs.csv").write_text((project.root / "pairs.csv").read_text() + "good day,good\n")
    assert shared.take(job(spec, 0, {"temperature": 0.5})) is None


def test_another_task_or_a_training_study_takes_nothing(project, built):
    spec = project()
    built(spec)
    assert shared.take(job(project(prompts=10), 0, {"temperature": 0.5})) is None  # other prompts
    reseeded = dataclasses.replace(spec, study=spec.study.model_copy(update={"seed": 1}))  # confirm's re-runs
    assert shared.take(job(reseeded, 0, {"temperature": 0.5})) is None
    training = load_text(DECODE.format(n=1, prompts=20) + "  learning_rate: documented\n", base_dir=str(project.root))
    assert not shared.shareable(training)
    with shared.offered(training):
        assert shared.ENV not in os.environ
    assert shared.take(job(training, 0, {"learning_rate": 1e-4, "temperature": 0.5})) is None


def test_the_offer_carries_no_password(project, built):
    spec = project(text=DECODE.replace("pruner: none}", "pruner: none, storage: 'postgresql://u:s3cret@db/x'}"))
    assert "s3cret" in spec.text and "s3cret" in spec.study.storage
    with shared.offered(spec):
        offered = pickle.loads(base64.b64decode(os.environ[shared.ENV]))
    assert "s3cret" not in repr(offered) and "s3cret" not in repr(offered.document.data)
    built(spec)
    assert shared.take(job(spec, 0, {"temperature": 0.5})) is not None  # the trials' own spec still matches


def test_a_file_rewritten_while_the_build_reads_it_leaves_nothing_built(project, built, monkeypatch):
    from hpsearch.train.tasks import generation

    spec, setup = project(), generation.setup

    def rewritten_midway(job, config):
        found = setup(job, config)
        (project.root / "pairs.csv").write_text((project.root / "pairs.csv").read_text() + "good day,good\n")
        return found

    monkeypatch.setattr(generation, "setup", rewritten_midway)
    built(spec)
    assert shared._built is None


def test_a_file_replaced_by_a_copy_of_the_same_size_and_time_is_seen(project, built):
    import shutil

    spec = project()
    built(spec)
    data = project.root / "pairs.csv"
    shutil.copy2(data, project.root / "copy.csv")  # what cp -p does: the same bytes, size and modification time
    os.replace(project.root / "copy.csv", data)
    assert shared.take(job(spec, 0, {"temperature": 0.5})) is None


def test_a_thread_the_build_leaves_running_leaves_nothing_built(project, built, monkeypatch):
    import threading

    from hpsearch.train.tasks import generation

    spec, setup, stop = project(), generation.setup, threading.Event()

    def with_a_thread(job, config):
        threading.Thread(target=stop.wait, daemon=True).start()
        return setup(job, config)

    monkeypatch.setattr(generation, "setup", with_a_thread)
    monkeypatch.setattr(shared, "SETTLE_S", 0.2)
    try:
        built(spec)
    finally:
        stop.set()
    assert shared._built is None  # a fork while it runs could leave a lock held in every trial


def test_a_model_too_large_for_the_memory_is_not_offered(project, monkeypatch):
    spec = project()
    monkeypatch.setattr(shared, "MAX_MEMORY_SHARE", 1e-9)
    with shared.offered(spec):
        assert shared.ENV not in os.environ


def test_a_spec_too_large_for_the_environment_is_not_offered(project, monkeypatch):
    spec = project()
    monkeypatch.setattr(shared, "MAX_OFFER_BYTES", len(pickle.dumps(spec)) // 2)
    with shared.offered(spec):
        assert shared.ENV not in os.environ


def test_a_build_that_fails_leaves_each_trial_to_build_its_own(project, built):
    spec = project()
    (project.root / "decoder" / "config.json").rename(project.root / "config.json")
    built(spec)  # raises nothing
    assert shared._built is None
    assert shared.take(job(spec, 0, {"temperature": 0.5})) is None


def _trials(root):
    return stored_trials(f"sqlite:///{root}/studies/hpsearch.db", "decode")


def test_a_decoding_study_run_from_the_command_line_shares_its_setup(project):
    """A fresh process, so the fork server starts with the offer: every trial (each on this machine's threads,
    forked from a process that loaded torch weights) takes the shared setup and scores as its own would."""
    spec = project(n=3)
    result = hpsearch("run", "space.yaml", cwd=project.root, timeout=300)
    assert result.returncode == 0, result.stderr
    done = _trials(project.root)
    assert [t.state for t in done] == [TrialState.COMPLETE] * 3
    assert all(t.user_attrs["setup_shared"] is True for t in done)
    alone = run(job(spec, 0, done[0].params), Channel())
    assert done[0].user_attrs["history"] == alone.history


@pytest.mark.slow
def test_kill_9_of_a_decoding_study_then_run_again_loses_nothing(project):
    project(n=3, prompts=150, text=DECODE.replace("max_new_tokens: 3", "max_new_tokens: 3\n  num_samples: 16"))
    process = subprocess.Popen(COMMAND + ["run", "space.yaml"], cwd=project.root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    storage = f"sqlite:///{project.root}/studies/hpsearch.db"
    wait_for_trials(storage, lambda found: any(t.number == 1 and t.state == TrialState.RUNNING and
                                               t.intermediate_values for t in found), name="decode", timeout=300)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    running = _trials(project.root)[1]
    result = hpsearch("run", "space.yaml", cwd=project.root, timeout=300)
    assert result.returncode == 0, result.stderr
    done = _trials(project.root)
    assert [t.state for t in done].count(TrialState.COMPLETE) == 3 and done[1].state == TrialState.FAIL
    retry = next(t for t in done if t.user_attrs.get(ATTR_RETRY_OF) == 1)
    assert retry.params == running.params and retry.user_attrs["setup_shared"] is True


def test_the_shared_weights_are_the_fork_servers_own_not_a_mapping_of_the_model_file(project, built):
    """A model file rewritten during the run can neither change the weights under the trials nor kill them."""
    import gc

    spec = project()
    built(spec)
    gc.collect()
    weights = str(project.root / "decoder" / "model.safetensors")
    assert weights not in open("/proc/self/maps").read()
