"""Imported once by the fork server: loads what every trial needs so each trial's process starts warm.

Everything done here is inherited by each forked trial for free: the libraries, transformers' table of
checkpoint conversions (about 1,000 regular expressions, half a second to build), the spec's modules (a
trial's job carries its StudySpec, whose unpickling would otherwise import pydantic and build the schema in
every trial), tqdm's lock (created here once, so no trial leaves a semaphore behind), and, for a
decoding-only study, the model, tokenizer and prompts its trials share (hpsearch.train.shared).

The script that started the study is never run here: the fork server stands in for it (`stand_in_for_main`).
A trial's stdout and stderr keep working once their reader has gone (`hpsearch run ... | head`): the rest is dropped.
"""

import importlib.machinery
import json
import os
import sys

import hpsearch.spec.space  # noqa: F401 - pydantic and the schema: unpickling a TrialJob's spec (~100 ms a trial)
import hpsearch.train.tasks.classification  # noqa: F401 - torch, numpy, datasets
import hpsearch.train.worker  # noqa: F401 - transformers' Trainer

try:  # private helpers: a newer transformers may move them, which costs speed, never correctness
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping

    get_checkpoint_conversion_mapping("bert")
except Exception:  # noqa: BLE001
    pass

try:
    from transformers import BertForSequenceClassification  # noqa: F401 - the built-in model's class
except Exception:  # noqa: BLE001
    pass

try:
    from tqdm import tqdm

    tqdm.get_lock()
except Exception:  # noqa: BLE001
    pass

from hpsearch.run import libraries  # noqa: E402
from hpsearch.run.progress import KeepWriting  # noqa: E402
from hpsearch.run.protocol import MAIN_ENV  # noqa: E402
from hpsearch.train import shared  # noqa: E402 - last: it needs the libraries above


def stand_in_for_main() -> None:
    """Give the fork server's own `__main__` the name of the study process's: multiprocessing runs the study's
    script again in each worker whose `__main__` has another name, and a script without
    `if __name__ == "__main__":` (a user's `tune.py` calling hpsearch.run) would start its study again there."""
    sent = json.loads(os.environ.get(MAIN_ENV, "{}"))
    main = sys.modules["__main__"]
    if "init_main_from_path" in sent:
        main.__file__ = sent["init_main_from_path"]
    if "init_main_from_name" in sent:
        main.__spec__ = importlib.machinery.ModuleSpec(sent["init_main_from_name"], None)


stand_in_for_main()
sys.stdout, sys.stderr = KeepWriting(sys.stdout), KeepWriting(sys.stderr)  # `hpsearch run ... | head` fails no trial
shared.build()
libraries.load()
