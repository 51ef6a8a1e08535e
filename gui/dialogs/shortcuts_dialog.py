"""Help > Keyboard Shortcuts: every menu command that has a key, read from the
menus themselves (so the list cannot drift from them), and the canvas's mouse and
held keys."""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMenuBar, QVBoxLayout, QWidget

from .table import read_only_table

CANVAS_KEYS = (
    ("Hold Space and drag, or drag with the middle button", "Pan"),
    ("Wheel", "Zoom at the cursor"),
    ("Hold \\", "Show the original while held"),
    ("Esc", "Cancel the running job"),
)


def _plain(text: str) -> str:
    return text.replace("&", "").replace("…", "")


def _rows(menu_title: str, actions: list[QAction]) -> list[tuple[str, str, str]]:
    """(menu, command, keys) for each action with a shortcut, submenus included."""
    rows = []
    for action in actions:
        if action.menu() is not None:
            rows += _rows(menu_title, action.menu().actions())
        elif action.shortcuts():
            keys = " or ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
            rows.append((menu_title, action.property("command") or _plain(action.text()), keys))
    return rows


def shortcut_rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(group, command, keys) for every keyed command in `menu_bar`, then the canvas's keys."""
    rows = []
    for top in menu_bar.actions():
        if top.menu() is not None:
            rows += _rows(_plain(top.text()), top.menu().actions())
    return rows + [("Canvas", command, keys) for keys, command in CANVAS_KEYS]


class ShortcutsDialog(QDialog):
    """A read-only table of `shortcut_rows(menu_bar)`."""

    def __init__(self, menu_bar: QMenuBar, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.table = read_only_table(("Menu", "Command", "Keys"), shortcut_rows(menu_bar), self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(QSize(620, 700))
