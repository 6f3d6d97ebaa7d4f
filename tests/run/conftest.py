import pytest

ZERO_SPACE = """
study:
  name: tiny
  n_trials: {n_trials}
  sampler: {{name: random, seed: 0}}
  pruner: {{name: none}}
task:
  model: model
  dataset: {{path: data.csv, eval_size: 50}}
  eval_every: 5
fixed:
  max_steps: 30
  batch_size: 16
  sequence_length: 16
space:
  learning_rate: {{low: 5.0e-3, high: 3.0e-2, log: true}}
  dropout: documented
"""


@pytest.fixture
def zero_project(tmp_path, monkeypatch):
    """A folder with a space file writer and a small CSV, for studies of zero-cost trials (hpsearch.run.targets
    .ZERO_COST: nothing trains, no model is read); the study database lives inside it."""
    (tmp_path / "data.csv").write_text("text,label\n" + "a good movie,1\na bad movie,0\n" * 60)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)

    def write(n_trials=3, name="space.yaml"):
        (tmp_path / name).write_text(ZERO_SPACE.format(n_trials=n_trials))
        return tmp_path / name

    write.root = tmp_path
    write.storage = f"sqlite:///{tmp_path}/studies/hpsearch.db"
    return write
