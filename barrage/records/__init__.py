"""Records: what users hand Barrage, read into memory or streamed from files.

Everywhere Barrage takes records it accepts a list of dicts, a pandas DataFrame, a
``RecordTable`` or ``RecordStream``, or the path of a ``.csv``, ``.json``, ``.jsonl`` or
``.parquet`` file (for Parquet also a folder of files or a glob). In memory they are a
:class:`~barrage.records.table.RecordTable` (columns, converted once); a file too large
to hold comfortably is a :class:`~barrage.records.files.RecordStream`, read chunk by
chunk (see :func:`open_records`).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Optional, Sequence, Union

import pandas as pd

from barrage.errors import DataError
from barrage.records.files import CHUNK_ROWS, SUPPORTED_EXTENSIONS, RecordStream, read_file
from barrage.records.table import RecordTable

__all__ = [
    "CHUNK_ROWS",
    "SUPPORTED_EXTENSIONS",
    "RecordStream",
    "RecordTable",
    "RecordsLike",
    "open_records",
    "read_records",
    "should_stream",
    "text_keys_of",
]

RecordsLike = Union[RecordTable, RecordStream, Sequence[Dict[str, Any]], pd.DataFrame, str, os.PathLike]


def read_records(source: RecordsLike, name: str = "records", text_keys: Iterable[str] = ()) -> RecordTable:
    """Records in memory: from a list of dicts, a DataFrame, a table or a file path (read
    whole). ``name`` names in-memory records in messages; ``text_keys`` are read as text
    (``dataset.text_keys``). An empty set is an error."""
    text_keys = frozenset(text_keys)
    if isinstance(source, RecordTable):
        table = source.with_text_keys(text_keys)
    elif isinstance(source, RecordStream):
        table = read_file(source.spec, source.text_keys | text_keys)
    elif isinstance(source, pd.DataFrame):
        table = RecordTable.from_frame(source, name, text_keys=text_keys)
    elif isinstance(source, (str, os.PathLike)):
        table = read_file(os.fspath(source), text_keys)
    elif isinstance(source, Sequence) and not isinstance(source, (bytes, str)):
        if not set(map(type, source)) <= {dict}:  # one C-level pass; then find the culprit
            for index, record in enumerate(source):
                if not isinstance(record, dict):
                    raise DataError(f"{name}: record {index} is a {type(record).__name__}, not a dict")
            # A dict subclass is read as the plain dict it holds: a defaultdict would invent
            # (and add to the caller's record) a value for a key it lacks.
            source = [record if type(record) is dict else dict(record) for record in source]  # type: ignore[arg-type]
        table = RecordTable.from_rows(source, name, text_keys=text_keys)  # type: ignore[arg-type]
    else:
        raise DataError(
            f"{name}: expected a list of dicts, a pandas DataFrame or a file path, got {type(source).__name__}"
        )
    if len(table) == 0:
        raise DataError(f"{table.origin}: no records")
    return table


def open_records(source: RecordsLike, name: str = "records", streaming: Any = "auto",
                 text_keys: Iterable[str] = ()) -> "RecordTable | RecordStream":
    """The records as a table, or as a stream when ``streaming`` is ``True``, or
    ``"auto"`` and :func:`should_stream` says the file is too large to hold comfortably.
    Only files stream; records already in memory are a table. ``text_keys`` are read as
    text."""
    if isinstance(source, RecordStream):
        stream: Optional[RecordStream] = source.with_text_keys(text_keys)
    elif isinstance(source, (str, os.PathLike)) and streaming is not False:
        path = os.fspath(source)
        candidate = RecordStream(path, text_keys=text_keys) if not path.lower().endswith(".json") else None
        stream = candidate if candidate is not None and (streaming is True or should_stream(candidate)) else None
    else:
        stream = None
    if stream is None:
        return read_records(source, name, text_keys)
    if len(stream) == 0:
        raise DataError(f"{stream.origin}: no records")
    return stream


def text_keys_of(config: Dict[str, Any]) -> frozenset:
    """The keys a config declares text (``dataset.text_keys``); none in a config saved
    before they could be declared."""
    return frozenset(config.get("dataset", {}).get("text_keys") or ())


def should_stream(stream: RecordStream) -> bool:
    """The ``"auto"`` rule: stream when the records would take more than a quarter of the
    machine's memory (Parquet: twice its uncompressed size; text files: three times their
    size on disk)."""
    return stream.estimated_bytes() > physical_memory() // 4


def physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a modest machine
        return 8 * 2**30
