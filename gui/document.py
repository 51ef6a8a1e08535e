"""The open image: where it came from, the original as loaded, the current result,
the damage mask, and the undo stack of edits between them.

Images are never modified in place: an edit replaces `current` (and perhaps the
mask) with new objects, and its undo command keeps the before and after states.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

import engine


@dataclass(frozen=True)
class DocumentState:
    """What an edit changes: the current image and the damage mask (HxW, 1 = damaged)."""

    image: engine.Image
    mask: np.ndarray | None


class EditCommand(QUndoCommand):
    """One undoable edit: switches the document between two states."""

    def __init__(self, document: "Document", label: str, before: DocumentState, after: DocumentState):
        super().__init__(label)
        self._document = document
        self._before = before
        self._after = after

    def redo(self) -> None:
        self._document._set_state(self._after)

    def undo(self) -> None:
        self._document._set_state(self._before)


class Document(QObject):
    """The image being edited; every change goes through the undo stack."""

    image_changed = Signal()   # `current` was replaced (an edit, undo or redo)
    mask_changed = Signal()    # `mask` was set, replaced or cleared
    changed = Signal()         # anything shown about the document changed (also the saved state)

    def __init__(self, image: engine.Image, path: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.path = path
        self.original = image
        self._state = DocumentState(image, None)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.indexChanged.connect(self.changed)
        self.undo_stack.cleanChanged.connect(self.changed)

    @property
    def current(self) -> engine.Image:
        return self._state.image

    @property
    def mask(self) -> np.ndarray | None:
        return self._state.mask

    @property
    def name(self) -> str:
        return os.path.basename(self.path) if self.path else "Untitled"

    @property
    def modified(self) -> bool:
        """True when there are edits since opening or the last export."""
        return not self.undo_stack.isClean()

    def apply(self, image: engine.Image, label: str) -> None:
        """Make `image` current as an undoable edit; a mask of another size is dropped."""
        mask = self.mask if image.pixels.shape[:2] == self.current.pixels.shape[:2] else None
        self._push(label, DocumentState(image, mask))

    def set_mask(self, mask: np.ndarray | None, label: str = "Set Mask") -> None:
        """Replace the damage mask (HxW, same size as the image) or clear it, undoably."""
        if mask is not None and mask.shape != self.current.pixels.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match image {self.current.pixels.shape[:2]}")
        self._push(label, DocumentState(self.current, mask))

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def _push(self, label: str, after: DocumentState) -> None:
        self.undo_stack.push(EditCommand(self, label, self._state, after))

    def _set_state(self, state: DocumentState) -> None:
        image_changed = state.image is not self._state.image
        mask_changed = state.mask is not self._state.mask
        self._state = state
        if image_changed:
            self.image_changed.emit()
        if mask_changed:
            self.mask_changed.emit()
