"""The open image: where it came from, the original as loaded, the current result,
the damage mask, and the undo stack of edits between them.

Images are never modified in place: an edit replaces `current` (and perhaps the
mask) with new objects, and its undo command keeps the before and after states.
A brush stroke keeps only the rectangle it changed, before and after, so a long
session of mask painting does not hold a full mask per stroke.

The mask is HxW uint8 levels, 255 = damaged (gui/mask_ops.py). When it came from
Detect Damage or an imported file it keeps the soft mask it was thresholded from,
so the threshold can be moved later without running the detector again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

import engine

from . import mask_ops


@dataclass(frozen=True)
class DocumentState:
    """What an edit changes: the current image, the damage mask (HxW uint8, 255 =
    damaged), and the soft mask and threshold the mask follows (None: drawn by hand)."""

    image: engine.Image
    mask: np.ndarray | None
    soft_mask: np.ndarray | None = None
    threshold: float = 0.5


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


class MaskPatchCommand(QUndoCommand):
    """One undoable change to a rectangle of the mask (a brush stroke): keeps just
    that rectangle before and after, and rewrites it into a copy of the mask."""

    def __init__(self, document: "Document", label: str, box: engine.Box, before: np.ndarray, after: np.ndarray):
        super().__init__(label)
        self._document = document
        self._box = box
        self._before = before
        self._after = after

    def _put(self, patch: np.ndarray) -> None:
        state = self._document._state
        mask = state.mask.copy()
        mask[self._box.slices] = patch
        self._document._set_state(replace(state, mask=mask))

    def redo(self) -> None:
        self._put(self._after)

    def undo(self) -> None:
        self._put(self._before)


class Document(QObject):
    """The image being edited; every change goes through the undo stack."""

    image_changed = Signal()   # `current` was replaced (an edit, undo or redo)
    mask_changed = Signal()    # `mask` (or its soft mask or threshold) was set, replaced or cleared
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
    def soft_mask(self) -> np.ndarray | None:
        return self._state.soft_mask

    @property
    def threshold(self) -> float:
        return self._state.threshold

    @property
    def name(self) -> str:
        return os.path.basename(self.path) if self.path else "Untitled"

    @property
    def modified(self) -> bool:
        """True when there are edits since opening or the last export."""
        return not self.undo_stack.isClean()

    def apply(self, image: engine.Image, label: str) -> None:
        """Make `image` current as an undoable edit; a mask of another size is dropped."""
        if image.pixels.shape[:2] == self.current.pixels.shape[:2]:
            self._push(label, replace(self._state, image=image))
        else:
            self._push(label, DocumentState(image, None))

    def set_mask(self, mask: np.ndarray | None, label: str = "Set Mask", soft_mask: np.ndarray | None = None,
                 threshold: float | None = None) -> None:
        """Replace the damage mask (HxW uint8, the image's size) or clear it, undoably.
        With `soft_mask` the mask follows it (thresholded at `threshold`, or the
        current threshold); without, it is taken as drawn by hand."""
        shape = self.current.pixels.shape[:2]
        for array in (mask, soft_mask):
            if array is not None and (array.shape != shape or array.dtype != np.uint8):
                raise ValueError(f"a mask must be uint8 {shape}, not {array.dtype} {array.shape}")
        if mask is None:
            soft_mask = None
        self._push(label, DocumentState(self.current, mask, soft_mask,
                                        self.threshold if threshold is None else threshold))

    def set_threshold(self, threshold: float) -> bool:
        """Move the threshold of the soft mask: pixels not painted by hand follow it.
        One undoable step; False (nothing done) without a soft mask or when unchanged."""
        state = self._state
        if state.soft_mask is None or state.mask is None or threshold == state.threshold:
            return False
        mask = mask_ops.rethreshold(state.mask, state.soft_mask, state.threshold, threshold)
        self._push(f"Threshold {threshold:.0%}", replace(state, mask=mask, threshold=threshold))
        return True

    def paint_mask(self, box: engine.Box, before: np.ndarray, after: np.ndarray, label: str) -> None:
        """Record a brush stroke that changed `box` of the mask from `before` to `after`
        (box-sized patches); the first stroke on no mask starts one."""
        if self.mask is None:
            mask = np.zeros(self.current.pixels.shape[:2], np.uint8)
            mask[box.slices] = after
            self._push(label, replace(self._state, mask=mask, soft_mask=None))
        else:
            self.undo_stack.push(MaskPatchCommand(self, label, box, before, after))

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def _push(self, label: str, after: DocumentState) -> None:
        self.undo_stack.push(EditCommand(self, label, self._state, after))

    def _set_state(self, state: DocumentState) -> None:
        image_changed = state.image is not self._state.image
        mask_changed = (state.mask is not self._state.mask or state.soft_mask is not self._state.soft_mask
                        or state.threshold != self._state.threshold)
        self._state = state
        if image_changed:
            self.image_changed.emit()
        if mask_changed:
            self.mask_changed.emit()
