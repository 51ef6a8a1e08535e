"""Short blocking work that the caller needs the answer of at once (writing an export
before the window closes) run off the GUI thread: the caller waits as for a dialog,
while the window keeps painting and a modal progress dialog says what is happening
and holds other input back (none for work done within a few milliseconds). Encoding
a 24-megapixel PNG takes about three seconds, which would otherwise freeze the
window."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QProgressDialog, QWidget

T = TypeVar("T")
POLL_MS = 15        # work done within this shows no dialog


def wait_for(parent: QWidget, title: str, text: str, work: Callable[[], T]) -> T:
    """Run `work()` on a thread of its own and return its result (or raise what it raised);
    the dialog, if one is shown, has `title` and says `text`."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="restora-io", daemon=True)
    thread.start()
    thread.join(POLL_MS / 1000)
    if thread.is_alive():
        dialog = QProgressDialog(text, "", 0, 0, parent)
        dialog.setWindowTitle(title)
        dialog.setCancelButton(None)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.show()
        loop = QEventLoop()
        timer = QTimer(interval=POLL_MS)
        timer.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
        timer.start()
        loop.exec()
        timer.stop()
        dialog.close()
        dialog.deleteLater()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
