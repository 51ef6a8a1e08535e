"""The editor's composition root: the QApplication, its theme, and the main window.

Nothing here imports torch: the window is shown first; the worker thread loads
the engine's compute code (torch) once an image is open (see MainWindow), and
models load when a tool first needs them.

With RESTORA_REPORT_SHOWN=1 in the environment the app prints SHOWN_MARKER on
stdout when the window is first painted; benchmarks/gui_responsiveness.py times
start-up by it.
"""
from __future__ import annotations

import os
import sys

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

import engine

from .main_window import APP_NAME, MainWindow
from .recovery import RecoveryStore
from .theme import apply_theme, icon

SHOWN_MARKER = "restora: window shown"


class _ShownReporter(QObject):
    """Prints SHOWN_MARKER at the first paint of the widget it watches, then stops watching."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            print(SHOWN_MARKER, flush=True)
        return False


def no_display() -> bool:
    """True on Linux without a display to open a window on (Qt would abort with a message
    about its xcb plugin), unless a Qt platform was chosen (e.g. QT_QPA_PLATFORM=offscreen)."""
    return (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def run(path: str | None = None) -> int:
    """Open the editor (with the image at `path`, if given; a folder opens Batch Export on it)
    and run until it closes; the exit code (2 when there is no display)."""
    if QApplication.instance() is None and no_display():
        print("restora: no display to open the editor on (DISPLAY and WAYLAND_DISPLAY are not set); "
              "the command line needs none: python main.py --help", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    apply_theme(app)
    app.setWindowIcon(icon("auto-fix"))

    try:
        recovery = RecoveryStore(engine.user_data_dir() / "recovery")
    except OSError as exc:        # e.g. a read-only home folder: the editor works without copies
        print(f"restora: no crash recovery ({exc})", file=sys.stderr)
        recovery = None
    window = MainWindow(recovery=recovery)

    def follow_colour_scheme() -> None:
        apply_theme(app)
        window.refresh_icons()

    app.styleHints().colorSchemeChanged.connect(follow_colour_scheme)
    app.aboutToQuit.connect(window.jobs.shutdown)
    if os.environ.get("RESTORA_REPORT_SHOWN") == "1":
        window.installEventFilter(_ShownReporter(window))
    window.show()

    def start() -> None:      # after the window has appeared
        if window.offer_recovery() or not path:
            return
        if os.path.isdir(path):   # as when a folder is dropped onto the window
            window.show_batch_export(path)
        else:
            window.open_path(path)

    QTimer.singleShot(0, start)
    return app.exec()
