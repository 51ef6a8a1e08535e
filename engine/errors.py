"""Errors the engine raises: each carries a message a person can act on.

Every error that concerns a file names that file. The command line prints
`str(error)` without a traceback; the editor shows it in a message box.
"""
from __future__ import annotations

import os


class RestoraError(Exception):
    """Base class: `str()` is the whole user-facing message."""


class ImageReadError(RestoraError):
    """A file could not be read as an image (missing, corrupt, too big, ...)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageWriteError(RestoraError):
    """An output could not be written (exists, no space, bad format, ...)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(RestoraError):
    """A model is unknown, not installed, or its weights are damaged."""


class ModelNotInstalledError(ModelError):
    """The registry has no trained weights for the requested model or task."""


class DeviceError(RestoraError):
    """The requested compute device is not available."""


class OutOfMemoryError(RestoraError):
    """The host ran out of memory part-way through a job (numpy's or Python's MemoryError)."""

    def __init__(self, exc: MemoryError):
        super().__init__(f"not enough memory ({exc or 'an allocation failed'}): work on a selection or a "
                         "smaller picture, or close other programs")


class Cancelled(RestoraError):
    """A job stopped because its CancelToken was set."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)
