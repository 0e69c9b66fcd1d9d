"""``BarrageModel``: train a config on records into an artifact directory, load, score.

Training checks everything it can before it touches the disk (config, records, the
transformer fit, the network's names and input shapes, the monitored quantities), so
bad input leaves nothing behind. A run that fails before its first epoch ends removes
the directory it created; one that fails later keeps it, resumable with ``resume=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union, cast

import attrs
import numpy as np

from barrage import artifacts
from barrage.artifacts import ArtifactLayout
from barrage.components import build_augmentors, build_loader, build_transformer
from barrage.config import prepare_config
from barrage.context import RunContext
from barrage.dataset import RecordMode, RecordScore, RecordTransformer
from barrage.distribute import Distribution, choose_distribution, lost_worker_errors
from barrage.errors import ArtifactError, ConfigError, DataError
from barrage.manifest import Manifest
from barrage.model import build_network, check_against_network, compile_network, load_weights, sparse_label_ranges
from barrage.progress import Progress
from barrage.records import RecordsLike, RecordStream, RecordTable, open_records, text_keys_of
from barrage.runtime import Runtime, default_runtime
from barrage.scores import ScoreWriter, check_scores_output, records_of
from barrage.scoring import Scorer, Shard, concatenate, kept_columns, record_chunks
from barrage.services import ServiceRun, best_epoch, build_services, monitor_problems
from barrage.services.batch_tracker import BatchTracker
from barrage.services.plugin_callback import PluginCallback
from barrage.services.resume_checkpoint import latest_resume_point, restore
from barrage.sources import BatchSource, make_batch_source

Records = Union[RecordTable, RecordStream]  # what training reads: records in memory, or a stream


class BarrageModel:
    """A model living in one artifact directory.

    ``train`` fills the directory and returns the trained ``keras.Model`` (the last
    epoch's weights); ``load`` rebuilds the network from the directory with the best
    checkpoint's weights, which ``predict`` and the rest use (after ``train`` too);
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
        self._distribution = Distribution("off", None)
        self._data_seed: Optional[int] = None

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
        distribute: "str | Distribution" = "auto",
        replicas: Optional[int] = None,
    ) -> Any:
        """Train ``config`` on the records; returns the trained ``keras.Model``.

        ``distribute`` (``"auto"``, ``"off"``, ``"mirrored"``, ``"multi-worker"``, or a
        :class:`~barrage.distribute.Distribution` made beforehand) and ``replicas`` choose
        the ``tf.distribute`` strategy (see :mod:`barrage.distribute`); in a cluster only
        the chief writes the artifact directory. A strategy other than ``"off"`` must be
        chosen before TensorFlow sets up its devices in the process."""
        self._distribution = distribute if isinstance(distribute, Distribution) \
            else choose_distribution(distribute, replicas)
        config = prepare_config(config, self.runtime)
        with lost_worker_errors(self._distribution, self.artifact_dir):
            resume_point = self._check_directory(config, resume)
            seed_everything(config["dataset"].get("seed"))
            self._data_seed = self._distribution.shared_seed(config["dataset"].get("seed"))  # workers shuffle alike
            with self._writing_layout() as layout:
                return self._train(config, records_train, records_validation, resume_point, layout, verbose)

    @contextlib.contextmanager
    def _writing_layout(self) -> Iterator[ArtifactLayout]:
        """Where this process writes checkpoints, reports and TensorBoard logs: the artifact
        directory on the chief; a private temporary directory, removed at the end, on the
        other workers of a cluster (they must run the same callbacks)."""
        if self._distribution.is_chief:
            yield self.layout
            return
        private = tempfile.mkdtemp(prefix="barrage-worker-")
        try:
            yield ArtifactLayout(private)
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _train(self, config: Dict[str, Any], records_train: RecordsLike, records_validation: RecordsLike,
               resume_point: Optional["ResumePoint"], layout: ArtifactLayout, verbose: Any) -> Any:
        """Everything checked, then the directory written and the network fitted."""
        streaming, text_keys = config["dataset"]["streaming"], text_keys_of(config)
        train_table = open_records(records_train, "training records", streaming, text_keys)
        validation_table = open_records(records_validation, "validation records", streaming, text_keys)
        transformer, network_params = self._fitted_transformer(config, train_table, resume_point)
        self._distribution.agree({  # every worker starts from the same place
            "--resume": resume_point is not None, "epochs done": resume_point.epochs_done if resume_point else 0,
            "network params": _digest(network_params),
        })
        train_source, validation_source = self._sources(config, train_table, validation_table, transformer)
        network = self._compiled_network(config, network_params, train_source)
        for source in (train_source, validation_source):
            source.require_labels(sparse_label_ranges(config, network, self.runtime.registry))

        # everything is checked: from here on the artifact directory is written (by the chief)
        chief = self._distribution.is_chief
        created = resume_point is None and chief
        if created:
            self._write_new_directory(config, network_params, transformer)
        if resume_point is not None and resume_point.weights:
            with self._distribution.scope():  # mirrored variables are assigned in their strategy's scope
                restore(network, resume_point.weights)
        start_epoch = resume_point.epochs_done if resume_point else 0
        context = RunContext(config, self.artifact_dir, RecordMode.TRAIN, network, transformer, is_chief=chief)
        try:
            services = ServiceRun(config, layout, network_params=network_params)
            callbacks = self._callbacks(config, start_epoch, context, services)
            self.runtime.plugins.call("barrage_pre_fit", context=context)
            history = _fit(config, network, (train_source, validation_source), self._distribution, callbacks,
                           start_epoch, verbose)
        except ConfigError:  # a value only training showed to be wrong: no run of this config can go on
            if created:
                shutil.rmtree(self.artifact_dir, ignore_errors=True)
            raise
        except BaseException:
            self._abandon_if_empty(created)
            raise
        if chief:
            manifest = Manifest(self.artifact_dir)
            if not config["services"].get("best_checkpoint"):  # the last epoch's weights serve as the best
                manifest.write(artifacts.BEST_WEIGHTS_PATH, network.save_weights)
            manifest.finish()
        self.runtime.plugins.call("barrage_post_fit", context=context, history=history)
        self.config, self.history = config, history
        self.network, self.transformer = None, None  # predict & co. load the best checkpoint, not the last epoch
        return network

    def _fitted_transformer(
        self, config: Dict[str, Any], train_table: Records, resume_point: Optional["ResumePoint"]
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
            transformer.fit(cast(Any, train_table))  # a table, or a stream (iterable, len, chunks)
            network_params = dict(transformer.network_params or {})
        _check_json("network_params", network_params)
        return transformer, network_params

    def _sources(
        self, config: Dict[str, Any], train_table: Records, validation_table: Records, transformer: RecordTransformer,
    ) -> Tuple[BatchSource, BatchSource]:
        """The TRAIN source (augmented, sampled, shuffled) and the VALIDATION one."""
        registry = self.runtime.registry
        dataset, batch_size = config["dataset"], config["solver"]["batch_size"]
        train_source = make_batch_source(
            train_table, mode=RecordMode.TRAIN, loader=transformer.loader, transformer=transformer,
            augmentors=build_augmentors(config, registry), batch_size=batch_size, seed=self._data_seed,
            sample_count=dataset.get("sample_count"), workers=dataset.get("workers"), shuffle=dataset["shuffle"],
            shuffle_buffer=dataset["shuffle_buffer"],
        )
        validation_loader = build_loader(config, RecordMode.VALIDATION, registry)
        validation_source = make_batch_source(
            validation_table, mode=RecordMode.VALIDATION, loader=validation_loader,
            transformer=transformer.for_mode(RecordMode.VALIDATION, validation_loader), batch_size=batch_size,
            seed=self._data_seed, workers=dataset.get("workers"),
        )
        return train_source, validation_source

    def _compiled_network(self, config: Dict[str, Any], network_params: Dict[str, Any], source: BatchSource) -> Any:
        """Build and compile the network; check it against the data and the monitors."""
        registry = self.runtime.registry
        with self._distribution.scope(), self.runtime.activate():
            network = build_network(config, network_params, registry)
            logged = compile_network(network, config, registry)
        check_against_network(network, source)
        problems = monitor_problems(config, logged)
        if problems:
            raise ConfigError(problems)
        return network

    def _callbacks(self, config: Dict[str, Any], start_epoch: int, context: RunContext, run: ServiceRun) -> List[Any]:
        """The services (writing into ``run.layout``), then the plugins' callbacks; a
        resumed run first drops report rows of epochs its checkpoint does not hold and
        tells the best checkpoint its record."""
        rows = artifacts.read_report(self.layout.report, epochs_done=start_epoch)
        best_block = config["services"].get("best_checkpoint")
        best = best_epoch(rows, best_block["monitor"], best_block["mode"]) if best_block and rows else None
        plugin_callbacks = [
            PluginCallback(callback, plugin.describe())
            for plugin, extra in self.runtime.plugins.results("barrage_callbacks", context=context)
            for callback in extra or []
        ]
        return build_services(attrs.evolve(run, report_rows=rows, best_so_far=best[1] if best else None),
                              plugin_callbacks)

    @property
    def is_chief(self) -> bool:
        """Whether this process wrote the artifact directory (see :mod:`barrage.distribute`)."""
        return self._distribution.is_chief

    def describe_distribution(self) -> str:
        """How the last training run was distributed, e.g. ``multi-worker over 2 replica(s),
        2 workers, this is worker 1``."""
        return self._distribution.describe()

    def summary(self) -> str:
        """One paragraph on the finished run: best epoch, its monitored value, where it is."""
        self.layout.require()  # a directory that is not there has no summary
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
        files intact, the same config; leftovers of a killed process are removed. The
        other workers of a cluster only read the chief's directory, and only to resume:
        a fresh run is the chief's to create, so they cannot race it."""
        if not self._distribution.is_chief:
            return self._resume_point(config) if resume else None
        if not resume or (not os.path.lexists(self.artifact_dir) and artifacts.stale_stages(self.artifact_dir)):
            if os.path.lexists(self.artifact_dir):
                raise ArtifactError(
                    f"{self.artifact_dir}: artifact directory already exists; choose a new one or resume it"
                )
            if resume:  # killed while the directory was being made: nothing was kept, start again
                warnings.warn(f"{self.artifact_dir}: the run was killed before its directory was complete; "
                              "starting it from the beginning", stacklevel=2)
            return None
        artifacts.remove_leftovers(self.artifact_dir)
        return self._resume_point(config)

    def _resume_point(self, config: Dict[str, Any]) -> "ResumePoint":
        """Where the run in the (existing) artifact directory stopped, once the directory
        is checked; reads only."""
        if not self._distribution.is_chief and not os.path.isdir(self.artifact_dir):
            raise ArtifactError(
                f"{self.artifact_dir}: no such artifact directory; every worker resumes from the chief's, "
                "which must be on storage all workers share"
            )
        self.layout.require(artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.DATASET)
        artifacts.refuse_links(self.artifact_dir)
        _verify_recorded(self.layout)
        saved = prepare_config(artifacts.read_json(self.layout.config), self.runtime)
        differences = _differences(_without_sources(saved), _without_sources(config))
        if differences:
            shown = ", ".join(differences[:3]) + (f" and {len(differences) - 3} more" if len(differences) > 3 else "")
            raise ArtifactError(
                f"{self.artifact_dir}: the config differs from the one this run started with at {shown}; "
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
        if not created:
            return
        try:
            epochs = artifacts.read_report(self.layout.report)
        except ArtifactError:  # unreadable: keep the directory, as for any doubt
            return
        if not epochs:
            shutil.rmtree(self.artifact_dir, ignore_errors=True)

    # -- loading and scoring ----------------------------------------------------------

    def load(self) -> "BarrageModel":
        """Rebuild the network from the artifacts and load the best checkpoint's weights,
        after checking every file against the manifest. Returns the model itself, so
        ``BarrageModel(dir).load().predict(records)`` chains (``.network`` is the
        ``keras.Model``)."""
        self.layout.require(artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.DATASET, artifacts.BEST_WEIGHTS_PATH)
        _verify_recorded(self.layout)
        Manifest(self.artifact_dir).verify([artifacts.BEST_WEIGHTS_PATH])
        registry = self.runtime.registry
        config = prepare_config(_for_scoring(artifacts.read_json(self.layout.config)), self.runtime)
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
        return records_of(self.predict_columns(records, batch_size))

    def predict_columns(self, records: RecordsLike, batch_size: Optional[int] = None) -> Dict[str, Any]:
        """Postprocessed scores as columns: one array per output (a leading record axis),
        the cheap way to score many records in memory."""
        parts = []
        with self._scoring(records, batch_size) as (scorer, chunks):
            for _, columns in scorer.scored(chunks):
                parts.append(columns)
                scorer.count += len(_first(columns))
        return concatenate(parts)

    def score_file(
        self, data: RecordsLike, output: str, keep: Sequence[str] = (), shard: Optional[Shard] = None,
        batch_size: Optional[int] = None, overwrite: bool = False, progress: Optional[Progress] = None,
    ) -> int:
        """Score ``data`` (a file, read chunk by chunk, or records in memory) into the file
        ``output`` (``.csv``, ``.json``, ``.jsonl`` or ``.parquet``), with the ``keep`` input
        columns first; ``shard`` scores one contiguous block. Memory does not grow with the
        number of records. Returns the number of records written."""
        keep = [keep] if isinstance(keep, str) else list(keep)  # one column may be named alone
        check_scores_output(output, overwrite, self.artifact_dir, data)  # before any work
        try:
            with self._scoring(data, batch_size, shard) as (scorer, chunks), \
                    ScoreWriter(output, overwrite) as writer:
                if progress is not None and progress.total is None:
                    progress.total = scorer.total
                if keep:
                    writer.refuse_clashes(keep, scorer.known_columns())  # before predicting, if known
                for table, columns in scorer.scored(chunks):
                    first_record = int(table.record_numbers([0])[0])
                    writer.write(columns, kept_columns(table, keep), first_record=first_record)
                    scorer.count += len(table)
                    if progress is not None:
                        progress.update(len(table))
                if writer.count == 0:  # no record (an empty shard): the columns all the same
                    empty = scorer.empty_scores()
                    if empty is not None:
                        writer.write(empty, {key: np.array([], dtype=object) for key in keep} or None)
        except BaseException:
            if progress is not None:
                progress.close(failed=True)  # a bar drawn in place ends its line before the error
            raise
        if progress is not None:
            progress.close()
        return writer.count

    @contextlib.contextmanager
    def _scoring(self, records: RecordsLike, batch_size: Optional[int],
                 shard: Optional[Shard] = None) -> Iterator[Tuple[Scorer, Iterator[Any]]]:
        """The scorer and the chunks of ``records``, between the pre- and end hooks."""
        _check_batch_size(batch_size)
        if self.network is None:
            self.load()
        assert self.config is not None
        transformer = self._scoring_transformer()
        opened, chunks = record_chunks(records, "scoring records", shard, text_keys_of(self.config))
        context = RunContext(self.config, self.artifact_dir, RecordMode.SCORE, self.network, transformer)
        plugins = self.runtime.plugins
        plugins.call("barrage_pre_score", context=context, records=opened)
        scorer = Scorer(self.network, transformer, self.config, plugins, context, batch_size, total=len(opened))
        yield scorer, chunks
        plugins.call("barrage_score_end", context=context, count=scorer.count)

    def evaluate(self, records: RecordsLike, batch_size: Optional[int] = None) -> Dict[str, Any]:
        """The config's losses and metrics on labelled ``records`` as Keras computes them,
        and per output a confusion matrix with per-class precision, recall and F1, or
        MAE, RMSE and R² (see :mod:`barrage.evaluation`)."""
        from barrage.evaluation import Evaluation

        _check_batch_size(batch_size)
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


def _differences(saved: Any, given: Any, path: str = "") -> List[str]:
    """The dotted paths where two configs differ (a list index in brackets)."""
    if isinstance(saved, dict) and isinstance(given, dict):
        return [found for key in sorted(set(saved) | set(given), key=str)
                for found in _differences(saved.get(key), given.get(key), f"{path}.{key}" if path else str(key))]
    if isinstance(saved, list) and isinstance(given, list) and len(saved) == len(given):
        return [found for index, (a, b) in enumerate(zip(saved, given))
                for found in _differences(a, b, f"{path}[{index}]")]
    return [] if saved == given else [path or "the top"]


def _check_batch_size(batch_size: Optional[int]) -> None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: must be a whole number of at least 1, got {batch_size!r}")


def _first(columns: Dict[str, Any]) -> Any:
    return next(iter(columns.values())) if columns else ()


def _fit(
    config: Dict[str, Any], network: Any, sources: Tuple[BatchSource, BatchSource], distribution: Distribution,
    callbacks: List[Any], start_epoch: int, verbose: Any,
) -> Any:
    """``network.fit`` from ``start_epoch``. A record's error is raised as itself, not as
    the TensorFlow error that carried it out of the pipeline; data TensorFlow refuses
    inside a step becomes a ``DataError`` naming the records of that batch, and an error
    in a callback a ``ConfigError`` naming it."""
    import tensorflow as tf

    train_source, validation_source = sources
    solver = config["solver"]
    steps = solver.get("steps") or train_source.batches_per_pass
    tracker = BatchTracker()
    try:
        with _keras_frames_kept():
            return network.fit(
                distribution.dataset(train_source, start_batch=start_epoch * steps),
                validation_data=distribution.dataset(validation_source),
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
    except (ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        callback = _failing_callback(exc)
        if callback is not None:  # e.g. an early stopping's baseline that is not a number
            path = getattr(callback, "barrage_config_path", "services")
            raise ConfigError([f"{path}: the Keras callback {type(callback).__name__} failed during training: "
                               f"{reason} (check the values its block in the config gives it)"]) from exc
        if isinstance(exc, TypeError):
            raise
        # Keras traces the step on the first batch: shapes that cannot meet
        raise DataError(f"{train_source.origin}: the network cannot train on these batches: {reason}") from exc


@contextlib.contextmanager
def _keras_frames_kept() -> Iterator[None]:
    """Keras trims its own frames from tracebacks; kept while fitting, so that an error
    raised in a callback can be traced to it (:func:`_failing_callback`)."""
    import keras

    trimming = keras.config.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()
    try:
        yield
    finally:
        if trimming:
            keras.config.enable_traceback_filtering()


def _failing_callback(exc: BaseException) -> Any:
    """The Keras callback (a service, or a plugin's) in whose code ``exc`` was raised,
    if it was raised in one."""
    import keras

    traceback = exc.__traceback__
    found = None
    while traceback is not None:
        owner = traceback.tb_frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.Callback) and not isinstance(owner, keras.callbacks.CallbackList):
            found = owner
        traceback = traceback.tb_next
    return found


def _refused_batch(exc: Exception, tracker: BatchTracker, train: BatchSource, validation: BatchSource) -> DataError:
    """TensorFlow refused a batch (a shape or value a loss cannot take): name its records."""
    if tracker.phase == "train":
        source, records = train, train.records_of_batch(tracker.train_batch_number())
    else:
        source, records = validation, validation.records_of_batch(tracker.batch)
    shown = ", ".join(map(str, records[:8])) + (", ..." if len(records) > 8 else "")
    reason = str(getattr(exc, "message", exc)).strip().splitlines()[0]
    return DataError(f"{source.origin}: TensorFlow refused the batch of records {shown}: {reason}")


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


def _for_scoring(saved: Any) -> Any:
    """A saved config without what only training uses: its augmentors are not resolved
    (nor imported) to score, evaluate or export, so a model trained with an augmentor
    from a path or a plugin scores where that code is absent, and under ``--strict``."""
    if not isinstance(saved, dict) or not isinstance(saved.get("dataset"), dict):
        return saved  # prepare_config says what is wrong with it
    return {**saved, "dataset": {**saved["dataset"], "augmentor": []}}


def _digest(value: Any) -> int:
    """A short number standing for a JSON value (to compare it across workers)."""
    text = json.dumps(value, sort_keys=True, default=artifacts.json_default)
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


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
