"""The main window: menus, toolbar, status bar and canvas, and the glue between
them, the open `Document` and the `JobRunner`.

A tool runs as a worker job (gui/tools.py) on a snapshot of the document's image
and the current selection; its result becomes one undoable edit of the document
it started on, if that document is still open. While a job runs, the tools and
undo/redo are disabled and the status bar shows its progress and a Cancel button.
"""
from __future__ import annotations

import os
from typing import Callable

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton,
                               QStackedWidget, QToolBar, QToolButton, QVBoxLayout, QWidget)

import engine

from . import tools
from .canvas import ImageView, array_to_qimage, mask_to_qimage
from .canvas.view import PAN_TOOL, SELECT_TOOL
from .dialogs.models_dialog import ModelListDialog
from .document import Document
from .theme import icon
from .worker import JobFunction, JobRunner

APP_NAME = "Restora"
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
EXPORT_FILTERS = (("PNG image (*.png)", "png"), ("JPEG image (*.jpg *.jpeg)", "jpg"),
                  ("WebP image (*.webp)", "webp"), ("TIFF image (*.tif *.tiff)", "tif"))
MAX_RECENT = 10
RECENT_KEY = "recent_files"

ResultHandler = Callable[[Document, object], None]


class MainWindow(QMainWindow):
    """The editor window; `settings` (recent files, folders, geometry) defaults to QSettings()."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.document: Document | None = None
        self.jobs = JobRunner(self)
        self._job_target: tuple[Document, ResultHandler] | None = None
        self._original_overlay = None
        self._icon_names: dict[QAction, str] = {}

        self.view = ImageView(self)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_central()
        self._build_status_bar()

        self.view.zoom_changed.connect(self._show_zoom)
        self.view.selection_changed.connect(self._show_selection)
        self.jobs.started.connect(self._on_job_started)
        self.jobs.progress.connect(self._on_job_progress)
        self.jobs.result.connect(self._on_job_result)
        self.jobs.error.connect(self._on_job_error)
        self.jobs.cancelled.connect(self._on_job_cancelled)
        self.jobs.finished.connect(self._on_job_finished)

        self.setAcceptDrops(True)
        self.resize(1200, 800)
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self._update_title()
        self._update_actions()

    # -- building -------------------------------------------------------------------------------

    def _action(self, text: str, slot: Callable | None = None, shortcuts: tuple = (), icon_name: str = "",
                tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if icon_name:
            self._icon_names[action] = icon_name
            action.setIcon(icon(icon_name))
        plain = text.replace("&", "").replace("…", "")
        if shortcuts:
            plain += f" ({QKeySequence(shortcuts[0]).toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(f"{plain}\n{tip}" if tip else plain)
        action.setStatusTip(tip)
        action.setCheckable(checkable)
        if slot is not None:
            (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)  # shortcuts work even while the toolbar is hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open…", self.open_dialog, (QKeySequence.StandardKey.Open,), "folder-open",
                             "Open an image")
        self.export_action = a("&Export As…", self.export_as, ("Ctrl+Shift+S",), "content-save-outline",
                               "Save the current result as PNG, JPEG, WebP or TIFF")
        self.quit_action = a("&Quit", self.close, ("Ctrl+Q",))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        self.undo_action = a("&Undo", self._undo, ("Ctrl+Z",), "undo")
        self.redo_action = a("&Redo", self._redo, ("Ctrl+Shift+Z", "Ctrl+Y"), "redo")
        self.pan_tool_action = a("&Hand Tool", None, ("H",), "hand-back-right-outline",
                                 "Drag to move around the image (or hold Space, or use the middle button)",
                                 checkable=True)
        self.select_tool_action = a("Rectangle &Select", None, ("M",), "selection-drag",
                                    "Drag to select a region; tools then change only the region",
                                    checkable=True)
        tool_group = QActionGroup(self)
        for action in (self.pan_tool_action, self.select_tool_action):
            tool_group.addAction(action)
        self.pan_tool_action.setChecked(True)
        self.select_tool_action.toggled.connect(
            lambda on: self.view.set_tool(SELECT_TOOL if on else PAN_TOOL))
        self.select_all_action = a("Select &All", self.view.select_all, ("Ctrl+A",))
        self.deselect_action = a("&Deselect", self.view.deselect, ("Ctrl+Shift+A", "Ctrl+D"))

        self.zoom_in_action = a("Zoom &In", self.view.zoom_in, ("Ctrl++", "Ctrl+="), "magnify-plus-outline")
        self.zoom_out_action = a("Zoom &Out", self.view.zoom_out, ("Ctrl+-",), "magnify-minus-outline")
        self.fit_action = a("&Fit to Window", self.view.fit_to_window, ("Ctrl+0",), "fit-to-screen-outline")
        self.actual_size_action = a("&100%", self.view.zoom_actual_size, ("Ctrl+1",), "numeric-1-box-outline",
                                    "Actual pixels")
        self.compare_action = a("&Compare with Original", self.view.set_compare_enabled, ("Ctrl+B",),
                                "compare-horizontal", "Show the original left of a draggable divider",
                                checkable=True)
        self.show_mask_action = a("Show &Mask", self.view.set_mask_visible, ("Ctrl+M",), "layers-outline",
                                  "Show detected damage in red", checkable=True)
        self.show_mask_action.setChecked(True)

        self.restore_action = a("&Restore Document", lambda: self.restore_document(), ("Ctrl+R",), "auto-fix",
                                "Clean a scanned page: paper to white, stains and noise removed")
        self.detect_action = a("&Detect Damage", lambda: self.detect_damage(), ("Ctrl+Shift+D",), "magnify-scan",
                               "Find scratches, tears and spots; shown as a red mask")
        self.repair_action = a("Re&pair", lambda: self.repair_damage(), ("Ctrl+Shift+R",), "bandage",
                               "Fill the damage in the mask (detected first if there is none)")
        self.clear_mask_action = a("&Clear Mask", self._clear_mask, (), "", "Forget the detected damage")
        self.restore_action.setIconText("Restore")
        self.detect_action.setIconText("Detect")
        self.upscale2_action = a("Upscale ×&2", lambda: self.upscale_image(2), (), "arrow-expand-all",
                                 "Enlarge twice (the selection only, if there is one)")
        self.upscale4_action = a("Upscale ×&4", lambda: self.upscale_image(4), (), "arrow-expand-all",
                                 "Enlarge four times (the selection only, if there is one)")
        self.models_action = a("&Models…", self.show_models, (), "cube-outline", "Installed models and their quality")
        self.about_action = a("&About Restora", self.show_about, (), "information-outline")
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.pan_tool_action, self.select_tool_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.select_all_action, self.deselect_action])

        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_size_action])
        view_menu.addSeparator()
        view_menu.addActions([self.compare_action, self.show_mask_action])

        tools_menu = bar.addMenu("&Tools")
        tools_menu.addAction(self.restore_action)
        tools_menu.addSeparator()
        tools_menu.addActions([self.detect_action, self.repair_action, self.clear_mask_action])
        tools_menu.addSeparator()
        tools_menu.addActions([self.upscale2_action, self.upscale4_action])

        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.models_action, self.about_action])

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("main-toolbar")
        bar.setMovable(False)
        bar.setIconSize(QSize(20, 20))
        groups = ((self.open_action, self.export_action), (self.undo_action, self.redo_action),
                  (self.pan_tool_action, self.select_tool_action),
                  (self.zoom_out_action, self.zoom_in_action, self.fit_action, self.actual_size_action),
                  (self.compare_action, self.show_mask_action))
        for group in groups:
            bar.addActions(list(group))
            bar.addSeparator()
        for action in (self.restore_action, self.detect_action, self.repair_action,
                       self.upscale2_action, self.upscale4_action):
            button = QToolButton(bar)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            bar.addWidget(button)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def _build_central(self) -> None:
        empty = QWidget(self)
        layout = QVBoxLayout(empty)
        layout.addStretch(1)
        self._empty_icon = QLabel(empty)
        self._empty_icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("Open an image to start", empty)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        title.setFont(font)
        hint = QLabel("File ▸ Open (Ctrl+O), a recent file, or drop an image onto this window.", empty)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setEnabled(False)
        button = QPushButton("Open Image…", empty)
        button.clicked.connect(self.open_dialog)
        for widget in (self._empty_icon, title, hint):
            layout.addWidget(widget)
        layout.addSpacing(8)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self._stack = QStackedWidget(self)
        self._stack.addWidget(empty)
        self._stack.addWidget(self.view)
        self.setCentralWidget(self._stack)
        self._refresh_empty_icon()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.info_label = QLabel(self)
        self.selection_label = QLabel(self)
        self.zoom_label = QLabel(self)
        self.zoom_label.setMinimumWidth(48)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.stage_label = QLabel(self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton(icon("close-circle-outline"), "Cancel", self)
        self.cancel_button.setFlat(True)
        self.cancel_button.setToolTip("Stop the running job; the image stays as it was (Esc)")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_button.clicked.connect(self.cancel_job)
        for widget in (self.stage_label, self.progress_bar, self.cancel_button, self.selection_label,
                       self.info_label, self.zoom_label):
            widget.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(widget)
        self._show_job_widgets(False)

    def refresh_icons(self) -> None:
        """Re-tint every icon after a palette change (light/dark switch)."""
        for action, name in self._icon_names.items():
            action.setIcon(icon(name))
        self.cancel_button.setIcon(icon("close-circle-outline"))
        self._refresh_empty_icon()

    def _refresh_empty_icon(self) -> None:
        self._empty_icon.setPixmap(icon("image-plus-outline").pixmap(96, 96, QIcon.Mode.Disabled))

    # -- documents --------------------------------------------------------------------------------

    def open_dialog(self) -> None:
        folder = str(self.settings.value("folders/open", "") or "")
        path, _ = QFileDialog.getOpenFileName(self, "Open Image", folder, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Open the image at `path` as the document; errors are shown, returning False."""
        try:
            image = engine.load_image(path)
        except engine.RestoraError as exc:
            self._show_error("Cannot open image", str(exc))
            return False
        path = os.path.abspath(path)
        self.jobs.cancel()  # a running job belongs to the previous document; its result is dropped
        self._set_document(Document(image, path, self))
        self.settings.setValue("folders/open", os.path.dirname(path))
        self._remember_recent(path)
        if image.warnings:
            self.statusBar().showMessage("; ".join(image.warnings), 15000)
        return True

    def _set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.deleteLater()
        self.document = document
        document.image_changed.connect(self._show_current_image)
        document.mask_changed.connect(self._show_mask)
        document.changed.connect(self._update_title)
        document.changed.connect(self._update_actions)
        original = document.original
        self.view.set_compare_image(array_to_qimage(original.pixels, original.alpha))
        self.view.deselect()
        self._show_current_image()
        self._show_mask()
        self.view.fit_to_window()
        self._stack.setCurrentWidget(self.view)
        self.view.setFocus()
        self._update_title()
        self._update_actions()

    def _show_current_image(self) -> None:
        image = self.document.current
        self.view.set_image(array_to_qimage(image.pixels, image.alpha))
        kind = ("Gray" if image.channels == 1 else "RGB") + ("A" if image.alpha is not None else "")
        self.info_label.setText(f"{image.width} × {image.height} px · {kind} · {image.bits}-bit")

    def _show_mask(self) -> None:
        mask = self.document.mask
        self.view.set_mask_overlay(None if mask is None else mask_to_qimage(mask))
        self._update_actions()

    def _clear_mask(self) -> None:
        if self.document is not None and self.document.mask is not None:
            self.document.set_mask(None, "Clear Mask")

    def _undo(self) -> None:
        if self.document is not None:
            self.document.undo_stack.undo()

    def _redo(self) -> None:
        if self.document is not None:
            self.document.undo_stack.redo()

    # -- export -------------------------------------------------------------------------------------

    def export_as(self) -> None:
        """Ask where to export the current image (the dialog confirms overwriting), then export."""
        if self.document is None:
            return
        dialog = QFileDialog(self, "Export As")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters([f for f, _ in EXPORT_FILTERS])
        suffixes = dict(EXPORT_FILTERS)
        dialog.setDefaultSuffix("png")
        dialog.filterSelected.connect(lambda f: dialog.setDefaultSuffix(suffixes.get(f, "png")))
        folder = str(self.settings.value("folders/export", "") or os.path.dirname(self.document.path or ""))
        stem = os.path.splitext(self.document.name)[0]
        dialog.selectFile(os.path.join(folder, f"{stem}_restored.png"))
        if dialog.exec() == QFileDialog.DialogCode.Accepted and dialog.selectedFiles():
            self.export_to(dialog.selectedFiles()[0])

    def export_to(self, path: str) -> bool:
        """Write the current image to `path` (format from its suffix), replacing any file
        there; errors are shown, returning False."""
        try:
            saved = engine.save_image(self.document.current, path, overwrite=True)
        except engine.RestoraError as exc:
            self._show_error("Export failed", str(exc))
            return False
        self.settings.setValue("folders/export", os.path.dirname(os.path.abspath(saved)))
        self.document.mark_saved()
        self.statusBar().showMessage(f"Exported {saved}", 8000)
        return True

    # -- recent files -----------------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):  # an INI file gives back a one-item list as a string
            value = [value]
        return [str(v) for v in value or []]

    def _remember_recent(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue(RECENT_KEY, files[:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for number, path in enumerate(files, 1):
            action = self.recent_menu.addAction(f"&{number % 10}  {os.path.basename(path)}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", lambda: self.settings.setValue(RECENT_KEY, []))
        else:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    # -- tools --------------------------------------------------------------------------------------

    def _selection(self) -> tools.Selection | None:
        rect: QRect | None = self.view.selection()
        return None if rect is None else (rect.x(), rect.y(), rect.width(), rect.height())

    def restore_document(self, request: engine.RestoreRequest | None = None) -> bool:
        """Clean the page (or the selection) with `request` (the default model if None)."""
        request = request or engine.RestoreRequest()
        image, selection = self.document.current, self._selection()
        return self.start_job("Restore", lambda token: tools.restore_job(image, selection, request, token),
                              lambda doc, result: doc.apply(result, "Restore"))

    def detect_damage(self, request: engine.MaskRequest | None = None) -> bool:
        """Find damage (in the selection, if any) and show it as the mask overlay."""
        request = request or engine.MaskRequest()
        image, selection, mask = self.document.current, self._selection(), self.document.mask
        return self.start_job("Detect Damage",
                              lambda token: tools.detect_damage_job(image, selection, mask, request, token),
                              self._apply_mask)

    def repair_damage(self, request: engine.RepairRequest | None = None) -> bool:
        """Fill the masked damage, detecting it first when there is no mask."""
        request = request or engine.RepairRequest()
        image, selection, mask = self.document.current, self._selection(), self.document.mask
        return self.start_job("Repair", lambda token: tools.repair_job(image, selection, mask, request, token),
                              lambda doc, result: doc.apply(result, "Repair"))

    def upscale_image(self, scale: int = 4, request: engine.UpscaleRequest | None = None) -> bool:
        """Enlarge the image by `scale` (or as `request` says); with a selection, the
        enlarged selection becomes the image."""
        request = request or engine.UpscaleRequest(scale=scale)
        label = f"Upscale ×{request.scale}"
        image, selection = self.document.current, self._selection()
        return self.start_job(label, lambda token: tools.upscale_job(image, selection, request, token),
                              lambda doc, result: doc.apply(result, label))

    def _apply_mask(self, document: Document, mask) -> None:
        document.set_mask(mask, "Detect Damage")
        self.show_mask_action.setChecked(True)

    def start_job(self, label: str, job: JobFunction, on_result: ResultHandler) -> bool:
        """Run `job` on the worker for the open document; `on_result(document, value)`
        applies its result. False if there is no document or a job is running."""
        if self.document is None or not self.jobs.submit(label, job):
            return False
        self._job_target = (self.document, on_result)
        self.stage_label.setText(f"{label}…")
        self.progress_bar.setRange(0, 0)  # busy until the first progress report
        self._show_job_widgets(True)
        self._update_actions()
        return True

    def cancel_job(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()
            self.stage_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _show_job_widgets(self, visible: bool) -> None:
        for widget in (self.stage_label, self.progress_bar, self.cancel_button):
            widget.setVisible(visible)
        self.cancel_button.setEnabled(visible)

    def _on_job_started(self, kind: str) -> None:
        self.statusBar().showMessage(f"{kind} started", 3000)

    def _on_job_progress(self, done: int, total: int, stage: str) -> None:
        if not self.cancel_button.isEnabled():
            return  # keep showing "Cancelling…"
        self.progress_bar.setRange(0, max(total, 0))
        self.progress_bar.setValue(done)
        if stage:
            self.stage_label.setText(stage[:1].upper() + stage[1:] + "…")

    def _on_job_result(self, kind: str, value: object) -> None:
        if self._job_target is None:
            return
        document, apply_result = self._job_target
        if document is self.document:
            apply_result(document, value)
            self.statusBar().showMessage(f"{kind} done", 5000)

    def _on_job_error(self, kind: str, message: str) -> None:
        self._show_error(f"{kind} failed", message)

    def _on_job_cancelled(self, kind: str) -> None:
        self.statusBar().showMessage(f"{kind} cancelled; the image is unchanged", 5000)

    def _on_job_finished(self, kind: str) -> None:
        self._job_target = None
        self._show_job_widgets(False)
        self._update_actions()

    # -- window state -------------------------------------------------------------------------------

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.name} — {APP_NAME}" if self.document else APP_NAME)

    def _update_actions(self) -> None:
        doc, busy = self.document, self.jobs.busy
        has_doc = doc is not None
        for action in (self.restore_action, self.detect_action, self.repair_action,
                       self.upscale2_action, self.upscale4_action):
            action.setEnabled(has_doc and not busy)
        for action in (self.export_action, self.select_all_action, self.deselect_action, self.zoom_in_action,
                       self.zoom_out_action, self.fit_action, self.actual_size_action, self.compare_action,
                       self.pan_tool_action, self.select_tool_action):
            action.setEnabled(has_doc)
        has_mask = has_doc and doc.mask is not None
        self.show_mask_action.setEnabled(has_mask)
        self.clear_mask_action.setEnabled(has_mask and not busy)
        stack = doc.undo_stack if has_doc else None
        self.undo_action.setEnabled(bool(stack and stack.canUndo()) and not busy)
        self.redo_action.setEnabled(bool(stack and stack.canRedo()) and not busy)
        self.undo_action.setText(f"&Undo {stack.undoText()}" if stack and stack.canUndo() else "&Undo")
        self.redo_action.setText(f"&Redo {stack.redoText()}" if stack and stack.canRedo() else "&Redo")

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%" if self.view.has_image() else "")

    def _show_selection(self, rect: QRect | None) -> None:
        self.selection_label.setText("" if rect is None else
                                     f"Selection {rect.width()} × {rect.height()} at {rect.x()}, {rect.y()}")

    def _show_error(self, title: str, message: str) -> None:
        QMessageBox.critical(self, title, message)

    def show_models(self) -> None:
        ModelListDialog(self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", (
            f"<h3>{APP_NAME}</h3><p>Local image restoration: clean scanned pages, find and repair "
            "damage, upscale, compare before and after.</p><p>Everything runs on this computer; "
            "a GPU is used when present.</p>"))

    # -- drag and drop, closing ---------------------------------------------------------------------

    @staticmethod
    def _dropped_image(event: QDragEnterEvent | QDropEvent) -> str | None:
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if path and path.lower().endswith(IMAGE_SUFFIXES):
                return path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_image(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_image(event)
        if path:
            event.acceptProposedAction()
            self.open_path(path)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.jobs.shutdown()
        super().closeEvent(event)
