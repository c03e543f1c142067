"""Errors raised by the runtime core.

`RuntimeInputError` is the user's fault (HTTP 422 / gRPC INVALID_ARGUMENT) and its message is
shown to the user as is. `ModelLoadError` is a start-up failure, one clear line.
`TransformError` is a failing Lua transform (an internal error: HTTP 500 / gRPC INTERNAL).
"""

from __future__ import annotations


class RuntimeInputError(ValueError):
    """Bad user input, e.g. an empty string; the message is user-facing."""


class ModelLoadError(Exception):
    """The encoderfile could not be opened or its model/tokenizer could not be loaded."""


class TransformError(RuntimeError):
    """A Lua transform failed to load, raised an error, timed out or broke its shape contract."""
