"""Help > Models: the installed models (shipped and the user's own) with their
task, scale and measured quality, as the model cards state them; the user's own
models can be deleted here, and their folder opened."""
from __future__ import annotations

from PySide6.QtCore import QSize, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

import engine

from .table import read_only_table, set_rows

COLUMNS = ("Name", "Description", "Task", "Scale", "Variant", "Source", "Measured quality")


class ModelListDialog(QDialog):
    """A read-only table of `engine.list_models()`; Delete removes a selected model of the
    user's own (after asking) and emits `models_changed`."""

    models_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Models")
        layout = QVBoxLayout(self)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.table = read_only_table(COLUMNS, [], self)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected model of your own (Del); shipped models stay")
        self.delete_button.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.folder_button = QPushButton("Open Folder")
        self.folder_button.setToolTip(f"Open the folder of your own models, {engine.user_models_dir()}")
        for button in (self.delete_button, self.folder_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        self.delete_button.clicked.connect(self.delete_selected)
        self.folder_button.clicked.connect(self.open_folder)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self._cards: list[engine.ModelCard] = []
        self._fill()
        if not self._cards:
            layout.insertStretch(2, 1)          # the message at the top, the buttons at the bottom
        self.resize(QSize(900, 380) if self._cards else QSize(520, 150))

    def _fill(self) -> None:
        try:
            cards = engine.list_models()
        except engine.RestoraError as exc:
            cards, problem = [], str(exc)
        else:
            problem = ""
        self._cards = cards
        self.intro.setText(problem or (
            f"{len(cards)} model(s) installed. Your own fine-tuned models live in {engine.user_models_dir()}."
            if cards else
            "No models are installed yet: the tools report this until a model is trained "
            f"or fine-tuned. Your own models go in {engine.user_models_dir()}."))
        rows = [(card.name, card.title, card.task, f"x{card.scale}" if card.task == "upscale" else "", card.variant,
                 card.source, card.summary()) for card in cards]
        set_rows(self.table, rows)
        for row, card in enumerate(cards):
            for column in range(len(COLUMNS)):
                self.table.item(row, column).setToolTip(str(card.card_path))
        self.table.setVisible(bool(cards))
        self._update_buttons()

    def selected_card(self) -> engine.ModelCard | None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return self._cards[rows.pop()] if len(rows) == 1 else None

    def _update_buttons(self) -> None:
        card = self.selected_card()
        self.delete_button.setEnabled(card is not None and card.source == "user")

    def delete_selected(self) -> bool:
        """Ask, then delete the selected user model; True if it was deleted."""
        card = self.selected_card()
        if card is None or card.source != "user":
            return False
        answer = QMessageBox.question(
            self, "Delete Model", f"Delete your model “{card.name}”?\n\nIts weights and card are removed from "
            f"{card.card_path.parent}. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            engine.delete_user_model(card.name)
        except engine.RestoraError as exc:
            QMessageBox.warning(self, "Delete Model", str(exc))
            return False
        self._fill()
        self.models_changed.emit()
        return True

    def open_folder(self) -> bool:
        folder = engine.user_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
