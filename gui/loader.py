"""Opening image files off the GUI thread: decoding a big photo and converting it
for the screen take long enough (a third of a second for 6 megapixels) to freeze
the window, so both run on Qt's thread pool and the result comes back as a signal.

Only the latest request counts: opening another file while one is still loading
drops the first one's result. Decoding needs no torch, so opening never waits for
a running restoration job.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QThreadPool, Signal

import engine

from .canvas import array_to_qimage


class ImageLoader(QObject):
    """`load(path)` decodes on a pool thread; `loaded` or `failed` follows on the GUI thread."""

    loaded = Signal(str, object, object)   # path, engine.Image, its QImage for the screen
    failed = Signal(str, str)              # path, a message naming the file and the reason
    _done = Signal(int, str, object, object)
    _error = Signal(int, str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ticket = 0
        self._done.connect(self._on_done)
        self._error.connect(self._on_error)

    def load(self, path: str) -> None:
        self._ticket += 1
        ticket = self._ticket

        def work() -> None:
            try:
                image = engine.load_image(path).compact()   # as the document holds it
                shown = array_to_qimage(image.pixels, image.alpha)
            except engine.RestoraError as exc:
                self._error.emit(ticket, path, str(exc))
            except Exception as exc:  # noqa: BLE001 - e.g. MemoryError: say so, keep the editor alive
                self._error.emit(ticket, path, f"{path}: cannot open ({type(exc).__name__}: {exc})")
            else:
                self._done.emit(ticket, path, image, shown)

        QThreadPool.globalInstance().start(work)

    def _on_done(self, ticket: int, path: str, image, shown) -> None:
        if ticket == self._ticket:
            self.loaded.emit(path, image, shown)

    def _on_error(self, ticket: int, path: str, message: str) -> None:
        if ticket == self._ticket:
            self.failed.emit(path, message)
