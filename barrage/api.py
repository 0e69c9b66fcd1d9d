"""What plugin authors import: the data API, the hook marker and the run context.

``from barrage.api import RecordLoader, RecordTransformer, RecordMode, hookimpl``.
"""

from barrage.context import RunContext
from barrage.dataset import (
    DataRecord,
    IdentityTransformer,
    KeySelector,
    Record,
    RecordLoader,
    RecordMode,
    Records,
    RecordScore,
    RecordTransformer,
    stack_data_records,
    unstack_data_record,
)
from barrage.hookspecs import hookimpl

__all__ = [
    "DataRecord",
    "IdentityTransformer",
    "KeySelector",
    "Record",
    "RecordLoader",
    "RecordMode",
    "RecordScore",
    "RecordTransformer",
    "Records",
    "RunContext",
    "hookimpl",
    "stack_data_records",
    "unstack_data_record",
]
