"""``ComposedTransformer``: several transformers configured and applied as one.

Barrage's config has one transformer block. This one holds others: its ``steps`` param is
a list of transformer import blocks, resolved through the registry of the run in progress
(so a strict run refuses a step that is not registered, as it would refuse the block
itself). It is scikit-learn's ``ColumnTransformer`` and ``Pipeline`` in one:

- each step changes only the inputs and outputs its own params name, so steps over
  different names act on column subsets side by side (numbers standardised, a category
  encoded);
- steps run in order, each fitted on the records as the steps before it transform them,
  so steps over the same name chain.

``postprocess`` undoes the steps in reverse order. Each step keeps its state in its own
subfolder of the state directory (``dataset/<index>-<class>/``). ``network_params`` are
the union of the steps'; two steps setting the same one is a config error.
"""

from __future__ import annotations

import contextlib
import copy
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

from barrage.api import (
    ArtifactError,
    ComponentError,
    ConfigError,
    DataRecord,
    Record,
    RecordLoader,
    RecordMode,
    Records,
    RecordScore,
    RecordTransformer,
    ServingSpec,
    TransformerOps,
    stack_data_records,
)
from barrage.plugin_kit import current_runtime

PARAMS_PATH = "dataset.transformer.params."
BLOCK_KEYS = {"import", "params"}


def apply_steps(steps: Sequence[RecordTransformer], data_record: DataRecord) -> DataRecord:
    """``data_record`` transformed by each step in turn."""
    for step in steps:
        data_record = step.transform(data_record)
    return data_record


class StepLoader(RecordLoader):
    """What one step sees as its loader: the composed transformer's loader followed by the
    steps before it, so a step is fitted on the data as those steps transform it."""

    def __init__(self, loader: RecordLoader, before: Sequence[RecordTransformer]):
        super().__init__(loader.mode)
        self.base = loader
        self.before = list(before)

    def load(self, record: Record) -> DataRecord:
        return apply_steps(self.before, self.base.load(record))

    def load_columns(self, table: Any) -> DataRecord:
        """Whole columns when every step before is vectorised, else record by record."""
        if all(step.vectorized for step in self.before):
            return apply_steps(self.before, self.base.load_columns(table))
        return stack_data_records([self.load(table[i]) for i in range(len(table))])


def check_blocks(steps: Any) -> List[Mapping[str, Any]]:
    """``steps`` as a list of import blocks, or a ``ValueError`` naming the bad one."""
    if not isinstance(steps, (list, tuple)) or not steps:
        raise ValueError(f"'steps' must be a non-empty list of transformer import blocks, got {steps!r}")
    for index, block in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(block, Mapping) or not isinstance(block.get("import"), str) or not block["import"]:
            raise ValueError(f'{where} must be an import block {{"import": name, "params": {{...}}}}, got {block!r}')
        unknown = sorted(set(block) - BLOCK_KEYS)
        if unknown:
            raise ValueError(f"{where} has unknown keys {unknown} (an import block has 'import' and 'params')")
        if not isinstance(block.get("params", {}), Mapping):
            raise ValueError(f"{where}.params must be a mapping, got {block['params']!r}")
    return list(steps)


@contextlib.contextmanager
def in_step(index: int, label: str) -> Iterator[None]:
    """Re-raise a step's ``ConfigError`` with its problems' paths inside ``steps[index]``."""
    try:
        yield
    except ConfigError as exc:
        inner = f"{PARAMS_PATH}steps[{index}].params."
        problems = [
            inner + problem[len(PARAMS_PATH):] if problem.startswith(PARAMS_PATH) else f"{problem} (in {label})"
            for problem in exc.problems
        ]
        raise ConfigError(problems) from None


class ComposedTransformer(RecordTransformer):
    """Applies several transformers as one (see the module docstring).

    Params:
        steps: a non-empty list of transformer import blocks,
            ``{"import": "Standardizer", "params": {"inputs": ["numbers"]}}``; each is
            built as ``Transformer(mode=mode, loader=<loader + steps before>, **params)``.

    ``vectorized`` when every step is. ``for_mode`` makes a composed twin whose steps are
    the steps' own twins.
    """

    def __init__(self, mode: RecordMode, loader: RecordLoader, steps: Sequence[Mapping[str, Any]]):
        super().__init__(mode, loader)
        registry = current_runtime().registry
        self.steps: List[RecordTransformer] = []
        self.labels: List[str] = []
        for index, block in enumerate(check_blocks(steps)):
            try:
                cls = registry.resolve("transformer", block["import"]).obj
            except ComponentError as exc:
                raise ValueError(f"steps[{index}].import: {exc}") from None
            try:
                step = cls(mode=mode, loader=StepLoader(loader, self.steps), **block.get("params", {}))
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"steps[{index}] ({cls.__name__}) refused its params: {exc}") from None
            self.steps.append(step)
            self.labels.append(f"{index}-{cls.__name__}")
        self.vectorized = all(step.vectorized for step in self.steps)

    def for_mode(self, mode: RecordMode, loader: RecordLoader) -> "ComposedTransformer":
        """The composed twin for ``mode``: each step's own twin, seeing ``loader``."""
        twin = copy.copy(self)
        twin.mode, twin.loader = RecordMode(mode), loader
        twin.steps = []
        for step in self.steps:
            twin.steps.append(step.for_mode(mode, StepLoader(loader, twin.steps)))
        twin.network_params = dict(self.network_params or {})
        return twin

    def fit(self, records: Records) -> None:
        for index, step in enumerate(self.steps):
            with in_step(index, self.labels[index]):
                step.fit(records)
        self.network_params = self.merged_network_params()

    def merged_network_params(self) -> Dict[str, Any]:
        """The union of the steps' network params; a name two steps set is a ``ConfigError``."""
        merged: Dict[str, Any] = {}
        owner: Dict[str, int] = {}
        for index, step in enumerate(self.steps):
            for name, value in (step.network_params or {}).items():
                if name in owner:
                    raise ConfigError([
                        f"{PARAMS_PATH}steps[{index}]: {self.labels[index]} sets the network param '{name}', "
                        f"which steps[{owner[name]}] ({self.labels[owner[name]]}) sets too; "
                        "each network param must come from one step"
                    ])
                merged[name], owner[name] = value, index
        return merged

    def transform(self, data_record: DataRecord) -> DataRecord:
        for index, step in enumerate(self.steps):
            with in_step(index, self.labels[index]):
                data_record = step.transform(data_record)
        return data_record

    def postprocess(self, score: RecordScore) -> RecordScore:
        """Each step's ``postprocess``, last step first (undoing them in reverse)."""
        for index in reversed(range(len(self.steps))):
            with in_step(index, self.labels[index]):
                score = self.steps[index].postprocess(score)
        return score

    def tensorflow_ops(self) -> Optional[TransformerOps]:
        """The steps' TensorFlow operations chained (``postprocess`` in reverse), when
        every step has them; ``None`` otherwise. An input takes the spec of the first
        step that changes it (what the loader gives that step)."""
        operations = [step.tensorflow_ops() for step in self.steps]
        if any(ops is None for ops in operations):
            return None
        chain = [ops for ops in operations if ops is not None]
        specs: Dict[str, ServingSpec] = {}
        for ops in chain:
            for name, spec in ops.inputs.items():
                specs.setdefault(name, spec)

        def transform(inputs: Dict[str, Any]) -> Dict[str, Any]:
            for ops in chain:
                inputs = ops.transform(inputs)
            return inputs

        def postprocess(outputs: Dict[str, Any]) -> Dict[str, Any]:
            for ops in reversed(chain):
                outputs = ops.postprocess(outputs)
            return outputs

        return TransformerOps(specs, transform, postprocess, [r for ops in chain for r in ops.resources])

    def save(self, path: str) -> None:
        """Each step's state in its own subfolder ``<index>-<class>`` of ``path``."""
        for label, step in zip(self.labels, self.steps):
            folder = os.path.join(path, label)
            os.makedirs(folder, exist_ok=True)
            step.save(folder)

    def load(self, path: str) -> None:
        for label, step in zip(self.labels, self.steps):
            folder = os.path.join(path, label)
            if not os.path.isdir(folder):
                raise ArtifactError(
                    f"{folder}: missing, so step {label} has no saved state; "
                    "was this artifact trained with these steps?"
                )
            step.load(folder)
        self.network_params = self.merged_network_params()
