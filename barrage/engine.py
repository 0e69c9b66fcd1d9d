"""``BarrageModel``: train a config on records into an artifact directory, load, score.

Training checks everything it can before it touches the disk (config, records, the
transformer fit, the network's names, the first batches, the monitored quantities), so
bad input leaves nothing behind. A run that fails before its first epoch ends removes
the directory it created; one that fails later keeps it, resumable with ``resume=True``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from barrage import artifacts
from barrage.artifacts import ArtifactLayout
from barrage.config import prepare_config
from barrage.context import RunContext
from barrage.dataset import RecordMode, RecordScore, unstack_data_record
from barrage.errors import ArtifactError, ConfigError, DataError
from barrage.model import build_network, compile_network
from barrage.pipeline import BatchPipeline, build_augmentors, build_loader, build_transformer
from barrage.plugins import get_plugin_manager
from barrage.records import RecordsLike, read_records
from barrage.services import best_monitored, build_services, monitor_problems


class BarrageModel:
    """A model living in one artifact directory.

    ``train`` fills the directory and returns the trained ``keras.Model``; ``load``
    rebuilds the network from the directory with the best checkpoint's weights;
    ``predict`` returns one postprocessed score dict per record, in input order.
    """

    def __init__(self, artifact_dir: "str | os.PathLike[str]"):
        self.artifact_dir = os.fspath(artifact_dir)
        self.layout = ArtifactLayout(self.artifact_dir)
        self.config: Optional[Dict[str, Any]] = None
        self.network: Any = None
        self.transformer: Any = None
        self.loader: Any = None
        self.history: Any = None

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
        config = prepare_config(config)
        resume_epoch = self._check_directory(config, resume)
        _seed_everything(config["dataset"].get("seed"))
        train_table = read_records(records_train, "training records")
        validation_table = read_records(records_validation, "validation records")
        loader, transformer, network_params = self._fitted_transformer(config, train_table, resume_epoch)
        train_pipeline, validation_pipeline = _pipelines(config, train_table, validation_table, transformer)
        with _strategy().scope():
            network = build_network(config, network_params)
            compile_network(network, config)
        _check_names(network, train_pipeline)
        self._check_monitors(config, network, validation_pipeline)

        # everything is checked: from here on the artifact directory is written
        created = resume_epoch is None
        if created:
            self._write_new_directory(config, network_params, transformer)
        start_epoch = resume_epoch or 0
        callbacks = self._callbacks(config, start_epoch)
        context = RunContext(config, self.artifact_dir, RecordMode.TRAIN, network, transformer)
        get_plugin_manager().call("barrage_pre_fit", context=context)
        try:
            history = _fit(config, network, train_pipeline, validation_pipeline, callbacks, start_epoch, verbose)
        except BaseException:
            self._abandon_if_empty(created)
            raise
        if not config["services"].get("best_checkpoint"):
            network.save_weights(self.layout.best_weights)
        get_plugin_manager().call("barrage_post_fit", context=context, history=history)
        self.config, self.network, self.history = config, network, history
        self.loader, self.transformer = loader, transformer
        return network

    def _fitted_transformer(self, config: Dict[str, Any], train_table: Any, resume_epoch: Optional[int]) -> tuple:
        """The TRAIN loader and transformer, fitted (or, when resuming, loaded back),
        with the network params it hands to the network builder."""
        loader = build_loader(config, RecordMode.TRAIN)
        transformer = build_transformer(config, RecordMode.TRAIN, loader)
        if resume_epoch is not None:
            transformer.load(self.layout.dataset_dir)
            network_params = artifacts.read_json(self.layout.network_params)
        else:
            transformer.fit(train_table)
            network_params = dict(transformer.network_params or {})
        _check_json("network_params", network_params)
        return loader, transformer, network_params

    def _callbacks(self, config: Dict[str, Any], start_epoch: int) -> List[Any]:
        """The services, then the plugins' callbacks; a resumed run first drops report rows
        of epochs its checkpoint does not hold and tells the best checkpoint its record."""
        rows = _truncate_report(self.layout.report, start_epoch) if start_epoch else []
        callbacks = build_services(config, self.layout, best_monitored(config, rows))
        for extra in get_plugin_manager().call("barrage_callbacks", config=config, artifact_dir=self.artifact_dir):
            callbacks.extend(extra or [])
        return callbacks

    def summary(self) -> str:
        """One paragraph on the finished run: best epoch, its monitored value, where it is."""
        rows = _report_rows(self.layout.report)
        lines = [f"trained {len(rows)} epoch(s); artifacts in {self.artifact_dir}"]
        best = (self.config or {}).get("services", {}).get("best_checkpoint")
        if best and rows:
            monitor = best["monitor"]
            values = [(float(row[monitor]), int(row["epoch"])) for row in rows if row.get(monitor)]
            if values:
                sign = 1.0 if best["mode"] == "min" else -1.0
                # the checkpoint keeps the first epoch that reached the best value
                value, epoch = min(values, key=lambda pair: (sign * pair[0], pair[1]))
                lines.append(f"best epoch: {epoch + 1} with {monitor} = {value:.6g}")
        return "\n".join(lines)

    def _check_directory(self, config: Dict[str, Any], resume: bool) -> Optional[int]:
        """``None`` for a fresh run, else the number of epochs already done."""
        if not resume:
            if os.path.exists(self.artifact_dir):
                raise ArtifactError(
                    f"{self.artifact_dir}: artifact directory already exists; choose a new one or resume it"
                )
            return None
        self.layout.require(artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.DATASET)
        saved = prepare_config(artifacts.read_json(self.layout.config))
        if _without_sources(saved) != _without_sources(config):
            raise ArtifactError(
                f"{self.artifact_dir}: the config differs from the one this run started with; "
                "resume with the same config (see config.json)"
            )
        metadata_path = os.path.join(self.layout.resume_dir, "training_metadata.json")
        if os.path.exists(metadata_path):
            return int(artifacts.read_json(metadata_path).get("epoch", 0))
        if os.path.exists(self.layout.best_weights) and _report_rows(self.layout.report):
            raise ArtifactError(f"{self.artifact_dir}: training already finished; nothing to resume")
        return 0

    def _check_monitors(self, config: Dict[str, Any], network: Any, pipeline: BatchPipeline) -> None:
        """Evaluate one batch to learn what the run will log, and check the monitors."""
        import tensorflow as tf

        try:
            logged = network.evaluate(pipeline.dataset().take(1), verbose=0, return_dict=True)
        except tf.errors.OpError as exc:
            pipeline.raise_pending(exc)
            raise
        problems = monitor_problems(config, logged)
        if problems:
            raise ConfigError(problems)

    def _write_new_directory(self, config: Dict[str, Any], network_params: Dict[str, Any], transformer: Any) -> None:
        self.layout.create()
        try:
            artifacts.write_json(self.layout.config, config)
            artifacts.write_json(self.layout.network_params, network_params)
            artifacts.write_json(self.layout.environment, artifacts.environment_info())
            transformer.save(self.layout.dataset_dir)
        except BaseException:
            shutil.rmtree(self.artifact_dir, ignore_errors=True)
            raise

    def _abandon_if_empty(self, created: bool) -> None:
        """Remove a directory this run created if no epoch finished (nothing to resume)."""
        if created and not _report_rows(self.layout.report):
            shutil.rmtree(self.artifact_dir, ignore_errors=True)

    # -- loading and scoring ----------------------------------------------------------

    def load(self) -> Any:
        """Rebuild the network from the artifacts and load the best checkpoint's weights."""
        self.layout.require(
            artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.DATASET,
            os.path.join(artifacts.BEST_CHECKPOINT, artifacts.BEST_WEIGHTS),
        )
        config = prepare_config(artifacts.read_json(self.layout.config))
        network_params = artifacts.read_json(self.layout.network_params)
        loader = build_loader(config, RecordMode.SCORE)
        transformer = build_transformer(config, RecordMode.SCORE, loader)
        transformer.load(self.layout.dataset_dir)
        transformer.network_params = network_params
        network = build_network(config, network_params)
        network.load_weights(self.layout.best_weights)
        self.config, self.network, self.loader, self.transformer = config, network, loader, transformer
        return network

    def predict(self, records: RecordsLike, batch_size: Optional[int] = None) -> List[RecordScore]:
        """Postprocessed scores, one ``{output: array}`` per record, in input order."""
        import tensorflow as tf

        if self.network is None:
            self.load()
        assert self.config is not None
        table = read_records(records, "scoring records")
        loader = build_loader(self.config, RecordMode.SCORE)
        transformer = _copy_transformer(self.config, self.transformer, loader, RecordMode.SCORE)
        pipeline = BatchPipeline(
            table, RecordMode.SCORE, loader, transformer, (),
            batch_size or self.config["solver"]["batch_size"], None, None, self.config["dataset"].get("workers"),
        )
        _check_names(self.network, pipeline)
        context = RunContext(self.config, self.artifact_dir, RecordMode.SCORE, self.network, transformer)
        manager = get_plugin_manager()
        manager.call("barrage_pre_score", context=context, records=table)
        try:
            outputs = self.network.predict(pipeline.dataset(), verbose=0)
        except tf.errors.OpError as exc:
            pipeline.raise_pending(exc)
            raise
        scores = _postprocess(transformer, outputs)
        return manager.call_chained("barrage_post_score", "scores", scores, context=context)


# -- helpers --------------------------------------------------------------------------


def _postprocess(transformer: Any, outputs: Dict[str, Any]) -> List[RecordScore]:
    if transformer.vectorized:
        return unstack_data_record(transformer.postprocess(dict(outputs)))
    return [transformer.postprocess(score) for score in unstack_data_record(outputs)]


def _fit(
    config: Dict[str, Any], network: Any, train_pipeline: BatchPipeline, validation_pipeline: BatchPipeline,
    callbacks: List[Any], start_epoch: int, verbose: Any,
) -> Any:
    """``network.fit`` from ``start_epoch``; a record's error is raised as itself, not as
    the TensorFlow error that carried it out of the pipeline."""
    import tensorflow as tf

    solver = config["solver"]
    steps = solver.get("steps") or train_pipeline.batches_per_pass
    try:
        return network.fit(
            train_pipeline.dataset(start_batch=start_epoch * steps),
            validation_data=validation_pipeline.dataset(),
            epochs=solver["epochs"],
            steps_per_epoch=steps,
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles, per pass and seeded
            verbose=verbose,
        )
    except tf.errors.OpError as exc:
        train_pipeline.raise_pending(exc)
        validation_pipeline.raise_pending(exc)
        raise


def _pipelines(
    config: Dict[str, Any], train_table: Any, validation_table: Any, transformer: Any
) -> Tuple[BatchPipeline, BatchPipeline]:
    """The TRAIN pipeline (augmented, sampled, shuffled) and the VALIDATION one."""
    dataset, batch_size = config["dataset"], config["solver"]["batch_size"]
    train_pipeline = BatchPipeline(
        train_table, RecordMode.TRAIN, transformer.loader, transformer, build_augmentors(config),
        batch_size, dataset.get("seed"), dataset.get("sample_count"), dataset.get("workers"),
    )
    validation_loader = build_loader(config, RecordMode.VALIDATION)
    validation_pipeline = BatchPipeline(
        validation_table, RecordMode.VALIDATION, validation_loader,
        _copy_transformer(config, transformer, validation_loader), (),
        batch_size, dataset.get("seed"), None, dataset.get("workers"),
    )
    return train_pipeline, validation_pipeline


def _copy_transformer(
    config: Dict[str, Any], fitted: Any, loader: Any, mode: RecordMode = RecordMode.VALIDATION
) -> Any:
    """A transformer for another mode with the fitted one's state (through save/load)."""
    copy = build_transformer(config, mode, loader)
    with tempfile.TemporaryDirectory(prefix="barrage-transformer-") as directory:
        fitted.save(directory)
        copy.load(directory)
    copy.network_params = dict(fitted.network_params or {})
    return copy


def _check_names(network: Any, pipeline: BatchPipeline) -> None:
    expected, produced = sorted(network.input), sorted(pipeline.input_names)
    if expected != produced:
        raise ConfigError(
            [f"dataset.loader: the loader produces inputs {produced} but the network expects {expected}"]
        )
    if pipeline.mode is not RecordMode.SCORE:
        outputs, targets = sorted(network.output), sorted(pipeline.output_names)
        if outputs != targets:
            raise ConfigError(
                [f"dataset.loader: the loader produces outputs {targets} but the network has {outputs}"]
            )


def _check_json(what: str, value: Any) -> None:
    try:
        json.dumps(value, default=artifacts._json_default)
    except TypeError as exc:
        raise DataError(f"{what} must be JSON serialisable: {exc}") from None


def _without_sources(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_sources(v) for k, v in value.items() if k not in ("source", "target")}
    if isinstance(value, list):
        return [_without_sources(v) for v in value]
    return value


def _report_rows(path: str) -> List[Dict[str, str]]:
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _truncate_report(path: str, epochs_done: int) -> List[Dict[str, str]]:
    """Keep only the rows of epochs already done, so each epoch appears once."""
    rows = [row for row in _report_rows(path) if int(row["epoch"]) < epochs_done]
    if os.path.exists(path):
        with open(path, newline="", encoding="utf-8") as handle:
            fieldnames = next(csv.reader(handle), [])
        with artifacts.atomic_writer(path, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
    return rows


def _seed_everything(seed: Optional[int]) -> None:
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
