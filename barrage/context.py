"""The run context handed to lifecycle hooks."""

from __future__ import annotations

from typing import Any, Dict, Optional

import attrs

from barrage.dataset import RecordMode, RecordTransformer


@attrs.define
class RunContext:
    """One object per train or score run, shared by every lifecycle hook of that run.

    Attributes:
        config: the resolved config (defaults applied, each component with its source).
        artifact_dir: where the run's artifacts live.
        mode: ``RecordMode.TRAIN`` while training, ``RecordMode.SCORE`` while scoring.
        network: the ``keras.Model`` once it is built (``None`` before).
        transformer: the fitted or loaded transformer.
        extras: free space where plugins can leave values for their later hooks.
        is_chief: whether this process writes the artifact directory: always, except on
            the workers of a multi-worker run other than the chief, which train alike but
            whose files go to a private temporary directory. Plugins that log or upload
            should do so only on the chief.
    """

    config: Dict[str, Any]
    artifact_dir: str
    mode: RecordMode
    network: Optional[Any] = None
    transformer: Optional[RecordTransformer] = None
    extras: Dict[str, Any] = attrs.field(factory=dict)
    is_chief: bool = True
