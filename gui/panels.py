"""The side panels: Settings, the options every tool's request is built from
(remembered in QSettings), and History, the document's undo stack as a list to
jump through.

The Settings panel builds the frozen request dataclasses (ARCHITECTURE section 2):
the window asks it for `restore_request()` and the like when a tool runs. Moving
the threshold slider reports `threshold_moved` at once (a live preview) and
`threshold_committed` when the drag ends or the value settles (one undo step).
"""
from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QScrollArea,
                               QSizePolicy, QSlider, QSpinBox, QToolButton, QUndoView, QVBoxLayout, QWidget)

import engine

from .theme import icon

DEVICES = (("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)"))
PRECISIONS = (("auto", "Automatic"), ("fp32", "Full (fp32)"))
DETECT_SIZES = (("auto", "Working size"), ("full", "Full size"))
VARIANTS = (("faithful", "Faithful"), ("sharp", "Sharp"))
SCALES = ((2, "×2"), (4, "×4"))
MAX_BRUSH = 1000
BRUSH_SLIDER_MAX = 200      # larger sizes are typed or reached with ]
THRESHOLD_SETTLE_MS = 400   # a threshold set by keys or wheel is committed after this pause
KEY = "settings/"


class SettingsPanel(QScrollArea):
    """The options of Restore, Detect Damage, Repair, mask editing, Upscale and where
    models run; every change is saved at once."""

    threshold_moved = Signal(float)        # the slider moved (a fraction): preview it
    threshold_committed = Signal(float)    # the person settled on it: make it an edit
    mask_opacity_changed = Signal(float)   # 0..1
    brush_changed = Signal()               # brush size or hardness

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self._sections: dict[str, QVBoxLayout] = {}
        self._rows: dict[str, QHBoxLayout] = {}    # where a section's buttons go beside a field
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(8)

        restore = self._section(layout, "restore", "Restore document")
        self.restore_model = self._model_combo("restore", engine.RestoreRequest().model)
        restore.addRow("Model", self._inline("restore", self.restore_model))

        damage = self._section(layout, "damage", "Damage")
        self.mask_model = self._model_combo("mask", engine.MaskRequest().model)
        self.repair_model = self._model_combo("repair", engine.RepairRequest().model)
        self.threshold = self._slider(1, 99, self._int("threshold", 50), "%")
        self.threshold.setToolTip("Damage score from which a pixel counts as damaged (the detector's "
                                  "probability, kept where the detector is sure somewhere in the mark); "
                                  "lower finds more. Applies to a detected or imported mask at once.")
        self.detect_size = self._choice(DETECT_SIZES, self._str("detect_size", "auto"))
        self.detect_size.setToolTip("Working size: a large picture is looked at reduced, as the detector was "
                                    "trained, so wide creases, stains and tears are found whole (a page of text "
                                    "to about 100 dpi, where its text stays legible), and its wide holes and tears are "
                                    "filled from there.\nFull size: finer specks on a large scan are found, wide "
                                    "damage only at its edges; far slower on a large picture (the detector "
                                    "looks at each picture 8 times, mirrored and turned).")
        damage.addRow("Detector", self.mask_model)
        damage.addRow("Look at", self.detect_size)
        damage.addRow("Repair model", self.repair_model)
        damage.addRow("Threshold", self.threshold.parentWidget())

        mask = self._section(layout, "mask", "Mask")
        self.mask_opacity = self._slider(0, 100, self._int("mask_opacity", 50), "%")
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, MAX_BRUSH)
        self.brush_size.setSuffix(" px")
        self.brush_size.setValue(self._int("brush_size", 24))
        self.brush_size.setToolTip("Brush diameter in image pixels ([ smaller, ] larger)")
        brush_slider = QSlider(Qt.Orientation.Horizontal)
        brush_slider.setRange(1, BRUSH_SLIDER_MAX)
        brush_slider.setValue(self.brush_size.value())
        brush_slider.setToolTip(self.brush_size.toolTip())
        brush_slider.valueChanged.connect(self.brush_size.setValue)
        self.brush_size.valueChanged.connect(brush_slider.setValue)
        brush_row = QWidget(self)
        row = QHBoxLayout(brush_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(brush_slider, 1)
        row.addWidget(self.brush_size)
        self.brush_hardness = self._slider(0, 100, self._int("brush_hardness", 80), "%")
        self.brush_hardness.setToolTip("100% paints a crisp edge, lower fades it out")
        self.mask_step = QSpinBox()
        self.mask_step.setRange(1, 100)
        self.mask_step.setSuffix(" px")
        self.mask_step.setValue(self._int("mask_step", 2))
        self.mask_step.setToolTip("How far Grow and Shrink move the mask's edge")
        mask.addRow("Opacity", self.mask_opacity.parentWidget())
        mask.addRow("Brush size", brush_row)
        mask.addRow("Hardness", self.brush_hardness.parentWidget())
        mask.addRow("Grow/shrink by", self.mask_step)

        upscale = self._section(layout, "upscale", "Upscale")
        self.upscale_variant = self._choice(VARIANTS, self._str("upscale_variant", "faithful"))
        self.upscale_variant.setToolTip("Faithful keeps to the picture; Sharp invents crisper detail")
        self.upscale_scale = self._choice(SCALES, self._int("upscale_scale", 4))
        upscale.addRow("Variant", self.upscale_variant)
        upscale.addRow("Scale", self._inline("upscale", self.upscale_scale))

        run_on = self._section(layout, "run", "Run on")
        self.device = self._choice(DEVICES, self._str("device", "auto"))
        self.precision = self._choice(PRECISIONS, self._str("precision", "auto"))
        self.precision.setToolTip("Automatic uses half precision on a GPU where the model allows it")
        self.tile = QSpinBox()
        self.tile.setRange(0, 4096)
        self.tile.setSingleStep(64)
        self.tile.setSpecialValueText("Automatic")
        self.tile.setSuffix(" px")
        self.tile.setValue(self._int("tile", 0))
        self.tile.setToolTip("Images are processed in tiles of this size; smaller needs less memory")
        run_on.addRow("Device", self.device)
        run_on.addRow("Precision", self.precision)
        run_on.addRow("Tile size", self.tile)
        layout.addStretch(1)

        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(THRESHOLD_SETTLE_MS)
        self._settle.timeout.connect(self._commit_threshold)
        self._quiet = False
        self._connect()

    # -- building ---------------------------------------------------------------------------------

    def _section(self, layout: QVBoxLayout, key: str, title: str) -> QFormLayout:
        box = QGroupBox(title)
        outer = QVBoxLayout(box)
        outer.setContentsMargins(8, 6, 8, 8)
        outer.setSpacing(6)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        outer.addLayout(form)
        self._sections[key] = outer
        layout.addWidget(box)
        return form

    def _inline(self, section: str, field: QWidget) -> QWidget:
        """`field` in a row that the section's buttons join (see `add_buttons`)."""
        holder = QWidget(self)
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(field, 1)
        self._rows[section] = row
        return holder

    def add_buttons(self, section: str, actions: Iterable[QAction], icons_only: bool = False) -> None:
        """Buttons for `actions` in the section (restore, damage, mask, upscale): beside its
        last field for restore and upscale, else as a new row; with `icons_only` they show
        just their icons (the tooltip names them)."""
        row = self._rows.get(section)
        if row is None:
            row = QHBoxLayout()
            row.setSpacing(4)
            self._sections[section].addLayout(row)
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly if icons_only
                                      else Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            if section not in self._rows:
                button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            row.addWidget(button)

    def _slider(self, low: int, high: int, value: int, unit: str) -> QSlider:
        """A slider with its value written beside it; the pair's widget is its parent."""
        holder = QWidget(self)
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        slider = QSlider(Qt.Orientation.Horizontal, holder)
        slider.setRange(low, high)
        slider.setValue(min(high, max(low, value)))
        label = QLabel(holder)
        label.setMinimumWidth(label.fontMetrics().horizontalAdvance("100%") + 4)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        def show(v: int) -> None:
            label.setText(f"{v}{unit}")

        slider.valueChanged.connect(show)
        show(slider.value())
        row.addWidget(slider, 1)
        row.addWidget(label)
        return slider

    @staticmethod
    def _combo() -> QComboBox:
        """A combo box that fits a narrow panel whatever its items' lengths."""
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)
        return combo

    def _choice(self, items, current) -> QComboBox:
        combo = self._combo()
        for value, text in items:
            combo.addItem(text, value)
        index = combo.findData(current)
        combo.setCurrentIndex(max(0, index))
        return combo

    def _model_combo(self, task: str, default: str) -> QComboBox:
        combo = self._combo()
        combo.setProperty("task", task)
        combo.setProperty("default_model", default)
        self._fill_models(combo, self._str(f"{task}_model", default))
        return combo

    def _fill_models(self, combo: QComboBox, current: str) -> None:
        """Installed models for the combo's task; the default is listed even when it is
        not installed, so running the tool says plainly what is missing."""
        task, default = combo.property("task"), combo.property("default_model")
        combo.blockSignals(True)
        combo.clear()
        names = []
        for card in engine.list_models(task):
            if card.name not in names:
                names.append(card.name)
                combo.addItem(card.name, card.name)
                combo.setItemData(combo.count() - 1, card.title or card.name, Qt.ItemDataRole.ToolTipRole)
        if default not in names:
            combo.insertItem(0, f"{default} (not installed)", default)
        index = combo.findData(current)
        combo.setCurrentIndex(index if index >= 0 else combo.findData(default))
        combo.blockSignals(False)

    def reload_models(self, chosen: str | None = None) -> None:
        """Re-read the installed models (e.g. after a fine-tune) and select `chosen` where it fits."""
        for combo in (self.restore_model, self.mask_model, self.repair_model):
            names = [c.name for c in engine.list_models(combo.property("task"))]
            self._fill_models(combo, chosen if chosen in names else combo.currentData())
            self._save(f"{combo.property('task')}_model", combo.currentData())

    def _connect(self) -> None:
        remember = {self.restore_model: "restore_model", self.mask_model: "mask_model",
                    self.repair_model: "repair_model", self.upscale_variant: "upscale_variant",
                    self.upscale_scale: "upscale_scale", self.device: "device", self.precision: "precision",
                    self.detect_size: "detect_size"}
        for combo, key in remember.items():
            combo.currentIndexChanged.connect(lambda _, c=combo, k=key: self._save(k, c.currentData()))
        for spin, key in ((self.tile, "tile"), (self.brush_size, "brush_size"), (self.mask_step, "mask_step")):
            spin.valueChanged.connect(lambda v, k=key: self._save(k, v))
        self.brush_size.valueChanged.connect(self.brush_changed)
        self.brush_hardness.valueChanged.connect(lambda v: (self._save("brush_hardness", v), self.brush_changed.emit()))
        self.mask_opacity.valueChanged.connect(
            lambda v: (self._save("mask_opacity", v), self.mask_opacity_changed.emit(v / 100)))
        self.threshold.valueChanged.connect(self._on_threshold_moved)
        self.threshold.sliderReleased.connect(self._commit_threshold)

    # -- settings ---------------------------------------------------------------------------------

    def _save(self, key: str, value) -> None:
        self.settings.setValue(KEY + key, value)

    def _str(self, key: str, default: str) -> str:
        return str(self.settings.value(KEY + key, default))

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self.settings.value(KEY + key, default))
        except (TypeError, ValueError):
            return default

    def _on_threshold_moved(self, value: int) -> None:
        if self._quiet:
            return
        self.threshold_moved.emit(value / 100)
        if not self.threshold.isSliderDown():
            self._settle.start()

    def _commit_threshold(self) -> None:
        self._settle.stop()
        self._save("threshold", self.threshold.value())
        self.threshold_committed.emit(self.threshold.value() / 100)

    def show_threshold(self, fraction: float) -> None:
        """Move the slider to `fraction` (the document's) without reporting it."""
        self._settle.stop()
        self._quiet = True
        self.threshold.setValue(round(fraction * 100))
        self._quiet = False

    # -- what the tools get -----------------------------------------------------------------------

    def threshold_value(self) -> float:
        return self.threshold.value() / 100

    def brush(self) -> tuple[float, float]:
        """(diameter in image pixels, hardness 0..1)."""
        return float(self.brush_size.value()), self.brush_hardness.value() / 100

    def set_brush_size(self, diameter: int) -> None:
        self.brush_size.setValue(diameter)

    def run_options(self) -> engine.RunOptions:
        return engine.RunOptions(device=self.device.currentData(), tile=self.tile.value(),
                                 precision=self.precision.currentData())

    def restore_request(self) -> engine.RestoreRequest:
        return engine.RestoreRequest(model=self.restore_model.currentData(), options=self.run_options())

    def _detect_scale(self) -> float | None:
        return 1.0 if self.detect_size.currentData() == "full" else None

    def mask_request(self) -> engine.MaskRequest:
        return engine.MaskRequest(model=self.mask_model.currentData(), threshold=self.threshold_value(), soft=True,
                                  options=self.run_options(), scale=self._detect_scale())

    def repair_request(self) -> engine.RepairRequest:
        return engine.RepairRequest(model=self.repair_model.currentData(), mask_model=self.mask_model.currentData(),
                                    threshold=self.threshold_value(), options=self.run_options(),
                                    scale=self._detect_scale())

    def upscale_request(self, scale: int | None = None) -> engine.UpscaleRequest:
        """Upscale by `scale`, or by the panel's scale when None."""
        return engine.UpscaleRequest(scale=scale or self.upscale_scale.currentData(),
                                     variant=self.upscale_variant.currentData(), options=self.run_options())


class HistoryPanel(QUndoView):
    """The open document's edits, oldest first; clicking one jumps there. The exported
    state has a save mark."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setEmptyLabel("Opened")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setStyleSheet("QUndoView::item { padding: 3px 4px; }")
        self.refresh_icons()

    def refresh_icons(self) -> None:
        self.setCleanIcon(icon("content-save-outline"))
