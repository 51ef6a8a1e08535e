"""Tools > Fine-tune: adapt a restore, mask or repair model to the person's own
images on the worker thread with `engine.finetune`, the code behind `python main.py
finetune`.

The person chooses the model to start from, the data (pairs of degraded and clean
images matched by file name, or clean images only, which the project's synthetic
damage degrades), the new model's name and the training settings. While it trains,
a plot shows the training loss and the validation metric, a preview shows the first
validation image through the starting model and through the model now (refreshed
at every validation), and the status line says the step and the time left. Cancel
stops at the next step; the best weights so far are kept (checkpoint) and saved as
the model once a validation has improved on the start. The new model is a user
model: `engine.list_models()` lists it at once; "Use This Model" emits
`model_chosen(name)` and closes the dialog.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QPainter, QPaintEvent, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDialog, QDoubleSpinBox, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QProgressBar,
                               QPushButton, QRadioButton, QSpinBox, QVBoxLayout, QWidget)

import engine

from ..canvas import array_to_qimage
from ..worker import JobRunner
from .folder_row import folder_row
from .progress import ProgressRelay, time_left

FINETUNE_JOB = "Fine-tune"
DEVICES = (("Automatic", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"), ("Apple GPU (MPS)", "mps"))
PREVIEW_SIDE = 160
PAIR_WORDS = {    # task -> the pairs option, the degraded and the clean folder's labels (with pairs)
    "restore": ("Pairs: degraded and clean images with the same file names", "Degraded", "Clean"),
    "mask": ("Pairs: damaged images and their masks (white = damaged), same file names", "Damaged", "Masks"),
    "repair": ("Pairs: not for a repair model, which learns from synthetic damage", "Degraded", "Clean"),
}
LOSS_COLOUR, METRIC_COLOUR = QColor(52, 120, 246), QColor(230, 120, 20)
MAX_PLOTTED = 1500          # loss points drawn at most (longer runs are thinned evenly)
KEY = "finetune/"


class TrainingPlot(QWidget):
    """Training loss per step and the validation metric at validation steps, each scaled
    to its own range, against the step on a shared axis."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.losses: list[tuple[int, float]] = []
        self.values: list[tuple[int, float]] = []
        self.total = 1
        self.metric_label = ""
        self.setMinimumHeight(150)

    def sizeHint(self) -> QSize:
        return QSize(480, 180)

    def reset(self, total_steps: int, metric_label: str) -> None:
        self.losses, self.values = [], []
        self.total, self.metric_label = max(1, total_steps), metric_label
        self.update()

    def add(self, status: engine.FinetuneStatus) -> None:
        if status.loss is not None:
            self.losses.append((status.done, status.loss))
        if status.value is not None:
            self.values.append((status.done, status.value))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().windowText().color()
        area = self.rect().adjusted(8, 22, -8, -8)
        painter.setPen(QPen(text, 1))
        painter.drawRect(area)
        x = 8
        for colour, label, points in ((LOSS_COLOUR, "training loss", self.losses),
                                      (METRIC_COLOUR, f"validation {self.metric_label}", self.values)):
            painter.setPen(QPen(colour, 2))
            painter.drawLine(x, 11, x + 16, 11)
            painter.setPen(text)
            caption = label + (f"  {points[-1][1]:.4g}" if points else "")
            painter.drawText(x + 20, 15, caption)
            x += 40 + painter.fontMetrics().horizontalAdvance(caption)
        step = max(1, len(self.losses) // MAX_PLOTTED)
        for colour, points, dots in ((LOSS_COLOUR, self.losses[::step], False), (METRIC_COLOUR, self.values, True)):
            if not points:
                continue
            ys = [v for _, v in points]
            low, high = min(ys), max(ys)
            span = (high - low) or 1.0
            poly = QPolygonF([QPointF(area.left() + area.width() * s / self.total,
                                      area.bottom() - area.height() * (0.05 + 0.9 * (v - low) / span))
                              for s, v in points])
            painter.setPen(QPen(colour, 1.5))
            painter.drawPolyline(poly)
            if dots:
                painter.setBrush(colour)
                for point in poly:
                    painter.drawEllipse(point, 2.5, 2.5)
        painter.end()


class FinetuneDialog(QDialog):
    """Fine-tune a model. Pass the editor's `runner` to share its worker thread (the
    dialog then only listens to its own job); without one it runs its own."""

    model_chosen = Signal(str)           # "Use This Model": the new model's name
    finetune_finished = Signal(object)   # the engine.FinetuneResult of a completed run

    def __init__(self, settings: QSettings, runner: JobRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Fine-tune a Model")
        self.settings = settings
        self._own_runner = runner is None
        self.runner = runner if runner is not None else JobRunner(self)
        self.relay = ProgressRelay(self)
        self.saved_model: str | None = None
        self._request: engine.FinetuneRequest | None = None
        self._running = False
        self._training_since = 0.0
        self._defaults = engine.FinetuneRequest("", "", Path())

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_model_group())
        layout.addWidget(self._build_data_group())
        layout.addWidget(self._build_settings_group())
        self.plot = TrainingPlot(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self._build_preview())
        self.status_label = QLabel("Not started")
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        layout.addWidget(self.status_label)
        layout.addWidget(self.progress_bar)
        layout.addLayout(self._build_buttons())

        self.relay.reported.connect(self._on_reported)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.finished.connect(self._on_finished)
        self._count_pairs()
        self._update_buttons()
        self.resize(620, 860)

    # -- building -----------------------------------------------------------------------------------

    def _build_model_group(self) -> QGroupBox:
        group = QGroupBox("Model", self)
        form = QFormLayout(group)
        self.model_combo = QComboBox()
        self._tasks: dict[str, str] = {}
        for card in engine.list_models():
            if card.task in engine.FINETUNE_TASKS:
                self.model_combo.addItem(f"{card.name}  ({card.task}, {card.source})", card.name)
                self._tasks[card.name] = card.task
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(self.settings.value(KEY + "model"))))
        self.name_edit = QLineEdit(self._suggested_name())
        self.name_edit.setToolTip("The new model is saved under this name with your other models; "
                                  "a shipped model's name cannot be used")
        self.model_combo.currentIndexChanged.connect(lambda: self.name_edit.setText(self._suggested_name()))
        form.addRow("Start from", self.model_combo)
        form.addRow("New model name", self.name_edit)
        return group

    def _folder_row(self, key: str, title: str) -> tuple[QLineEdit, QWidget]:
        return folder_row(self, str(self.settings.value(KEY + key, "") or ""), title, changed=self._count_pairs)

    def _build_data_group(self) -> QGroupBox:
        group = QGroupBox("Training images", self)
        form = QFormLayout(group)
        self.paired_radio = QRadioButton("Pairs: degraded and clean images with the same file names")
        self.clean_only_radio = QRadioButton("Clean images only: synthetic damage makes the degraded ones")
        kind = QButtonGroup(self)
        kind.addButton(self.paired_radio)
        kind.addButton(self.clean_only_radio)
        (self.clean_only_radio if self.settings.value(KEY + "clean_only", False) in (True, "true")
         else self.paired_radio).setChecked(True)
        self.paired_radio.toggled.connect(self._count_pairs)
        self.degraded_edit, self.degraded_row = self._folder_row("degraded", "Folder of degraded images")
        self.clean_edit, row = self._folder_row("clean", "Folder of clean images")
        self.pairs_label = QLabel("")
        self.pairs_label.setWordWrap(True)
        form.addRow(self.paired_radio)
        form.addRow(self.clean_only_radio)
        form.addRow("Degraded", self.degraded_row)
        form.addRow("Clean", row)
        form.addRow("", self.pairs_label)
        self._data_form, self._clean_row = form, row
        self.model_combo.currentIndexChanged.connect(self._show_task)
        self.paired_radio.toggled.connect(self._show_task)
        self._show_task()
        return group

    def _task(self) -> str:
        return self._tasks.get(self.model_combo.currentData(), "restore")

    def _show_task(self) -> None:
        """Name the folders as the chosen model's task reads them: a detector's pairs are
        images and their masks; a repair model learns from clean images only."""
        task = self._task()
        pairs, degraded, clean = PAIR_WORDS[task]
        self.paired_radio.setText(pairs)
        self.paired_radio.setEnabled(task != "repair")
        if task == "repair":
            self.clean_only_radio.setChecked(True)
        self._data_form.labelForField(self.degraded_row).setText(degraded)
        self._data_form.labelForField(self._clean_row).setText(clean if self.paired_radio.isChecked() else "Clean")

    def _show_lr(self) -> None:
        """The learning rate last used for the chosen model's task, or the task's default."""
        default = engine.FINETUNE_DEFAULT_LR[self._task()]
        self.lr_spin.setValue(float(self.settings.value(f"{KEY}lr/{self._task()}", default) or default))

    def _build_settings_group(self) -> QGroupBox:
        group = QGroupBox("Training", self)
        grid = QGridLayout(group)
        defaults = self._defaults
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1_000_000)
        self.steps_spin.setValue(int(self.settings.value(KEY + "steps", defaults.steps) or defaults.steps))
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 0.1)
        self.lr_spin.setSingleStep(1e-4)
        self._show_lr()
        self.model_combo.currentIndexChanged.connect(self._show_lr)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(int(self.settings.value(KEY + "batch", defaults.batch) or defaults.batch))
        self.patch_spin = QSpinBox()
        self.patch_spin.setRange(16, 1024)
        self.patch_spin.setSingleStep(16)
        self.patch_spin.setSuffix(" px")
        self.patch_spin.setValue(int(self.settings.value(KEY + "patch", defaults.patch) or defaults.patch))
        self.device_combo = QComboBox()
        for text, value in DEVICES:
            self.device_combo.addItem(text, value)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(
            self.settings.value(KEY + "device", "auto"))))
        for i, (label, widget) in enumerate((("Steps", self.steps_spin), ("Learning rate", self.lr_spin),
                                             ("Batch", self.batch_spin), ("Patch", self.patch_spin),
                                             ("Device", self.device_combo))):
            grid.addWidget(QLabel(label), i // 3, 2 * (i % 3))
            grid.addWidget(widget, i // 3, 2 * (i % 3) + 1)
        return group

    def _build_preview(self) -> QGroupBox:
        group = QGroupBox("Validation image", self)
        grid = QGridLayout(group)
        self.input_label, self.before_label, self.after_label = QLabel(), QLabel(), QLabel()
        for column, (title, label) in enumerate((("Input", self.input_label), ("Starting model", self.before_label),
                                                 ("Now", self.after_label))):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setMinimumSize(PREVIEW_SIDE, PREVIEW_SIDE)
            grid.addWidget(QLabel(title), 0, column, Qt.AlignmentFlag.AlignHCenter)
            grid.addWidget(label, 1, column)
        return group

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.use_button = QPushButton("Use This Model")
        self.use_button.setToolTip("Choose the new model in the editor and close")
        self.use_button.clicked.connect(self.use_model)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start())   # not start(checked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop training; the best weights so far are kept")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        row.addWidget(self.use_button)
        row.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            row.addWidget(button)
        return row

    def _suggested_name(self) -> str:
        base = self.model_combo.currentData()
        return f"{base}-mine" if base else ""

    # -- the request --------------------------------------------------------------------------------

    def _folders(self) -> tuple[Path | None, Path | None]:
        """(degraded folder or None for clean-only, clean folder or None when not given)."""
        clean = Path(self.clean_edit.text().strip()) if self.clean_edit.text().strip() else None
        if self.clean_only_radio.isChecked():
            return None, clean
        degraded = self.degraded_edit.text().strip()
        return (Path(degraded) if degraded else None), clean

    def _count_pairs(self) -> None:
        """Say how many images the folders give and how they will be split."""
        self.degraded_row.setEnabled(self.paired_radio.isChecked())
        degraded, clean = self._folders()
        if clean is None or (self.paired_radio.isChecked() and degraded is None):
            self.pairs_label.setText("Choose the folders.")
            return
        try:
            train, val = engine.split_validation(engine.find_pairs(clean, degraded),
                                                 self._defaults.validation_fraction)
        except engine.RestoraError as exc:
            self.pairs_label.setText(str(exc))
            return
        what = "pairs" if degraded is not None else "images"
        self.pairs_label.setText(f"{len(train) + len(val)} {what}: {len(train)} to train on, "
                                 f"{len(val)} held out to validate")

    def request(self, overwrite: bool = False) -> engine.FinetuneRequest:
        """The FinetuneRequest the form describes; RestoraError naming what is missing."""
        degraded, clean = self._folders()
        if clean is None or (self.paired_radio.isChecked() and degraded is None):
            raise engine.RestoraError("Choose the folders of training images.")
        if self.model_combo.currentData() is None:
            raise engine.RestoraError("No model that can be fine-tuned is installed.")
        return engine.FinetuneRequest(
            self.model_combo.currentData(), self.name_edit.text().strip(), clean, degraded,
            steps=self.steps_spin.value(), lr=self.lr_spin.value(), batch=self.batch_spin.value(),
            patch=self.patch_spin.value(), device=self.device_combo.currentData(), overwrite=overwrite)

    def _remember(self, req: engine.FinetuneRequest) -> None:
        for key, value in (("model", req.model), ("clean_only", req.degraded_dir is None),
                           ("clean", str(req.clean_dir)), ("steps", req.steps), (f"lr/{self._task()}", req.lr),
                           ("batch", req.batch), ("patch", req.patch), ("device", req.device)):
            self.settings.setValue(KEY + key, value)
        if req.degraded_dir is not None:
            self.settings.setValue(KEY + "degraded", str(req.degraded_dir))

    # -- running ------------------------------------------------------------------------------------

    def start(self, replace: bool | None = None) -> bool:
        """Start training; False (with a message) if the form is incomplete or the worker is busy.
        A name taken by one of the person's own models is replaced after asking (or per `replace`)."""
        try:
            req = self.request()
            if any(c.name == req.name and c.source == "user" for c in engine.list_models()):
                if replace is None:
                    replace = QMessageBox.question(
                        self, "Replace model?", f"You already have a model called {req.name!r}. Replace it "
                        "when training ends?") == QMessageBox.StandardButton.Yes
                if not replace:
                    return False
                req = self.request(overwrite=True)
            engine.check_new_name(req.name, req.overwrite)
        except engine.RestoraError as exc:
            return self._refuse(str(exc))
        if not self.runner.submit(FINETUNE_JOB, lambda token: self.relay.wrap(engine.finetune(req, token))):
            return self._refuse("Another job is running; try again when it has finished.")
        self._running, self._request, self.saved_model = True, req, None
        self._remember(req)
        self._training_since = 0.0
        self.plot.reset(req.steps, "")
        for label in (self.input_label, self.before_label, self.after_label):
            label.clear()
        self.progress_bar.setRange(0, req.steps)
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting…")
        self._update_buttons()
        return True

    def cancel(self) -> None:
        """Stop at the next step; the best weights so far are kept."""
        if self._running:
            self.runner.cancel()
            self.status_label.setText("Cancelling; keeping the best weights so far…")
            self.cancel_button.setEnabled(False)

    def use_model(self) -> None:
        if self.saved_model:
            self.model_chosen.emit(self.saved_model)
            self.accept()

    def _refuse(self, message: str) -> bool:
        QMessageBox.warning(self, "Fine-tune", message)
        return False

    # -- what the worker reports --------------------------------------------------------------------

    def _on_reported(self, status: engine.Progress) -> None:
        if not isinstance(status, engine.FinetuneStatus) or not self.cancel_button.isEnabled():
            return
        if not self.plot.metric_label:
            self.plot.reset(status.total, engine.METRIC_LABELS.get(status.metric, status.metric))
        self.plot.add(status)
        if status.preview is not None:
            source, output = status.preview
            if status.done == 0:
                self._show(self.input_label, source)
                self._show(self.before_label, output)
            self._show(self.after_label, output)
        if status.done and not self._training_since:
            self._training_since = time.monotonic()     # time the steps, not the loading
        self.progress_bar.setValue(status.done)
        left = ""
        if self._training_since and status.done > 1:
            left = time_left(time.monotonic() - self._training_since, (status.done - 1) / status.total)
        self.status_label.setText(status.stage[:1].upper() + status.stage[1:] + (f"   {left}" if left else ""))

    @staticmethod
    def _show(label: QLabel, pixels: np.ndarray) -> None:
        label.setPixmap(QPixmap.fromImage(array_to_qimage(pixels)).scaled(
            PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def _on_result(self, kind: str, result: object) -> None:
        if kind != FINETUNE_JOB or not self._running:
            return
        label = engine.METRIC_LABELS.get(result.metric, result.metric)
        self.saved_model = result.name
        self.status_label.setText(f"Saved as {result.name!r}: validation {label} {result.before:.4g} → "
                                  f"{result.after:.4g} (best at step {result.best_step} of {result.steps_done})"
                                  f"{result.known_damage_note('→')}.")
        self.finetune_finished.emit(result)

    def _on_error(self, kind: str, message: str) -> None:
        if kind == FINETUNE_JOB and self._running:
            self.status_label.setText(f"Fine-tuning failed: {message}")

    def _on_cancelled(self, kind: str) -> None:
        if kind != FINETUNE_JOB or not self._running:
            return
        name = self._request.name
        card = next((c for c in engine.list_models() if c.name == name and c.source == "user"), None)
        if card is not None and card.training.get("cancelled"):
            self.saved_model = name
            self.status_label.setText(f"Cancelled at step {card.training.get('steps_done')}; the best weights so "
                                      f"far (step {card.training.get('best_step')}) are saved as {name!r}.")
        else:
            self.status_label.setText("Cancelled before any validation improved on the starting model; "
                                      "nothing was saved.")

    def _on_finished(self, kind: str) -> None:
        if kind == FINETUNE_JOB and self._running:
            self._running = False
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.start_button.setEnabled(not self.runner.busy)
        self.cancel_button.setEnabled(self._running)
        self.close_button.setEnabled(not self._running)
        self.use_button.setEnabled(self.saved_model is not None and not self._running)

    # -- closing ------------------------------------------------------------------------------------

    def done(self, result: int) -> None:
        """Closing while training cancels it instead; the dialog stays until it stops."""
        if self._running:
            self.cancel()
            return
        if self._own_runner:
            self.runner.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._running:
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)
