"""File > Export As, second step: the options of the chosen format. JPEG and WebP
have a quality; PNG and TIFF are lossless and need no questions."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

LOSSY_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WebP"}
DEFAULT_QUALITY = 92


class ExportOptionsDialog(QDialog):
    """Asks for the quality (1-100) of a JPEG or WebP export."""

    def __init__(self, format_name: str, quality: int = DEFAULT_QUALITY, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"{format_name} Options")
        layout = QVBoxLayout(self)
        intro = QLabel(f"Higher quality keeps more detail and makes a larger file. "
                       f"{format_name} is lossy: export as PNG or TIFF to keep every pixel.")
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 100)
        self.spin = QSpinBox()
        self.spin.setRange(1, 100)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self.slider.setValue)
        self.spin.setValue(min(100, max(1, quality)))
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        form = QFormLayout()
        form.addRow("Quality", row)
        layout.addLayout(form)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(380)

    def quality(self) -> int:
        return self.spin.value()
