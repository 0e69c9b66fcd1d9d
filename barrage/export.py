"""``barrage export``: the best checkpoint's network for serving without Barrage.

Two formats:

- ``saved_model``: a TensorFlow SavedModel with a ``serving_default`` signature (what
  TensorFlow Serving calls), written with Keras 3's export API. When the loader and the
  transformer can express their work as TensorFlow operations
  (:meth:`~barrage.dataset.RecordLoader.tensorflow_ops`,
  :meth:`~barrage.dataset.RecordTransformer.tensorflow_ops`), the signature takes the
  records' raw columns, one tensor per record key, and returns postprocessed outputs,
  so a served model needs no Python preprocessing: :class:`ServingFunction` wires
  loader -> transformer -> network -> postprocess into one ``tf.function`` endpoint of a
  ``keras.export.ExportArchive``. Otherwise it is the network alone
  (``keras.Model.export``), whose inputs are the transformed ones, and the export says so.
- ``keras``: the network alone as a ``.keras`` file (``keras.Model.save``).

Beside the export, ``<OUT>.signature.json`` (``<name>.signature.json`` for
``<name>.keras``) describes the signature: input names (and the record key each
reads), dtypes and shapes, output names, dtypes and shapes, and whether preprocessing is
included. For a SavedModel it is read back from the SavedModel that was written.

The output is checked before any work; a SavedModel is written into a temporary sibling
folder and renamed into place; nothing is replaced without ``overwrite``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import attrs

from barrage import artifacts
from barrage.dataset import LoaderOps, RecordTransformer, ServingSpec, TransformerOps
from barrage.errors import DataError
from barrage.outputs import check_output, publish_folder

FORMATS = ("saved_model", "keras")
SIGNATURE = "serving_default"
SIGNATURE_SUFFIX = ".signature.json"
_NAME = re.compile(r"[^A-Za-z0-9_.\-/>]")


def export_format(path: str, requested: Optional[str]) -> str:
    """The format to write: ``requested``, or ``keras`` for a path ending in ``.keras``
    and ``saved_model`` otherwise. A ``DataError`` for an unknown one."""
    if requested is None:
        return "keras" if path.lower().endswith(".keras") else "saved_model"
    if requested not in FORMATS:
        raise DataError(f"--format {requested}: unknown export format; use {' or '.join(FORMATS)}")
    return requested


def signature_path(path: str, fmt: str) -> str:
    """Where the description of the export's signature goes, beside the export."""
    stem = path.rstrip("/\\")
    if fmt == "keras" and stem.lower().endswith(".keras"):
        stem = stem[: -len(".keras")]
    return stem + SIGNATURE_SUFFIX


def check_export_output(path: str, fmt: str, overwrite: bool = False) -> None:
    """A ``DataError`` if the export or its signature description cannot be written
    (called before any work)."""
    if fmt == "keras":
        check_output(path, overwrite, extensions=(".keras",), what="Keras model")
    else:
        check_output(path, overwrite, folder=True, what="SavedModel", marker="saved_model.pb")
    check_output(signature_path(path, fmt), overwrite, what="signature description")


@attrs.frozen
class ServingPlan:
    """How raw columns become postprocessed outputs, or why they cannot (``reason``)."""

    loader: Optional[LoaderOps] = None
    transformer: Optional[TransformerOps] = None
    reason: str = ""

    @property
    def complete(self) -> bool:
        return self.loader is not None and self.transformer is not None


def serving_plan(network: Any, transformer: RecordTransformer) -> ServingPlan:
    """The loader's and the transformer's TensorFlow operations, if both have them."""
    transformer_ops = transformer.tensorflow_ops()
    if transformer_ops is None:
        return ServingPlan(reason=f"the transformer {type(transformer).__name__} cannot express its transform and "
                                  "postprocess as TensorFlow operations")
    specs = {name: network_spec(network.input[name]) for name in network.input}
    specs.update(transformer_ops.inputs)
    loader_ops = transformer.loader.tensorflow_ops(specs)
    if loader_ops is None:
        return ServingPlan(reason=f"the loader {type(transformer.loader).__name__} cannot express its load as "
                                  "TensorFlow operations")
    return ServingPlan(loader_ops, transformer_ops)


def network_spec(tensor: Any) -> ServingSpec:
    """The spec of one of the network's (Keras) inputs."""
    return ServingSpec(str(tensor.dtype), tuple(tensor.shape[1:]))


def signature_names(keys: List[str]) -> List[str]:
    """Names a SavedModel signature accepts for ``keys`` (other characters become ``_``),
    unique."""
    names: List[str] = []
    for key in keys:
        name = _NAME.sub("_", key)
        name = name if re.match(r"[A-Za-z0-9.]", name) else f"c{name}"
        base, number = name, 2
        while name in names:
            name, number = f"{base}_{number}", number + 1
        names.append(name)
    return names


# -- writing --------------------------------------------------------------------------


def export_model(network: Any, transformer: RecordTransformer, path: str, fmt: str = "saved_model",
                 overwrite: bool = False) -> Dict[str, Any]:
    """Export ``network`` (with ``transformer``'s work where it can be expressed in
    TensorFlow) to ``path``; returns the signature description written beside it."""
    check_export_output(path, fmt, overwrite)
    if fmt == "keras":
        artifacts.write_atomically(path, network.save)
        description = _keras_description(network)
    else:
        plan = serving_plan(network, transformer)
        found: Dict[str, Any] = {}

        def fill(stage: str) -> None:
            columns = _write_saved_model(stage, network, plan)
            found.update(_saved_model_description(stage, plan, columns))

        publish_folder(path, fill, overwrite)
        description = found
    artifacts.write_json(signature_path(path, fmt), {"format": fmt, **description})
    return {"format": fmt, **description}


def _write_saved_model(stage: str, network: Any, plan: ServingPlan) -> Dict[str, str]:
    """Write the SavedModel into ``stage``; returns signature name -> record key (empty
    for the network alone)."""
    import keras
    import tensorflow as tf

    if not plan.complete:
        network.export(stage, format="tf_saved_model", verbose=False)
        return {}
    assert plan.loader is not None and plan.transformer is not None
    keys = list(plan.loader.columns)
    names = signature_names(keys)
    specs = [plan.loader.columns[key] for key in keys]
    signature = [tf.TensorSpec((None, *(spec.shape or ())), spec.dtype, name=name) for spec, name in zip(specs, names)]
    serve = ServingFunction(network, plan, keys).serve
    archive = keras.export.ExportArchive()
    archive.track(network)
    for resource in plan.transformer.resources:
        archive.track(resource)
    archive.add_endpoint("serve", serve, input_signature=signature)
    archive.write_out(stage, verbose=False)
    return dict(zip(names, keys))


class ServingFunction:
    """The serving function of a complete plan: raw columns (positional, in the order
    of ``keys``) -> load -> transform -> network -> postprocess."""

    def __init__(self, network: Any, plan: ServingPlan, keys: List[str]):
        self.network = network
        self.plan = plan
        self.keys = keys

    def serve(self, *tensors: Any) -> Dict[str, Any]:
        import tensorflow as tf

        assert self.plan.loader is not None and self.plan.transformer is not None
        inputs = self.plan.transformer.transform(self.plan.loader.load(dict(zip(self.keys, tensors))))
        checked = {}
        for name in self.network.input:
            value = inputs[name]
            declared = tf.as_dtype(self.network.input[name].dtype)
            if value.dtype != declared and (value.dtype.is_floating or value.dtype.is_integer):
                value = tf.cast(value, declared)
            if value.dtype.is_floating:  # Barrage refuses missing values; so does the served model
                value = tf.debugging.check_numerics(value, f"input '{name}' holds a missing or non-finite value")
            checked[name] = value
        outputs = self.network(checked, training=False)
        return dict(self.plan.transformer.postprocess(dict(outputs)))


# -- describing -----------------------------------------------------------------------


def _spec(name: str, dtype: Any, shape: Any) -> Dict[str, Any]:
    return {"name": name, "dtype": str(getattr(dtype, "name", dtype)), "shape": [d for d in shape]}


def _saved_model_description(stage: str, plan: ServingPlan, columns: Dict[str, str]) -> Dict[str, Any]:
    """The ``serving_default`` signature of the SavedModel in ``stage``, read back."""
    import tensorflow as tf

    function = tf.saved_model.load(stage).signatures[SIGNATURE]
    _, inputs = function.structured_input_signature
    inputs_described = []
    for name, spec in sorted(inputs.items()):
        entry = _spec(name, spec.dtype, spec.shape.as_list())
        if columns:
            entry["column"] = columns[name]
        inputs_described.append(entry)
    outputs = [_spec(name, spec.dtype, spec.shape.as_list())
               for name, spec in sorted(function.structured_outputs.items())]
    if plan.complete:
        note = ("takes the records' raw values (one tensor per record key, named as 'column' says) and returns "
                "postprocessed outputs; no Python preprocessing is needed")
    else:
        note = (f"the network alone: {plan.reason}, so its inputs are the transformed ones; transform records "
                "with Barrage (the artifact directory's transformer) before sending them, and postprocess the outputs")
    return {"signature": SIGNATURE, "preprocessing": plan.complete, "note": note, "inputs": inputs_described,
            "outputs": outputs}


def _keras_description(network: Any) -> Dict[str, Any]:
    inputs = [_spec(name, tensor.dtype, tensor.shape) for name, tensor in sorted(network.input.items())]
    outputs = [_spec(name, tensor.dtype, tensor.shape) for name, tensor in sorted(network.output.items())]
    note = ("the network alone (keras.saving.load_model); its inputs are the transformed ones: transform records "
            "with Barrage before calling it, and postprocess its outputs")
    return {"preprocessing": False, "note": note, "inputs": inputs, "outputs": outputs}


def export_summary(path: str, description: Dict[str, Any]) -> str:
    """What ``barrage export`` prints."""
    what = "a TensorFlow SavedModel" if description["format"] == "saved_model" else "a Keras model file"
    lines = [f"exported {what} to {path}"]
    lines.append(("with preprocessing: " if description["preprocessing"] else "without preprocessing: ")
                 + description["note"])
    lines.append("inputs: " + ", ".join(f"{i['name']} {i['dtype']} {i['shape']}" for i in description["inputs"]))
    lines.append("outputs: " + ", ".join(f"{o['name']} {o['dtype']} {o['shape']}" for o in description["outputs"]))
    fmt = description["format"]
    lines.append(f"signature described in {signature_path(path, fmt)}")
    return "\n".join(lines)
