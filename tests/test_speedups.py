"""The optional C gather of a list of dicts (``barrage.records._speedups``).

It must read exactly what the pure-Python gather reads and decline everything else, so
a table of dicts reads the same with and without it; and where a C compiler is present
it must have been built (else the fast path is silently lost).
"""

from __future__ import annotations

import struct
from typing import Any, List

import numpy as np
import pytest

from barrage.errors import DataError
from barrage.records import RecordTable
from barrage.records import table as record_table
from test_distributions import has_c_compiler

float_rows = record_table._c_float_rows
needs_extension = pytest.mark.skipif(float_rows is None, reason="the C extension was not built (no compiler)")


def test_the_extension_is_built_wherever_a_c_compiler_is() -> None:
    if not has_c_compiler():
        pytest.skip("no C compiler: the pure-Python gather is used")
    assert float_rows is not None, "barrage.records._speedups was not built: reinstall Barrage (pip install -e .)"


def packed(rows: List[Any], keys: tuple) -> Any:
    """What the pure-Python gather makes of ``rows`` (struct, as table.py packs them)."""
    row = struct.Struct(f"={len(keys)}d")
    return bytearray().join(row.pack(*(values[key] for key in keys)) for values in rows)


class Float(float):
    """A float subclass that converts as floats do."""


class Int(int):
    """An int subclass that converts as ints do."""


class FloatingInt(int):
    def __float__(self) -> float:
        return 0.5


class FloatingFloat(float):
    """struct reads its stored value, not its ``__float__``: so does the extension."""

    def __float__(self) -> float:
        return 0.5


class Mapping(dict):
    pass


@needs_extension
@pytest.mark.parametrize("value", [0.5, -0.0, float("inf"), float("nan"), 7, -(2 ** 60), True, Float(2.5), Int(3),
                                   FloatingFloat(3.0), np.float64(1.5)])
def test_floats_and_ints_read_as_struct_packs_them(value: Any) -> None:
    rows = [{"a": 1.5, "b": value, "c": "text"}, {"b": 3.0, "a": -2.0, "c": None}]
    gathered = float_rows(rows, ("b", "a"))
    assert gathered == packed(rows, ("b", "a"))
    assert float_rows(tuple(rows), ("b", "a")) == gathered  # a tuple of rows too
    assert float_rows([], ("a",)) == bytearray() and float_rows(rows, ()) == bytearray()


@needs_extension
@pytest.mark.parametrize("rows", [
    [{"a": 1.0}, {"b": 1.0}],  # a key missing
    [{"a": 1.0}, {"a": None}],  # missing value: NumPy reads it (as NaN)
    [{"a": 1.0}, {"a": "1.5"}],  # text
    [{"a": 1.0}, {"a": np.float32(1.5)}],  # a number struct converts by float(), not stored as a double
    [{"a": 1.0}, {"a": 10 ** 400}],  # too large for a double
    [{"a": 1.0}, {"a": FloatingInt(3)}],  # an int whose own __float__ struct would call
    [{"a": 1.0}, Mapping(a=2.0)],  # a dict subclass may look keys up its own way
    [{"a": 1.0}, [("a", 2.0)]],  # not a dict at all
], ids=["missing-key", "none", "text", "float32", "huge-int", "int-own-float", "dict-subclass",
        "not-a-dict"])
def test_anything_else_is_declined_for_python_to_read(rows: List[Any]) -> None:
    assert float_rows(rows, ("a",)) is None


@needs_extension
def test_bad_arguments_are_errors() -> None:
    assert float_rows(iter([{"a": 1.0}]), ("a",)) is None  # another sequence: read by Python
    with pytest.raises(TypeError, match="keys must be a tuple"):
        float_rows([{"a": 1.0}], ["a"])
    with pytest.raises(TypeError, match="unhashable"):
        float_rows([{"a": 1.0}], ([],))
    with pytest.raises(TypeError, match="exactly 2 arguments"):
        float_rows([{"a": 1.0}], ("a",), float)


@needs_extension
def test_a_list_changed_by_a_lookup_is_declined_not_read_past_its_end() -> None:
    rows: List[Any] = [{"a": 1.0}, {"a": 2.0}, {"a": 3.0}]

    class Key(str):
        """Equal to "a", and empties the rows whenever a dict compares with it."""

        def __hash__(self) -> int:
            return hash("a")

        def __eq__(self, other: Any) -> bool:
            rows.clear()
            return other == "a"

    assert float_rows(rows, (Key("z"),)) is None and rows == []


@needs_extension
def test_a_list_grown_while_its_last_row_is_read_is_declined() -> None:
    rows: List[Any] = []

    class Key(str):
        """Equal to "a"; the first comparison appends a row."""

        def __hash__(self) -> int:
            return hash("a")

        def __eq__(self, other: Any) -> bool:
            if len(rows) == 1:
                rows.append({"a": 9.0})
            return other == "a"

    rows.append({"a": 1.0})
    assert float_rows(rows, (Key("z"),)) is None and len(rows) == 2


def test_tables_of_dicts_are_read_by_the_extension_where_it_is_built(monkeypatch: Any) -> None:
    if float_rows is None:
        pytest.skip("the C extension was not built")
    calls = []

    def spy(rows: Any, keys: tuple) -> Any:
        read = float_rows(rows, keys)
        calls.append((keys, read is not None))
        return read

    monkeypatch.setattr(record_table, "_c_float_rows", spy)
    table = RecordTable.from_rows([{"a": float(i), "b": 2.0 * i, "c": -1.0} for i in range(5)])
    np.testing.assert_array_equal(table.float_matrix(["b", "a"])[:, 0], [0, 2, 4, 6, 8])
    assert table.column("c")[2] == -1.0
    assert calls == [(("b", "a"), True), (("c",), True)]
    calls.clear()
    numpy_rows = RecordTable.from_rows([{"a": np.float64(i), "b": float(i)} for i in range(3)])  # from NumPy rows
    np.testing.assert_array_equal(numpy_rows.float_matrix(["a", "b"]), [[0, 0], [1, 1], [2, 2]])
    assert calls == [(("a", "b"), True)]


@pytest.fixture(params=["c", "python"])
def gather(request: Any, monkeypatch: Any) -> str:
    """Each table test runs with the C gather and without it."""
    if request.param == "c" and float_rows is None:
        pytest.skip("the C extension was not built")
    if request.param == "python":
        monkeypatch.setattr(record_table, "_c_float_rows", None)
    return request.param


def test_tables_of_dicts_read_alike_with_and_without_the_extension(gather: str) -> None:
    rows = [{"a": 0.25 * i, "b": float(i) ** 2, "n": i if i else 0.0, "t": f"r{i}"} for i in range(9)]
    table = RecordTable.from_rows(rows)
    matrix = table.float_matrix(["b", "a", "n"])
    np.testing.assert_array_equal(matrix, [[float(i) ** 2, 0.25 * i, i] for i in range(9)])
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(table.take([8, 2]).column("a"), [2.0, 0.5])
    b, n = RecordTable.from_rows(rows).columns(["b", "n"])  # gathered together
    np.testing.assert_array_equal(b, [float(i) ** 2 for i in range(9)])
    np.testing.assert_array_equal(n, range(9))
    assert table.float_matrix(["a", "t"]) is None  # text: column by column, as before


@pytest.mark.parametrize("value, error", [
    (None, None),
    ("2.5", None),
    ("oops", r"column 'a', record 5: 'oops' cannot become a number"),
])
def test_values_the_c_gather_declines_read_as_before(gather: str, value: Any, error: Any) -> None:
    rows = [{"a": float(i), "b": 1.0} for i in range(8)]
    rows[5]["a"] = value
    table = RecordTable.from_rows(rows)
    if error is not None:
        with pytest.raises(DataError, match=error):
            table.column("a")
        return
    column = table.column("a")
    assert column.dtype == np.float64 and column[4] == 4.0
    assert np.isnan(column[5]) if value is None else column[5] == 2.5
    assert RecordTable.from_rows(rows).float_matrix(["a", "b"]) is None  # read as columns, as a DataFrame's
