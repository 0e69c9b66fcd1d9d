"""Where this process stands in a cluster, as the ``TF_CONFIG`` environment variable says.

``TF_CONFIG`` is the contract every launcher of TensorFlow jobs speaks (Kubeflow's TFJob,
Vertex AI training, Ray Train, processes started by hand): a JSON object with the
``cluster`` (task type -> list of ``host:port``) and this process's ``task`` (its type and
index). Barrage reads it for two things: whether to train on several machines, and which
process is the **chief**, the one that writes the artifact directory: the task of type
``chief`` when the cluster has one, else worker 0; a process without ``TF_CONFIG`` is the
chief of a cluster of one.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional

import attrs

from barrage.errors import ClusterError

TRAINING_TASKS = ("chief", "worker")  # the task types that train (evaluators and the like do not)


@attrs.frozen
class Cluster:
    """This process's task in the cluster: its type and index, and how many tasks train."""

    task_type: str = "chief"
    task_index: int = 0
    training_tasks: int = 1
    has_chief_task: bool = True

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None) -> "Cluster":
        """The cluster ``TF_CONFIG`` describes (one chief when it is unset or empty); a
        ``ClusterError`` naming ``TF_CONFIG`` when it cannot be understood."""
        text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
        if not text:
            return cls()
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ClusterError(f"TF_CONFIG: not valid JSON ({exc.msg} at column {exc.colno})") from None
        return cls.from_spec(spec)

    @classmethod
    def from_spec(cls, spec: Any) -> "Cluster":
        cluster, task = _part(spec, "cluster"), _part(spec, "task")
        tasks = {kind: _addresses(cluster, kind) for kind in TRAINING_TASKS if kind in cluster}
        task_type, task_index = task.get("type"), task.get("index", 0)
        if task_type not in cluster:
            raise ClusterError(f"TF_CONFIG: task.type {task_type!r} is not a task type of the cluster "
                               f"({', '.join(sorted(cluster)) or 'none'})")
        if not isinstance(task_index, int) or isinstance(task_index, bool) or task_index < 0:
            raise ClusterError(f"TF_CONFIG: task.index must be a whole number from 0, got {task_index!r}")
        if task_type in tasks and task_index >= len(tasks[task_type]):
            raise ClusterError(f"TF_CONFIG: task.index {task_index} is beyond the {len(tasks[task_type])} "
                               f"{task_type} address(es) of the cluster")
        return cls(task_type, task_index, sum(len(addresses) for addresses in tasks.values()), "chief" in tasks)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the artifact directory."""
        if self.has_chief_task:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def trains(self) -> bool:
        return self.task_type in TRAINING_TASKS

    def describe(self) -> str:
        """``worker 1`` / ``chief``, for messages."""
        return self.task_type if self.task_type == "chief" else f"{self.task_type} {self.task_index}"


def _part(spec: Any, key: str) -> Dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get(key), dict):
        raise ClusterError(f"TF_CONFIG: must be a JSON object with a '{key}' object")
    return spec[key]


def _addresses(cluster: Dict[str, Any], kind: str) -> List[str]:
    addresses = cluster[kind]
    if not isinstance(addresses, list) or not all(isinstance(a, str) and a for a in addresses):
        raise ClusterError(f"TF_CONFIG: cluster.{kind} must be a list of 'host:port' addresses")
    return addresses
