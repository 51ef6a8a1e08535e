"""The editor's composition root: the QApplication, its theme, and the main window.

Nothing here imports torch; the window is shown before an image is opened, and
models load on the worker thread the first time a tool runs.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from .main_window import APP_NAME, MainWindow
from .theme import apply_theme, icon


def run(path: str | None = None) -> int:
    """Open the editor (with the image at `path`, if given) and run until it closes; the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    apply_theme(app)
    app.setWindowIcon(icon("auto-fix"))

    window = MainWindow()

    def follow_colour_scheme() -> None:
        apply_theme(app)
        window.refresh_icons()

    app.styleHints().colorSchemeChanged.connect(follow_colour_scheme)
    app.aboutToQuit.connect(window.jobs.shutdown)
    window.show()
    if path:
        QTimer.singleShot(0, lambda: window.open_path(path))  # after the window has appeared
    return app.exec()
