"""The module plugin authors import from: the data API, the hook marker, the run
context and the errors a component raises.

``from barrage.api import RecordLoader, RecordTransformer, RecordMode, hookimpl``.
Helpers a plugin may use on top (parameter checks, state files, a transformer base) are in
:mod:`barrage.plugin_kit`.

Everything here is also importable from ``barrage`` itself, whose public names are this
list plus the engine's (``BarrageModel``, ``prepare_config``, ``Runtime``, ``Policy``).
"""

from barrage.context import RunContext
from barrage.dataset import (
    PARTS,
    BatchDataRecords,
    BatchRecordScores,
    DataRecord,
    IdentityTransformer,
    InputRecords,
    KeySelector,
    LoaderOps,
    Record,
    RecordLoader,
    RecordMode,
    Records,
    RecordScore,
    RecordTransformer,
    ServingSpec,
    TransformerOps,
    stack_data_records,
    unstack_data_record,
)
from barrage.errors import (
    ArtifactError,
    BarrageError,
    ClusterError,
    ComponentError,
    ConfigError,
    DataError,
    PluginError,
    TrainingError,
)
from barrage.hookspecs import hookimpl

__all__ = [
    "PARTS",
    "ArtifactError",
    "BarrageError",
    "BatchDataRecords",
    "BatchRecordScores",
    "ClusterError",
    "ComponentError",
    "ConfigError",
    "DataError",
    "DataRecord",
    "IdentityTransformer",
    "InputRecords",
    "KeySelector",
    "LoaderOps",
    "PluginError",
    "Record",
    "RecordLoader",
    "RecordMode",
    "RecordScore",
    "RecordTransformer",
    "Records",
    "RunContext",
    "ServingSpec",
    "TrainingError",
    "TransformerOps",
    "hookimpl",
    "stack_data_records",
    "unstack_data_record",
]
