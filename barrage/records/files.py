"""Reading records from files: whole, into memory, or chunk by chunk, as a stream.

Formats: ``.csv`` (pandas), ``.parquet`` (pyarrow; a file, a folder of files or a glob),
``.jsonl`` (one object a line; read column-wise by pyarrow, with Python's reader as the
fallback that names a bad line) and ``.json`` (one array of objects, read whole).

A :class:`RecordStream` reads a file in chunks of at most ``chunk_rows`` records, each an
in-memory :class:`~barrage.records.table.RecordTable` whose records keep their numbers in
the file, so memory does not grow with the file. It is split into *fragments* (Parquet
row groups, blocks of JSON lines, whole CSV files) that training may visit in a shuffled
order, and it can be restricted to a contiguous range of records (a shard).

Keys declared text (``text_keys``) are read from a CSV file as text, so codes keep their
leading zeros (``007``); every table read carries them (see
:class:`~barrage.records.table.RecordTable`).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from typing import AbstractSet, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import attrs
import numpy as np
import pandas as pd

from barrage.errors import DataError
from barrage.records.table import RecordTable, as_text, check_shard, shard_bounds

SUPPORTED_EXTENSIONS = (".csv", ".json", ".jsonl", ".parquet")
CHUNK_ROWS = 65536  # records per chunk of a stream


# -- locating --------------------------------------------------------------------------


def source_paths(spec: str) -> Tuple[str, List[str]]:
    """The format (extension) and the files of a source: a file, a folder of Parquet
    files, or a glob pattern."""
    if glob.has_magic(spec):
        paths = sorted(glob.glob(spec))
        if not paths:
            raise DataError(f"{spec}: no file matches")
    elif os.path.isdir(spec):
        paths = sorted(os.path.join(spec, name) for name in os.listdir(spec) if name.lower().endswith(".parquet"))
        if not paths:
            raise DataError(f"{spec}: a folder without .parquet files")
    else:
        paths = [spec]
    extensions = {os.path.splitext(path)[1].lower() for path in paths}
    extension = extensions.pop() if len(extensions) == 1 else ""
    if extension not in SUPPORTED_EXTENSIONS:
        found = ", ".join(sorted(extensions | {extension})) or "(none)"
        raise DataError(f"{spec}: unsupported file type '{found}'; supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    if len(paths) > 1 and extension != ".parquet":
        raise DataError(f"{spec}: several files are read together only for Parquet")
    for path in paths:
        if not os.path.isfile(path):
            raise DataError(f"{path}: no such file")
    return extension, paths


# -- reading whole files -----------------------------------------------------------------


def read_file(spec: str, text_keys: Iterable[str] = ()) -> RecordTable:
    """Every record of a file (or Parquet folder or glob) in memory, ``text_keys`` read
    as text."""
    extension, paths = source_paths(spec)
    with _readable(spec):
        if extension == ".csv":
            _refuse_repeated_columns(paths[0])
            frame = pd.read_csv(paths[0], **_csv_text_options(paths[0], text_keys))
            return RecordTable.from_frame(frame, spec, text_keys=text_keys)
        if extension == ".parquet":
            return RecordTable.from_frame(_parquet_frame(paths, text_keys), spec, text_keys=text_keys)
        if extension == ".jsonl":
            with open(paths[0], "rb") as handle:
                return _json_lines_table(handle.read(), spec, first_record=0, first_line=1, text_keys=text_keys)
        return RecordTable.from_rows(_json_array(paths[0]), spec, text_keys=text_keys)
    raise AssertionError("unreachable: _readable re-raises every error")  # pragma: no cover


# What pandas reads as missing in a CSV cell by default (its documented list).
_PANDAS_MISSING = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                   "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def _csv_text_options(path: str, text_keys: Iterable[str]) -> Dict[str, Any]:
    """``read_csv`` options that read the columns declared text as written: as text
    (``007`` keeps its zeros), and missing only when the cell is empty (``NA`` is a
    country code, not pandas' "missing"); other columns are read as always (the
    missing markers are given per column, by the names pandas gives the columns)."""
    text_keys = set(text_keys)
    if not text_keys:
        return {}
    columns = [str(column) for column in pd.read_csv(path, nrows=0).columns]
    texts = text_keys.intersection(columns)
    if not texts:
        return {}
    return {"dtype": {key: str for key in texts}, "keep_default_na": False,
            "na_values": {column: [""] if column in texts else _PANDAS_MISSING for column in columns}}


def _refuse_repeated_columns(path: str) -> None:
    """A CSV header naming a column twice is refused: pandas would rename the second
    (``label.1``), which then reads as another column (a target's copy as a feature)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # reading the file says what is wrong with it
    seen: Dict[str, int] = {}
    for index, name in enumerate(header):
        if name in seen:
            raise DataError(f"{path}: the header names the column '{name}' twice (columns {seen[name] + 1} and "
                            f"{index + 1}); give each column its own name")
        seen[name] = index


def _parquet_frame(paths: Sequence[str], text_keys: Iterable[str] = ()) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in paths:
        with _readable(path):  # names the damaged file of a folder
            tables.append(_text_columns(pq.ParquetFile(path, pre_buffer=False).read(), text_keys, path))
    if len(tables) == 1:
        return tables[0].to_pandas()
    # files written at different times may differ a little (a column missing from one, a
    # float32 where others hold float64): promoted as a stream would read them, one by one
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()


class _readable:
    """Turns the ways a file can be unreadable into one ``DataError`` naming it."""

    def __init__(self, spec: str):
        self.spec = spec

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, traceback: Any) -> None:
        if exc is None or isinstance(exc, DataError):
            return
        if isinstance(exc, pd.errors.EmptyDataError):
            raise DataError(f"{self.spec}: no records") from None
        reason = " ".join(str(exc).split())  # one line, even from a reader that explains in several
        if isinstance(exc, (pd.errors.ParserError, ValueError, OSError, UnicodeDecodeError)):
            raise DataError(f"{self.spec}: cannot be read: {reason}") from None
        if isinstance(exc, Exception):  # pyarrow and friends raise their own types
            raise DataError(f"{self.spec}: cannot be read: {type(exc).__name__}: {reason}") from None


def _json_array(path: str) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of objects, got a JSON {type(data).__name__}")
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {index} is not a JSON object")
    return data


def _json_lines_table(data: bytes, origin: str, first_record: int, first_line: int,
                      text_keys: Iterable[str] = ()) -> RecordTable:
    """JSON lines read column-wise by pyarrow; Python's reader when pyarrow refuses them
    (mixed types in a column, a bad line: it names the line). A key declared text that
    pyarrow read as anything but text or integers (dates it turned into timestamps,
    floats) is read line by line too, as written."""
    import pyarrow.json as pj

    text_keys = frozenset(text_keys)
    try:
        table = pj.read_json(io.BytesIO(data))
        table.validate(full=True)  # pyarrow lets text that is not UTF-8 through
        kinds = [table.schema.field(key).type for key in text_keys.intersection(table.column_names)]
        if not all(_arrow_text(kind) or _arrow_integers(kind) for kind in kinds):
            raise ValueError("a key declared text that is not read as written")
        frame = _text_columns(table, text_keys, origin, first_record).to_pandas()
    except Exception:  # noqa: BLE001 - any refusal: read line by line, which says why
        return RecordTable.from_rows(_json_lines(data, origin, first_line), origin, first_record, text_keys)
    return RecordTable.from_frame(frame, origin, first_record, text_keys)


def _arrow_text(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind))


def _arrow_integers(kind: Any) -> bool:
    """Integers, or nothing but nulls: Arrow casts both to text exactly."""
    import pyarrow as pa

    return bool(pa.types.is_integer(kind) or pa.types.is_null(kind))


def _text_columns(table: Any, text_keys: Iterable[str], origin: str, offset: int = 0) -> Any:
    """An Arrow table with its columns declared text made text before pandas sees them:
    integers cast by Arrow (exact, where pandas would turn integers beside a missing
    value into floats), other kinds by :func:`~barrage.records.table.as_text`; so files
    of a folder that hold a key as numbers in one and text in another concatenate. The
    pandas metadata a DataFrame wrote (``Int64``) is told of the change."""
    import pyarrow as pa

    cast = set()
    for key in sorted(set(text_keys) & set(table.column_names)):
        index = table.column_names.index(key)
        kind = table.schema.field(index).type
        if _arrow_text(kind):
            continue
        if _arrow_integers(kind):
            texts = table.column(index).cast(pa.string())
        else:
            texts = pa.array(list(as_text(key, table.column(index).to_pandas().to_numpy(), origin, offset)),
                             type=pa.string())
        table = table.set_column(index, key, texts)
        cast.add(key)
    metadata = table.schema.pandas_metadata if cast else None
    if metadata:
        for column in metadata.get("columns", []):
            if column.get("name") in cast:
                column.update(pandas_type="unicode", numpy_type="object", metadata=None)
        table = table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(metadata).encode()})
    return table


def _json_lines(data: bytes, origin: str, first_line: int) -> List[Dict[str, Any]]:
    records = []
    for number, raw in enumerate(data.split(b"\n"), start=first_line):  # lines as the file has them
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{origin}: line {number}: not UTF-8 text (byte {exc.start + 1} of the line)") from None
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{origin}: line {number}: invalid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise DataError(f"{origin}: line {number}: not a JSON object")
        records.append(record)
    return records


# -- streams ---------------------------------------------------------------------------


@attrs.frozen
class Fragment:
    """A part of a stream read as a unit: a Parquet row group, a block of JSON lines
    (``start`` and ``stop`` are byte offsets) or a whole CSV file."""

    path: str
    first_record: int
    rows: int
    row_group: Optional[int] = None
    start: int = 0
    stop: int = 0
    first_line: int = 1


class RecordStream:
    """The records of a file read chunk by chunk (see the module docstring).

    ``rows`` restricts the stream to the records ``[start, stop)`` (a shard);
    ``text_keys`` are read as text.
    """

    def __init__(self, spec: str, rows: Optional[Tuple[int, int]] = None, text_keys: Iterable[str] = ()):
        self.spec = spec
        self.format, self.paths = source_paths(spec)
        if self.format == ".json":
            raise DataError(f"{spec}: a .json array cannot be streamed; use .jsonl, .csv or .parquet")
        self.rows = rows
        self.text_keys: AbstractSet[str] = frozenset(text_keys)
        self._fragments: Optional[List[Fragment]] = None

    def with_text_keys(self, keys: Iterable[str]) -> "RecordStream":
        """The same records with ``keys`` also read as text."""
        keys = frozenset(keys)
        if keys <= self.text_keys:
            return self
        stream = RecordStream(self.spec, self.rows, self.text_keys | keys)
        stream._fragments = self._fragments
        return stream

    @property
    def origin(self) -> str:
        return self.spec

    def fragments(self) -> List[Fragment]:
        """The fragments, in file order (each with its first record number and size)."""
        if self._fragments is None:
            self._fragments = _FRAGMENTERS[self.format](self.paths)
        return self._fragments

    def total(self) -> int:
        """Records in the whole file(s), shard or not."""
        return sum(fragment.rows for fragment in self.fragments())

    def __len__(self) -> int:
        start, stop = self.rows or (0, self.total())
        return max(0, min(stop, self.total()) - start)

    def shard(self, index: int, count: int) -> "RecordStream":
        """Shard ``index`` (from 0) of ``count`` contiguous blocks: whole Parquet row groups
        when there are enough of them, else equal ranges of records. Shards in order hold
        every record once, in file order."""
        check_shard(index, count)
        total = self.total()
        bounds = shard_bounds(total, count)
        edges = np.cumsum([0] + [f.rows for f in self.fragments()])
        if len(self.fragments()) >= count:  # move each bound to the nearest row-group edge ...
            snapped = [int(edges[np.argmin(np.abs(edges - bound))]) for bound in bounds]
            if all(low < high for low, high in zip(snapped, snapped[1:])):  # ... unless a shard would be empty
                bounds = snapped
        return RecordStream(self.spec, (bounds[index], bounds[index + 1]), self.text_keys)

    def chunks(self, chunk_rows: Optional[int] = None, order: Optional[Sequence[int]] = None,
               columns: Optional[Sequence[str]] = None) -> Iterator[RecordTable]:
        """In-memory tables of at most ``chunk_rows`` records: the fragments in ``order``
        (file order by default), only the records of the stream's range, and only
        ``columns`` when given (to read a single column cheaply)."""
        start, stop = self.rows or (0, self.total())
        chunk_rows = chunk_rows or CHUNK_ROWS
        fragments = self.fragments()
        for number in (range(len(fragments)) if order is None else order):
            fragment = fragments[number]
            if fragment.first_record + fragment.rows <= start or fragment.first_record >= stop:
                continue
            for chunk in _READERS[self.format](self, fragment, chunk_rows, columns):
                if chunk.offset >= stop:
                    break
                clipped = _clip(chunk, start, stop)
                if len(clipped):
                    yield clipped

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        """Record by record (for transformers whose ``fit`` iterates records)."""
        for chunk in self.chunks():
            yield from chunk

    def estimated_bytes(self) -> int:
        """About how much memory the records would take if read whole."""
        if self.format == ".parquet":
            import pyarrow.parquet as pq

            total = 0
            for path in self.paths:
                with _readable(path):
                    metadata = pq.ParquetFile(path).metadata
                total += sum(metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups))
            return 2 * total
        return 3 * sum(os.path.getsize(path) for path in self.paths)


def _clip(chunk: RecordTable, start: int, stop: int) -> RecordTable:
    first = chunk.offset
    low, high = max(start - first, 0), min(stop - first, len(chunk))
    return chunk if (low, high) == (0, len(chunk)) else chunk.slice(low, high)


# -- per format: fragments and chunks ------------------------------------------------------


def _parquet_fragments(paths: Sequence[str]) -> List[Fragment]:
    import pyarrow.parquet as pq

    fragments, first = [], 0
    for path in paths:
        with _readable(path):
            metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            fragments.append(Fragment(path, first, rows, row_group=group))
            first += rows
    return fragments


def _parquet_chunks(stream: RecordStream, fragment: Fragment, chunk_rows: int,
                    columns: Optional[Sequence[str]]) -> Iterator[RecordTable]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = fragment.first_record
    with _readable(fragment.path):
        parquet = pq.ParquetFile(fragment.path, pre_buffer=False)  # flat memory, whatever the file's size
        for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[fragment.row_group],
                                          columns=list(columns) if columns else None):
            if stream.text_keys:
                batch = _text_columns(pa.Table.from_batches([batch]), stream.text_keys, stream.origin, first)
            yield RecordTable.from_frame(batch.to_pandas(), stream.origin, first, stream.text_keys)
            first += batch.num_rows


def _json_lines_fragments(paths: Sequence[str]) -> List[Fragment]:
    """Blocks of ``CHUNK_ROWS`` non-blank lines, found in one pass over the file."""
    fragments, records, line, block_start, block_line, block_first = [], 0, 0, 0, 1, 0
    path = paths[0]
    with open(path, "rb") as handle:
        position = 0
        for raw in handle:
            line += 1
            if raw.strip():
                records += 1
            position += len(raw)
            if records - block_first == CHUNK_ROWS:
                fragments.append(Fragment(path, block_first, CHUNK_ROWS, start=block_start, stop=position,
                                          first_line=block_line))
                block_start, block_line, block_first = position, line + 1, records
    if records > block_first:
        fragments.append(Fragment(path, block_first, records - block_first, start=block_start, stop=position,
                                  first_line=block_line))
    return fragments


def _json_lines_chunks(stream: RecordStream, fragment: Fragment, chunk_rows: int,
                       columns: Optional[Sequence[str]]) -> Iterator[RecordTable]:
    with open(fragment.path, "rb") as handle:
        handle.seek(fragment.start)
        data = handle.read(fragment.stop - fragment.start)
    with _readable(fragment.path):
        table = _json_lines_table(data, stream.origin, fragment.first_record, fragment.first_line, stream.text_keys)
    for start in range(0, len(table), chunk_rows):
        yield table.slice(start, start + chunk_rows)


def _csv_fragments(paths: Sequence[str]) -> List[Fragment]:
    with _readable(paths[0]):
        rows = sum(len(chunk) for chunk in pd.read_csv(paths[0], usecols=[0], chunksize=CHUNK_ROWS))
    return [Fragment(paths[0], 0, rows)]


def _csv_chunks(stream: RecordStream, fragment: Fragment, chunk_rows: int,
                columns: Optional[Sequence[str]]) -> Iterator[RecordTable]:
    start = stream.rows[0] if stream.rows else 0
    first = start
    to_skip = start  # counted in parsed records: blank lines and quoted line breaks are not records
    _refuse_repeated_columns(fragment.path)
    with _readable(fragment.path):
        reader = pd.read_csv(fragment.path, chunksize=chunk_rows, usecols=list(columns) if columns else None,
                             **_csv_text_options(fragment.path, stream.text_keys))
        for frame in reader:
            if to_skip:
                dropped = min(to_skip, len(frame))
                frame, to_skip = frame.iloc[dropped:].reset_index(drop=True), to_skip - dropped
                if frame.empty:
                    continue
            yield RecordTable.from_frame(frame, stream.origin, first, stream.text_keys)
            first += len(frame)


_FRAGMENTERS = {".parquet": _parquet_fragments, ".jsonl": _json_lines_fragments, ".csv": _csv_fragments}
_READERS = {".parquet": _parquet_chunks, ".jsonl": _json_lines_chunks, ".csv": _csv_chunks}
