"""Text transformer: ``TextVectorizer`` turns a text input into fixed-length token ids.

Tokenising is plain Python and documented so that a saved vocabulary means the same thing
everywhere: lower-case, every character that is neither a letter, a digit, ``_`` nor
whitespace becomes a space, then split on whitespace.
"""

from __future__ import annotations

import collections
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from barrage.api import (
    ArtifactError,
    DataError,
    DataRecord,
    RecordLoader,
    RecordMode,
    Records,
    RecordScore,
    RecordTransformer,
    ServingSpec,
    TransformerOps,
)
from barrage.plugin_kit import atomic_writer, check_present, positive_int, replace_parts

PAD_ID = 0
OOV_ID = 1
RESERVED = 2
_PUNCTUATION = re.compile(r"[^\w\s]+")


def tokenize(text: Any) -> List[str]:
    """Lower-case, punctuation stripped, split on whitespace (``None``/NaN give no tokens)."""
    if isinstance(text, np.generic):
        text = text.item()
    if text is None or (isinstance(text, float) and text != text):
        return []
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        # digits alone are read as a number ("10" is 10, unless text is beside it): their text
        text = str(int(text)) if isinstance(text, float) and text.is_integer() else str(text)
    if not isinstance(text, str):
        raise ValueError(f"expected text, got {type(text).__name__} {text!r}")
    return _PUNCTUATION.sub(" ", text.lower()).split()


# Python's ``str.isspace`` characters, and everything else that is neither a letter, a
# digit (``\w`` is ``[\p{L}\p{N}_]`` for Python's ``re`` on text) nor ``_``, in RE2 syntax.
_WHITESPACE_RE2 = r"\t\n\x{0b}\f\r\x{1c}-\x{1f}\x{85}\p{Z}"
_PUNCTUATION_RE2 = rf"[^\p{{L}}\p{{N}}_{_WHITESPACE_RE2}]+"


def tensorflow_tokens(texts: Any) -> Any:
    """:func:`tokenize` in TensorFlow: a string tensor of texts (one axis) to a ragged
    tensor of their tokens. Lower-casing is Unicode's (``tf.strings.lower`` in UTF-8),
    punctuation and every kind of whitespace become one space, then it is split."""
    import tensorflow as tf

    lowered = tf.strings.lower(texts, encoding="utf-8")
    spaced = tf.strings.regex_replace(lowered, _PUNCTUATION_RE2, " ")
    return tf.strings.split(tf.strings.regex_replace(spaced, f"[{_WHITESPACE_RE2}]+", " "))


class TextVectorizer(RecordTransformer):
    """Maps one text input to ``sequence_length`` token ids.

    Params:
        input: the network input holding the text (default ``"text"``).
        max_tokens: how many of the most frequent TRAIN words get their own id (ties
            broken alphabetically); the vocabulary holds at most this many words.
        sequence_length: ids per record; longer texts are truncated (the first words
            are kept), shorter ones padded at the end.
        batch_size: records per batch of the fitting pass.

    Ids: ``0`` is padding, ``1`` is out-of-vocabulary, words get ``2, 3, ...`` in order of
    frequency. Network params: ``vocab_size`` (words + 2, the ``input_dim`` of an
    ``Embedding``) and ``sequence_length``. Outputs pass through unchanged. State:
    ``vocabulary.txt``, one word per line, line ``i`` (from 0) holding id ``i + 2``.
    """

    vectorized = True
    VOCABULARY_FILE = "vocabulary.txt"

    def __init__(
        self,
        mode: RecordMode,
        loader: RecordLoader,
        input: str = "text",
        max_tokens: int = 10000,
        sequence_length: int = 64,
        batch_size: int = 4096,
    ):
        super().__init__(mode, loader)
        if not isinstance(input, str) or not input:
            raise TypeError(f"TextVectorizer 'input' must be an input name, got {input!r}")
        self.input = input
        self.max_tokens = positive_int(max_tokens, "TextVectorizer 'max_tokens'")
        self.sequence_length = positive_int(sequence_length, "TextVectorizer 'sequence_length'")
        self.batch_size = positive_int(batch_size, "TextVectorizer 'batch_size'")
        self.vocabulary: Optional[List[str]] = None
        self._ids: Dict[str, int] = {}

    def requires(self) -> Dict[str, Tuple[str, List[str]]]:
        return {"x": ("input", [self.input])}

    # -- fitting ----------------------------------------------------------------------

    def fit(self, records: Records) -> None:
        counts: collections.Counter = collections.Counter()
        for position, batch in enumerate(self.loaded_batches(records, self.batch_size)):
            if position == 0:
                check_present(batch, self.requires(), "TextVectorizer")
            for text in np.asarray(batch[0][self.input], dtype=object).ravel():
                counts.update(self._tokens(text))
        if not counts:
            raise DataError(f"TextVectorizer: input '{self.input}' has no words in the training records")
        ranked = sorted(counts, key=lambda word: (-counts[word], word))
        self._set_vocabulary(ranked[: self.max_tokens])

    def _tokens(self, text: Any) -> List[str]:
        try:
            return tokenize(text)
        except ValueError as exc:
            raise DataError(f"TextVectorizer: input '{self.input}': {exc}") from None

    def _set_vocabulary(self, vocabulary: List[str]) -> None:
        self.vocabulary = vocabulary
        self._ids = {word: index + RESERVED for index, word in enumerate(vocabulary)}
        self.network_params = {"vocab_size": len(vocabulary) + RESERVED, "sequence_length": self.sequence_length}

    # -- applying ---------------------------------------------------------------------

    def vectorize(self, text: Any) -> np.ndarray:
        """``sequence_length`` int32 ids of one text: padded with 0, unknown words 1."""
        if self.vocabulary is None:
            raise ValueError("TextVectorizer is not fitted: call fit() or load() first")
        ids = np.full(self.sequence_length, PAD_ID, dtype=np.int32)
        tokens = self._tokens(text)[: self.sequence_length]
        ids[: len(tokens)] = [self._ids.get(token, OOV_ID) for token in tokens]
        return ids

    def transform(self, data_record: DataRecord) -> DataRecord:
        check_present(data_record, self.requires(), "TextVectorizer")
        texts = np.asarray(data_record[0][self.input], dtype=object)
        if texts.ndim == 0:
            ids = self.vectorize(texts.item())
        else:
            flat = [self.vectorize(text) for text in texts.ravel()]
            ids = np.stack(flat).reshape(texts.shape + (self.sequence_length,)) if flat else np.zeros(
                texts.shape + (self.sequence_length,), dtype=np.int32
            )
        return replace_parts(data_record, {0: {self.input: ids}})

    def postprocess(self, score: RecordScore) -> RecordScore:
        return score

    def tensorflow_ops(self) -> Optional[TransformerOps]:
        """Tokenising and looking up in TensorFlow (:func:`tensorflow_tokens`, a hash
        table of the vocabulary): a string tensor in, ``sequence_length`` int32 ids per
        text out, the same as :meth:`vectorize`. Outputs pass unchanged."""
        import tensorflow as tf

        if self.vocabulary is None:
            raise ValueError("TextVectorizer is not fitted: call fit() or load() first")
        words = tf.constant(self.vocabulary, tf.string)
        ids = tf.range(RESERVED, len(self.vocabulary) + RESERVED, dtype=tf.int64)
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(words, ids), default_value=OOV_ID)
        length = self.sequence_length

        def transform(inputs: Dict[str, Any]) -> Dict[str, Any]:
            texts = inputs[self.input]
            tokens = tensorflow_tokens(tf.reshape(texts, [-1]))[:, :length]
            dense = tf.ragged.map_flat_values(table.lookup, tokens).to_tensor(PAD_ID, shape=[None, length])
            shape = tf.concat([tf.shape(texts), [length]], axis=0)
            return {**inputs, self.input: tf.reshape(tf.cast(dense, tf.int32), shape)}

        return TransformerOps({self.input: ServingSpec("string", None)}, transform, dict, [table])

    # -- state ------------------------------------------------------------------------

    def save(self, path: str) -> None:
        if self.vocabulary is None:
            raise ValueError("TextVectorizer is not fitted: call fit() or load() first")
        os.makedirs(path, exist_ok=True)
        with atomic_writer(os.path.join(path, self.VOCABULARY_FILE), newline="\n") as handle:
            handle.writelines(word + "\n" for word in self.vocabulary)

    def load(self, path: str) -> None:
        vocabulary_path = os.path.join(path, self.VOCABULARY_FILE)
        try:
            with open(vocabulary_path, encoding="utf-8") as handle:
                vocabulary = [line.rstrip("\n") for line in handle]
        except FileNotFoundError:
            raise ArtifactError(f"{vocabulary_path}: missing (TextVectorizer state)") from None
        bad = [index for index, word in enumerate(vocabulary) if not word or tokenize(word) != [word]]
        if bad:
            raise ArtifactError(f"{vocabulary_path}: line {bad[0] + 1} is not a single token")
        self._set_vocabulary(vocabulary)
