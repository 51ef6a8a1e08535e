"""A folder field with a Browse… button, as the batch and fine-tune dialogs use it."""
from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


def folder_row(parent: QWidget, text: str, title: str, placeholder: str = "",
               changed: Callable[[], None] | None = None) -> tuple[QLineEdit, QWidget]:
    """(the line edit, the row widget holding it and its Browse… button); `changed`
    runs after the text is edited or a folder is picked."""
    edit = QLineEdit(text)
    edit.setPlaceholderText(placeholder)
    browse = QPushButton("Browse…")

    def pick() -> None:
        folder = QFileDialog.getExistingDirectory(parent, title, edit.text())
        if folder:
            edit.setText(folder)
            if changed is not None:
                changed()

    browse.clicked.connect(pick)
    if changed is not None:
        edit.editingFinished.connect(changed)
    row = QWidget(parent)
    box = QHBoxLayout(row)
    box.setContentsMargins(0, 0, 0, 0)
    box.addWidget(edit, 1)
    box.addWidget(browse)
    return edit, row
