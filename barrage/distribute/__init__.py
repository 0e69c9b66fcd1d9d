"""Training on several devices or machines with ``tf.distribute``.

The choice is made per run (``barrage train --distribute``, ``BarrageModel.train(...,
distribute=...)``), never in the config, so one config runs on one machine or many and a
resumed run compares configs unaffected:

* ``"off"``: no strategy (TensorFlow's default: one device);
* ``"mirrored"``: ``MirroredStrategy`` over this machine's GPUs, or, with ``replicas=N``
  on a machine without GPUs, over its CPU split into N logical devices;
* ``"multi-worker"``: ``MultiWorkerMirroredStrategy`` over the cluster ``TF_CONFIG``
  describes (see :mod:`barrage.distribute.cluster`), with the Keras fixes of
  :mod:`barrage.distribute.keras_patches`;
* ``"auto"`` (the default): multi-worker when ``TF_CONFIG`` lists more than one task that
  trains, mirrored when more than one GPU is visible, else off.

``solver.batch_size`` is the *global* batch: every step trains on the same records as a
single-process run, split across the replicas. Under multi-worker each worker builds only
its slices of every global batch (:meth:`Distribution.dataset`).

A strategy must exist before TensorFlow sets up its devices, so :func:`choose_distribution`
runs first thing in a training run.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Optional

import attrs
import numpy as np

from barrage.distribute.cluster import Cluster
from barrage.errors import ClusterError
from barrage.sources.order import BatchPart

CHOICES = ("auto", "off", "mirrored", "multi-worker")

__all__ = ["CHOICES", "BatchPart", "Cluster", "Distribution", "choose_distribution"]


@attrs.define
class Distribution:
    """The strategy of one training run and this process's place in it."""

    kind: str  # "off", "mirrored" or "multi-worker"
    strategy: Any
    cluster: Cluster = attrs.field(factory=Cluster)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the artifact directory (always, outside a cluster)."""
        return self.kind != "multi-worker" or self.cluster.is_chief

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    def scope(self) -> Any:
        """Build and compile the network inside this: its variables are mirrored."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def dataset(self, source: Any, start_batch: int = 0) -> Any:
        """What ``fit`` reads from ``source`` from batch ``start_batch`` on: the source's
        global batches (a mirrored strategy splits each across this machine's replicas),
        or, under multi-worker, each worker's own slices of every global batch, built by
        that worker alone."""
        if self.kind != "multi-worker":
            return source.dataset(start_batch)

        def per_worker(context: Any) -> Any:
            local = context.num_replicas_in_sync // context.num_input_pipelines
            part = BatchPart(context.input_pipeline_id * local, local, context.num_replicas_in_sync)
            return source.dataset(start_batch, part=part)

        return self.strategy.distribute_datasets_from_function(per_worker)

    def shared_seed(self, seed: Optional[int]) -> Optional[int]:
        """``seed``, or under multi-worker one seed drawn by the chief for every worker:
        the workers must shuffle alike to split the same global batches."""
        if seed is not None or self.kind != "multi-worker":
            return seed
        drawn = float(np.random.default_rng().integers(2**31)) if self.cluster.is_chief else 0.0
        share = drawn / len(self.strategy.extended.worker_devices)  # the chief's replicas add up to the draw
        return int(round(float(self._all_reduce("SUM", np.array(share)))))

    def agree(self, values: Dict[str, float]) -> None:
        """A ``ClusterError`` on every worker unless all workers hold the same ``values``
        (e.g. where training starts: a worker started without ``--resume`` beside a chief
        that resumed would silently train something else)."""
        if self.kind != "multi-worker":
            return
        names = sorted(values)
        own = np.array([float(values[name]) for name in names])
        differs = np.abs(self._all_reduce("MEAN", own) - own) > 1e-9 * np.maximum(1.0, np.abs(own))
        disagreeing = self._all_reduce("SUM", differs.astype(np.float64)) > 0
        if disagreeing.any():
            what = ", ".join(name for name, flag in zip(names, disagreeing) if flag)
            raise ClusterError(
                f"{self.cluster.describe()}: the workers disagree on {what}; start every worker with the same "
                "command, all with --resume or none"
            )

    def _all_reduce(self, operation: str, local: np.ndarray) -> np.ndarray:
        """``local`` (float64, from every replica of every worker) reduced across the
        cluster by ``operation`` (``"SUM"`` or ``"MEAN"``); every worker gets the result."""
        import tensorflow as tf

        per_replica = self.strategy.run(lambda: tf.constant(local, tf.float64))
        return np.asarray(self.strategy.reduce(operation, per_replica, axis=None))

    def describe(self) -> str:
        if self.kind == "off":
            return "one device"
        where = f", {self.cluster.training_tasks} workers, this is {self.cluster.describe()}" \
            if self.kind == "multi-worker" else ""
        return f"{self.kind} over {self.replicas} replica(s){where}"


def choose_distribution(choice: str = "auto", replicas: Optional[int] = None,
                        cluster: Optional[Cluster] = None) -> Distribution:
    """The strategy ``choice`` asks for (see the module docstring); ``replicas`` sets how
    many devices a mirrored strategy uses. Must run before TensorFlow sets up devices."""
    if choice not in CHOICES:
        raise ClusterError(f"--distribute {choice}: expected one of {', '.join(CHOICES)}")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 1):
        raise ClusterError(f"--replicas {replicas}: must be a whole number from 1")
    cluster = cluster if cluster is not None else Cluster.from_environment()
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    if choice == "auto":
        choice = "multi-worker" if cluster.training_tasks > 1 else "mirrored" if gpus > 1 or replicas else "off"
    if replicas is not None and choice != "mirrored":
        raise ClusterError(f"--replicas {replicas}: only with --distribute mirrored")
    if choice == "off":
        return Distribution("off", None)
    if choice == "mirrored":
        return Distribution("mirrored", _mirrored(tf, gpus, replicas))
    return Distribution("multi-worker", _multi_worker(tf, cluster), cluster)


def _mirrored(tf: Any, gpus: int, replicas: Optional[int]) -> Any:
    """``MirroredStrategy`` over ``replicas`` GPUs (all by default), or over the CPU split
    into ``replicas`` logical devices when there is no GPU."""
    if gpus:
        count = replicas or gpus
        if count > gpus:
            raise ClusterError(f"--replicas {count}: this machine has {gpus} GPU(s)")
        return tf.distribute.MirroredStrategy([f"/gpu:{index}" for index in range(count)])
    count = replicas or 1
    if count > 1:
        _split_cpu(tf, count)
    return tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(count)])


def _split_cpu(tf: Any, count: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # TensorFlow's devices are set up already (in this process)
        present = len(tf.config.list_logical_devices("CPU"))
        if present != count:
            raise ClusterError(
                f"--replicas {count}: TensorFlow already set up {present} CPU device(s) in this process; "
                "split the CPU in a fresh process (the command line always is one)"
            ) from None


def _multi_worker(tf: Any, cluster: Cluster) -> Any:
    from barrage.distribute import keras_patches

    if cluster.training_tasks < 2:
        raise ClusterError("--distribute multi-worker: TF_CONFIG must list at least two tasks that train "
                           "(chief and worker addresses)")
    if not cluster.trains:
        raise ClusterError(f"TF_CONFIG: task.type {cluster.task_type!r} does not train; "
                           "start Barrage on the chief and worker tasks")
    keras_patches.apply()
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as exc:
        if "program startup" in str(exc):
            raise ClusterError("--distribute multi-worker: TensorFlow is already set up in this process; train in "
                               "a fresh process (the command line always is one)") from None
        raise ClusterError(f"cannot join the cluster of TF_CONFIG: {exc}") from None
    except ValueError as exc:
        raise ClusterError(f"cannot join the cluster of TF_CONFIG: {exc}") from None


_LOST_PEER_WORDS = ("collective ops is aborted", "heartbeat", "unavailable", "socket closed", "connection reset",
                    "failed to connect", "deadline exceeded")


@contextlib.contextmanager
def lost_worker_errors(distribution: Distribution, artifact_dir: str) -> Iterator[None]:
    """Turn TensorFlow's errors for a lost peer into one ``ClusterError`` line saying how
    to start again. The advice does not depend on what this worker sees on disk: the
    chief may still be removing a directory no epoch was kept in, so whether to add
    ``--resume`` is for the user to check once every worker has stopped."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError, tf.errors.InternalError) as exc:
        reason = " ".join(str(getattr(exc, "message", exc)).split())
        peer_words = any(word in reason.lower() for word in _LOST_PEER_WORDS)
        if distribution.kind != "multi-worker" or (isinstance(exc, tf.errors.InternalError) and not peer_words):
            raise
        raise ClusterError(
            f"{distribution.cluster.describe()}: another worker of the cluster failed or stopped; start every worker "
            f"again, adding --resume if {artifact_dir} exists (TensorFlow: {reason[:300]})"
        ) from None
