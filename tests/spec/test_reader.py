import pytest

from helpers import laughs
from hpsearch.spec.reader import override, parse


def test_lines_of_keys_and_items():
    src = parse("a:\n  b: 1\n  c:\n    - x\n    - y\n")
    assert src.data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert src.lines[("a",)] == 1 and src.lines[("a", "b")] == 2 and src.lines[("a", "c", 1)] == 5
    assert src.line(("a", "c", 1, "missing")) == 5


def test_duplicate_keys_keep_the_first_and_report_the_second():
    src = parse("a: 1\nb: 2\na: 3\n")
    assert src.data == {"a": 1, "b": 2}
    assert src.problems == [(("a",), 3, "duplicate key (first given on line 1; keep one of them)")]


def test_nested_duplicates():
    src = parse("s:\n  x: 1\n  x: 2\n")
    assert src.problems[0][:2] == (("s", "x"), 3)


def test_syntax_errors_do_not_raise():
    src = parse("a: [1, 2\n")
    assert src.data is None and "invalid YAML" in src.problems[0][2]


def test_several_documents_are_an_error():
    assert "invalid YAML" in parse("a: 1\n---\nb: 2\n").problems[0][2]


def test_merge_keys_work_like_pyyaml():
    src = parse("base: &b {low: 1, high: 2}\nx:\n  <<: *b\n  log: true\n")
    assert src.data["x"] == {"low": 1, "high": 2, "log": True}


def test_complex_keys_are_reported():
    assert "a key must be a plain name" in parse("? [a, b]\n: 1\n").problems[0][2]


def test_empty_document():
    src = parse("")
    assert src.data is None and src.problems == []


def test_exponents_without_a_dot_are_numbers():
    src = parse("a: 1e-5\nb: 3E+2\nc: 1.0e-3\nd: 1e\ne: 10\nf: '1e-5'\n")
    assert src.data == {"a": 1e-5, "b": 300.0, "c": 1e-3, "d": "1e", "e": 10, "f": "1e-5"}


def test_no_object_construction():
    src = parse("a: !!python/object/apply:os.system ['true']\n")
    assert src.data == {"a": None}
    assert "the tag tag:yaml.org,2002:python/object/apply:os.system is not allowed" in src.problems[0][2]
    scalar = parse("a: !!python/name:os.system\n")
    assert scalar.problems and "invalid value" in scalar.problems[0][2]



def test_an_unknown_tag_is_one_line():
    src = parse("a: 1\nb: !foo 1\n")
    assert src.problems == [(("b",), 2, "invalid value: the tag !foo is not allowed (plain YAML only)")]

@pytest.mark.parametrize(
    "assignments, expected",
    [
        (["a.b=3"], {"a": {"b": 3, "c": 1}, "d": [1]}),
        (["a.e.f=1e-5"], {"a": {"b": 2, "c": 1, "e": {"f": 1e-5}}, "d": [1]}),
        (["d=[4, 5]", "a.c=x"], {"a": {"b": 2, "c": "x"}, "d": [4, 5]}),
        (["d.x=1"], {"a": {"b": 2, "c": 1}, "d": {"x": 1}}),
    ],
)
def test_overrides_set_values_by_key_path(assignments, expected):
    source = parse("a:\n  b: 2\n  c: 1\nd: [1]\n")
    override(source, assignments)
    assert source.data == expected and not source.problems
    assert source.line(("a", "c")) == (None if "a.c=x" in assignments else 3)


@pytest.mark.parametrize("assignment, message", [("nonsense", "write KEY.PATH=VALUE"), ("a..b=1", "write KEY"),
                                                 ("a.b=[1", "--set value '[1' is not YAML")])
def test_bad_overrides_are_problems(assignment, message):
    source = parse("a: {b: 2}\n")
    override(source, [assignment])
    assert message in source.problems[0][2]


def _chain(links: int) -> str:
    """Each anchor nests the one before: shallow text, deep once the aliases are expanded."""
    return "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, links + 1))


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("study: &a {name: x, n: [*a]}\n", 1, "invalid YAML: a recursive alias"),
        ("a: &a [*a]\n", 1, "invalid YAML: a recursive alias"),
        ("a: &a {b: {<<: *a}}\n", 1, "invalid YAML: a recursive alias"),
        ("a: " + "[" * 600 + "]" * 600 + "\n", 1, "invalid YAML: nested deeper than 50 levels"),
        ("a: " + "{b: " * 600 + "1" + "}" * 600 + "\n", 1, "invalid YAML: nested deeper than 50 levels"),
        (_chain(200), None, "invalid YAML: nested deeper than 50 levels"),
        (laughs(6), None, "invalid YAML: the aliases expand to more than 100000 values"),  # 9**6 values
        ("a: " + "1" * 5000 + "\n", 1, "invalid value: "),
        ("a: '" + "x" * 1_000_001 + "'\n", None, "invalid YAML: the text holds 1000007 characters"),
    ],
)
def test_hostile_yaml_is_one_problem_bounded_in_time_and_memory(text, line, message):
    src = parse(text)
    assert src.data is None or len(src.problems) == 1
    assert len(src.problems) == 1 and message in src.problems[0][2], src.problems
    if line is not None:
        assert src.problems[0][1] == line


def test_aliases_within_the_limits_still_work():
    laughing, chain = parse(laughs(3, width=3)), parse(_chain(10))
    assert not laughing.problems and laughing.data["a3"] == [[[["lol"] * 3] * 3] * 3] * 3
    assert not chain.problems and chain.data["a10"] == [[[[[[[[[[["x"]]]]]]]]]]]


def test_a_recursive_alias_given_with_set_is_a_problem():
    source = parse("study: {name: x}\n")
    override(source, ["study.name=&a [*a]"])
    assert "a recursive alias" in source.problems[0][2] and source.data == {"study": {"name": "x"}}


def test_a_large_file_without_aliases_is_not_refused_by_the_alias_rule():
    # more values than aliases may expand to, each written out (well under MAX_BYTES); one alias adding one value
    many = parse("a: [" + "1," * 110_000 + "]\nb: &b [x]\nc: *b\n")
    assert not many.problems and len(many.data["a"]) == 110_000 and many.data["c"] == ["x"]
