"""Help > Models: the installed models (shipped and the user's own) with their
task, scale and measured quality, as the model cards state them."""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

import engine

from .table import read_only_table

COLUMNS = ("Name", "Description", "Task", "Scale", "Variant", "Source", "Measured quality")


class ModelListDialog(QDialog):
    """A read-only table of `engine.list_models()`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Models")
        layout = QVBoxLayout(self)
        try:
            cards = engine.list_models()
        except engine.RestoraError as exc:
            cards, problem = [], str(exc)
        else:
            problem = ""
        intro = QLabel(problem or (
            f"{len(cards)} model(s) installed. Your own fine-tuned models live in {engine.user_models_dir()}."
            if cards else
            "No models are installed yet: the tools report this until a model is trained "
            f"or fine-tuned. Your own models go in {engine.user_models_dir()}."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = read_only_table(COLUMNS, [
            (card.name, card.title, card.task, f"x{card.scale}" if card.task == "upscale" else "", card.variant,
             card.source, card.summary()) for card in cards], self)
        for row, card in enumerate(cards):
            for column in range(len(COLUMNS)):
                self.table.item(row, column).setToolTip(str(card.card_path))
        self.table.setVisible(bool(cards))
        layout.addWidget(self.table, 1)
        if not cards:
            layout.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(QSize(900, 380) if cards else QSize(520, 150))
