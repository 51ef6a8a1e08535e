"""Crash recovery. While the open image has unexported edits, the editor keeps a copy
of its current state (the image, its metadata and the mask) in the user data folder,
written on a thread of its own a minute after a change (so a long session of edits
on a big photo writes at most one copy a minute). An export, a discard or
a clean close removes the copy; if Restora ends without one (a crash, a power cut,
killed for memory), the next start offers to recover the edits.

Each running editor holds a QLockFile beside its copy, so an editor never offers the
copy of another one that is still running; the lock of a process that is gone is
stale, and its copy is an orphan to recover.
"""
from __future__ import annotations

import base64
import io
import json
import os
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QLockFile, QObject, QThreadPool, QTimer

import engine

SAVE_DELAY_MS = 60_000   # a change is copied at most this long after it was made
SUFFIX = ".restora-recovery"


@dataclass(frozen=True)
class Recovered:
    """What a copy holds: the image (with its metadata), the mask, and where it came from."""

    image: engine.Image
    mask: np.ndarray | None
    name: str
    path: str | None
    saved_at: float           # time.time() of the copy
    file: Path


def write_copy(file: Path, image: engine.Image, mask: np.ndarray | None, name: str, path: str | None) -> None:
    """Write the copy to `file` atomically (a temporary file renamed over it)."""
    info = {"name": name, "path": path, "saved_at": time.time(), "bits": image.bits,
            "source_format": image.source_format,
            "icc_profile": base64.b64encode(image.icc_profile).decode() if image.icc_profile else None,
            "exif": base64.b64encode(image.exif).decode() if image.exif else None}
    arrays = {"pixels": image.pixels, "info": np.frombuffer(json.dumps(info).encode(), np.uint8)}
    if image.alpha is not None:
        arrays["alpha"] = image.alpha
    if mask is not None:
        arrays["mask"] = mask
    tmp = file.with_name(file.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_copy(file: Path) -> Recovered:
    """The state a copy holds; OSError or ValueError when it cannot be read."""
    with np.load(io.BytesIO(file.read_bytes())) as data:
        info = json.loads(data["info"].tobytes().decode())
        icc, exif = (base64.b64decode(info[k]) if info.get(k) else None for k in ("icc_profile", "exif"))
        image = engine.Image(pixels=data["pixels"], alpha=data["alpha"] if "alpha" in data else None,
                             bits=info["bits"], icc_profile=icc, exif=exif, source=info["path"],
                             source_format=info["source_format"])
        mask = data["mask"] if "mask" in data else None
    return Recovered(image, mask, info["name"], info["path"], info["saved_at"], file)


def _ref(value) -> weakref.ref | None:
    return None if value is None else weakref.ref(value)


def _same(ref: weakref.ref | None, value) -> bool:
    """True when `ref` (from `_ref`) refers to `value` itself (None: to None)."""
    return value is None if ref is None else ref() is value and value is not None


class RecoveryStore(QObject):
    """This editor's copy in `folder`: `watch` a document to keep its copy current,
    `close` at a clean exit; `orphans` lists the copies earlier editors left."""

    def __init__(self, folder: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        session = uuid.uuid4().hex[:12]
        self.file = self.folder / f"{session}{SUFFIX}"
        self._lock = QLockFile(str(self.folder / f"{session}.lock"))
        self._lock.tryLock(0)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)          # writes and removals in the order they were asked for
        self._timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._timer.timeout.connect(self._copy_now)
        self._document = None
        self._written: tuple = (None, None)      # weak references to the image and mask last copied

    def watch(self, document) -> None:
        """Keep a copy of `document` (a gui.document.Document) while it has unexported edits."""
        if self._document is not None:
            self._document.changed.disconnect(self._changed)
        self._document = document
        document.changed.connect(self._changed)
        self._changed()

    def _changed(self) -> None:
        if self._document is not None and self._document.modified:
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()
            self._written = (None, None)
            self._pool.start(self._remove)

    def _copy_now(self) -> None:
        doc = self._document
        if doc is None or not doc.modified:
            return
        image, mask, name, path = doc.current, doc.mask, doc.name, doc.path   # immutable snapshots
        if _same(self._written[0], image) and _same(self._written[1], mask):
            return                     # the last copy holds this very state
        self._written = (_ref(image), _ref(mask))
        self._pool.start(lambda: self._write(image, mask, name, path))

    def _write(self, image: engine.Image, mask: np.ndarray | None, name: str, path: str | None) -> None:
        try:
            write_copy(self.file, image, mask, name, path)
        except OSError:
            pass            # a full or read-only disk: the editor goes on without a copy

    def _remove(self) -> None:
        self.file.unlink(missing_ok=True)

    def flush(self) -> None:
        """Write a pending copy now and wait until every write and removal is done."""
        if self._timer.isActive():
            self._timer.stop()
            self._copy_now()
        self._pool.waitForDone()

    def close(self) -> None:
        """A clean exit: nothing is left to recover, so remove the copy and the lock."""
        self._timer.stop()
        if self._document is not None:
            self._document.changed.disconnect(self._changed)
            self._document = None
        self._pool.waitForDone()
        self._remove()
        self._lock.unlock()

    def orphans(self) -> list[Path]:
        """The copies of editors that are no longer running, newest first."""
        found = []
        for file in self.folder.glob(f"*{SUFFIX}"):
            if file == self.file:
                continue
            lock = QLockFile(str(file.with_suffix(".lock")))
            if lock.tryLock(0):        # no live editor holds it
                lock.unlock()
                found.append(file)
        return sorted(found, key=lambda f: f.stat().st_mtime, reverse=True)

    @staticmethod
    def forget(file: Path) -> None:
        """Remove an orphan copy (recovered or declined) and its lock file."""
        file.unlink(missing_ok=True)
        file.with_suffix(".lock").unlink(missing_ok=True)
