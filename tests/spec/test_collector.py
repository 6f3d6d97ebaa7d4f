"""Findings (a key path and a message) become problems with the file and the line the key was given on."""

from hpsearch.errors import Problem
from hpsearch.spec.collector import Collector, dotted
from hpsearch.spec.reader import parse

TEXT = "study:\n  name: t\nspace:\n  dropout:\n    low: 0.1\n"


def test_a_finding_gets_the_line_of_its_key_or_of_the_nearest_key_above():
    collector = Collector("f.yaml", parse(TEXT))
    collector.add([(("space", "dropout", "low"), "a"), (("space", "dropout", "high"), "b"), ((), "c")])
    assert collector.errors == [Problem("f.yaml", 5, "space.dropout.low", "a"),
                                Problem("f.yaml", 4, "space.dropout.high", "b"), Problem("f.yaml", 1, "", "c")]
    assert collector.warnings == []


def test_warnings_are_kept_apart_in_the_order_found():
    collector = Collector("f.yaml", parse(TEXT))
    collector.add([(("study", "name"), "w1")], warning=True)
    collector.add([(("space",), "e")])
    collector.add([(("space", "dropout"), "w2")], warning=True)
    assert [p.message for p in collector.warnings] == ["w1", "w2"] and [p.message for p in collector.errors] == ["e"]


def test_a_value_set_on_the_command_line_has_no_line():
    collector = Collector("f.yaml", parse(TEXT, ["space.dropout.low=0.2"]))
    collector.add([(("space", "dropout", "low"), "a"), (("study", "name"), "b")])
    assert [str(p) for p in collector.errors] == ["f.yaml --set: space.dropout.low: a", "f.yaml:2: study.name: b"]


def test_the_readers_own_problems_come_first():
    collector = Collector("f.yaml", parse("a: 1\na: 2\n", ["nonsense"]))
    collector.add([((), "later")])
    assert [str(p) for p in collector.errors] == [
        "f.yaml:2: a: duplicate key (first given on line 1; keep one of them)",
        "--set: 'nonsense': write KEY.PATH=VALUE, for example --set space.max_steps.high=20",
        "f.yaml:1: later"]


def test_dotted():
    assert dotted(("space", "optimizer", "choices", 0)) == "space.optimizer.choices.0" and dotted(()) == ""
