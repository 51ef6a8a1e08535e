"""The main window: menus, toolbar, side panels, status bar and canvas, and the glue
between them, the open `Document` and the `JobRunner`.

A tool runs as a worker job (gui/tools.py) on a snapshot of the document's image,
mask and the current selection, with the Settings panel's options; its result
becomes one undoable edit of the document it started on, if that document is
still open. While a job runs, the tools, undo/redo and mask edits are disabled and
the status bar shows its progress, the time left and a Cancel button.

Image files are decoded and converted for the screen on a pool thread
(gui/loader.py), so opening a big photo never freezes the window either.
Once the first image is open (and shown) the worker loads the engine's compute
code, so the first tool starts without the pause of loading torch; a window
with nothing open never loads it.

Mask editing happens here on the GUI thread, in numpy (gui/mask_ops.py): a brush
stroke paints a working copy of the mask and redraws only the box it touched;
each whole stroke, grow, shrink, invert, clear or threshold change is one edit.
A Heal Brush stroke is painted the same way on an empty mask of its own, shown
instead of the document's while it lasts, and then repaired as a job.
"""
from __future__ import annotations

import os
import re
import time
from functools import partial
from typing import Callable

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QPoint, QPointF, QRect, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QImage,
                           QKeyEvent, QKeySequence)
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QPushButton, QStackedWidget, QToolBar, QToolButton, QVBoxLayout,
                               QWidget)

import engine

from . import mask_ops, tools
from .canvas import DisplayCache, ImageView, array_to_qimage, difference_qimage, qimage_to_array
from .canvas.view import BRUSH_TOOL, ERASER_TOOL, HEAL_TOOL, LASSO_TOOL, PAN_TOOL, SELECT_TOOL
from .dialogs.batch_dialog import BatchExportDialog
from .dialogs.export_options import DEFAULT_QUALITY, LOSSY_FORMATS, ExportOptionsDialog
from .dialogs.finetune_dialog import FinetuneDialog
from .dialogs.models_dialog import ModelListDialog
from .dialogs.shortcuts_dialog import ShortcutsDialog
from .document import Document
from .loader import ImageLoader
from .panels import HistoryPanel, SettingsPanel
from .recovery import RecoveryStore, read_copy
from .theme import icon
from .waiting import wait_for
from .worker import JobFunction, JobRunner

APP_NAME = "Restora"
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
MASK_FILTER = "Masks (*.png *.tif *.tiff *.bmp *.webp *.jpg *.jpeg);;All files (*)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
EXPORT_FILTERS = (("PNG image (*.png)", "png"), ("JPEG image (*.jpg *.jpeg)", "jpg"),
                  ("WebP image (*.webp)", "webp"), ("TIFF image (*.tif *.tiff)", "tif"))
MAX_RECENT = 10
RECENT_KEY = "recent_files"
BRUSH_STEP = 1.25          # [ and ] change the brush size by this factor
DIFFERENCE_GAIN = 4.0      # the difference view amplifies changes this much
WARM_UP_DELAY_MS = 500     # after the first image opens: let it be painted before loading torch
LARGE_RESULT_PIXELS = 100_000_000   # an upscale to more pixels asks first
BYTES_PER_SHOWN_PIXEL = 7           # an 8-bit RGB result held (3) and shown (4)

ResultHandler = Callable[[Document, object], str | None]     # what the status bar says then (None: "done")


class MainWindow(QMainWindow):
    """The editor window; `settings` (recent files, folders, geometry, tool options) defaults to QSettings()."""

    open_finished = Signal(str, bool)   # path, opened (False: the error was shown)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None,
                 recovery: RecoveryStore | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.recovery = recovery           # keeps a copy of unexported edits for after a crash
        self.document: Document | None = None
        self.jobs = JobRunner(self)
        self.loader = ImageLoader(self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self._job_target: tuple[Document, ResultHandler] | None = None
        self._job_started_at = 0.0
        self._stage = ""
        self._icon_names: dict[QAction, str] = {}
        self._displays = DisplayCache()
        self._compared: engine.Image | None = None   # the original the compare view shows
        self._stroke: mask_ops.Stroke | None = None
        self._healing = False              # the stroke is a Heal Brush one
        self._warm_up_scheduled = False

        self.view = ImageView(self)
        self.panel = SettingsPanel(self.settings, self)
        self.history = HistoryPanel(self)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_central()
        self._build_docks()
        self._build_status_bar()

        self.view.zoom_changed.connect(self._show_zoom)
        self.view.selection_changed.connect(self._show_selection)
        self.view.pointer_moved.connect(self._show_pointer)
        self.view.stroke_started.connect(self._begin_stroke)
        self.view.stroke_moved.connect(self._extend_stroke)
        self.view.stroke_finished.connect(self._finish_stroke)
        self.panel.threshold_moved.connect(self._preview_threshold)
        self.panel.threshold_committed.connect(self._commit_threshold)
        self.panel.mask_opacity_changed.connect(self.view.set_mask_opacity)
        self.panel.brush_changed.connect(self._apply_brush)
        self.view.set_mask_opacity(self.panel.mask_opacity.value() / 100)
        self._apply_brush()
        self.jobs.started.connect(self._on_job_started)
        self.jobs.progress.connect(self._on_job_progress)
        self.jobs.result.connect(self._on_job_result)
        self.jobs.error.connect(self._on_job_error)
        self.jobs.cancelled.connect(self._on_job_cancelled)
        self.jobs.finished.connect(self._on_job_finished)

        self.setAcceptDrops(True)
        self.resize(1280, 820)
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
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
        action.setProperty("command", plain)     # the fixed name; Undo's text changes ("Undo Invert")
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
        self.export_action = a("&Export", self.export, ("Ctrl+S",), "content-save-outline",
                               "Export to the file this image was last exported to (the first time, ask where)")
        self.export_as_action = a("Export &As…", self.export_as, ("Ctrl+Shift+S",), "content-save-edit-outline",
                                  "Save the current result as PNG, JPEG, WebP or TIFF")
        self.next_action = a("&Next Image in Folder", lambda: self.open_neighbour(1), ("PgDown",), "",
                             "Open the next image of this image's folder, in name order")
        self.previous_action = a("Pre&vious Image in Folder", lambda: self.open_neighbour(-1), ("PgUp",), "",
                                 "Open the previous image of this image's folder, in name order")
        self.copy_action = a("&Copy Image", self.copy_image, (QKeySequence.StandardKey.Copy,), "content-copy",
                             "Copy the current result (the selection only, if there is one) to the clipboard")
        self.paste_action = a("&Paste Image", self.paste_image, (QKeySequence.StandardKey.Paste,), "content-paste",
                              "Open the image on the clipboard as a new, untitled image")
        self.batch_action = a("&Batch Export…", lambda: self.show_batch_export(), ("Ctrl+Shift+E",),
                              "folder-multiple-image", "Run restore, repair and upscale over a whole folder")
        self.finetune_action = a("&Fine-tune…", self.show_finetune, (), "school-outline",
                                 "Adapt a model to your own image pairs")
        self.import_mask_action = a("&Import Mask…", self.import_mask_dialog, (), "file-import-outline",
                                    "Load a damage mask (white = damaged) of the image's size")
        self.export_mask_action = a("Export Mas&k…", self.export_mask_dialog, (), "file-export-outline",
                                    "Save the damage mask as an 8-bit PNG, white = damaged")
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
        self.lasso_tool_action = a("&Lasso Select", None, ("L",), "lasso",
                                   "Draw around a region freehand; tools then change only the inside",
                                   checkable=True)
        self.brush_tool_action = a("&Brush", None, ("B",), "brush",
                                   "Paint damage onto the mask ([ and ] change the size)", checkable=True)
        self.eraser_tool_action = a("&Eraser", None, ("E",), "eraser",
                                    "Remove damage from the mask ([ and ] change the size)", checkable=True)
        self.heal_tool_action = a("&Heal Brush", None, ("J",), "creation",
                                  "Paint over a blemish the detector missed; it is repaired when you let go "
                                  "(the mask stays as it is)", checkable=True)
        tool_group = QActionGroup(self)
        self._tools = {self.pan_tool_action: PAN_TOOL, self.select_tool_action: SELECT_TOOL,
                       self.lasso_tool_action: LASSO_TOOL, self.brush_tool_action: BRUSH_TOOL,
                       self.eraser_tool_action: ERASER_TOOL, self.heal_tool_action: HEAL_TOOL}
        for action, tool in self._tools.items():
            tool_group.addAction(action)
            action.toggled.connect(lambda on, t=tool: on and self._use_tool(t))
        self.pan_tool_action.setChecked(True)
        self.select_all_action = a("Select &All", self.view.select_all, ("Ctrl+A",))
        self.deselect_action = a("&Deselect", self.view.deselect, ("Ctrl+Shift+A", "Ctrl+D"))

        self.zoom_in_action = a("Zoom &In", self.view.zoom_in, ("Ctrl++", "Ctrl+="), "magnify-plus-outline")
        self.zoom_out_action = a("Zoom &Out", self.view.zoom_out, ("Ctrl+-",), "magnify-minus-outline")
        self.fit_action = a("&Fit to Window", lambda: self.view.fit_to_window(), ("Ctrl+0",), "fit-to-screen-outline")
        self.actual_size_action = a("&100%", self.view.zoom_actual_size, ("Ctrl+1",), "numeric-1-box-outline",
                                    "Actual pixels")
        self.compare_action = a("&Compare with Original", self.view.set_compare_enabled, ("Ctrl+B",),
                                "compare-horizontal",
                                "Show the original left of a draggable divider (hold \\ to flash the original)",
                                checkable=True)
        self.difference_action = a("Show &Difference", self._show_difference, ("Ctrl+Shift+B",),
                                   "vector-difference", "Show what changed from the original, amplified "
                                   f"×{DIFFERENCE_GAIN:g} (black = unchanged)", checkable=True)
        self.show_mask_action = a("Show &Mask", self.view.set_mask_visible, ("Ctrl+M",), "layers-outline",
                                  "Show the damage mask in red", checkable=True)
        self.show_mask_action.setChecked(True)

        self.restore_action = a("&Restore Document", lambda: self.restore_document(), ("Ctrl+R",), "auto-fix",
                                "Clean a scanned page: paper to white, stains and noise removed")
        self.detect_action = a("&Detect Damage", lambda: self.detect_damage(), ("Ctrl+Shift+D",), "magnify-scan",
                               "Find scratches, tears and spots; shown as a red mask")
        self.repair_action = a("Re&pair", lambda: self.repair_damage(), ("Ctrl+Shift+R",), "bandage",
                               "Fill the damage in the mask (detected first if there is none)")
        self.restore_action.setIconText("Restore")
        self.detect_action.setIconText("Detect")
        self.upscale2_action = a("Upscale ×&2", lambda: self.upscale_image(2), (), "arrow-expand-all",
                                 "Enlarge twice (the selection only, if there is one)")
        self.upscale4_action = a("Upscale ×&4", lambda: self.upscale_image(4), (), "arrow-expand-all",
                                 "Enlarge four times (the selection only, if there is one)")
        self.upscale_action = a("&Upscale", lambda: self.upscale_image(), ("Ctrl+U",), "arrow-expand-all",
                                "Enlarge by the scale and variant set in the Settings panel")

        self.crop_action = a("&Crop to Selection", self.crop_to_selection, ("Ctrl+Shift+X",), "crop",
                             "Keep only the selection (a lasso's bounding box), with the mask and the original")
        turn = self.reshape
        self.rotate_cw_action = a("Rotate 90° &Clockwise", lambda: turn("Rotate 90° Clockwise", tools.rotation(-1)),
                                  ("Ctrl+]",), "rotate-right", "Turn the image, its mask and the original")
        self.rotate_ccw_action = a("Rotate 90° Co&unter-clockwise",
                                   lambda: turn("Rotate 90° Counter-clockwise", tools.rotation(1)), ("Ctrl+[",),
                                   "rotate-left", "Turn the image, its mask and the original")
        self.rotate_180_action = a("Rotate &180°", lambda: turn("Rotate 180°", tools.rotation(2)))
        self.flip_h_action = a("Flip &Horizontal", lambda: turn("Flip Horizontal", tools.flip(True)), (),
                               "flip-horizontal", "Mirror the image left to right")
        self.flip_v_action = a("Flip &Vertical", lambda: turn("Flip Vertical", tools.flip(False)), (),
                               "flip-vertical", "Mirror the image top to bottom")
        self._reshapes = (self.rotate_cw_action, self.rotate_ccw_action, self.rotate_180_action,
                          self.flip_h_action, self.flip_v_action)

        self.smaller_brush_action = a("S&maller Brush", lambda: self._step_brush(1 / BRUSH_STEP), ("[",))
        self.larger_brush_action = a("&Larger Brush", lambda: self._step_brush(BRUSH_STEP), ("]",))
        self.grow_mask_action = a("&Grow", lambda: self.grow_mask(), (), "arrow-expand",
                                  "Widen the damaged areas by the pixels set in the Settings panel")
        self.shrink_mask_action = a("&Shrink", lambda: self.shrink_mask(), (), "arrow-collapse",
                                    "Narrow the damaged areas by the pixels set in the Settings panel")
        self.invert_mask_action = a("&Invert", self.invert_mask, ("Ctrl+I",), "invert-colors",
                                    "Swap damaged and intact")
        self.clear_mask_action = a("&Clear", self.clear_mask, (), "delete-outline", "Forget the mask")

        self.models_action = a("&Models…", self.show_models, (), "cube-outline", "Installed models and their quality")
        self.shortcuts_action = a("&Keyboard Shortcuts", self.show_shortcuts, ("F1",), "keyboard-outline",
                                  "Every command's keys")
        self.about_action = a("&About Restora", self.show_about, (), "information-outline")
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addActions([self.next_action, self.previous_action])
        file_menu.addSeparator()
        file_menu.addActions([self.export_action, self.export_as_action])
        file_menu.addSeparator()
        file_menu.addActions([self.import_mask_action, self.export_mask_action])
        file_menu.addSeparator()
        file_menu.addAction(self.batch_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.copy_action, self.paste_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.pan_tool_action, self.select_tool_action, self.lasso_tool_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.select_all_action, self.deselect_action])

        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_size_action])
        view_menu.addSeparator()
        view_menu.addActions([self.compare_action, self.difference_action, self.show_mask_action])
        self.panels_menu = view_menu.addMenu("&Panels")

        image_menu = bar.addMenu("&Image")
        image_menu.addAction(self.crop_action)
        image_menu.addSeparator()
        image_menu.addActions(list(self._reshapes))

        tools_menu = bar.addMenu("&Tools")
        tools_menu.addAction(self.restore_action)
        tools_menu.addSeparator()
        tools_menu.addActions([self.detect_action, self.repair_action, self.heal_tool_action])
        tools_menu.addSeparator()
        tools_menu.addActions([self.upscale2_action, self.upscale4_action, self.upscale_action])
        tools_menu.addSeparator()
        tools_menu.addAction(self.finetune_action)

        mask_menu = bar.addMenu("&Mask")
        mask_menu.addActions([self.brush_tool_action, self.eraser_tool_action, self.smaller_brush_action,
                              self.larger_brush_action])
        mask_menu.addSeparator()
        mask_menu.addActions([self.grow_mask_action, self.shrink_mask_action, self.invert_mask_action,
                              self.clear_mask_action])
        mask_menu.addSeparator()
        mask_menu.addActions([self.import_mask_action, self.export_mask_action])

        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.shortcuts_action, self.models_action, self.about_action])

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("main-toolbar")
        bar.setMovable(False)
        bar.setIconSize(QSize(20, 20))
        groups = ((self.open_action, self.export_action), (self.undo_action, self.redo_action),
                  tuple(self._tools),
                  (self.zoom_out_action, self.zoom_in_action, self.fit_action, self.actual_size_action),
                  (self.compare_action, self.difference_action, self.show_mask_action))
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
        hint = QLabel("File ▸ Open (Ctrl+O), a recent file, or drop an image onto this window "
                      "(a folder: Batch Export).", empty)
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

    def _build_docks(self) -> None:
        self.panel.add_buttons("restore", [self.restore_action])
        self.panel.add_buttons("damage", [self.detect_action, self.repair_action])
        self.panel.add_buttons("mask", [self.brush_tool_action, self.eraser_tool_action])
        self.panel.add_buttons("mask", [self.grow_mask_action, self.shrink_mask_action, self.invert_mask_action,
                                        self.clear_mask_action], icons_only=True)
        self.panel.add_buttons("upscale", [self.upscale_action])
        self.settings_dock = self._dock("Settings", "settings-dock", self.panel)
        self.history_dock = self._dock("History", "history-dock", self.history)
        self.splitDockWidget(self.settings_dock, self.history_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.settings_dock, self.history_dock], [620, 150], Qt.Orientation.Vertical)
        self.resizeDocks([self.settings_dock], [310], Qt.Orientation.Horizontal)

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setMinimumWidth(290)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.info_label = QLabel(self)
        self.selection_label = QLabel(self)
        self.pointer_label = QLabel(self)
        self.pointer_label.setToolTip("The pixel under the pointer and its values (0-255)")
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
        for widget in (self.stage_label, self.progress_bar, self.cancel_button, self.pointer_label,
                       self.selection_label, self.info_label, self.zoom_label):
            widget.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(widget)
        self._show_job_widgets(False)

    def refresh_icons(self) -> None:
        """Re-tint every icon after a palette change (light/dark switch)."""
        for action, name in self._icon_names.items():
            action.setIcon(icon(name))
        self.cancel_button.setIcon(icon("close-circle-outline"))
        self.history.refresh_icons()
        self._refresh_empty_icon()

    def _refresh_empty_icon(self) -> None:
        self._empty_icon.setPixmap(icon("image-plus-outline").pixmap(96, 96, QIcon.Mode.Disabled))

    # -- documents --------------------------------------------------------------------------------

    def open_dialog(self) -> None:
        if not self.ok_to_discard():
            return
        folder = str(self.settings.value("folders/open", "") or "")
        path, _ = QFileDialog.getOpenFileName(self, "Open Image", folder, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> None:
        """Start opening the image at `path` (decoded off the GUI thread); it becomes the
        document when loaded, or the error is shown. `open_finished` follows either way."""
        path = os.path.abspath(path)
        self.statusBar().showMessage(f"Opening {os.path.basename(path)}…")
        self.loader.load(path)

    def open_neighbour(self, step: int) -> bool:
        """Open the next (`step` 1) or previous (-1) image of the open file's folder, in name
        order with numbers by value (scan 9 before scan 10); False at either end, for an
        untitled image, or when the person keeps their unsaved changes."""
        path = self.document.path if self.document is not None else None
        if not path:
            return False
        folder, name = os.path.split(path)
        try:
            with os.scandir(folder) as entries:
                names = sorted((e.name for e in entries if not e.name.startswith(".") and e.is_file()
                                and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES), key=name_order)
        except OSError as exc:
            self.statusBar().showMessage(f"Cannot list {folder}: {exc.strerror or exc}", 8000)
            return False
        here = name_order(name)          # the open file may have been renamed or deleted since
        target = ([n for n in names if name_order(n) > here][:1] if step > 0
                  else [n for n in names if name_order(n) < here][-1:])
        if not target:
            self.statusBar().showMessage(f"{name} is the {'last' if step > 0 else 'first'} image in its folder", 5000)
            return False
        if not self.ok_to_discard():
            return False
        self.open_path(os.path.join(folder, target[0]))
        return True

    def _on_loaded(self, path: str, image: engine.Image, shown: QImage) -> None:
        self.jobs.cancel()  # a running job belongs to the previous document; its result is dropped
        self._displays.put(image, shown)
        self._set_document(Document(image, path, self))
        self.settings.setValue("folders/open", os.path.dirname(path))
        self._remember_recent(path)
        if image.warnings:
            self.statusBar().showMessage(f"{os.path.basename(path)}: " + "; ".join(image.warnings), 15000)
        else:
            self.statusBar().clearMessage()
        self.open_finished.emit(path, True)

    def _on_load_failed(self, path: str, message: str) -> None:
        self.statusBar().clearMessage()
        self._show_error("Cannot open image", message)
        self.open_finished.emit(path, False)

    def offer_recovery(self) -> bool:
        """Offer the edits an editor that ended without exporting them left (newest first,
        one question each); True when one was recovered and opened."""
        if self.recovery is None:
            return False
        buttons = QMessageBox.StandardButton
        for file in self.recovery.orphans():
            try:
                found = read_copy(file)
            except Exception as exc:  # noqa: BLE001 - a damaged copy must not stop the editor starting
                self.statusBar().showMessage(f"Could not read the recovery copy {file}: {exc}", 10000)
                RecoveryStore.forget(file)
                continue
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(found.saved_at))
            answer = question(self, "Recover edits", f"Restora closed before the edits to {found.name} were "
                              f"exported (the last copy is from {when}). Recover them?",
                              buttons.Yes | buttons.Discard, buttons.Yes, {buttons.Yes: "Recover"})
            if answer != buttons.Yes:
                RecoveryStore.forget(file)
                continue
            self.jobs.cancel()
            document = Document(found.image, found.path, self)
            if found.mask is not None:
                document.set_mask(found.mask, "Recovered Mask")
            document.undo_stack.resetClean()        # unexported edits: closing asks again
            self._set_document(document)
            self.history.setEmptyLabel(f"Recovered {document.name}")
            RecoveryStore.forget(file)            # this editor's own copy takes over
            return True
        return False

    def copy_image(self) -> None:
        """Put the current result on the clipboard: the selection's bounding box if there is one."""
        if self.document is None:
            return
        shown, rect = self._display(self.document.current), self.view.selection()
        if rect is not None:
            shown = shown.copy(rect)
        QApplication.clipboard().setImage(shown)
        self.statusBar().showMessage(f"Copied {shown.width()} × {shown.height()} pixels", 5000)

    def paste_image(self) -> bool:
        """Open the clipboard's image as a new, untitled document; False when it holds none."""
        qimage = QApplication.clipboard().image()
        if qimage.isNull():
            self.statusBar().showMessage("The clipboard holds no image", 5000)
            return False
        if not self.ok_to_discard():
            return False
        pixels, alpha = qimage_to_array(qimage)
        self.jobs.cancel()  # as for open_path: a running job's result belongs to the previous document
        self._set_document(Document(engine.Image(pixels=pixels, alpha=alpha), None, self))
        return True

    def _set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.deleteLater()
        self.document = document
        self._stroke = None
        document.image_changed.connect(self._show_current_image)
        document.mask_changed.connect(self._show_mask)
        document.changed.connect(self._update_title)
        document.changed.connect(self._update_actions)
        document.history_replaced.connect(self._show_history)
        self._show_history()
        if self.recovery is not None:
            self.recovery.watch(document)
        self.view.deselect()
        self._show_current_image()
        self._show_mask()
        self.view.fit_to_window(enlarge=False)
        self._stack.setCurrentWidget(self.view)
        self.view.setFocus()
        self._update_title()
        self._update_actions()
        if not self._warm_up_scheduled:
            self._warm_up_scheduled = True
            QTimer.singleShot(WARM_UP_DELAY_MS, self.jobs.warm_up)

    def _show_history(self) -> None:
        doc = self.document
        self.history.setStack(doc.undo_stack)
        self.history.setEmptyLabel(f"Opened {doc.name}" if not doc.forgotten else
                                   f"{doc.forgotten} earlier steps forgotten (the history is kept under "
                                   f"{doc.history_budget / 2**30:.3g} GB)")

    def _display(self, image: engine.Image) -> QImage:
        """`image` as shown on screen, converted once."""
        shown = self._displays.get(image)
        if shown is None:
            shown = array_to_qimage(image.pixels, image.alpha)
            self._displays.put(image, shown)
        return shown

    def _show_current_image(self) -> None:
        image, original = self.document.current, self.document.original
        self.view.set_image(self._display(image))
        if original is not self._compared:
            self._compared = original
            self.view.set_compare_image(self._display(original))
        kind = ("Gray" if image.channels == 1 else "RGB") + ("A" if image.alpha is not None else "")
        self.info_label.setText(f"{image.width} × {image.height} px · {kind} · {image.bits}-bit")
        self._refresh_difference()

    def _show_mask(self) -> None:
        doc = self.document
        self.view.set_mask(doc.mask)
        if doc.soft_mask is not None:
            self.panel.show_threshold(doc.threshold)
        self._update_actions()

    def _undo(self) -> None:
        if self.document is not None:
            self.document.undo_stack.undo()

    def _redo(self) -> None:
        if self.document is not None:
            self.document.undo_stack.redo()

    # -- before / after -----------------------------------------------------------------------------

    def _show_difference(self, on: bool) -> None:
        self._refresh_difference()
        if on and not self.view.difference_shown() and self.document is not None:
            self.statusBar().showMessage("The image has a new size: there is no difference to show", 6000)

    def _refresh_difference(self) -> None:
        doc = self.document
        if (doc is None or not self.difference_action.isChecked()
                or doc.current.pixels.shape[:2] != doc.original.pixels.shape[:2]):
            self.view.set_difference_image(None)
            return
        self.view.set_difference_image(difference_qimage(self._display(doc.current), self._display(doc.original),
                                                         DIFFERENCE_GAIN))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Backslash and self.document is not None:
            if not event.isAutoRepeat():
                self.view.set_original_flashed(True)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Backslash:
            if not event.isAutoRepeat():
                self.view.set_original_flashed(False)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ActivationChange and not self.isActiveWindow():
            self.view.set_original_flashed(False)  # the key release goes elsewhere
        super().changeEvent(event)

    # -- mask editing -------------------------------------------------------------------------------

    def _use_tool(self, tool: str) -> None:
        self.view.set_tool(tool)
        if tool in (BRUSH_TOOL, ERASER_TOOL) and not self.show_mask_action.isChecked():
            self.show_mask_action.setChecked(True)

    def _apply_brush(self) -> None:
        self.view.set_brush_size(self.panel.brush()[0])

    def _step_brush(self, factor: float) -> None:
        size = self.panel.brush()[0]
        stepped = round(size * factor)
        self.panel.set_brush_size(max(1, stepped if stepped != size else size + (1 if factor > 1 else -1)))

    def _can_edit(self) -> bool:
        if self.document is None:
            return False
        if self.jobs.busy:
            self.statusBar().showMessage("Wait for the running job to finish (or cancel it) to edit", 4000)
            return False
        return True

    def _begin_stroke(self, point: QPointF) -> None:
        if not self._can_edit():
            return
        doc = self.document
        size, hardness = self.panel.brush()
        self._healing = self.view.tool() == HEAL_TOOL
        if self._healing:              # the stroke alone is shown; the document's mask comes back after it
            self._stroke = mask_ops.Stroke(np.zeros(doc.current.pixels.shape[:2], np.uint8), size / 2, hardness,
                                           erase=False)
            self.view.set_mask(self._stroke.mask)
            self.view.set_mask_visible(True)
        else:
            start = doc.mask if doc.mask is not None else np.zeros(doc.current.pixels.shape[:2], np.uint8)
            self._stroke = mask_ops.Stroke(start, size / 2, hardness, erase=self.view.tool() == ERASER_TOOL)
            if doc.mask is None:
                self.view.set_mask(self._stroke.mask)
            self.show_mask_action.setChecked(True)
        self._extend_stroke(point)

    def _extend_stroke(self, point: QPointF) -> None:
        if self._stroke is not None:
            box = self._stroke.extend((point.x(), point.y()))
            if box is not None:
                self.view.update_mask(self._stroke.mask, box)

    def _finish_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is None or self.document is None:
            return
        if self._healing:
            self.view.set_mask(self.document.mask)
            self.view.set_mask_visible(self.show_mask_action.isChecked())
            if stroke.changed is not None:
                self.heal(stroke.mask, stroke.changed)
            return
        if stroke.changed is None:
            return
        box = stroke.changed
        before, after = stroke.before[box.slices], stroke.mask[box.slices]
        if np.array_equal(before, after):
            return
        self.document.paint_mask(box, before.copy(), after.copy(), "Eraser Stroke" if stroke.erase else "Brush Stroke")

    def heal(self, mask: np.ndarray, box: engine.Box, request: engine.RepairRequest | None = None) -> bool:
        """Repair the pixels the image-sized `mask` (uint8 levels) marks inside `box` (a Heal
        Brush stroke), leaving the document's mask as it is: one "Heal" edit."""
        request = request or self.panel.repair_request()
        selection = (box.x0, box.y0, box.width, box.height)
        return self._start_image_job("Heal", partial(tools.repair_job, selection=selection, mask=mask, request=request))

    def _preview_threshold(self, threshold: float) -> None:
        doc = self.document
        if doc is not None and doc.soft_mask is not None and doc.mask is not None:
            self.view.set_mask(mask_ops.rethreshold(doc.mask, doc.soft_mask, doc.threshold, threshold))

    def _commit_threshold(self, threshold: float) -> None:
        doc = self.document
        if doc is None or doc.soft_mask is None:
            return
        if not self._can_edit() or not doc.set_threshold(threshold):
            self._show_mask()  # back to the document's own mask and threshold

    def _edit_mask(self, label: str, change: Callable[[np.ndarray], np.ndarray], keep_soft: bool) -> None:
        """Apply `change` to the mask (and to its soft mask if `keep_soft`) as one edit."""
        doc = self.document
        if not self._can_edit() or doc.mask is None:
            return
        soft = change(doc.soft_mask) if keep_soft and doc.soft_mask is not None else None
        doc.set_mask(change(doc.mask), label, soft_mask=soft)

    def grow_mask(self, pixels: int | None = None) -> None:
        """Widen the damaged areas by `pixels` (the panel's step if None)."""
        n = pixels or self.panel.mask_step.value()
        self._edit_mask(f"Grow Mask {n} px", lambda m: mask_ops.grow(m, n), keep_soft=True)

    def shrink_mask(self, pixels: int | None = None) -> None:
        """Narrow the damaged areas by `pixels` (the panel's step if None)."""
        n = pixels or self.panel.mask_step.value()
        self._edit_mask(f"Shrink Mask {n} px", lambda m: mask_ops.shrink(m, n), keep_soft=True)

    def invert_mask(self) -> None:
        self._edit_mask("Invert Mask", mask_ops.invert, keep_soft=False)

    def clear_mask(self) -> None:
        if self._can_edit() and self.document.mask is not None:
            self.document.set_mask(None, "Clear Mask")

    def import_mask_dialog(self) -> None:
        folder = str(self.settings.value("folders/mask", "") or self.settings.value("folders/open", "") or "")
        path, _ = QFileDialog.getOpenFileName(self, "Import Mask", folder, MASK_FILTER)
        if path:
            self.import_mask(path)

    def import_mask(self, path: str) -> bool:
        """Load a mask image (white = damaged; gray levels are probabilities) of the image's
        size as the mask, thresholded like a detected one; errors are shown, returning False."""
        if not self._can_edit():
            return False
        doc = self.document
        try:
            values = engine.load_mask(path, doc.current.width, doc.current.height)
        except engine.RestoraError as exc:
            self._show_error("Cannot import mask", str(exc))
            return False
        soft = mask_ops.to_levels(values)
        threshold = self.panel.threshold_value()
        doc.set_mask(mask_ops.apply_threshold(soft, threshold), "Import Mask", soft_mask=soft, threshold=threshold)
        self.show_mask_action.setChecked(True)
        self.settings.setValue("folders/mask", os.path.dirname(os.path.abspath(path)))
        return True

    def export_mask_dialog(self) -> None:
        if self.document is None or self.document.mask is None:
            return
        folder = str(self.settings.value("folders/mask", "") or os.path.dirname(self.document.path or ""))
        stem = os.path.splitext(self.document.name)[0]
        path, _ = QFileDialog.getSaveFileName(self, "Export Mask", os.path.join(folder, f"{stem}_mask.png"),
                                              "PNG image (*.png)")
        if path:
            self.export_mask(path if path.lower().endswith(".png") else path + ".png")

    def export_mask(self, path: str) -> bool:
        """Write the mask to `path` as an 8-bit gray PNG (255 = damaged), replacing any file
        there (the dialog asked); errors are shown, returning False."""
        mask = engine.Image(pixels=self.document.mask[..., None])
        try:
            saved = wait_for(self, "Export Mask", f"Writing {os.path.basename(path)}…",
                             lambda: engine.save_image(mask, path, format="png", overwrite=True))
        except engine.RestoraError as exc:
            self._show_error("Mask export failed", str(exc))
            return False
        self.settings.setValue("folders/mask", os.path.dirname(os.path.abspath(saved)))
        self.statusBar().showMessage(f"Exported the mask to {saved}", 8000)
        return True

    # -- export -------------------------------------------------------------------------------------

    def export(self) -> None:
        """Export again to the file and quality of this image's last export, or ask (Export As)."""
        if self.document is not None and self.document.exported is not None:
            self.export_to(*self.document.exported)
        else:
            self.export_as()

    def export_as(self) -> None:
        """Ask where to export the current image (the dialog confirms overwriting) and, for
        JPEG and WebP, the quality; then export."""
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
        if dialog.exec() != QFileDialog.DialogCode.Accepted or not dialog.selectedFiles():
            return
        path = dialog.selectedFiles()[0]
        quality = self._ask_quality(path)
        if quality is not None:
            self.export_to(path, quality)

    def _ask_quality(self, path: str) -> int | None:
        """The quality for a JPEG or WebP `path` (remembered), the default for lossless
        formats; None if the person cancelled."""
        format_name = LOSSY_FORMATS.get(os.path.splitext(path)[1].lower())
        remembered = int(self.settings.value("export/quality", DEFAULT_QUALITY) or DEFAULT_QUALITY)
        if format_name is None:
            return remembered
        dialog = ExportOptionsDialog(format_name, remembered, self)
        if dialog.exec() != ExportOptionsDialog.DialogCode.Accepted:
            return None
        self.settings.setValue("export/quality", dialog.quality())
        return dialog.quality()

    def export_to(self, path: str, quality: int = DEFAULT_QUALITY) -> bool:
        """Write the current image to `path` (format from its suffix; `quality` for JPEG and
        WebP), replacing any file there; errors are shown, returning False."""
        doc = self.document
        image, step = doc.current, doc.undo_stack.index()
        try:
            saved = wait_for(self, "Export", f"Writing {os.path.basename(path)}…",
                             lambda: engine.save_image(image, path, quality=quality, overwrite=True))
        except engine.RestoraError as exc:
            self._show_error("Export failed", str(exc))
            return False
        self.settings.setValue("folders/export", os.path.dirname(os.path.abspath(saved)))
        doc.exported = (str(saved), quality)
        if doc.undo_stack.index() == step:
            doc.mark_saved()
        self.statusBar().showMessage(f"Exported {saved}", 8000)
        self._update_actions()
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
        names = [os.path.basename(path) for path in files]
        for number, (path, name) in enumerate(zip(files, names), 1):
            if names.count(name) > 1:           # the same name in several folders: say which folder
                name += f"  ({os.path.basename(os.path.dirname(path))})"
            there = os.path.isfile(path)
            action = self.recent_menu.addAction(f"&{number % 10}  {name}" + ("" if there else "  (missing)"))
            action.setEnabled(there)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.ok_to_discard() and self.open_path(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", lambda: self.settings.setValue(RECENT_KEY, []))
        else:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    # -- tools --------------------------------------------------------------------------------------

    def _selection(self) -> tools.Selection | None:
        polygon = self.view.selection_polygon()
        if polygon is not None:
            return tools.Lasso(tuple((p.x(), p.y()) for p in polygon))
        rect: QRect | None = self.view.selection()
        return None if rect is None else (rect.x(), rect.y(), rect.width(), rect.height())

    def _start_image_job(self, label: str, job: Callable, on_result: ResultHandler | None = None) -> bool:
        """Run `job(image, cancel=token)`, a job on the current image, and apply its result as
        the edit `label` (or through `on_result`), `tools.displayed` on the worker first."""
        if self.document is None:
            return False
        image = self.document.current
        return self.start_job(label, lambda token: tools.displayed(job(image, cancel=token), image),
                              on_result or self._image_result(label))

    def _image_result(self, label: str) -> ResultHandler:
        """Applies a `tools.displayed` job's result as the edit `label`; one that changed
        no pixel is no edit (nothing to undo), and the status bar says so."""
        def apply(document: Document, result: tools.Shown) -> str | None:
            if result.changed is not None and result.changed.width * result.changed.height == 0:
                return f"{label} changed nothing; the image is as it was"
            self._displays.put(result.image, result.qimage)
            document.apply(result.image, label, result.changed)
            return None
        return apply

    def restore_document(self, request: engine.RestoreRequest | None = None) -> bool:
        """Clean the page (or the selection) with `request` (the Settings panel's if None)."""
        request = request or self.panel.restore_request()
        selection = self._selection()
        return self._start_image_job("Restore", partial(tools.restore_job, selection=selection, request=request))

    def detect_damage(self, request: engine.MaskRequest | None = None) -> bool:
        """Find damage (in the selection, if any) and show it as the mask overlay; the soft
        mask is kept, so the threshold can be moved afterwards."""
        request = request or self.panel.mask_request()
        doc = self.document
        image, selection, mask, soft = doc.current, self._selection(), doc.mask, doc.soft_mask
        return self.start_job("Detect Damage",
                              lambda token: tools.detect_damage_job(image, selection, mask, soft, request, token),
                              self._apply_mask)

    def repair_damage(self, request: engine.RepairRequest | None = None) -> bool:
        """Fill the masked damage (as edited), detecting it first when there is no mask."""
        request = request or self.panel.repair_request()
        selection, mask = self._selection(), self.document.mask
        return self._start_image_job("Repair", partial(tools.repair_job, selection=selection, mask=mask,
                                                       request=request), self._repaired)

    def _repaired(self, document: Document, result: tools.Shown) -> str | None:
        """Applies the repair and hides the mask overlay, which would cover what was
        filled; the mask is kept for a further edit and repair (Ctrl+M shows it)."""
        message = self._image_result("Repair")(document, result)
        if message is None:
            self.show_mask_action.setChecked(False)
        elif document.mask is None:
            message = "Repair found no damage; the image is as it was"
        elif not document.mask.any():
            message = "The mask marks no damage; the image is as it was"
        return message

    def upscale_image(self, scale: int | None = None, request: engine.UpscaleRequest | None = None) -> bool:
        """Enlarge the image by `scale` (the panel's if None; or as `request` says); with a
        selection, the enlarged selection becomes the image."""
        request = request or self.panel.upscale_request(scale)
        label = f"Upscale ×{request.scale}"
        selection = self._selection()
        if self.document is None or not self._large_result_ok(selection, request.scale):
            return False
        return self._start_image_job(label, partial(tools.upscale_job, selection=selection, request=request))

    def _large_result_ok(self, selection: tools.Selection | None, scale: int) -> bool:
        """True unless the upscaled image would be very large and the person chose not to."""
        image = self.document.current
        box = tools.region_of(selection, image).selection if selection is not None else engine.Box(
            0, 0, image.width, image.height)
        width, height = box.width * scale, box.height * scale
        if width * height <= LARGE_RESULT_PIXELS:
            return True
        need = width * height * BYTES_PER_SHOWN_PIXEL / 2**30
        buttons = QMessageBox.StandardButton
        return question(self, "Large result", f"The result will be {width} × {height} pixels "
                        f"({width * height / 1e6:.0f} megapixels) and needs about {need:.1f} GB of memory. "
                        "Upscale anyway?", buttons.Ok | buttons.Cancel, buttons.Cancel,
                        {buttons.Ok: "Upscale"}) == buttons.Ok

    def crop_to_selection(self) -> bool:
        """Make the selection (a lasso's bounding box) the whole image; False without one."""
        rect = self.view.selection()
        if self.document is None or rect is None:
            return False
        image = self.document.current
        box = engine.Box(rect.x(), rect.y(), rect.x() + rect.width(), rect.y() + rect.height())
        return self.reshape("Crop", tools.crop(box, image.width, image.height))

    def reshape(self, label: str, change: Callable[[np.ndarray], np.ndarray]) -> bool:
        """Rotate, flip or crop the image, its mask and the original together (`tools.reshape_job`)."""
        doc = self.document
        if doc is None:
            return False
        image, original, mask, soft = doc.current, doc.original, doc.mask, doc.soft_mask

        def apply(document: Document, result: tools.Reshaped) -> None:
            self._displays.put(result.image, result.qimage)
            self._displays.put(result.original, result.original_qimage)
            document.reshape(label, result.image, result.original, result.mask, result.soft_mask)

        return self.start_job(label, lambda token: tools.reshape_job(image, original, mask, soft, change, token), apply)

    def _apply_mask(self, document: Document, found: tools.DetectedDamage) -> str:
        document.set_mask(found.mask, "Detect Damage", soft_mask=found.soft_mask, threshold=found.threshold)
        self.show_mask_action.setChecked(True)
        return found.summary()

    def start_job(self, label: str, job: JobFunction, on_result: ResultHandler) -> bool:
        """Run `job` on the worker for the open document; `on_result(document, value)`
        applies its result. False if there is no document or a job is running."""
        if self.document is None or not self.jobs.submit(label, job):
            return False
        self._job_target = (self.document, on_result)
        self._job_started_at = time.monotonic()
        self._stage = f"{label}…"
        self.stage_label.setText(self._stage)
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
            self._stage = stage[:1].upper() + stage[1:] + "…"
        if total > 0 and 0 < done < total:
            left = (time.monotonic() - self._job_started_at) * (total - done) / done
            self.stage_label.setText(f"{self._stage}  {_duration(left)} left")
        else:
            self.stage_label.setText(self._stage)

    def _on_job_result(self, kind: str, value: object) -> None:
        if self._job_target is None:
            return
        document, apply_result = self._job_target
        if document is self.document:
            self.statusBar().showMessage(apply_result(document, value) or f"{kind} done", 5000)

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
        # "[*]" shows as "*" while the document has unexported edits
        self.setWindowTitle(f"{self.document.name}[*] — {APP_NAME}" if self.document else APP_NAME)
        self.setWindowModified(bool(self.document and self.document.modified))

    def _update_actions(self) -> None:
        doc, busy = self.document, self.jobs.busy
        has_doc = doc is not None
        for action in (self.restore_action, self.detect_action, self.repair_action, self.upscale_action,
                       self.upscale2_action, self.upscale4_action, self.import_mask_action, *self._reshapes):
            action.setEnabled(has_doc and not busy)
        self.crop_action.setEnabled(has_doc and not busy and self.view.selection() is not None)
        for action in (self.next_action, self.previous_action):
            action.setEnabled(has_doc and bool(doc.path))
        for action in (self.export_action, self.export_as_action, self.copy_action, self.select_all_action,
                       self.deselect_action, self.zoom_in_action, self.zoom_out_action, self.fit_action,
                       self.actual_size_action, self.compare_action, self.difference_action, *self._tools):
            action.setEnabled(has_doc)
        has_mask = has_doc and doc.mask is not None
        self.show_mask_action.setEnabled(has_mask)
        self.export_mask_action.setEnabled(has_mask)
        for action in (self.grow_mask_action, self.shrink_mask_action, self.invert_mask_action,
                       self.clear_mask_action):
            action.setEnabled(has_mask and not busy)
        stack = doc.undo_stack if has_doc else None
        self.undo_action.setEnabled(bool(stack and stack.canUndo()) and not busy)
        self.redo_action.setEnabled(bool(stack and stack.canRedo()) and not busy)
        self.undo_action.setText(f"&Undo {stack.undoText()}" if stack and stack.canUndo() else "&Undo")
        self.redo_action.setText(f"&Redo {stack.redoText()}" if stack and stack.canRedo() else "&Redo")
        self.history.setEnabled(has_doc and not busy)
        exported = doc.exported if has_doc else None
        self.export_action.setText(f"&Export to {os.path.basename(exported[0])}" if exported else "&Export…")

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%" if self.view.has_image() else "")

    def _show_selection(self, rect: QRect | None) -> None:
        kind = "Lasso" if self.view.selection_polygon() is not None else "Selection"
        self.selection_label.setText("" if rect is None else
                                     f"{kind} {rect.width()} × {rect.height()} at {rect.x()}, {rect.y()}")
        self._update_actions()

    def _show_pointer(self, pixel: QPoint | None) -> None:
        doc = self.document
        if pixel is None or doc is None or not (0 <= pixel.y() < doc.current.height and
                                                0 <= pixel.x() < doc.current.width):
            self.pointer_label.setText("")
            return
        values = doc.current.pixels[pixel.y(), pixel.x()]
        levels = values if values.dtype == np.uint8 else np.round(np.clip(values, 0, 1) * 255).astype(int)
        self.pointer_label.setText(f"{pixel.x()}, {pixel.y()}  ·  " + " ".join(str(int(v)) for v in levels))

    def _show_error(self, title: str, message: str) -> None:
        QMessageBox.critical(self, title, message)

    def show_models(self) -> None:
        dialog = ModelListDialog(self)
        dialog.models_changed.connect(self.panel.reload_models)   # a deleted model leaves the lists
        dialog.exec()
        dialog.deleteLater()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.menuBar(), self).exec()

    def show_batch_export(self, folder: str | None = None) -> None:
        """The Batch Export dialog, with `folder` as its input folder if given (else the last
        batch's, or the open image's folder the first time)."""
        dialog = BatchExportDialog(self.settings, parent=self)
        if not folder and not dialog.input_edit.text() and self.document is not None and self.document.path:
            folder = os.path.dirname(self.document.path)
        if folder:
            dialog.input_edit.setText(folder)
        dialog.exec()
        dialog.deleteLater()

    def show_finetune(self) -> None:
        dialog = FinetuneDialog(self.settings, parent=self)
        dialog.model_chosen.connect(self.panel.reload_models)
        dialog.exec()
        dialog.deleteLater()
        self.panel.reload_models()       # a model saved without "Use This Model" is listed too

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", (
            f"<h3>{APP_NAME}</h3><p>Local image restoration: clean scanned pages, find and repair "
            "damage, upscale, compare before and after.</p><p>Everything runs on this computer; "
            "a GPU is used when present.</p>"))

    # -- drag and drop, closing ---------------------------------------------------------------------

    @staticmethod
    def _dropped(event: QDragEnterEvent | QDropEvent) -> tuple[bool, str] | None:
        """(is a folder, path) of the first image file or folder dropped; None if there is none."""
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if path and (os.path.isdir(path) or path.lower().endswith(IMAGE_SUFFIXES)):
                return os.path.isdir(path), path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """An image opens; a folder opens Batch Export on it (after the drop has finished)."""
        dropped = self._dropped(event)
        if dropped:
            event.acceptProposedAction()
            folder, path = dropped
            if folder:
                QTimer.singleShot(0, lambda: self.show_batch_export(path))
            elif self.ok_to_discard():
                self.open_path(path)

    def ok_to_discard(self) -> bool:
        """True when the open document may be closed: it has no unexported edits, or the
        person exported them or chose to discard them when asked."""
        doc = self.document
        if doc is None or not doc.modified:
            return True
        buttons = QMessageBox.StandardButton
        answer = question(self, "Unsaved changes", f"{doc.name} has changes that were not exported. "
                          "Export them first?", buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save,
                          {buttons.Save: "Export…" if doc.exported is None else "Export"})
        if answer == buttons.Save:
            self.export()
            return not doc.modified
        return answer == buttons.Discard

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.ok_to_discard():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.jobs.shutdown()
        if self.recovery is not None:
            self.recovery.close()
        super().closeEvent(event)


def question(parent: QWidget, title: str, text: str, buttons: QMessageBox.StandardButton,
             default: QMessageBox.StandardButton, names: dict | None = None) -> QMessageBox.StandardButton:
    """QMessageBox.question with some buttons named for what they do (Save -> "Export…")."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, parent)
    box.setDefaultButton(default)
    for button, name in (names or {}).items():
        box.button(button).setText(name)
    return QMessageBox.StandardButton(box.exec())


def name_order(name: str) -> tuple:
    """Sort key for file names: case-insensitive, runs of digits by value (page2 before page10)."""
    parts = re.split(r"(\d+)", name.casefold())
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], name


def _duration(seconds: float) -> str:
    """A short human duration: '8 s', '3 min', '1 h 5 min'."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
