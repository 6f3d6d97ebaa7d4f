import textwrap

import pytest

from hpsearch.space import load_text

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
