"""The open image: where it came from, the original as loaded, the current result,
the damage mask, and the undo stack of edits between them.

Images are never modified in place: an edit replaces `current` (and perhaps the
mask) with new objects, and its undo command keeps what it changed, before and
after. The history is kept small, as a long session on a big photo would
otherwise fill the memory: an 8-bit image is held as uint8 (`Image.compact`: a
quarter of float32, and exactly what an 8-bit export writes); a brush or Heal
stroke, or a tool run on a small selection, keeps only the rectangle it changed;
a mask edit keeps no image, an image edit no mask. And when what the history
holds passes a budget (HISTORY_BUDGET), its oldest steps are forgotten (the last
step can always be undone).

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

PATCH_SHARE = 0.5   # an image edit that changed at most this share of the image is kept as a patch
HISTORY_BUDGET = 2 * 2**30   # bytes of images and masks the undo history may hold


def _arrays(value: object) -> list[np.ndarray]:
    """The arrays an image, a mask or a patch holds."""
    if isinstance(value, engine.Image):
        return [value.pixels] + ([] if value.alpha is None else [value.alpha])
    return [value] if isinstance(value, np.ndarray) else []


def changed_box(before: engine.Image, after: engine.Image) -> engine.Box | None:
    """The smallest box holding every pixel `after` changes from `before` (empty when
    none changed); None when `after` is more than new pixel values (another size,
    storage type or alpha)."""
    a, b = before.pixels, after.pixels
    if a.shape != b.shape or a.dtype != b.dtype or before.alpha is not after.alpha:
        return None
    differs = (a != b).any(axis=2)
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if rows.size == 0:
        return engine.Box(0, 0, 0, 0)
    return engine.Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


@dataclass(frozen=True)
class DocumentState:
    """What an edit changes: the current image, the damage mask (HxW uint8, 255 =
    damaged), the soft mask and threshold the mask follows (None: drawn by hand),
    and the original as compared with (turned and cropped with the image)."""

    image: engine.Image
    mask: np.ndarray | None
    soft_mask: np.ndarray | None = None
    threshold: float = 0.5
    original: engine.Image | None = None


class EditCommand(QUndoCommand):
    """One undoable edit: sets the fields of the document's state it changed (a
    dict of DocumentState field -> value) to their values after or before it. A
    mask edit keeps no image and an image edit no mask: the other fields are as
    the edits below it left them."""

    def __init__(self, document: "Document", label: str, before: dict, after: dict):
        super().__init__(label)
        self._document = document
        self._before = before
        self._after = after

    def redo(self) -> None:
        if not self._document._replaying:
            self._document._set_state(replace(self._document._state, **self._after))

    def undo(self) -> None:
        if not self._document._replaying:
            self._document._set_state(replace(self._document._state, **self._before))

    def arrays(self) -> list[np.ndarray]:
        return [a for value in (*self._before.values(), *self._after.values()) for a in _arrays(value)]

    def copy(self) -> "EditCommand":
        return EditCommand(self._document, self.text(), self._before, self._after)


class PatchCommand(QUndoCommand):
    """One undoable change to a rectangle of the image's pixels or of the mask (a
    Heal or brush stroke, a tool run on a selection): keeps just that rectangle
    before and after, and rewrites it into a copy of the current one.

    `result`, the whole new image or mask, is what the first redo (the push) sets,
    so the screen shows the very image the job converted for it."""

    def __init__(self, document: "Document", label: str, field: str, box: engine.Box, before: np.ndarray,
                 after: np.ndarray, result: object = None):
        super().__init__(label)
        self._document = document
        self._field = field              # "image" or "mask"
        self._box = box
        self._before = before
        self._after = after
        self._result = result

    def _put(self, patch: np.ndarray) -> None:
        state = self._document._state
        if self._field == "image":
            pixels = state.image.pixels.copy()
            pixels[self._box.slices] = patch
            value = state.image.with_pixels(pixels)
        else:
            value = state.mask.copy()
            value[self._box.slices] = patch
        self._document._set_state(replace(state, **{self._field: value}))

    def redo(self) -> None:
        if self._document._replaying:
            return
        if self._result is None:
            self._put(self._after)
        else:
            result, self._result = self._result, None
            self._document._set_state(replace(self._document._state, **{self._field: result}))

    def undo(self) -> None:
        if not self._document._replaying:
            self._put(self._before)

    def arrays(self) -> list[np.ndarray]:
        return [self._before, self._after]

    def copy(self) -> "PatchCommand":
        return PatchCommand(self._document, self.text(), self._field, self._box, self._before, self._after)


class Document(QObject):
    """The image being edited; every change goes through the undo stack."""

    image_changed = Signal()   # `current` (or `original`) was replaced (an edit, undo or redo)
    mask_changed = Signal()    # `mask` (or its soft mask or threshold) was set, replaced or cleared
    changed = Signal()         # anything shown about the document changed (also the saved state)
    history_replaced = Signal()   # `undo_stack` is a new one: the oldest steps were forgotten

    def __init__(self, image: engine.Image, path: str | None = None, parent: QObject | None = None,
                 history_budget: int | None = None):
        super().__init__(parent)
        image = image.compact()
        self.path = path
        self.exported: tuple[str, int] | None = None   # (path, quality) of the last export
        self.forgotten = 0                             # steps dropped from the start of the history
        self._state = DocumentState(image, None, original=image)
        self.history_budget = HISTORY_BUDGET if history_budget is None else history_budget
        self._replaying = False                        # commands are being moved to a new stack
        self.undo_stack = self._new_stack()

    def _new_stack(self) -> QUndoStack:
        stack = QUndoStack(self)
        stack.indexChanged.connect(self.changed)
        stack.cleanChanged.connect(self.changed)
        return stack

    @property
    def current(self) -> engine.Image:
        return self._state.image

    @property
    def original(self) -> engine.Image:
        """The image as opened, for the compare view: rotated, flipped and cropped with
        the current image, not changed by the tools."""
        return self._state.original

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

    def apply(self, image: engine.Image, label: str, changed: engine.Box | None = None) -> None:
        """Make `image` current as an undoable edit; a mask of another size is dropped.
        `changed`, if given, is a box outside which `image` has the current image's
        pixels (as `changed_box` finds): when it is small the history keeps just that
        box, before and after, instead of two whole images."""
        image, current = image.compact(), self.current
        if image.pixels.shape[:2] != current.pixels.shape[:2]:
            self._push(label, image=image, mask=None, soft_mask=None, threshold=DocumentState.threshold)
        elif (changed is not None and changed.width * changed.height <= PATCH_SHARE * image.width * image.height
              and image.pixels.dtype == current.pixels.dtype and image.alpha is current.alpha):
            self._record(PatchCommand(self, label, "image", changed, current.pixels[changed.slices].copy(),
                                      image.pixels[changed.slices].copy(), result=image))
        else:
            self._push(label, image=image)

    def reshape(self, label: str, image: engine.Image, original: engine.Image, mask: np.ndarray | None,
                soft_mask: np.ndarray | None) -> None:
        """A rotation, flip or crop (`tools.reshape_job`'s result): the image, the original
        and the masks change together, as one undoable edit."""
        self._push(label, image=image.compact(), original=original.compact(), mask=mask, soft_mask=soft_mask)

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
        self._push(label, mask=mask, soft_mask=soft_mask, threshold=self.threshold if threshold is None else threshold)

    def set_threshold(self, threshold: float) -> bool:
        """Move the threshold of the soft mask: pixels not painted by hand follow it.
        One undoable step; False (nothing done) without a soft mask or when unchanged."""
        state = self._state
        if state.soft_mask is None or state.mask is None or threshold == state.threshold:
            return False
        mask = mask_ops.rethreshold(state.mask, state.soft_mask, state.threshold, threshold)
        self._push(f"Threshold {threshold:.0%}", mask=mask, threshold=threshold)
        return True

    def paint_mask(self, box: engine.Box, before: np.ndarray, after: np.ndarray, label: str) -> None:
        """Record a brush stroke that changed `box` of the mask from `before` to `after`
        (box-sized patches); the first stroke on no mask starts one."""
        if self.mask is None:
            mask = np.zeros(self.current.pixels.shape[:2], np.uint8)
            mask[box.slices] = after
            self._push(label, mask=mask, soft_mask=None)
        else:
            self._record(PatchCommand(self, label, "mask", box, before, after))

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def _push(self, label: str, **after) -> None:
        """An edit setting the state's fields named in `after`."""
        before = {name: getattr(self._state, name) for name in after}
        self._record(EditCommand(self, label, before, after))

    def _record(self, command: QUndoCommand) -> None:
        """Push (and so do) `command`, then forget the oldest steps while the history
        holds more than its budget, keeping at least the last step."""
        self.undo_stack.push(command)
        sizes = self._step_sizes()
        total, first = sum(sizes), 0
        while total > self.history_budget and first < len(sizes) - 1:
            total -= sizes[first]
            first += 1
        if first:
            self._forget(first)

    @property
    def history_bytes(self) -> int:
        """The bytes of images, masks and patches the undo history holds."""
        return sum(self._step_sizes())

    def _step_sizes(self) -> list[int]:
        """For each step, the bytes forgetting it (and the steps before it) would let go."""
        stack = self.undo_stack
        held: set[int] = set()
        sizes = [0] * stack.count()
        for i in reversed(range(stack.count())):
            for a in stack.command(i).arrays():
                if id(a) not in held:   # an array two steps keep counts with the later one
                    held.add(id(a))
                    sizes[i] += a.nbytes
        return sizes

    def _forget(self, steps: int) -> None:
        """Move the history but its first `steps` steps to a new undo stack (the commands are
        copied without being done again) and let the old one go."""
        old = self.undo_stack
        clean = old.cleanIndex()
        new = self._new_stack()
        self._replaying = True
        try:
            for i in range(steps, old.count()):
                if i == clean:
                    new.setClean()
                new.push(old.command(i).copy())
            if clean == old.count():
                new.setClean()
            elif clean < steps:
                new.resetClean()
        finally:
            self._replaying = False
        self.undo_stack = new
        self.forgotten += steps
        old.indexChanged.disconnect(self.changed)
        old.cleanChanged.disconnect(self.changed)
        old.deleteLater()
        self.history_replaced.emit()
        self.changed.emit()

    def _set_state(self, state: DocumentState) -> None:
        image_changed = state.image is not self._state.image or state.original is not self._state.original
        mask_changed = (state.mask is not self._state.mask or state.soft_mask is not self._state.soft_mask
                        or state.threshold != self._state.threshold)
        self._state = state
        if image_changed:
            self.image_changed.emit()
        if mask_changed:
            self.mask_changed.emit()
