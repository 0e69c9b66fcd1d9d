"""Two fixes to Keras's TensorFlow trainer that multi-worker training needs.

Under ``MultiWorkerMirroredStrategy``, Keras 3's ``model.fit`` fails with
``ValueError: Attempt to convert a value ({'...': PerReplica...}) with an unsupported type``
(keras-team/keras#20585, reported against Ray Train too). Two private functions of
``keras.src.backend.tensorflow.trainer`` are at fault:

1. ``TensorFlowTrainer._maybe_symbolic_build`` builds the model from the first
   distributed batch reduced with ``strategy.reduce("MEAN", batch, axis=None)``; the
   collective all-reduce strategy cannot reduce a nested structure. The build needs only
   shapes and dtypes: this worker's local value serves.
2. ``reduce_per_replica`` averages every logged value with ``strategy.reduce("MEAN", v,
   axis=0)`` under that strategy; a scalar (a loss, a metric) has no axis 0. Averaging it
   across replicas (``axis=None``) is what the other strategies do.

:func:`apply` installs both, only under multi-worker training, for the Keras versions
known to need them (:data:`NEEDED_FOR`). ``tests/test_distributed.py`` trains two plain
Keras workers without them and fails once a Keras release no longer needs them, so that
this module is dropped rather than kept out of habit.
"""

from __future__ import annotations

from typing import Any, Optional

from packaging.specifiers import SpecifierSet
from packaging.version import Version

NEEDED_FOR = SpecifierSet(">=3.0")  # narrow to "<3.x" once a release fixes keras-team/keras#20585
_APPLIED = False


def needed(keras_version: Optional[str] = None) -> bool:
    """Whether this Keras (the installed one by default) needs the fixes."""
    if keras_version is None:
        import keras

        keras_version = keras.__version__
    return Version(keras_version) in NEEDED_FOR


def apply() -> bool:
    """Install the two fixes (once) when this Keras needs them; whether they are in place."""
    global _APPLIED
    if _APPLIED or not needed():
        return _APPLIED
    from keras.src.backend.tensorflow import trainer

    for name in ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer"):
        if not hasattr(trainer, name):  # a refactored trainer: the fixes no longer fit it
            raise RuntimeError(
                f"Keras's TensorFlow trainer has no '{name}': Barrage's multi-worker fixes do not apply to this "
                "Keras; please report it"
            )
    from keras.src import tree

    original = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _APPLIED = True
    return True


def _maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
    """Keras's method, building from this worker's value of the first batch."""
    import tensorflow as tf
    from keras.src import tree

    if self._distribute_strategy is None:  # as Keras: no strategy, build when traced
        return
    strategy = self.distribute_strategy
    if iterator is not None:
        for _, _, batches in iterator:
            first = next(batches)
            data_batch = tree.map_structure(
                lambda value: strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues) else value,
                first,
            )
            break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)
