"""File > Batch Export: run a pipeline over a whole folder on the worker thread with
`engine.run_batch`, the code behind `python main.py batch`.

The person picks the input and output folders, the steps (restore, repair, upscale
x2 or x4, run in that order), whether to include sub-folders and the output format
and quality. Preview runs the pipeline on the first image (scaled down) and shows it
before and after. While the batch runs, one bar shows the whole batch with the time
left and another the current file; Cancel stops after the current tile and leaves no
partial file. At the end the report (also written beside the outputs) is shown, with
a button that opens the output folder. Running again resumes: finished files are
skipped. The steps use the models, device, precision and tile size chosen in the
editor's Settings panel (the QSettings keys `settings/...`).
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPlainTextEdit, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

import engine

from ..canvas import array_to_qimage
from ..worker import JobRunner
from .folder_row import folder_row
from .progress import ProgressRelay, time_left

BATCH_JOB, PREVIEW_JOB = "Batch export", "Batch preview"
FORMATS = (("Same as input", None), ("PNG", "png"), ("JPEG", "jpg"), ("WebP", "webp"), ("TIFF", "tif"))
LOSSY = ("jpg", "webp", None)            # formats with a quality ("same as input" may be JPEG)
PREVIEW_SIDE = 240                       # each side of the before/after preview, in screen pixels
KEY = "batch/"


class BatchExportDialog(QDialog):
    """Batch export of a folder. Pass the editor's `runner` to share its worker thread
    (the dialog then only listens to its own jobs); without one it runs its own."""

    batch_finished = Signal(object)      # the engine.BatchReport, also after a cancel

    def __init__(self, settings: QSettings, runner: JobRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Batch Export")
        self.settings = settings
        self._own_runner = runner is None
        self.runner = runner if runner is not None else JobRunner(self)
        self.relay = ProgressRelay(self)
        self.report: engine.BatchReport | None = None
        self._request: engine.BatchRequest | None = None
        self._job: str | None = None         # the kind of this dialog's job while it runs
        self._started_at = 0.0

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_form())
        layout.addWidget(self._build_preview())
        layout.addWidget(self._build_progress())
        self.report_view = QPlainTextEdit(self)
        self.report_view.setReadOnly(True)
        self.report_view.setPlaceholderText("The report appears here when the batch ends.")
        self.report_view.setMaximumBlockCount(10000)
        layout.addWidget(self.report_view, 1)
        layout.addLayout(self._build_buttons())

        self.relay.reported.connect(self._on_reported)
        self.runner.progress.connect(self._on_progress)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.finished.connect(self._on_finished)
        self._update_buttons()
        self.resize(640, 720)

    # -- building -----------------------------------------------------------------------------------

    def _folder_row(self, key: str, title: str) -> tuple[QLineEdit, QWidget]:
        return folder_row(self, str(self.settings.value(KEY + key, "") or ""), title, placeholder=title)

    def _build_form(self) -> QFormLayout:
        form = QFormLayout()
        self.input_edit, row = self._folder_row("input", "Folder with the images to process")
        form.addRow("Input folder", row)
        self.output_edit, row = self._folder_row("output", "Folder for the results and the report")
        form.addRow("Output folder", row)

        self.restore_box = QCheckBox("Restore document")
        self.repair_box = QCheckBox("Repair damage")
        self.upscale2_box = QCheckBox("Upscale ×2")
        self.upscale4_box = QCheckBox("Upscale ×4")
        steps = set(str(self.settings.value(KEY + "steps", "restore") or "").split(","))
        for box, name in ((self.restore_box, "restore"), (self.repair_box, "repair"),
                          (self.upscale2_box, "upscale:2"), (self.upscale4_box, "upscale:4")):
            box.setChecked(name in steps)
        # one upscale step at most: checking one scale clears the other
        self.upscale2_box.toggled.connect(lambda on: on and self.upscale4_box.setChecked(False))
        self.upscale4_box.toggled.connect(lambda on: on and self.upscale2_box.setChecked(False))
        row = QWidget(self)
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        for widget in (self.restore_box, self.repair_box, self.upscale2_box, self.upscale4_box):
            box.addWidget(widget)
        box.addStretch(1)
        form.addRow("Steps, in order", row)

        self.recursive_box = QCheckBox("Include sub-folders (the output keeps their tree)")
        self.recursive_box.setChecked(self.settings.value(KEY + "recursive", False) in (True, "true"))
        self.overwrite_box = QCheckBox("Replace existing outputs (otherwise they are skipped)")
        form.addRow("", self.recursive_box)
        form.addRow("", self.overwrite_box)

        self.format_combo = QComboBox()
        for text, ext in FORMATS:
            self.format_combo.addItem(text, ext)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findText(
            str(self.settings.value(KEY + "format", FORMATS[0][0])))))
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(int(self.settings.value(KEY + "quality", 92) or 92))
        self.quality_spin.setToolTip("JPEG and WebP quality; PNG and TIFF are lossless")
        self.format_combo.currentIndexChanged.connect(
            lambda: self.quality_spin.setEnabled(self.format_combo.currentData() in LOSSY))
        self.quality_spin.setEnabled(self.format_combo.currentData() in LOSSY)
        row = QWidget(self)
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.format_combo, 1)
        box.addWidget(QLabel("Quality"))
        box.addWidget(self.quality_spin)
        form.addRow("Format", row)
        return form

    def _build_preview(self) -> QGroupBox:
        group = QGroupBox("Preview of the first image", self)
        grid = QGridLayout(group)
        self.before_label, self.after_label = QLabel("Before"), QLabel("After")
        for column, label in enumerate((self.before_label, self.after_label)):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setMinimumSize(PREVIEW_SIDE, PREVIEW_SIDE // 2)
            grid.addWidget(label, 0, column)
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Run the steps on the first image, scaled down, and show the result")
        self.preview_button.clicked.connect(self.start_preview)
        grid.addWidget(self.preview_caption, 1, 0)
        grid.addWidget(self.preview_button, 1, 1, Qt.AlignmentFlag.AlignRight)
        return group

    def _build_progress(self) -> QWidget:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.overall_label, self.file_label = QLabel("Not started"), QLabel("")
        self.overall_bar, self.file_bar = QProgressBar(), QProgressBar()
        for bar in (self.overall_bar, self.file_bar):
            bar.setRange(0, 1000)
            bar.setValue(0)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for widget in (self.overall_label, self.overall_bar, self.file_label, self.file_bar):
            layout.addWidget(widget)
        return box

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.open_folder_button = QPushButton("Open Output Folder")
        self.open_folder_button.clicked.connect(self.open_output_folder)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        row.addWidget(self.open_folder_button)
        row.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            row.addWidget(button)
        return row

    # -- the request --------------------------------------------------------------------------------

    def steps(self) -> tuple[engine.Step, ...]:
        """The checked steps in pipeline order, with the models chosen in the Settings panel."""
        def model(task: str, default: str) -> str | None:
            chosen = str(self.settings.value(f"settings/{task}_model", default) or default)
            return None if chosen == default else chosen

        variant = str(self.settings.value("settings/upscale_variant", "faithful") or "faithful")
        steps = []
        if self.restore_box.isChecked():
            steps.append(engine.Step("restore", model=model("restore", engine.RestoreRequest().model)))
        if self.repair_box.isChecked():
            steps.append(engine.Step("repair", model=model("repair", engine.RepairRequest().model)))
        for box, scale in ((self.upscale2_box, 2), (self.upscale4_box, 4)):
            if box.isChecked():
                steps.append(engine.Step("upscale", scale=scale, variant=variant))
        return tuple(steps)

    def request(self) -> engine.BatchRequest:
        """The BatchRequest the form describes; RestoraError naming what is missing."""
        source, target = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not source or not Path(source).is_dir():
            raise engine.RestoraError("Choose an existing input folder.")
        if not target:
            raise engine.RestoraError("Choose an output folder.")
        if Path(target).resolve() == Path(source).resolve():
            raise engine.RestoraError("Choose an output folder other than the input folder: outputs named like "
                                      "their inputs would replace them.")
        steps = self.steps()
        if not steps:
            raise engine.RestoraError("Choose at least one step.")
        engine.check_installed(steps)       # a missing model would fail every file
        options = engine.RunOptions(device=str(self.settings.value("settings/device", "auto") or "auto"),
                                    tile=int(self.settings.value("settings/tile", 0) or 0),
                                    precision=str(self.settings.value("settings/precision", "auto") or "auto"))
        return engine.BatchRequest(Path(source), Path(target), steps, recursive=self.recursive_box.isChecked(),
                                   format=self.format_combo.currentData(), quality=self.quality_spin.value(),
                                   overwrite=self.overwrite_box.isChecked(), options=options)

    def _remember(self, req: engine.BatchRequest) -> None:
        for key, value in (("input", str(req.input_dir)), ("output", str(req.output_dir)),
                           ("steps", ",".join(f"upscale:{s.scale}" if s.name == "upscale" else s.name
                                              for s in req.steps)),
                           ("recursive", req.recursive), ("format", self.format_combo.currentText()),
                           ("quality", req.quality)):
            self.settings.setValue(KEY + key, value)

    # -- running ------------------------------------------------------------------------------------

    def start_preview(self) -> bool:
        """Run the pipeline on the first image; False (with a message) if it cannot start."""
        def job(token: engine.CancelToken):
            name, before, after = yield from engine.preview_first(req, token)
            return name, array_to_qimage(before.pixels), array_to_qimage(after.pixels)

        try:
            req = self.request()
        except engine.RestoraError as exc:
            return self._refuse(str(exc))
        if not self.runner.submit(PREVIEW_JOB, job):
            return self._refuse("Another job is running; try again when it has finished.")
        self._job = PREVIEW_JOB
        self.preview_caption.setText("Running the steps on the first image…")
        self._update_buttons()
        return True

    def start(self) -> bool:
        """Start the batch; False (with a message) if the form is incomplete or the worker is busy."""
        try:
            req = self.request()
        except engine.RestoraError as exc:
            return self._refuse(str(exc))
        if not self.runner.submit(BATCH_JOB, lambda token: self.relay.wrap(engine.run_batch(req, token))):
            return self._refuse("Another job is running; try again when it has finished.")
        self._job = BATCH_JOB
        self._remember(req)
        self._request, self.report = req, None
        self._started_at = time.monotonic()
        self.report_view.clear()
        self.overall_label.setText("Finding the images…")
        self.overall_bar.setValue(0)
        self.file_bar.setValue(0)
        self._update_buttons()
        return True

    def cancel(self) -> None:
        """Stop after the current tile; the files finished so far stay, nothing partial is written."""
        if self._job is not None:
            self.runner.cancel()
            (self.overall_label if self._job == BATCH_JOB else self.preview_caption).setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def open_output_folder(self) -> bool:
        folder = self.output_edit.text().strip()
        return bool(folder) and QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(folder).resolve())))

    def _refuse(self, message: str) -> bool:
        QMessageBox.warning(self, "Batch Export", message)
        return False

    # -- what the worker reports --------------------------------------------------------------------

    def _on_reported(self, p: engine.Progress) -> None:
        if self._job != BATCH_JOB or not isinstance(p, engine.BatchProgress) or not self.cancel_button.isEnabled():
            return
        self.overall_bar.setValue(round(1000 * p.fraction))
        if p.file_index < p.file_count:
            self.overall_label.setText(f"File {p.file_index + 1} of {p.file_count}   "
                                       f"{time_left(time.monotonic() - self._started_at, p.fraction)}")
            self.file_label.setText(p.stage)
            self.file_bar.setValue(round(1000 * p.file_fraction))

    def _on_progress(self, done: int, total: int, stage: str) -> None:
        if self._job == PREVIEW_JOB and total:
            self.preview_caption.setText(f"Running the steps on the first image… {100 * done // total}%")

    def _on_result(self, kind: str, value: object) -> None:
        if kind != self._job:
            return
        if kind == PREVIEW_JOB:
            name, before, after = value
            for label, image in ((self.before_label, before), (self.after_label, after)):
                label.setPixmap(QPixmap.fromImage(image).scaled(
                    PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation))
            self.preview_caption.setText(f"{name}: before and after")
        elif kind == BATCH_JOB:
            self._show_report(value)

    def _on_error(self, kind: str, message: str) -> None:
        if kind != self._job:
            return
        if kind == PREVIEW_JOB:
            self.preview_caption.setText(f"Preview failed: {message}")
        elif kind == BATCH_JOB:
            self.overall_label.setText("The batch stopped")
            self.report_view.setPlainText(message)

    def _on_cancelled(self, kind: str) -> None:
        if kind != self._job:
            return
        if kind == PREVIEW_JOB:
            self.preview_caption.setText("Preview cancelled")
        else:       # the engine wrote the report of the files finished before the cancel
            try:
                self._show_report(engine.read_report(engine.report_path(self._request)))
            except engine.RestoraError as exc:
                self.overall_label.setText("Cancelled")
                self.report_view.setPlainText(str(exc))

    def _on_finished(self, kind: str) -> None:
        if kind == self._job:
            self._job = None
        self._update_buttons()

    def _show_report(self, report: engine.BatchReport) -> None:
        self.report = report
        head = report.summary().splitlines()[0]
        self.overall_label.setText(("Cancelled: " if report.cancelled else "Finished: ") + head)
        if not report.cancelled:
            self.overall_bar.setValue(self.overall_bar.maximum())
        self.file_label.setText("")
        self.file_bar.setValue(0)
        self.report_view.setPlainText(report.summary() + f"\n\nReport saved as {engine.report_path(self._request)}")
        self.batch_finished.emit(report)

    def _update_buttons(self) -> None:
        busy = self.runner.busy
        self.start_button.setEnabled(not busy)
        self.preview_button.setEnabled(not busy)
        self.cancel_button.setEnabled(self._job is not None)
        self.close_button.setEnabled(self._job is None)
        self.open_folder_button.setEnabled(self.report is not None)
        for widget in (self.file_label, self.file_bar):      # the current file's progress, while a batch runs
            widget.setVisible(self._job == BATCH_JOB)

    # -- closing ------------------------------------------------------------------------------------

    def done(self, result: int) -> None:
        """Closing while this dialog's job runs cancels it instead; the dialog stays until it stops."""
        if self._job is not None:
            self.cancel()
            return
        if self._own_runner:
            self.runner.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._job is not None:
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)

