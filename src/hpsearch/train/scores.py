"""How close a generated text is to its target: exact match, token F1 and chrF, each between 0 and 1.

Exact match and token F1 follow the SQuAD evaluation (lower case, punctuation and articles ignored,
tokens split on white space); chrF is sacrebleu's character n-gram F-score, which gives partial credit
to near misses (a plural, a typo) that the other two score as wrong.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_PUNCTUATION = set(string.punctuation)


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, target: str) -> float:
    return float(normalize(prediction) == normalize(target))


def token_f1(prediction: str, target: str) -> float:
    predicted, expected = normalize(prediction).split(), normalize(target).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def chrf(prediction: str, target: str) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(prediction, [target]).score / 100


SCORES = {"eval_exact_match": exact_match, "eval_token_f1": token_f1, "eval_chrf": chrf}


def score_all(predictions: list[str], target: str) -> dict[str, float]:
    """Each score of `predictions` (several samples of one prompt) against `target`, averaged over the samples."""
    return {name: sum(fn(p, target) for p in predictions) / len(predictions) for name, fn in SCORES.items()}
