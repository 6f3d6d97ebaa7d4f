"""hpsearch.numbers: the one number formatter, as every message, table and report prints a value."""

import pytest

from hpsearch.numbers import number


@pytest.mark.parametrize("value, places, text", [
    (0.87341, 4, "0.8734"), (0.5, 4, "0.5000"), (0.0, 4, "0.0000"), (3, 4, "3"), (1e308, 4, "1e+308"),
    (-1.5e12, 4, "-1.5e+12"), (1.234567e-7, 4, "1.235e-07"), (float("inf"), 4, "inf"), (12.345, 1, "12.3"),
])
def test_number_prints_huge_and_tiny_values_in_scientific_notation(value, places, text):
    assert number(value, places=places) == text


@pytest.mark.parametrize("value, digits, text", [
    (0.87341, 4, "0.8734"), (0.5, 4, "0.5"), (123.456, 4, "123.5"), (1e308, 4, "1e+308"), (2e-05, 6, "2e-05"),
    (0.000123456789, 6, "0.000123457"), (16, 4, "16"), ("linear", 4, "linear"), (True, 4, "True"),
])
def test_significant_digits_as_tables_and_messages_print_them(value, digits, text):
    assert number(value, digits) == text


def test_lists_print_each_value_and_none_prints_what_a_table_shows():
    assert number([0.123456, 2, "x"]) == "(0.1235, 2, x)"
    assert number((1e-05, 0.5), places=2) == "(1e-05, 0.50)"
    assert number(None) == "None" and number(None, missing="-") == "-"
