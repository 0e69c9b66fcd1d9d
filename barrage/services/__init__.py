"""The services: the Keras callbacks every serious training run gets by default.

Each service is described once, by a :class:`ServiceSpec` in :data:`SERVICES`: where its
config block lives (if it has one), the keys the schema checks, its default, the Keras
callback it configures and the keywords Barrage sets itself, which side its monitor
must watch, and how to build it. The config schema, the config checks and
:func:`build_services` all read this one table.

This module imports no TensorFlow: builders import Keras when they run.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple

import attrs

MODE_FIELD = {"type": "string", "allowed": ["min", "max"], "required": True}
MONITOR_FIELD = {"type": "string", "required": True, "empty": False}
PATIENCE_FIELD = {"type": "integer", "min": 0, "max": 2**31 - 1, "required": True}


@attrs.frozen
class ServiceRun:
    """What a service builder gets: the resolved config and where the run's files go.

    When a run is resumed, ``report_rows`` are the report rows of the epochs already
    done, and ``best_so_far`` the best monitored value among them, so that a resumed run
    never replaces a better checkpoint with a worse one. ``network_params`` are what the
    transformer handed the network builder.
    """

    config: Dict[str, Any]
    layout: Any  # barrage.artifacts.ArtifactLayout
    report_rows: List[Dict[str, str]] = attrs.field(factory=list)
    best_so_far: Optional[float] = None
    network_params: Dict[str, Any] = attrs.field(factory=dict)


Builder = Callable[[Dict[str, Any], ServiceRun], Any]


@attrs.frozen
class ServiceSpec:
    """One service.

    Attributes:
        name: the key of its config block (or a name for an always-on service).
        keras_class: the ``keras.callbacks`` class it configures.
        build: ``build(block, run)`` returns the callback (``block`` is ``{}`` for an
            always-on service).
        section: ``"services"`` or ``"solver"`` for a configurable service, ``None`` for one
            that is always on.
        fields: cerberus rules of the keys Barrage checks; any other key of the block
            must be a keyword argument of ``keras_class``.
        default: the block used when the config has none (``None``: off by default).
        reserved: keywords of ``keras_class`` that Barrage sets and a config cannot.
        monitor_side: ``"validation"`` or ``"training"`` when the monitor must watch that
            side (a monitor on the wrong side is corrected with a warning).
        closing: runs after the plugins' callbacks, as the very last callback (the resume
            checkpoint: an epoch counts as done only once everything else has seen it).
        follows: the configurable service this always-on one comes with: built only
            when that service is on (the hyperparameters go where TensorBoard logs).
    """

    name: str
    keras_class: str
    build: Builder
    section: Optional[str] = None
    fields: Dict[str, Any] = attrs.field(factory=dict)
    default: Optional[Dict[str, Any]] = None
    reserved: FrozenSet[str] = frozenset()
    monitor_side: Optional[str] = None
    closing: bool = False
    follows: Optional[str] = None

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def configurable(self) -> bool:
        return self.section is not None

    @property
    def monitored(self) -> bool:
        return "monitor" in self.fields

    def schema(self) -> Dict[str, Any]:
        """The cerberus rule of this service's block (``null`` switches it off)."""
        return {"type": "dict", "nullable": True, "allow_unknown": True, "schema": self.fields}

    def block(self, config: Dict[str, Any]) -> Any:
        """This service's block in a config (``{}`` when always on; ``None``: off). Any
        value the config holds is returned, of whatever type (the schema reports those)."""
        if self.section is None:
            return {}
        section = config.get(self.section)
        return section.get(self.name) if isinstance(section, dict) else None


# -- builders (Keras is imported when they run) ----------------------------------------


def _keras_callback(class_name: str, reserved: Callable[[ServiceRun], Dict[str, Any]] = lambda run: {}) -> Builder:
    """A builder of ``keras.callbacks.<class_name>(**block, **reserved(run))``."""

    def build(block: Dict[str, Any], run: ServiceRun) -> Any:
        import keras

        return getattr(keras.callbacks, class_name)(**block, **reserved(run))

    return build


def _learning_rate_logger(block: Dict[str, Any], run: ServiceRun) -> Any:
    from barrage.services.learning_rate_logger import LearningRateLogger

    return LearningRateLogger()


def _resume_checkpoint(block: Dict[str, Any], run: ServiceRun) -> Any:
    from barrage.services.resume_checkpoint import ResumeCheckpoint

    return ResumeCheckpoint(run.layout)


def _best_checkpoint(block: Dict[str, Any], run: ServiceRun) -> Any:
    from barrage.services.best_checkpoint import BestCheckpoint

    return BestCheckpoint(run.layout, initial_value_threshold=run.best_so_far, **block)


def _nan_guard(block: Dict[str, Any], run: ServiceRun) -> Any:
    from barrage.services.nan_guard import NanGuard

    return NanGuard()


def _hyperparameters(block: Dict[str, Any], run: ServiceRun) -> Any:
    from barrage.services.hyperparameters import hparams_callback

    return hparams_callback(run.config, run.network_params, run.layout.tensorboard_dir)


def _training_report(block: Dict[str, Any], run: ServiceRun) -> Any:
    from barrage.services.training_report import TrainingReport

    return TrainingReport(run.layout.report, run.report_rows)


EARLY_STOPPING_FIELDS = {
    "monitor": MONITOR_FIELD, "mode": MODE_FIELD, "patience": PATIENCE_FIELD,
    "min_delta": {"type": "number", "min": 0, "required": True},
}


def _early_stopping(monitor: str) -> Dict[str, Any]:
    return {"monitor": monitor, "mode": "min", "patience": 10, "min_delta": 1e-5, "verbose": 1}


# In the order the callbacks run.
SERVICES: Tuple[ServiceSpec, ...] = (
    ServiceSpec("learning_rate_logger", "Callback", _learning_rate_logger),
    ServiceSpec(
        "best_checkpoint", "ModelCheckpoint", _best_checkpoint,
        section="services", fields={"monitor": MONITOR_FIELD, "mode": MODE_FIELD},
        default={"monitor": "val_loss", "mode": "min"},
        reserved=frozenset({"filepath", "save_best_only", "save_weights_only", "initial_value_threshold", "save_freq"}),
        monitor_side="validation",
    ),
    ServiceSpec("training_report", "CSVLogger", _training_report),
    ServiceSpec(
        "tensorboard", "TensorBoard",
        _keras_callback("TensorBoard", lambda run: {"log_dir": run.layout.tensorboard_dir}),
        section="services", default={}, reserved=frozenset({"log_dir"}),
    ),
    ServiceSpec("hyperparameters", "Callback", _hyperparameters, follows="tensorboard"),
    ServiceSpec(
        "train_early_stopping", "EarlyStopping", _keras_callback("EarlyStopping"),
        section="services", fields=EARLY_STOPPING_FIELDS, default=_early_stopping("loss"), monitor_side="training",
    ),
    ServiceSpec(
        "validation_early_stopping", "EarlyStopping", _keras_callback("EarlyStopping"),
        section="services", fields=EARLY_STOPPING_FIELDS, default=_early_stopping("val_loss"),
        monitor_side="validation",
    ),
    ServiceSpec("nan_guard", "TerminateOnNaN", _nan_guard),
    ServiceSpec(
        "learning_rate_reducer", "ReduceLROnPlateau", _keras_callback("ReduceLROnPlateau"),
        section="solver",
        fields={
            "monitor": MONITOR_FIELD, "mode": MODE_FIELD, "patience": PATIENCE_FIELD,
            "factor": {"type": "number", "min": 0, "max": 1, "required": True},
        },
    ),
    ServiceSpec("resume_checkpoints", "Callback", _resume_checkpoint, closing=True),
)


def configurable_services(section: Optional[str] = None) -> List[ServiceSpec]:
    """The services with a config block (in ``section``, if given)."""
    return [s for s in SERVICES if s.configurable and (section is None or s.section == section)]


def build_services(run: ServiceRun, plugin_callbacks: Iterable[Any] = ()) -> List[Any]:
    """Every callback of one run in the order they run: the services (switched-off ones
    left out), the plugins' callbacks, then the closing services."""
    built = [(spec, spec.build(dict(block), run)) for spec in SERVICES
             for block in [spec.block(run.config)] if block is not None and _followed_is_on(spec, run.config)]
    for spec, callback in built:
        callback.barrage_config_path = spec.path  # an error it raises names its block (BarrageModel.train)
    return (
        [callback for spec, callback in built if not spec.closing]
        + list(plugin_callbacks)
        + [callback for spec, callback in built if spec.closing]
    )


def _followed_is_on(spec: ServiceSpec, config: Dict[str, Any]) -> bool:
    if spec.follows is None:
        return True
    return any(other.name == spec.follows and other.block(config) is not None for other in SERVICES)


def monitor_problems(config: Dict[str, Any], logged: Iterable[str]) -> List[str]:
    """Monitors that name a quantity the run will not log, with what it will log."""
    available = set(logged) | {f"val_{key}" for key in logged}
    problems = []
    for spec in SERVICES:
        block = spec.block(config) if spec.monitored else None
        if block and block.get("monitor") not in available:
            problems.append(
                f"{spec.path}.monitor: '{block['monitor']}' is not logged by this model "
                f"(logged: {', '.join(sorted(available))})"
            )
    return problems


def best_epoch(rows: List[Dict[str, str]], monitor: str, mode: str) -> Optional[Tuple[int, float]]:
    """``(epoch, value)`` of the best ``monitor`` value over report rows, or ``None``.

    Ties go to the first epoch that reached the value, as the best checkpoint keeps it.
    """
    values = [(float(row[monitor]), int(row["epoch"])) for row in rows if row.get(monitor) not in (None, "")]
    if not values:
        return None
    sign = 1.0 if mode == "min" else -1.0
    value, epoch = min(values, key=lambda pair: (sign * pair[0], pair[1]))
    return epoch, value
