"""File helpers with the names and signatures of the original Barrage's ``io_utils``, so
transformers and scripts written for it keep working: ``save_json``, ``load_json`` and
``load_data``, each taking a file name and an optional folder.

The original's ``save_pickle`` and ``load_pickle`` are gone on purpose: Barrage stores no
pickles (loading one runs code), so a shared artifact directory cannot run code when it
is loaded. Save state as JSON instead; ``docs/migrating.md`` shows the one-line change.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import pandas as pd

from barrage.artifacts import atomic_writer, json_default, parse_json

__all__ = ["load_data", "load_json", "save_json"]


def save_json(obj: Any, filename: str, path: str = "") -> None:
    """Write ``obj`` as indented JSON (NumPy arrays and scalars included) to
    ``path/filename``, atomically."""
    with atomic_writer(os.path.join(path, filename)) as out:
        json.dump(obj, out, indent=2, sort_keys=True, default=json_default)
        out.write("\n")


def load_json(filename: str, path: str = "") -> Any:
    """The JSON value in ``path/filename`` (``NaN`` and ``Infinity`` are refused)."""
    with open(os.path.join(path, filename), encoding="utf-8") as handle:
        return parse_json(handle.read())


def load_data(filename: str, path: str = "", text_keys: Sequence[str] = ()) -> pd.DataFrame:
    """The records of ``path/filename`` (``.csv``, ``.json``, ``.jsonl`` or ``.parquet``)
    as a DataFrame, read the way ``barrage train`` reads them with a config whose
    ``dataset.text_keys`` are ``text_keys``."""
    from barrage.records import read_records

    return read_records(os.path.join(path, filename), text_keys=text_keys).to_frame()


def __getattr__(name: str) -> Any:
    if name in ("save_pickle", "load_pickle"):
        raise AttributeError(
            f"barrage.utils.io_utils.{name} was removed: Barrage stores no pickles (loading one runs code); "
            "use save_json/load_json (see docs/migrating.md)"
        )
    raise AttributeError(f"module 'barrage.utils.io_utils' has no attribute {name!r}")
