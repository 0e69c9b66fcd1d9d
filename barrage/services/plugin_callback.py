"""``PluginCallback``: a plugin's Keras callback, with its exceptions blamed on the plugin.

Callbacks returned by ``barrage_callbacks`` run inside ``fit``; an exception there would
otherwise surface as a bare traceback from deep in Keras. Wrapped, it becomes a
:class:`~barrage.errors.PluginError` naming the plugin and its distribution. Only the
methods the callback really implements are forwarded, so Keras still sees which batch
hooks are in use (it dispatches batches asynchronously when none are).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import keras

from barrage.errors import PluginError

_METHODS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)


class PluginCallback(keras.callbacks.Callback):
    """Forwards to ``inner`` what it implements (see the module docstring); ``plugin``
    names the plugin in messages (``'name' (distribution version)``)."""

    def __init__(self, inner: Any, plugin: str):
        super().__init__()
        self.inner = inner
        self.plugin = plugin
        for method in _METHODS:
            implementation = getattr(inner, method, None)
            if callable(implementation) and not getattr(implementation, "_is_default", False):
                setattr(self, method, self._guarded(method))

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self._guarded("set_model")(model)

    def set_params(self, params: Any) -> None:
        super().set_params(params)
        self._guarded("set_params")(params)

    def _guarded(self, method: str) -> Callable[..., Any]:
        target = getattr(self.inner, method)

        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return target(*args, **kwargs)
            except Exception as exc:
                raise PluginError(
                    f"plugin {self.plugin}: its callback {type(self.inner).__name__} raised in {method}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc

        return call
