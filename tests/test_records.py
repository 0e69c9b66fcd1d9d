"""Reading records (lists, DataFrames, files) and writing scores: barrage/records.py."""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Dict, List

import numpy as np
import pandas as pd
import pytest

from barrage.errors import DataError
from barrage.records import RecordTable, read_records
from barrage.scores import write_scores

ROWS: List[Dict[str, Any]] = [
    {"x": 1.5, "n": 3, "text": "a", "label": 0},
    {"x": -2.0, "n": 4, "text": "b", "label": 1},
    {"x": 0.25, "n": 5, "text": "c", "label": 1},
]


def write_text(path: Any, text: str) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)


def check_rows(table: RecordTable) -> None:
    """The three ROWS, whatever the source: records, columns and dtypes."""
    assert len(table) == 3
    assert [table[i]["x"] for i in range(3)] == [1.5, -2.0, 0.25]
    assert list(table)[1]["text"] == "b"
    np.testing.assert_allclose(table.column("x"), [1.5, -2.0, 0.25])
    assert table.column("n").dtype.kind in "iu"
    assert table.column("n").tolist() == [3, 4, 5]
    assert table.column("text").tolist() == ["a", "b", "c"]
    assert table.column("label").tolist() == [0, 1, 1]


# -- sources --------------------------------------------------------------------------


def test_list_of_dicts() -> None:
    table = read_records(ROWS)
    check_rows(table)
    assert not table.is_columnar
    table[0]["x"] = 99.0  # a record handed out is a copy: the caller's data is untouched
    assert ROWS[0]["x"] == 1.5


def test_dataframe_is_read_as_columns() -> None:
    frame = pd.DataFrame(ROWS, index=[10, 20, 30])  # a non-default index must not matter
    table = read_records(frame)
    check_rows(table)
    assert table.is_columnar
    assert table[-1]["x"] == 0.25
    assert isinstance(table[0]["n"], int)  # numpy scalars become plain Python values


@pytest.mark.parametrize("extension", [".csv", ".json", ".jsonl", ".parquet"])
def test_files(tmp_path: Any, extension: str) -> None:
    path = tmp_path / f"records{extension}"
    if extension == ".csv":
        pd.DataFrame(ROWS).to_csv(path, index=False)
    elif extension == ".json":
        write_text(path, json.dumps(ROWS))
    elif extension == ".jsonl":
        write_text(path, "".join(json.dumps(row) + "\n" for row in ROWS) + "\n")  # a blank last line
    else:
        pd.DataFrame(ROWS).to_parquet(path)
    table = read_records(str(path))
    check_rows(table)
    assert table.origin == str(path)


def test_path_like_and_upper_case_extension(tmp_path: Any) -> None:
    path = tmp_path / "records.JSONL"
    write_text(path, "\n".join(json.dumps(row) for row in ROWS))
    check_rows(read_records(path))


def test_slice_and_take() -> None:
    for source in (ROWS, pd.DataFrame(ROWS)):
        table = read_records(source)
        assert [r["n"] for r in table.slice(1, 3)] == [4, 5]
        assert [r["n"] for r in table.take([2, 0, 2])] == [5, 3, 5]
        assert table.take([2, 0]).column("x").tolist() == [0.25, 1.5]


def test_vector_values_become_one_array() -> None:
    table = read_records([{"v": [1, 2]}, {"v": [3, 4]}, {"v": np.array([5, 6])}])
    np.testing.assert_array_equal(table.column("v"), [[1, 2], [3, 4], [5, 6]])


# -- malformed files ------------------------------------------------------------------


def test_jsonl_bad_line_names_file_and_line(tmp_path: Any) -> None:
    path = write_text(tmp_path / "bad.jsonl", '{"x": 1}\n{"x": 2}\n{"x": 3,,}\n{"x": 4}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 3: invalid JSON"):
        read_records(path)


def test_jsonl_text_that_is_not_utf8_names_the_line_read_whole_or_streamed(tmp_path: Any) -> None:
    """pyarrow reads such bytes into a string column without complaint (and fails later,
    naming nothing); the line is named instead, counted by the file's own line breaks
    (U+2028 in a string is not one)."""
    from barrage.records import RecordStream

    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"id": "a\xe2\x80\xa8b", "x": 1}\n\n{"id": "b", "x": 2}\n{"id": "caf\xe9", "x": 3}\n')
    with pytest.raises(DataError, match=r"latin1\.jsonl: line 4: not UTF-8 text \(byte 12 of the line\)"):
        read_records(str(path))
    with pytest.raises(DataError, match=r"latin1\.jsonl: line 4: not UTF-8 text"):
        list(RecordStream(str(path)).chunks())


def test_jsonl_line_that_is_not_an_object(tmp_path: Any) -> None:
    path = write_text(tmp_path / "list.jsonl", '{"x": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"list\.jsonl: line 2: not a JSON object"):
        read_records(path)


def test_json_that_is_not_an_array(tmp_path: Any) -> None:
    path = write_text(tmp_path / "object.json", json.dumps({"x": [1, 2]}))
    with pytest.raises(DataError, match=r"object\.json: expected a JSON array of objects, got a JSON dict"):
        read_records(path)


def test_json_record_that_is_not_an_object(tmp_path: Any) -> None:
    path = write_text(tmp_path / "mixed.json", json.dumps([{"x": 1}, {"x": 2}, 3]))
    with pytest.raises(DataError, match=r"mixed\.json: record 2 is not a JSON object"):
        read_records(path)


def test_json_syntax_error_names_the_line(tmp_path: Any) -> None:
    path = write_text(tmp_path / "broken.json", '[\n  {"x": 1},\n  {"x": }\n]\n')
    with pytest.raises(DataError, match=r"broken\.json: invalid JSON at line 3"):
        read_records(path)


def test_csv_with_a_ragged_row_names_the_line(tmp_path: Any) -> None:
    path = write_text(tmp_path / "ragged.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match=r"ragged\.csv: cannot be read: .*line 3"):
        read_records(path)


def test_corrupt_parquet(tmp_path: Any) -> None:
    path = write_text(tmp_path / "corrupt.parquet", "this is not parquet")
    with pytest.raises(DataError, match=r"corrupt\.parquet: cannot be read"):
        read_records(path)


def test_list_entry_that_is_not_a_dict() -> None:
    with pytest.raises(DataError, match=r"training records: record 1 is a list, not a dict"):
        read_records([{"x": 1}, [1, 2]], "training records")


def test_unsupported_source_type() -> None:
    with pytest.raises(DataError, match="expected a list of dicts, a pandas DataFrame or a file path, got int"):
        read_records(42)


# -- empty, unknown, missing ----------------------------------------------------------


@pytest.mark.parametrize(
    "name, text",
    [("empty.jsonl", ""), ("blank.jsonl", "\n\n"), ("empty.json", "[]"), ("empty.csv", ""), ("header.csv", "a,b\n")],
)
def test_empty_files_are_errors(tmp_path: Any, name: str, text: str) -> None:
    path = write_text(tmp_path / name, text)
    with pytest.raises(DataError, match=rf"{name.replace('.', '[.]')}: no records"):
        read_records(path)


def test_empty_in_memory_sources_are_errors() -> None:
    with pytest.raises(DataError, match="validation records: no records"):
        read_records([], "validation records")
    with pytest.raises(DataError, match="no records"):
        read_records(pd.DataFrame({"x": []}))


def test_unknown_extension_lists_the_supported_ones(tmp_path: Any) -> None:
    path = write_text(tmp_path / "records.txt", "x\n1\n")
    with pytest.raises(DataError) as info:
        read_records(path)
    message = str(info.value)
    assert "records.txt" in message and "'.txt'" in message
    for extension in (".csv", ".json", ".jsonl", ".parquet"):
        assert extension in message


def test_missing_file(tmp_path: Any) -> None:
    with pytest.raises(DataError, match=r"nowhere\.csv: no such file"):
        read_records(str(tmp_path / "nowhere.csv"))


# -- bad values -----------------------------------------------------------------------


def test_missing_key_names_record_and_key() -> None:
    table = read_records([{"x": 1}, {"x": 2}, {"y": 3}], "training records")
    with pytest.raises(DataError, match=r"training records: record 2: missing key 'x'"):
        table.column("x")


def test_missing_column_in_a_dataframe_names_the_key() -> None:
    table = read_records(pd.DataFrame({"x": [1, 2]}), "scoring records")
    with pytest.raises(DataError, match=r"scoring records: record 0: missing key 'y'"):
        table.column("y")


def test_value_that_cannot_become_a_number_names_column_and_index() -> None:
    rows = [{"x": 1.0}, {"x": 2.0}, {"x": 3}, {"x": "oops"}, {"x": 5.0}]
    with pytest.raises(DataError, match=r"column 'x', record 3: 'oops' cannot become a number"):
        read_records(rows).column("x")


def test_csv_value_that_cannot_become_a_number(tmp_path: Any) -> None:
    path = write_text(tmp_path / "typo.csv", "x,y\n1,a\n2,b\nthree,c\n4,d\n")
    table = read_records(path)
    assert table.column("y").tolist() == ["a", "b", "c", "d"]  # a text column stays text
    with pytest.raises(DataError, match=r"typo\.csv: column 'x', record 2: 'three' cannot become a number"):
        table.column("x")


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Any) -> None:
    path = write_text(tmp_path / "twice.csv", "\ufeffx,label,y,label\n1,0,2,1\n")
    with pytest.raises(DataError, match=r"twice\.csv: the header names the column 'label' twice \(columns 2 and 4\)"):
        read_records(path)
    from barrage.records import open_records

    stream = open_records(path, "scoring records", streaming=True)
    with pytest.raises(DataError, match="names the column 'label' twice"):
        next(iter(stream.chunks()))


def test_columns_gathered_together_read_as_each_column_alone() -> None:
    """Floats of several keys are gathered in one pass over the dicts; anything that pass
    cannot take (a missing key, text, None) still reads, or fails, as one column does."""
    rows = [{"a": 0.5 * i, "b": float(i), "c": -1.0, "t": f"r{i}"} for i in range(6)]
    together = read_records(rows).columns(["a", "b", "c"])
    for key, values in zip("abc", together):
        np.testing.assert_array_equal(values, read_records(rows).column(key))
        assert values.dtype == np.float64 and values.flags["C_CONTIGUOUS"]
    assert read_records(rows).columns(["a", "t"])[1].tolist() == [f"r{i}" for i in range(6)]
    with_none = [dict(row) for row in rows]
    with_none[4]["b"] = None
    assert np.isnan(read_records(with_none).columns(["a", "b"])[1][4])
    with_text = [dict(row) for row in rows]
    with_text[3]["a"] = "oops"
    with pytest.raises(DataError, match=r"column 'a', record 3: 'oops' cannot become a number"):
        read_records(with_text).columns(["a", "b"])
    without = [dict(row) for row in rows]
    del without[5]["c"]
    with pytest.raises(DataError, match=r"record 5: missing key 'c'"):
        read_records(without, "training records").columns(["a", "c"])


def test_float_matrix_of_dicts_is_the_columns_side_by_side() -> None:
    """Dicts of floats are read row by row into one matrix, equal to their columns
    stacked; a slice or selection of the table is the same rows of it; a key the matrix
    holds still reads as a column."""
    rows = [{"a": 0.5 * i, "b": float(i) ** 2, "c": -1.0 * i, "t": f"r{i}"} for i in range(7)]
    table = read_records(rows)
    matrix = table.float_matrix(["c", "a", "b"])
    assert matrix is not None and matrix.shape == (7, 3) and matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, np.stack([read_records(rows).column(k) for k in "cab"], axis=1))
    matrix[0, 0] = 99.0  # the caller's own matrix: changing it changes no later read
    assert table.float_matrix(["c", "a", "b"])[0, 0] == 0.0 and table.slice(0, 2).float_matrix(["c", "a"])[0, 0] == 0
    assert table.column("c")[0] == 0.0
    np.testing.assert_array_equal(table.slice(2, 5).float_matrix(["c", "a", "b"]), matrix[2:5])
    np.testing.assert_array_equal(table.take([6, 1]).float_matrix(["c", "a", "b"]), matrix[[6, 1]])
    np.testing.assert_array_equal(table.column("b"), [float(i) ** 2 for i in range(7)])
    assert table.float_matrix(["a", "t"]) is None  # text: read column by column
    assert table.float_matrix(["a"]) is None and table.float_matrix(["a", "a"]) is None
    assert read_records(pd.DataFrame(rows)).float_matrix(["a", "b"]) is None  # a frame has its columns


class CountedRows(list):
    """A list of dicts that counts the passes over it."""

    count = 0

    def __iter__(self) -> Any:
        self.count += 1
        return super().__iter__()


@pytest.mark.parametrize("value, error", [
    (None, None),  # missing: NaN, refused later where the loader names it
    ("oops", r"column 'b', record 4: 'oops' cannot become a number"),
    (10 ** 400, r"column 'b', record 4: 1000.*\.\.\..*0 cannot become a number"),
])
def test_a_value_the_matrix_cannot_take_reads_as_its_column_does(value: Any, error: Any) -> None:
    from barrage.dataset import KeySelector, RecordMode

    rows = [{"a": 0.5 * i, "b": float(i)} for i in range(6)]
    rows[4]["b"] = value
    loader = KeySelector(RecordMode.SCORE, inputs={"x": ["a", "b"]})
    if error is None:
        passes = CountedRows(rows)
        table = RecordTable.from_rows(passes)
        assert table.float_matrix(["a", "b"]) is None and passes.count == 1  # packing stops at the None
        assert table.float_matrix(["a", "b"]) is None and passes.count == 1  # known to fail: not tried again
        assert np.isnan(loader.load_columns(table)[0]["x"][4, 1])  # read column by column, as a DataFrame's
        return
    with pytest.raises(DataError, match=error):
        loader.load_columns(read_records(rows))


def test_numbers_written_as_text_become_numbers() -> None:
    column = read_records([{"x": "1.5"}, {"x": 2}, {"x": None}]).column("x")
    assert column.dtype.kind == "f"
    np.testing.assert_allclose(column[:2], [1.5, 2.0])
    assert np.isnan(column[2])


def test_vectors_of_different_lengths_name_key_and_record() -> None:
    rows = [{"v": [1, 2]}, {"v": [3, 4]}, {"v": [5, 6, 7]}]
    with pytest.raises(DataError, match=r"key 'v' has shape \(3,\) in record 2 but \(2,\) in record 0"):
        read_records(rows).column("v")


def test_vectors_of_different_lengths_in_a_dataframe() -> None:
    frame = pd.DataFrame({"v": [[1.0, 2.0], [3.0], [4.0, 5.0]]})
    with pytest.raises(DataError, match=r"key 'v' has shape \(1,\) in record 1"):
        read_records(frame).column("v")


# -- writing scores -------------------------------------------------------------------

SCORES = [
    {"p": np.array([0.25, 0.75], dtype=np.float32), "value": np.float32(1.5)},
    {"p": np.array([0.5, 0.5], dtype=np.float32), "value": np.float32(-2.0)},
]


def test_write_json(tmp_path: Any) -> None:
    path = str(tmp_path / "scores.json")
    write_scores(SCORES, path)
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == [{"p": [0.25, 0.75], "value": 1.5}, {"p": [0.5, 0.5], "value": -2.0}]


def test_write_jsonl(tmp_path: Any) -> None:
    path = str(tmp_path / "scores.jsonl")
    write_scores(SCORES, path)
    with open(path, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    assert lines == [{"p": [0.25, 0.75], "value": 1.5}, {"p": [0.5, 0.5], "value": -2.0}]


def test_write_csv_spreads_vectors_over_columns(tmp_path: Any) -> None:
    path = str(tmp_path / "scores.csv")
    write_scores(SCORES, path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["p_0", "p_1", "value"]
    assert [{k: float(v) for k, v in row.items()} for row in rows] == [
        {"p_0": 0.25, "p_1": 0.75, "value": 1.5},
        {"p_0": 0.5, "p_1": 0.5, "value": -2.0},
    ]


def test_written_scores_read_back_as_records(tmp_path: Any) -> None:
    path = str(tmp_path / "scores.jsonl")
    write_scores(SCORES, path)
    np.testing.assert_allclose(read_records(path).column("p"), [[0.25, 0.75], [0.5, 0.5]])


def test_write_refuses_to_overwrite(tmp_path: Any) -> None:
    path = write_text(tmp_path / "scores.json", "keep me")
    with pytest.raises(DataError, match=r"scores\.json: already exists; remove it or pass --overwrite "
                                        r"\(overwrite=True in Python\)$"):  # says how, from either side
        write_scores(SCORES, path)
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == "keep me"
    write_scores(SCORES, path, overwrite=True)
    with open(path, encoding="utf-8") as handle:
        assert len(json.load(handle)) == 2
    assert [name for name in os.listdir(tmp_path) if name.startswith(".tmp")] == []


def test_write_unsupported_extension(tmp_path: Any) -> None:
    with pytest.raises(DataError, match=r"unsupported output type '\.xlsx'"):
        write_scores(SCORES, str(tmp_path / "scores.xlsx"))
    assert os.listdir(tmp_path) == []


def test_chunks_of_a_selection_keep_its_records_and_order() -> None:
    rows = [{"n": float(i)} for i in range(12)]
    for table in (read_records(rows), read_records(rows).take([0, 5, 1, 3, 4, 6, 7, 8]),
                  read_records(pd.DataFrame(rows)).take([11, 2, 3])):
        chunks = list(table.chunks(3))
        assert [n for chunk in chunks for n in chunk.column("n")] == list(table.column("n"))
        assert [number for chunk in chunks for number in chunk.record_numbers(np.arange(len(chunk)))] == \
            list(table.record_numbers(np.arange(len(table))))


# -- keys declared text (dataset.text_keys) ------------------------------------------------

CODES = [{"code": "007", "n": 1}, {"code": 7, "n": 2}, {"code": 7.0, "n": 3}, {"code": None, "n": 4},
         {"code": 2.5, "n": 5}, {"code": True, "n": 6}, {"code": "X7", "n": 7}]
CODES_AS_TEXT = ["007", "7", "7", None, "2.5", "True", "X7"]


def test_a_key_declared_text_is_text_in_its_column_and_its_records() -> None:
    table = read_records(CODES, text_keys=["code"])
    assert table.column("code").tolist() == CODES_AS_TEXT
    assert [record["code"] for record in table] == CODES_AS_TEXT
    assert table.column("n").tolist() == [1, 2, 3, 4, 5, 6, 7]  # other keys as before
    assert table.to_frame()["code"].tolist()[:3] == ["007", "7", "7"]
    # views of the table (slices, takes, chunks, shards) keep the declaration
    views = [table.slice(1, 3), table.take([2, 1]), next(table.chunks(2)), table.shard(0, 3)]
    assert [view.column("code").tolist() for view in views] == [["7", "7"], ["7", "7"], ["007", "7"], ["007", "7"]]
    assert table.raw_column("code").tolist() == CODES_AS_TEXT  # what --keep copies
    # without the declaration the same values are a mixed column, read by the majority rule
    with pytest.raises(DataError, match=r"^records: column 'code', record 6: 'X7' cannot become a number"):
        read_records(CODES).column("code")


def test_codes_that_became_floats_beside_a_missing_value_read_as_their_integers() -> None:
    frame = pd.DataFrame({"code": [101.0, np.nan, 102.0, 0.5], "count": np.array([3, 4, 5, 6], dtype=np.int64)})
    table = read_records(frame, text_keys=["code", "count"])
    assert table.column("code").tolist() == ["101", None, "102", "0.5"]
    assert table.column("count").tolist() == ["3", "4", "5", "6"]
    assert table[1] == {"code": None, "count": "4"}


def test_a_list_under_a_key_declared_text_is_refused_naming_the_record() -> None:
    rows = [{"code": "a"}, {"code": "b"}, {"code": ["c", "d"]}]
    message = r"^records: key 'code', record 2: a list cannot be text \(dataset\.text_keys\)$"
    with pytest.raises(DataError, match=message):
        read_records(rows, text_keys=["code"]).column("code")


def test_a_key_declared_text_is_never_gathered_into_a_float_matrix() -> None:
    rows = [{"a": float(i), "b": float(i) / 2} for i in range(4)]
    table = read_records(rows, text_keys=["b"])
    assert table.float_matrix(["a", "b"]) is None
    a, b = table.columns(["a", "b"])
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0] and b.tolist() == ["0", "0.5", "1", "1.5"]


@pytest.mark.parametrize("extension", [".csv", ".json", ".jsonl", ".parquet"])
def test_a_file_column_of_codes_is_refused_unless_declared_text_and_csv_keeps_leading_zeros(
        tmp_path: Any, extension: str) -> None:
    from barrage.records import RecordStream

    codes = ["101", "007", "102", "103", "X7", "104", "105"]
    frame = pd.DataFrame({"code": codes, "n": range(len(codes))})
    path = tmp_path / f"codes{extension}"
    if extension == ".csv":
        frame.to_csv(path, index=False)
    elif extension == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=extension == ".jsonl")
    with pytest.raises(DataError, match=r"column 'code', record 4: 'X7' cannot become a number "
                                        r"\(if 'code' holds codes or categories, not numbers, declare it in "
                                        r"dataset\.text_keys\)"):
        read_records(str(path)).column("code")
    assert read_records(str(path), text_keys=["code"]).column("code").tolist() == codes
    if extension != ".json":  # streamed, in chunks and shards
        stream = RecordStream(str(path), text_keys=["code"])
        assert [c for chunk in stream.chunks(3) for c in chunk.column("code")] == codes
        assert [c for chunk in stream.shard(1, 2).chunks() for c in chunk.column("code")] == codes[4:]
        assert [record["code"] for record in stream] == codes


def test_a_csv_column_of_digit_codes_keeps_its_zeros_only_when_declared_text(tmp_path: Any) -> None:
    path = write_text(tmp_path / "zip.csv", "zip,n\n00501,1\n10001,2\n")
    assert read_records(str(path)).column("zip").tolist() == [501, 10001]
    assert read_records(str(path), text_keys=["zip"]).column("zip").tolist() == ["00501", "10001"]


def test_columns_handed_out_cannot_be_changed_in_place_so_the_users_data_stays_as_given() -> None:
    """A column is shared by every view of a table and may be the DataFrame's own memory:
    a component that changed one in place would change the user's data and every later
    batch. Views (whole table, slices) are read-only; takes are the caller's copies."""
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "code": ["a", "b", "c"]})
    table = read_records(frame, text_keys=["code"])
    for values in (table.column("x"), table.slice(1, 3).column("x"), table.raw_column("x"), table.column("code")):
        with pytest.raises(ValueError, match="read-only"):
            values[0] = values[1]
    taken = table.take([2, 0]).column("x")
    taken[0] = 9.0
    assert frame["x"].tolist() == [1.0, 2.0, 3.0] and table.column("x").tolist() == [1.0, 2.0, 3.0]


def test_a_text_key_reads_as_given_where_pandas_or_pyarrow_would_reinterpret_it(tmp_path: Any) -> None:
    """Found by review: pandas took a CSV "NA" code as missing; a float first among
    dicts turned "007" into 7 in the column; pyarrow turned big integers beside a null
    into floats (wrong ids) and JSON date text into timestamps."""
    from barrage.records import RecordStream

    csv_path = write_text(tmp_path / "na.csv", "code,n\n007,NA\nNA,2\n,3\nnull,4\n")
    for table in (read_records(csv_path, text_keys=["code"]), *RecordStream(csv_path, text_keys=["code"]).chunks()):
        assert table.column("code").tolist() == ["007", "NA", None, "null"]
        assert np.isnan(table.column("n")[0])  # other columns keep pandas' missing values
    dicts = read_records([{"code": float("nan")}, {"code": "007"}, {"code": 1.5}], text_keys=["code"])
    assert dicts.column("code").tolist() == [None, "007", "1.5"] == [record["code"] for record in dicts]
    big = write_text(tmp_path / "big.jsonl", '{"id": 12345678901234567}\n{"id": null}\n{"id": 98765432109876543}\n')
    ids = ["12345678901234567", None, "98765432109876543"]
    assert read_records(big, text_keys=["id"]).column("id").tolist() == ids
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": pa.array([12345678901234567, None, 98765432109876543], pa.int64())}),
                   tmp_path / "arrow.parquet")
    pd.DataFrame({"id": pd.array([12345678901234567, None, 98765432109876543], dtype="Int64")}).to_parquet(
        tmp_path / "pandas.parquet")
    for name in ("arrow.parquet", "pandas.parquet"):
        path = str(tmp_path / name)
        assert read_records(path, text_keys=["id"]).column("id").tolist() == ids
        assert [i for chunk in RecordStream(path, text_keys=["id"]).chunks(2) for i in chunk.column("id")] == ids
    dates = write_text(tmp_path / "dates.jsonl", '{"id": "2024-03-01"}\n{"id": "2024-03-02"}\n')
    assert read_records(dates, text_keys=["id"]).column("id").tolist() == ["2024-03-01", "2024-03-02"]


def test_a_text_keys_column_and_its_records_agree_for_every_kind_of_value() -> None:
    frame = pd.DataFrame({"big": [1e20, 7.0, np.inf], "f32": np.array([0.1, 1.0, np.nan], dtype=np.float32),
                          "when": pd.to_datetime(["2020-01-01", None, "2021-06-30"])})
    table = read_records(frame, text_keys=["big", "f32", "when"])
    assert table.column("big").tolist() == ["1e+20", "7", "inf"]
    assert table.column("f32").tolist() == ["0.1", "1", None]
    assert table.column("when").tolist() == ["2020-01-01 00:00:00", None, "2021-06-30 00:00:00"]
    for key in ("big", "f32", "when"):
        assert [record[key] for record in table] == table.column(key).tolist()
    mixed = read_records([{"code": 1}, {"code": True}], text_keys=["code"])
    assert mixed.column("code").tolist() == ["1", "True"] == [record["code"] for record in mixed]


def test_a_parquet_folder_whose_files_hold_a_text_key_as_integers_and_as_text_reads_whole(tmp_path: Any) -> None:
    (tmp_path / "parts").mkdir()
    pd.DataFrame({"code": [101, 102]}).to_parquet(tmp_path / "parts" / "a.parquet")
    pd.DataFrame({"code": ["X7", "007"]}).to_parquet(tmp_path / "parts" / "b.parquet")
    table = read_records(str(tmp_path / "parts"), text_keys=["code"])
    assert table.column("code").tolist() == ["101", "102", "X7", "007"]


def test_a_key_declared_text_stacked_with_numbers_into_one_input_is_a_config_error() -> None:
    """Stacked with numbers, "007" was silently read back as the number 7."""
    from barrage.dataset import KeySelector, RecordMode
    from barrage.errors import ConfigError

    table = read_records([{"code": "007", "x": 1.5}, {"code": "101", "x": 2.5}], text_keys=["code"])
    loader = KeySelector(RecordMode.SCORE, inputs={"v": ["x", "code"]})
    with pytest.raises(ConfigError, match=r"dataset\.text_keys: \['code'\] are declared text but stacked with the "
                                          r"numbers of \['x'\] into one input"):
        loader.load_columns(table)
    both = KeySelector(RecordMode.SCORE, inputs={"v": ["code", "code"]}).load_columns(table)[0]["v"]
    assert both.tolist() == [["007", "007"], ["101", "101"]]  # text with text: one text vector


def test_text_keys_second_review_cases(tmp_path: Any) -> None:
    """A key declared text that a file lacks is not invented; a CSV with a blank first
    line or an unnamed column reads its other columns as always; a record lacking an
    optional text key reads although another has it; a Parquet folder holding a text
    key as integers, text and floats beside NaN reads whole as streamed."""
    from barrage.records import RecordStream

    lacking = write_text(tmp_path / "lacking.jsonl", '{"x": 1.0}\n{"x": 2.0}\n')
    assert read_records(lacking, text_keys=["code"]).keys() == ["x"]
    blank = write_text(tmp_path / "blank.csv", "\ncode,x\n007,1\nNA,NA\n")
    table = read_records(blank, text_keys=["code"])
    assert table.column("code").tolist() == ["007", "NA"] and np.isnan(table.column("x")[1])
    unnamed = write_text(tmp_path / "unnamed.csv", ",code,x\n1.5,007,1\n,A,2\nNA,B,3\n")
    table = read_records(unnamed, text_keys=["code"])
    assert np.isnan(table.column("Unnamed: 0")[1:]).all() and table.column("code").tolist() == ["007", "A", "B"]
    optional = read_records([{"code": "A1", "x": 1.0}, {"x": 2.0}], text_keys=["code"])
    assert optional[0] == {"code": "A1", "x": 1.0} and optional[1] == {"x": 2.0}
    (tmp_path / "parts").mkdir()
    pd.DataFrame({"code": [7, 8]}).to_parquet(tmp_path / "parts" / "a.parquet")
    pd.DataFrame({"code": ["X7", "009"]}).to_parquet(tmp_path / "parts" / "b.parquet")
    pd.DataFrame({"code": [7.0, np.nan]}).to_parquet(tmp_path / "parts" / "c.parquet")
    folder = str(tmp_path / "parts")
    expected = ["7", "8", "X7", "009", "7", None]
    assert read_records(folder, text_keys=["code"]).column("code").tolist() == expected
    assert [c for chunk in RecordStream(folder, text_keys=["code"]).chunks() for c in chunk.column("code")] == expected


@pytest.mark.parametrize("value", ["1_000", "nan", "\uff11\uff12", 1 + 2j])
def test_a_list_of_dicts_reads_odd_values_as_the_same_records_as_a_dataframe(value: Any) -> None:
    """``float()`` reads "1_000", "nan" and full-width digits, and packing or NumPy would
    follow it; a DataFrame's column does not: a list of dicts is read by the column's
    rules, wherever the value is. A complex number is refused, naming its record."""
    rows = [{"a": 0.5 * i, "b": float(i)} for i in range(30)]
    rows[17]["b"] = value
    messages = []
    for records in (rows, pd.DataFrame(rows)):
        with pytest.raises(DataError, match=r"column 'b', record 17: ") as raised:
            read_records(records).columns(["a", "b"])
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    if isinstance(value, complex):
        assert "(1+2j) is a complex number" in messages[0]


def test_a_column_of_complex_numbers_without_an_imaginary_part_is_refused_by_its_name() -> None:
    with pytest.raises(DataError, match=r"column 'b' holds complex numbers; Barrage reads real numbers"):
        read_records([{"b": 1.0}, {"b": 1 + 0j}]).column("b")


def test_a_defaultdict_record_lacking_a_key_is_refused_and_left_as_it_was() -> None:
    from collections import OrderedDict, defaultdict

    rows: List[Any] = [defaultdict(float, a=1.0, b=2.0) for _ in range(5)]
    del rows[3]["b"]
    with pytest.raises(DataError, match=r"record 3: missing key 'b'"):
        read_records(rows).columns(["a", "b"])
    assert dict(rows[3]) == {"a": 1.0}  # no value invented in the caller's record
    ordered = read_records([OrderedDict(a=1.0, b=2.0), {"b": 4.0, "a": 3.0}])
    np.testing.assert_array_equal(ordered.float_matrix(["a", "b"]), [[1.0, 2.0], [3.0, 4.0]])
