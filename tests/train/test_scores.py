"""Exact match, token F1 and chrF of a generated text against its target."""

import pytest

from hpsearch.train.scores import chrf, exact_match, score_all, token_f1


@pytest.mark.parametrize(
    "prediction, target, em, f1",
    [
        ("Positive", "positive", 1.0, 1.0),
        ("the positive.", "positive", 1.0, 1.0),  # case, articles and punctuation do not count
        ("very positive", "positive", 0.0, 2 / 3),
        ("negative", "positive", 0.0, 0.0),
        ("", "", 1.0, 1.0),
        ("", "positive", 0.0, 0.0),
    ],
)
def test_exact_match_and_token_f1(prediction, target, em, f1):
    assert exact_match(prediction, target) == em
    assert token_f1(prediction, target) == pytest.approx(f1)


def test_chrf_gives_partial_credit_to_near_misses():
    assert chrf("positive", "positive") == pytest.approx(1.0)
    assert 0.5 < chrf("positives", "positive") < 1.0
    assert chrf("xyz", "positive") < 0.1


def test_several_samples_are_averaged():
    found = score_all(["positive", "negative"], "positive")
    assert found["eval_exact_match"] == 0.5 and found["eval_token_f1"] == 0.5
