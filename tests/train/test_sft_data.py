"""train/sft_data.py: which of TRL's data forms the rows are, their checks and their TRL columns (a table each)."""

import pandas as pd
import pytest

from hpsearch.errors import DataError
from hpsearch.spec.schema import DatasetConfig
from hpsearch.train import sft_data


@pytest.mark.parametrize("names, settings, form", [
    (["messages"], {}, "messages"),
    (["messages", "prompt", "completion", "text"], {}, "messages"),  # messages first
    (["prompt", "completion"], {}, "prompt-completion"),
    (["question", "answer"], {"prompt_column": "question", "completion_column": "answer"}, "prompt-completion"),
    (["text", "label"], {}, "text"),
    (["chat"], {"messages_column": "chat"}, "messages"),
    (["messages", "text"], {"format": "text"}, "text"),  # named, not detected
])
def test_the_form_is_told_by_the_columns_or_named(names, settings, form):
    assert sft_data.detect(DatasetConfig(path="x.jsonl", **settings), names) == form


def test_data_of_no_form_names_the_columns_each_form_wants():
    with pytest.raises(DataError, match="'messages'; 'prompt' and 'completion'; 'text'.*its columns: a, b"):
        sft_data.detect(DatasetConfig(path="x.csv"), ["a", "b"])


USER = {"role": "user", "content": "hi"}
ASSISTANT = {"role": "assistant", "content": "good"}


@pytest.mark.parametrize("cell, problem", [
    ([USER, ASSISTANT], None),
    ('[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]', None),  # a CSV cell: JSON text
    ([{"content": "hi"}, ASSISTANT], "message 0 has no role"),
    ([{"role": "bot", "content": "hi"}, ASSISTANT], "message 0 has role 'bot', not one of system, user, assistant"),
    ([USER, {"role": "assistant"}], "message 1 (assistant) has no text content"),
    ([USER], "has no assistant message: nothing to learn"),
    ("just text", "not a list of {role, content} messages"),
    ([], "not a list of {role, content} messages"),
])
def test_conversation_problems(cell, problem):
    found = sft_data.conversation_problem(cell)
    assert (found is None) if problem is None else (problem in found)


def test_the_first_bad_row_is_named_with_its_number():
    frame = pd.DataFrame({"messages": [[USER, ASSISTANT], [USER, {"role": "robot", "content": "x"}]]})
    [(path, message)] = sft_data.row_problems(frame, DatasetConfig(path="chat.jsonl"), "chat.jsonl")
    assert path == ("messages_column",) and message.startswith("chat.jsonl: row 2: message 1 has role 'robot'")


def test_rows_take_trl_column_names_and_a_completion_keeps_its_space():
    frame = pd.DataFrame({"question": ["good day ->", "bad day"], "answer": ["good", " bad"]})
    dataset = DatasetConfig(path="x.csv", prompt_column="question", completion_column="answer")
    assert sft_data.rows(frame, dataset, "prompt-completion") == {
        "prompt": ["good day ->", "bad day"], "completion": [" good", " bad"]}
    assert sft_data.rows(pd.DataFrame({"text": ["a b"]}), DatasetConfig(path="x.csv"), "text") == {"text": ["a b"]}
