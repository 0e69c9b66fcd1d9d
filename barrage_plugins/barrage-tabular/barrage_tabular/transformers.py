"""Tabular transformers: ``Standardizer`` and ``CategoricalEncoder``.

Both are fitted on the TRAIN records only, in one streaming pass over the loader's
batches (``RecordTransformer.loaded_batches``), keep their state in one JSON file in the
artifact directory's ``dataset/`` folder, and work unchanged on one data record or on a
batched one (``vectorized = True``), so the engine can apply them to whole columns.

Names in their ``inputs`` and ``outputs`` params are the *network's* input and output
names, i.e. what the loader produces, not record keys.
"""

from __future__ import annotations

import collections
import math
from typing import Any, Dict, Hashable, Iterable, List, Optional, Sequence, Union

import numpy as np

from barrage.api import (
    PARTS, ConfigError, DataError, DataRecord, RecordLoader, RecordMode, Records, RecordScore, ServingSpec,
    TransformerOps,
)
from barrage.plugin_kit import (
    first_bad_value,
    Names,
    NamedTransformer,
    check_present,
    load_state,
    name_list,
    positive_int,
    replace_parts,
    save_state,
)

PART_INDEX = {"inputs": 0, "outputs": 1}


# -- Standardizer ---------------------------------------------------------------------


class _Moments:
    """Per-feature count, mean and sum of squared deviations, merged batch by batch.

    Merging uses the pairwise update of Chan, Golub and LeVeque, which stays accurate
    when the mean is large compared with the spread (prices, timestamps), unlike
    accumulating sums of squares. NaN values (missing, when the transformer fills them)
    are left out of every statistic; counts are per feature for that reason.
    """

    def __init__(self, where: str):
        self.where = where
        self.records = 0
        self.count: Optional[np.ndarray] = None
        self.mean: Optional[np.ndarray] = None
        self.m2: Optional[np.ndarray] = None

    def update(self, values: np.ndarray) -> None:
        if values.ndim == 0 or len(values) == 0:
            return
        batch_count = (~np.isnan(values)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            batch_mean = np.where(batch_count > 0, np.nansum(values, axis=0) / batch_count, 0.0)
        batch_m2 = np.nansum((values - batch_mean) ** 2, axis=0)
        self.records += len(values)
        if self.mean is None or self.m2 is None or self.count is None:
            self.count, self.mean, self.m2 = batch_count, batch_mean, batch_m2
            return
        if batch_mean.shape != self.mean.shape:
            raise DataError(
                f"{self.where} has shape {batch_mean.shape} per record in one batch but {self.mean.shape} in another"
            )
        total = self.count + batch_count
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total > 0, batch_count / total, 0.0)
            cross = np.where(total > 0, self.count * batch_count / total, 0.0)
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * share
        self.m2 = self.m2 + batch_m2 + delta**2 * cross
        self.count = total

    def statistics(self) -> Dict[str, Any]:
        """``mean``, ``std`` (population; 1 where the values never vary) and ``count``
        (the records seen)."""
        if self.mean is None or self.m2 is None or self.count is None or not np.all(self.count > 0):
            raise DataError(f"{self.where}: no training values to fit on")
        std = np.sqrt(self.m2 / self.count)
        constant = std <= 1e-8 * np.maximum(1.0, np.abs(self.mean))
        std = np.where(constant, 1.0, std)
        return {"mean": self.mean, "std": std, "count": self.records}


def _numeric(value: Any, where: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{where} holds values that are not numbers (dtype {array.dtype})") from None
    return array.astype(np.float64)


class Standardizer(NamedTransformer):
    """Scales chosen inputs and outputs to mean 0 and standard deviation 1.

    Params:
        inputs: input name(s) to standardise (each feature of a vector input separately).
        outputs: output name(s) to standardise; ``postprocess`` maps the network's
            predictions for them back to the original units.
        batch_size: records per batch of the fitting pass.
        fill_missing: fill missing values (NaN, blank cells) of the standardised names
            with the training mean (so they become 0). Off by default: a missing value
            is then an error naming the record and the column. Infinities are always
            refused.

    The mean and the population standard deviation are computed per feature over the
    TRAIN records in a single streaming pass. A feature that never varies keeps a
    standard deviation of 1 (it is only centred), so nothing is divided by zero. Sample
    weights are never touched. State: ``standardizer.json`` (mean, std and count per name).
    """

    who = "Standardizer"
    STATE_FILE = "standardizer.json"

    def __init__(
        self, mode: RecordMode, loader: RecordLoader, inputs: Names = None, outputs: Names = None,
        batch_size: int = 4096, fill_missing: bool = False,
    ):
        super().__init__(mode, loader, inputs, outputs, batch_size)
        if not isinstance(fill_missing, bool):
            raise TypeError(f"Standardizer 'fill_missing' must be true or false, got {fill_missing!r}")
        self.fill_missing = fill_missing
        self.statistics: Optional[Dict[str, Dict[str, Dict[str, Any]]]] = None

    # -- fitting ----------------------------------------------------------------------

    def fit(self, records: Records) -> None:
        moments = {
            group: {name: _Moments(f"Standardizer: {group[:-1]} '{name}'") for name in names}
            for group, names in self.names.items()
        }
        origin = getattr(records, "origin", "training records")
        first_record = 0  # the record number of the batch's first row
        for position, batch in enumerate(self.loaded_batches(records, self.batch_size)):
            if position == 0:
                check_present(batch, self.requires(), self.who, fitting=True)
            for group, by_name in moments.items():
                for name, accumulator in by_name.items():
                    values = _numeric(batch[PART_INDEX[group]][name], accumulator.where)
                    self._refuse_bad(values, PARTS[PART_INDEX[group]], name, origin, first_record)
                    accumulator.update(values)
            first_record += len(next(iter(batch[0].values())))
        self.statistics = {
            group: {name: accumulator.statistics() for name, accumulator in by_name.items()}
            for group, by_name in moments.items()
        }
        self.network_params = {}

    # -- applying ---------------------------------------------------------------------

    def _fitted(self) -> Dict[str, Dict[str, Dict[str, Any]]]:
        if self.statistics is None:
            raise self.not_fitted()
        return self.statistics

    def transform(self, data_record: DataRecord) -> DataRecord:
        statistics = self._fitted()
        check_present(data_record, self.requires(), self.who)
        updates: Dict[int, Dict[str, Any]] = {}
        for group, by_name in statistics.items():
            index = PART_INDEX[group]
            if index >= len(data_record):
                continue  # no outputs while scoring
            updates[index] = {
                name: self._scale(data_record[index][name], f"Standardizer: {group[:-1]} '{name}'", stats)
                for name, stats in by_name.items()
            }
        return replace_parts(data_record, updates)

    def _refuse_bad(self, values: np.ndarray, part: str, name: str, origin: str, first_record: int) -> None:
        """Infinities always, and NaN unless ``fill_missing``: named by record and column."""
        bad = first_bad_value(values, part, name, allow_nan=self.fill_missing)
        if bad is not None:
            hint = "" if self.fill_missing else "; set the Standardizer's fill_missing to fill missing values"
            raise DataError(bad.message(origin, first_record + bad.row, self.loader) + hint)

    def _scale(self, value: Any, where: str, stats: Dict[str, Any]) -> np.ndarray:
        values = _numeric(value, where)
        if values.shape[values.ndim - np.ndim(stats["mean"]):] != np.shape(stats["mean"]):
            raise DataError(f"{where} has shape {values.shape}; fitted per-record shape is {np.shape(stats['mean'])}")
        if self.fill_missing:
            values = np.where(np.isnan(values), stats["mean"], values)
        return ((values - stats["mean"]) / stats["std"]).astype(np.float32)

    def postprocess(self, score: RecordScore) -> RecordScore:
        """Predictions for standardised outputs, back in the original units (float64)."""
        statistics = self._fitted()
        restored = dict(score)
        for name, stats in statistics["outputs"].items():
            if name not in restored:
                continue
            values = np.asarray(restored[name], dtype=np.float64)
            shape = np.shape(stats["mean"])
            if shape and values.shape[max(values.ndim - len(shape), 0):] != shape:
                problem = (
                    f"model.network: Standardizer: output '{name}' has shape {values.shape}, which does not "
                    f"end in the fitted per-record shape {shape}"
                )
                raise ConfigError([problem])
            restored[name] = values * stats["std"] + stats["mean"]
        return restored

    def tensorflow_ops(self) -> Optional[TransformerOps]:
        """``transform`` and ``postprocess`` in TensorFlow: standardised inputs are taken
        as float64 (what the NumPy path computes in) and given to the network as
        float32; standardised outputs come back as float64, as from ``postprocess``."""
        import tensorflow as tf

        statistics = self._fitted()
        constants = {group: {name: (tf.constant(s["mean"], tf.float64), tf.constant(s["std"], tf.float64))
                             for name, s in by_name.items()} for group, by_name in statistics.items()}

        def transform(inputs: Dict[str, Any]) -> Dict[str, Any]:
            scaled = dict(inputs)
            for name, (mean, std) in constants["inputs"].items():
                values = tf.cast(inputs[name], tf.float64)
                if self.fill_missing:
                    values = tf.where(tf.math.is_nan(values), mean + tf.zeros_like(values), values)
                scaled[name] = tf.cast((values - mean) / std, tf.float32)
            return scaled

        def postprocess(outputs: Dict[str, Any]) -> Dict[str, Any]:
            restored = dict(outputs)
            for name, (mean, std) in constants["outputs"].items():
                if name in restored:
                    restored[name] = tf.cast(restored[name], tf.float64) * std + mean
            return restored

        specs = {name: ServingSpec("float64", tuple(np.shape(s["mean"]))) for name, s in statistics["inputs"].items()}
        return TransformerOps(specs, transform, postprocess)

    # -- state ------------------------------------------------------------------------

    def save(self, path: str) -> None:
        statistics = self._fitted()
        state = {
            group: {
                name: {
                    "mean": np.asarray(s["mean"]).tolist(),
                    "std": np.asarray(s["std"]).tolist(),
                    "count": int(s["count"]),
                }
                for name, s in by_name.items()
            }
            for group, by_name in statistics.items()
        }
        save_state(path, self.STATE_FILE, state)

    def load(self, path: str) -> None:
        state = load_state(path, self.STATE_FILE, self.who, ("inputs", "outputs"))
        self.check_saved_names(path, state, "statistics")
        self.statistics = {
            group: {
                name: {
                    "mean": np.asarray(s["mean"], dtype=np.float64),
                    "std": np.asarray(s["std"], dtype=np.float64),
                    "count": int(s["count"]),
                }
                for name, s in state[group].items()
            }
            for group in ("inputs", "outputs")
        }
        self.network_params = {}


# -- CategoricalEncoder ---------------------------------------------------------------

OOV_ID = 0
MISSING_LABEL = -1


def category_key(value: Any) -> Optional[Hashable]:
    """The vocabulary key of one value, or ``None`` for a missing value.

    NumPy scalars become Python ones, bytes become text, and integral floats become
    integers (a CSV column with a gap is read as floats: ``2.0`` is category ``2``).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    if isinstance(value, (str, int, float)):
        return value
    raise ValueError(f"{value!r} ({type(value).__name__}) cannot be a category; use text or numbers")


def _as_kind(key: Optional[Hashable], kind: str) -> Optional[Hashable]:
    """``key`` as a category of a vocabulary of ``kind``: records' values are read as
    numbers or text depending on the other values beside them (``"7"`` alone is the
    number 7, beside ``"A"`` the text ``"7"``), so a number is looked up by its text in a
    vocabulary of text, and text that is a whole number by its number in one of numbers."""
    if kind == "string" and isinstance(key, (int, float)) and not isinstance(key, bool):
        return str(key)
    if kind == "number" and isinstance(key, str):
        try:
            return int(key)
        except ValueError:
            return key
    return key


def _order(value: Hashable) -> Any:
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def _values(array: Any) -> Iterable[Any]:
    return np.asarray(array, dtype=object).ravel()


class CategoricalEncoder(NamedTransformer):
    """Turns categories (text or integer codes) into integer ids or one-hot vectors.

    Params:
        inputs: input name(s) to encode (every element of a vector input shares its
            name's vocabulary).
        outputs: output name(s) to encode (class labels).
        one_hot: ``False`` (integer ids), ``True`` (one-hot for every name) or a list of
            the names to one-hot encode.
        max_categories: keep only the most frequent categories per name (ties broken by
            value); the rest map to the out-of-vocabulary id.
        batch_size: records per batch of the fitting pass.

    Ids: ``0`` is reserved for out-of-vocabulary values (categories not seen in TRAIN,
    and missing inputs); the known categories get ``1..n`` in sorted order. A missing
    *label* is not a class: it is encoded ``-1`` (a row of NaN when one-hot), which
    training refuses, naming the record. Network
    params: ``vocab_size_<name> = n + 1`` for every encoded name, the size of the
    embedding, one-hot vector or softmax layer. ``postprocess`` keeps each encoded
    output's probabilities and adds ``<name>_category``, the known category with the
    highest probability. State: ``categorical_encoder.json`` (the vocabularies).
    """

    who = "CategoricalEncoder"
    STATE_FILE = "categorical_encoder.json"

    def __init__(
        self,
        mode: RecordMode,
        loader: RecordLoader,
        inputs: Names = None,
        outputs: Names = None,
        one_hot: Union[bool, str, Sequence[str]] = False,
        max_categories: Optional[int] = None,
        batch_size: int = 4096,
    ):
        super().__init__(mode, loader, inputs, outputs, batch_size)
        who = self.who
        every = self.names["inputs"] + self.names["outputs"]
        shared = sorted(set(self.names["inputs"]) & set(self.names["outputs"]))
        if shared:
            raise ValueError(f"{who}: {shared} are both inputs and outputs; their vocab_size params would clash")
        if isinstance(one_hot, bool):
            self.one_hot = set(every) if one_hot else set()
        else:
            self.one_hot = set(name_list(one_hot, "one_hot", who))
            unknown = sorted(self.one_hot - set(every))
            if unknown:
                raise ValueError(f"{who} 'one_hot' names {unknown}, which are not in 'inputs' or 'outputs'")
        if max_categories is not None:
            positive_int(max_categories, f"{who} 'max_categories'")
        self.max_categories = max_categories
        self.vocabularies: Optional[Dict[str, Dict[str, List[Any]]]] = None
        self._lookups: Dict[str, Dict[str, Dict[Hashable, int]]] = {}
        self._kinds: Dict[str, Dict[str, Optional[str]]] = {}  # each vocabulary's: text, numbers or mixed

    # -- fitting ----------------------------------------------------------------------

    def fit(self, records: Records) -> None:
        counters: Dict[str, Dict[str, collections.Counter]] = {
            group: {name: collections.Counter() for name in names} for group, names in self.names.items()
        }
        for position, batch in enumerate(self.loaded_batches(records, self.batch_size)):
            if position == 0:
                check_present(batch, self.requires(), self.who, fitting=True)
            for group, by_name in counters.items():
                for name, counter in by_name.items():
                    where = f"CategoricalEncoder: {group[:-1]} '{name}'"
                    counter.update(key for key in self._keys(batch[PART_INDEX[group]][name], where) if key is not None)
        vocabularies: Dict[str, Dict[str, List[Any]]] = {"inputs": {}, "outputs": {}}
        for group, by_name in counters.items():
            for name, counter in by_name.items():
                if not counter:
                    raise DataError(f"CategoricalEncoder: {group[:-1]} '{name}' has no values in the training records")
                kept = sorted(counter, key=lambda key: (-counter[key], _order(key)))[: self.max_categories]
                vocabularies[group][name] = sorted(kept, key=_order)
        self._set_vocabularies(vocabularies)

    @staticmethod
    def _keys(array: Any, where: str, kind: Optional[str] = None) -> List[Optional[Hashable]]:
        """The category keys of the values; with the ``kind`` of a vocabulary (text or
        numbers), each as that kind where it reads as one (see :func:`_as_kind`)."""
        try:
            if kind is None:
                return [category_key(value) for value in _values(array)]
            return [_as_kind(category_key(value), kind) for value in _values(array)]
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None

    def _set_vocabularies(self, vocabularies: Dict[str, Dict[str, List[Any]]]) -> None:
        self.vocabularies = vocabularies
        self._lookups = {
            group: {name: {key: index + 1 for index, key in enumerate(vocab)} for name, vocab in by_name.items()}
            for group, by_name in vocabularies.items()
        }
        self._kinds = {group: {name: _vocabulary_kind(vocab) for name, vocab in by_name.items()}
                       for group, by_name in vocabularies.items()}
        self.network_params = {
            f"vocab_size_{name}": len(vocab) + 1 for by_name in vocabularies.values() for name, vocab in by_name.items()
        }

    def vocab_size(self, name: str) -> int:
        """Ids used for ``name``: the known categories plus the out-of-vocabulary id."""
        return int(self.network_params[f"vocab_size_{name}"])

    # -- applying ---------------------------------------------------------------------

    def encode(self, group: str, name: str, value: Any) -> np.ndarray:
        """Ids (int32, same shape as ``value``) or one-hot rows (float32, one more axis)."""
        if self.vocabularies is None:
            raise self.not_fitted()
        lookup = self._lookups[group][name]
        array = np.asarray(value, dtype=object)
        # a code read as the other kind (digits read as a number) is still its category
        keys = self._keys(array, f"CategoricalEncoder: {group[:-1]} '{name}'", self._kinds[group][name])
        missing = MISSING_LABEL if group == "outputs" else OOV_ID
        ids = np.fromiter(
            (missing if key is None else lookup.get(key, OOV_ID) for key in keys), dtype=np.int32, count=len(keys)
        ).reshape(array.shape)
        if name in self.one_hot:
            rows = np.eye(self.vocab_size(name), dtype=np.float32)[np.maximum(ids, 0)]
            rows[ids == MISSING_LABEL] = np.nan  # refused downstream, with the record named
            return rows
        return ids

    def transform(self, data_record: DataRecord) -> DataRecord:
        check_present(data_record, self.requires(), self.who)
        updates: Dict[int, Dict[str, Any]] = {}
        for group, names in self.names.items():
            index = PART_INDEX[group]
            if index < len(data_record) and names:
                updates[index] = {name: self.encode(group, name, data_record[index][name]) for name in names}
        return replace_parts(data_record, updates)

    def postprocess(self, score: RecordScore) -> RecordScore:
        """Adds ``<name>_category`` (the most probable known category) per encoded output."""
        if self.vocabularies is None:
            raise self.not_fitted()
        result = dict(score)
        for name, vocabulary in self.vocabularies["outputs"].items():
            if name not in score:
                continue
            probabilities = np.asarray(score[name])
            if probabilities.ndim == 0 or probabilities.shape[-1] != len(vocabulary) + 1:
                problem = (
                    f"model.network: CategoricalEncoder: output '{name}' has shape {probabilities.shape} but "
                    f"should end in {len(vocabulary) + 1} probabilities, one per id (size the last layer with "
                    f"'{{{{vocab_size_{name}}}}}')"
                )
                raise ConfigError([problem])
            best = probabilities[..., 1:].argmax(axis=-1)
            categories = np.empty(best.shape, dtype=object)
            for position, index in np.ndenumerate(best):
                categories[position] = vocabulary[int(index)]
            result[f"{name}_category"] = categories if categories.ndim else categories.item()
        return result

    def tensorflow_ops(self) -> Optional[TransformerOps]:
        """``transform`` and ``postprocess`` in TensorFlow. A vocabulary of text takes a
        string tensor (looked up in a hash table), one of numbers a float64 tensor (a
        value matches a category equal to it, as ``2.0`` is category ``2``); both give
        the same ids (or one-hot rows) as the NumPy path, and ``<name>_category`` as
        text or numbers. ``None`` when a vocabulary mixes text and numbers."""
        import tensorflow as tf

        if self.vocabularies is None:
            raise self.not_fitted()
        if any(_vocabulary_kind(vocab) is None for by_name in self.vocabularies.values() for vocab in by_name.values()):
            return None
        lookups = {name: _IdLookup(vocab) for name, vocab in self.vocabularies["inputs"].items()}
        categories = {name: _category_tensor(vocab) for name, vocab in self.vocabularies["outputs"].items()}

        def transform(inputs: Dict[str, Any]) -> Dict[str, Any]:
            encoded = dict(inputs)
            for name, lookup in lookups.items():
                ids = lookup(inputs[name])
                one_hot = name in self.one_hot
                encoded[name] = tf.one_hot(ids, self.vocab_size(name), dtype=tf.float32) if one_hot else ids
            return encoded

        def postprocess(outputs: Dict[str, Any]) -> Dict[str, Any]:
            result = dict(outputs)
            for name, vocabulary in categories.items():
                if name in outputs:
                    result[f"{name}_category"] = tf.gather(vocabulary, tf.argmax(outputs[name][..., 1:], axis=-1))
            return result

        specs = {name: ServingSpec(lookup.dtype, None) for name, lookup in lookups.items()}
        resources = [lookup.table for lookup in lookups.values() if lookup.table is not None]
        return TransformerOps(specs, transform, postprocess, resources)

    # -- state ------------------------------------------------------------------------

    def save(self, path: str) -> None:
        if self.vocabularies is None:
            raise self.not_fitted()
        save_state(path, self.STATE_FILE, {**self.vocabularies, "oov_id": OOV_ID})

    def load(self, path: str) -> None:
        state = load_state(path, self.STATE_FILE, self.who, ("inputs", "outputs"))
        self.check_saved_names(path, state, "vocabularies")
        self._set_vocabularies({group: dict(state[group]) for group in ("inputs", "outputs")})


# -- CategoricalEncoder in TensorFlow -------------------------------------------------


def _vocabulary_kind(vocabulary: Sequence[Any]) -> Optional[str]:
    """``"string"`` or ``"number"`` for a vocabulary of one kind, ``None`` for a mixed one."""
    kinds = {"string" if isinstance(value, str) else "number" for value in vocabulary}
    return kinds.pop() if len(kinds) == 1 else None


def _category_tensor(vocabulary: Sequence[Any]) -> Any:
    """The vocabulary as a constant: text, integers (int64) or numbers (float64)."""
    import tensorflow as tf

    if _vocabulary_kind(vocabulary) == "string":
        return tf.constant(list(vocabulary), tf.string)
    integral = all(isinstance(value, int) for value in vocabulary)
    return tf.constant(list(vocabulary), tf.int64 if integral else tf.float64)


class _IdLookup:
    """Category -> id (int32; 0 for out-of-vocabulary values) in TensorFlow."""

    def __init__(self, vocabulary: Sequence[Any]):
        import tensorflow as tf

        self.dtype = "string" if _vocabulary_kind(vocabulary) == "string" else "float64"
        ids = tf.range(1, len(vocabulary) + 1, dtype=tf.int64)
        self.table = None
        self.values = None
        if self.dtype == "string":
            initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(list(vocabulary), tf.string), ids)
            self.table = tf.lookup.StaticHashTable(initializer, default_value=OOV_ID)
        else:
            self.values = tf.constant([float(value) for value in vocabulary], tf.float64)

    def __call__(self, values: Any) -> Any:
        import tensorflow as tf

        if self.table is not None:
            return tf.cast(self.table.lookup(values), tf.int32)
        matches = tf.equal(tf.cast(values, tf.float64)[..., tf.newaxis], self.values)
        first = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int32) + 1
        return tf.where(tf.reduce_any(matches, axis=-1), first, OOV_ID)
