"""``BarrageModel``: train a config on records into an artifact directory, load, score.

Training checks everything it can before it touches the disk (config, records, the
transformer fit, the network's names and input shapes, the monitored quantities), so
bad input leaves nothing behind. A run that fails before its first epoch ends removes
the directory it created; one that fails later keeps it, resumable with ``resume=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any, Dict, List, Optional, Tuple

import attrs

from barrage import artifacts
from barrage.artifacts import ArtifactLayout
from barrage.components import build_augmentors, build_loader, build_transformer
from barrage.config import prepare_config
from barrage.context import RunContext
from barrage.dataset import RecordMode, RecordScore, RecordTransformer, unstack_data_record
from barrage.errors import ArtifactError, ConfigError, DataError
from barrage.manifest import Manifest
from barrage.model import build_network, compile_network, load_weights, sparse_label_ranges
from barrage.records import RecordsLike, RecordTable, read_records
from barrage.runtime import Runtime, default_runtime
from barrage.services import ServiceRun, best_epoch, build_services, monitor_problems
from barrage.services.batch_tracker import BatchTracker
from barrage.services.plugin_callback import PluginCallback
from barrage.services.resume_checkpoint import latest_resume_point, restore
from barrage.sources import BatchSource, make_batch_source

BEST_WEIGHTS_PATH = f"{artifacts.BEST_CHECKPOINT}/{artifacts.BEST_WEIGHTS}"


class BarrageModel:
    """A model living in one artifact directory.

    ``train`` fills the directory and returns the trained ``keras.Model``; ``load``
    rebuilds the network from the directory with the best checkpoint's weights;
    ``predict`` returns one postprocessed score dict per record, in input order.
    ``runtime`` supplies the plugins and the registry (the default runtime if not given).
    """

    def __init__(self, artifact_dir: "str | os.PathLike[str]", runtime: Optional[Runtime] = None):
        self.artifact_dir = os.fspath(artifact_dir)
        self.layout = ArtifactLayout(self.artifact_dir)
        self._runtime = runtime
        self.config: Optional[Dict[str, Any]] = None
        self.network: Any = None
        self.transformer: Optional[RecordTransformer] = None
        self.history: Any = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = default_runtime()
        return self._runtime

    # -- training ---------------------------------------------------------------------

    def train(
        self,
        config: Dict[str, Any],
        records_train: RecordsLike,
        records_validation: RecordsLike,
        resume: bool = False,
        verbose: Any = "auto",
    ) -> Any:
        """Train ``config`` on the records; returns the trained ``keras.Model``."""
        config = prepare_config(config, self.runtime)
        resume_point = self._check_directory(config, resume)
        seed_everything(config["dataset"].get("seed"))
        train_table = read_records(records_train, "training records")
        validation_table = read_records(records_validation, "validation records")
        transformer, network_params = self._fitted_transformer(config, train_table, resume_point)
        train_source, validation_source = self._sources(config, train_table, validation_table, transformer)
        network = self._compiled_network(config, network_params, train_source)
        for source in (train_source, validation_source):
            source.require_labels(sparse_label_ranges(config, network, self.runtime.registry))

        # everything is checked: from here on the artifact directory is written
        created = resume_point is None
        if resume_point is None:
            self._write_new_directory(config, network_params, transformer)
        elif resume_point.weights:
            restore(network, resume_point.weights)
        start_epoch = resume_point.epochs_done if resume_point else 0
        context = RunContext(config, self.artifact_dir, RecordMode.TRAIN, network, transformer)
        try:
            callbacks = self._callbacks(config, start_epoch, context)
            self.runtime.plugins.call("barrage_pre_fit", context=context)
            history = _fit(config, network, train_source, validation_source, callbacks, start_epoch, verbose)
        except BaseException:
            self._abandon_if_empty(created)
            raise
        manifest = Manifest(self.artifact_dir)
        if not config["services"].get("best_checkpoint"):  # the last epoch's weights serve as the best
            manifest.write(BEST_WEIGHTS_PATH, network.save_weights)
        manifest.finish()
        self.runtime.plugins.call("barrage_post_fit", context=context, history=history)
        self.config, self.network, self.transformer, self.history = config, network, transformer, history
        return network

    def _fitted_transformer(
        self, config: Dict[str, Any], train_table: RecordTable, resume_point: Optional["ResumePoint"]
    ) -> Tuple[RecordTransformer, Dict[str, Any]]:
        """The TRAIN transformer, fitted (or, when resuming, loaded back), with the
        network params it hands to the network builder."""
        registry = self.runtime.registry
        with self.runtime.activate():  # a transformer may resolve components (current_runtime)
            transformer = build_transformer(config, RecordMode.TRAIN, build_loader(config, RecordMode.TRAIN, registry),
                                            registry)
        if resume_point is not None:
            transformer.load(self.layout.dataset_dir)
            network_params = _read_network_params(self.layout)
        else:
            transformer.fit(train_table)
            network_params = dict(transformer.network_params or {})
        _check_json("network_params", network_params)
        return transformer, network_params

    def _sources(
        self, config: Dict[str, Any], train_table: RecordTable, validation_table: RecordTable,
        transformer: RecordTransformer,
    ) -> Tuple[BatchSource, BatchSource]:
        """The TRAIN source (augmented, sampled, shuffled) and the VALIDATION one."""
        registry = self.runtime.registry
        dataset, batch_size = config["dataset"], config["solver"]["batch_size"]
        train_source = make_batch_source(
            train_table, mode=RecordMode.TRAIN, loader=transformer.loader, transformer=transformer,
            augmentors=build_augmentors(config, registry), batch_size=batch_size, seed=dataset.get("seed"),
            sample_count=dataset.get("sample_count"), workers=dataset.get("workers"),
        )
        validation_loader = build_loader(config, RecordMode.VALIDATION, registry)
        validation_source = make_batch_source(
            validation_table, mode=RecordMode.VALIDATION, loader=validation_loader,
            transformer=transformer.for_mode(RecordMode.VALIDATION, validation_loader), batch_size=batch_size,
            seed=dataset.get("seed"), workers=dataset.get("workers"),
        )
        return train_source, validation_source

    def _compiled_network(self, config: Dict[str, Any], network_params: Dict[str, Any], source: BatchSource) -> Any:
        """Build and compile the network; check it against the data and the monitors."""
        registry = self.runtime.registry
        with _strategy().scope(), self.runtime.activate():
            network = build_network(config, network_params, registry)
            logged = compile_network(network, config, registry)
        check_against_network(network, source)
        problems = monitor_problems(config, logged)
        if problems:
            raise ConfigError(problems)
        return network

    def _callbacks(self, config: Dict[str, Any], start_epoch: int, context: RunContext) -> List[Any]:
        """The services, then the plugins' callbacks; a resumed run first drops report rows
        of epochs its checkpoint does not hold and tells the best checkpoint its record."""
        rows = artifacts.read_report(self.layout.report, epochs_done=start_epoch)
        best_block = config["services"].get("best_checkpoint")
        best = best_epoch(rows, best_block["monitor"], best_block["mode"]) if best_block and rows else None
        plugin_callbacks = [
            PluginCallback(callback, plugin.describe())
            for plugin, extra in self.runtime.plugins.results("barrage_callbacks", context=context)
            for callback in extra or []
        ]
        return build_services(ServiceRun(config, self.layout, rows, best[1] if best else None), plugin_callbacks)

    def summary(self) -> str:
        """One paragraph on the finished run: best epoch, its monitored value, where it is."""
        rows = artifacts.read_report(self.layout.report)
        lines = [f"trained {len(rows)} epoch(s); artifacts in {self.artifact_dir}"]
        block = (self.config or {}).get("services", {}).get("best_checkpoint")
        if block:
            best = best_epoch(rows, block["monitor"], block["mode"])
            if best is not None:
                lines.append(f"best epoch: {best[0] + 1} with {block['monitor']} = {best[1]:.6g}")
        return "\n".join(lines)

    def _check_directory(self, config: Dict[str, Any], resume: bool) -> Optional["ResumePoint"]:
        """``None`` for a fresh run, else where the interrupted run stopped.

        Resuming checks the directory first: no symbolic links inside, the recorded
        files intact, the same config; leftovers of a killed process are removed."""
        if not resume or (not os.path.lexists(self.artifact_dir) and self.layout.stale_stages()):
            if os.path.lexists(self.artifact_dir):
                raise ArtifactError(
                    f"{self.artifact_dir}: artifact directory already exists; choose a new one or resume it"
                )
            if resume:  # killed while the directory was being made: nothing was kept, start again
                warnings.warn(f"{self.artifact_dir}: the run was killed before its directory was complete; "
                              "starting it from the beginning", stacklevel=2)
            return None
        self.layout.require(artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.DATASET)
        artifacts.refuse_links(self.artifact_dir)
        artifacts.remove_leftovers(self.artifact_dir)
        _verify_recorded(self.layout)
        saved = prepare_config(artifacts.read_json(self.layout.config), self.runtime)
        if _without_sources(saved) != _without_sources(config):
            raise ArtifactError(
                f"{self.artifact_dir}: the config differs from the one this run started with; "
                "resume with the same config (see config.json)"
            )
        if Manifest(self.artifact_dir).finished():
            raise ArtifactError(f"{self.artifact_dir}: training already finished; nothing to resume")
        point = latest_resume_point(self.layout)
        return ResumePoint(*point) if point is not None else ResumePoint(0, None)

    def _write_new_directory(
        self, config: Dict[str, Any], network_params: Dict[str, Any], transformer: RecordTransformer
    ) -> None:
        """The directory with the files a later load needs, each recorded in the manifest
        (created whole, or not at all: see ``ArtifactLayout.create``)."""

        def fill(layout: ArtifactLayout) -> None:
            artifacts.write_json(layout.config, config)
            artifacts.write_json(layout.network_params, network_params)
            artifacts.write_json(layout.environment, self.runtime.environment_info())
            transformer.save(layout.dataset_dir)
            manifest = Manifest(layout.root)
            manifest.record([artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.ENVIRONMENT])
            manifest.record_folder(artifacts.DATASET)

        self.layout.create(fill)

    def _abandon_if_empty(self, created: bool) -> None:
        """Remove a directory this run created if no epoch finished (nothing to resume)."""
        if created and not artifacts.read_report(self.layout.report):
            shutil.rmtree(self.artifact_dir, ignore_errors=True)

    # -- loading and scoring ----------------------------------------------------------

    def load(self) -> "BarrageModel":
        """Rebuild the network from the artifacts and load the best checkpoint's weights,
        after checking every file against the manifest. Returns the model itself, so
        ``BarrageModel(dir).load().predict(records)`` chains (``.network`` is the
        ``keras.Model``)."""
        self.layout.require(artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.DATASET, BEST_WEIGHTS_PATH)
        _verify_recorded(self.layout)
        Manifest(self.artifact_dir).verify([BEST_WEIGHTS_PATH])
        registry = self.runtime.registry
        config = prepare_config(artifacts.read_json(self.layout.config), self.runtime)
        network_params = _read_network_params(self.layout)
        with self.runtime.activate():
            transformer = build_transformer(config, RecordMode.SCORE, build_loader(config, RecordMode.SCORE, registry),
                                            registry)
        transformer.load(self.layout.dataset_dir)
        transformer.network_params = network_params
        with self.runtime.activate():
            network = build_network(config, network_params, registry)
        load_weights(network, self.layout.best_weights)
        self.config, self.network, self.transformer = config, network, transformer
        return self

    def predict(self, records: RecordsLike, batch_size: Optional[int] = None) -> List[RecordScore]:
        """Postprocessed scores, one ``{output: array}`` per record, in input order."""
        import tensorflow as tf

        if self.network is None:
            self.load()
        assert self.config is not None and self.transformer is not None
        transformer = self._scoring_transformer()
        table = read_records(records, "scoring records")
        source = make_batch_source(
            table, mode=RecordMode.SCORE, loader=transformer.loader, transformer=transformer,
            batch_size=batch_size or self.config["solver"]["batch_size"], workers=self.config["dataset"].get("workers"),
        )
        check_against_network(self.network, source)
        context = RunContext(self.config, self.artifact_dir, RecordMode.SCORE, self.network, transformer)
        self.runtime.plugins.call("barrage_pre_score", context=context, records=table)
        try:
            outputs = self.network.predict(source.dataset(), verbose=0)
        except tf.errors.OpError:
            source.raise_pending()
            raise
        scores = _postprocess(transformer, outputs)
        return self.runtime.plugins.call_chained("barrage_post_score", "scores", scores, context=context)

    def evaluate(self, records: RecordsLike, batch_size: Optional[int] = None) -> Dict[str, Any]:
        """The config's losses and metrics on labelled ``records`` as Keras computes them,
        and per output a confusion matrix with per-class precision, recall and F1, or
        MAE, RMSE and R² (see :mod:`barrage.evaluation`)."""
        from barrage.evaluation import Evaluation

        if self.network is None:
            self.load()
        assert self.config is not None and self.transformer is not None
        evaluation = Evaluation(self.config, self.network, self.transformer, self.runtime.registry)
        source = evaluation.source(records, batch_size)
        check_against_network(self.network, source)
        return evaluation.run(source)

    def _scoring_transformer(self) -> RecordTransformer:
        """The SCORE transformer: the loaded one, or the trained one's SCORE twin."""
        assert self.config is not None and self.transformer is not None
        if self.transformer.mode is not RecordMode.SCORE:
            loader = build_loader(self.config, RecordMode.SCORE, self.runtime.registry)
            self.transformer = self.transformer.for_mode(RecordMode.SCORE, loader)
        return self.transformer


# -- helpers --------------------------------------------------------------------------


def _postprocess(transformer: RecordTransformer, outputs: Dict[str, Any]) -> List[RecordScore]:
    if transformer.vectorized:
        return unstack_data_record(transformer.postprocess(dict(outputs)))
    return [transformer.postprocess(score) for score in unstack_data_record(outputs)]


def _fit(
    config: Dict[str, Any], network: Any, train_source: BatchSource, validation_source: BatchSource,
    callbacks: List[Any], start_epoch: int, verbose: Any,
) -> Any:
    """``network.fit`` from ``start_epoch``. A record's error is raised as itself, not as
    the TensorFlow error that carried it out of the pipeline; data TensorFlow refuses
    inside a step becomes a ``DataError`` naming the records of that batch."""
    import tensorflow as tf

    solver = config["solver"]
    steps = solver.get("steps") or train_source.batches_per_pass
    tracker = BatchTracker()
    try:
        return network.fit(
            train_source.dataset(start_batch=start_epoch * steps),
            validation_data=validation_source.dataset(),
            epochs=solver["epochs"],
            initial_epoch=start_epoch,
            steps_per_epoch=steps,
            callbacks=[tracker, *callbacks],
            shuffle=False,  # the source shuffles, per pass and seeded
            verbose=verbose,
        )
    except tf.errors.OpError as exc:
        train_source.raise_pending()
        validation_source.raise_pending()
        if isinstance(exc, tf.errors.InvalidArgumentError):
            raise _refused_batch(exc, tracker, train_source, validation_source) from None
        raise
    except ValueError as exc:  # Keras traces the step on the first batch: shapes that cannot meet
        reason = str(exc).strip().splitlines()[0]
        raise DataError(f"{train_source.origin}: the network cannot train on these batches: {reason}") from exc


def _refused_batch(exc: Exception, tracker: BatchTracker, train: BatchSource, validation: BatchSource) -> DataError:
    """TensorFlow refused a batch (a shape or value a loss cannot take): name its records."""
    if tracker.phase == "train":
        source, records = train, train.records_of_batch(tracker.train_batch_number())
    else:
        source, records = validation, validation.records_of_batch(tracker.batch)
    shown = ", ".join(map(str, records[:8])) + (", ..." if len(records) > 8 else "")
    reason = str(getattr(exc, "message", exc)).strip().splitlines()[0]
    return DataError(f"{source.origin}: TensorFlow refused the batch of records {shown}: {reason}")


def check_against_network(network: Any, source: BatchSource) -> None:
    """The source's inputs (and, outside SCORE, outputs) are the network's, and each
    input has the per-record shape the network's ``Input`` declares."""
    expected, produced = sorted(network.input), sorted(source.input_names)
    if expected != produced:
        raise ConfigError([f"dataset.loader: the loader produces inputs {produced} but the network expects {expected}"])
    if source.mode is not RecordMode.SCORE:
        outputs, targets = sorted(network.output), sorted(source.output_names)
        if outputs != targets:
            raise ConfigError([f"dataset.loader: the loader produces outputs {targets} but the network has {outputs}"])
    for value in source.spec.values:
        if value.part != "x":
            continue
        declared = tuple(network.input[value.name].shape[1:])
        fits = len(declared) == len(value.shape) and all(d is None or d == s for d, s in zip(declared, value.shape))
        if not fits:
            raise DataError(
                f"{source.origin}: input '{value.name}' has shape {value.shape} per record but the network "
                f"expects {tuple(declared)}"
            )


@attrs.frozen
class ResumePoint:
    """Where an interrupted run continues: epochs done, and its resume checkpoint."""

    epochs_done: int
    weights: Optional[str]


def _verify_recorded(layout: ArtifactLayout) -> None:
    """The JSON artifacts and the transformer's state are the files training recorded."""
    manifest = Manifest(layout.root)
    manifest.verify([artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.ENVIRONMENT])
    manifest.verify_folder(artifacts.DATASET)


def _read_network_params(layout: ArtifactLayout) -> Dict[str, Any]:
    params = artifacts.read_json(layout.network_params)
    if not isinstance(params, dict):
        raise ArtifactError(f"{layout.network_params}: must hold a JSON object, got {type(params).__name__}")
    return params


def _check_json(what: str, value: Any) -> None:
    try:
        json.dumps(value, default=artifacts.json_default)
    except TypeError as exc:
        raise DataError(f"{what} must be JSON serialisable: {exc}") from None


def _without_sources(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_sources(v) for k, v in value.items() if k not in ("source", "target")}
    if isinstance(value, list):
        return [_without_sources(v) for v in value]
    return value


def seed_everything(seed: Optional[int]) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    if seed is None:
        return
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _strategy() -> Any:
    """``MirroredStrategy`` over every GPU when there are several, else the default."""
    import tensorflow as tf

    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
