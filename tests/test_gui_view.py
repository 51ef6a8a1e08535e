"""gui.canvas.view.ImageView: zoom, crisp pixels, selection by dragging, compare
slider and mask overlay; and dropping a file onto the main window."""
import numpy as np
import pytest
from PIL import Image as PILImage
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui.canvas import ImageView, array_to_qimage
from gui.canvas.view import FIT_MIN_SIDE_PX, PAN_TOOL, SELECT_TOOL
from gui.main_window import MainWindow


@pytest.fixture
def view(qtbot):
    v = ImageView()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    qtbot.waitExposed(v)
    v.set_image(array_to_qimage(np.random.default_rng(0).random((100, 200, 3), dtype=np.float32)))
    return v


def viewport_point(view, x, y):
    return view.mapFromScene(QPointF(x, y))


def test_zoom_steps_fit_and_crisp_pixels(view):
    view.zoom_actual_size()
    assert view.zoom() == pytest.approx(1.0)
    assert view._image_item.transformationMode() == Qt.TransformationMode.SmoothTransformation
    view.zoom_in()
    assert view.zoom() == pytest.approx(1.25)
    view.set_zoom(2.0)
    assert view._image_item.transformationMode() == Qt.TransformationMode.FastTransformation
    view.set_zoom(1000)
    assert view.zoom() == pytest.approx(64)
    view.fit_to_window()
    shown = view.mapFromScene(view.sceneRect()).boundingRect()
    assert shown.width() <= view.viewport().width() + 1 and shown.width() >= view.viewport().width() - 8


def test_a_new_image_opens_fitted_but_never_enlarged(view):
    """A small image opens at 100% (its pixels, not blown up); a large one fits the window; Fit
    to Window enlarges the small one; each choice holds as the window resizes."""
    assert view.zoom() == pytest.approx(1.0)               # 200x100 in a 400x300 view
    view.resize(150, 120)
    assert view.zoom() < 0.8                               # shrinks to fit a smaller window
    view.resize(400, 300)
    assert view.zoom() == pytest.approx(1.0)               # and back up to 100%, no further
    view.fit_to_window()
    assert view.zoom() > 1.5
    view.resize(600, 450)
    assert view.zoom() > 2.5                               # Fit to Window keeps filling the window
    view.set_image(array_to_qimage(np.zeros((900, 1200, 3), np.float32)))
    assert view.zoom() < 0.5


def test_a_long_thin_image_stays_visible_when_fitted(view):
    """A 3x20000 strip fitted to a 300 px high view would be a tenth of a pixel wide: it is shown
    at 100% instead (its short side never under FIT_MIN_SIDE_PX or its own size), and scrolls."""
    view.set_image(array_to_qimage(np.ones((20000, 3, 3), np.float32)))
    assert view.zoom() == pytest.approx(1.0)
    view.fit_to_window()
    assert view.zoom() == pytest.approx(1.0)
    assert view.verticalScrollBar().maximum() > 10000
    view.set_image(array_to_qimage(np.ones((20000, 64, 3), np.float32)))
    view.fit_to_window()
    assert view.zoom() == pytest.approx(FIT_MIN_SIDE_PX / 64)


def test_zoom_changed_reports_the_zoom(qtbot, view):
    with qtbot.waitSignal(view.zoom_changed) as blocker:
        view.set_zoom(3.0)
    assert blocker.args == [pytest.approx(3.0)]


def test_dragging_with_the_select_tool_selects_pixels(qtbot, view):
    view.set_zoom(4.0)  # a scene pixel is 4 screen pixels: fractional positions survive
    view.centerOn(30, 30)
    view.set_tool(SELECT_TOOL)
    seen = []
    view.selection_changed.connect(seen.append)
    start, end = viewport_point(view, 10.3, 20.5), viewport_point(view, 50.5, 40.4)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), pos=end)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    assert view.selection() == QRect(10, 20, 41, 21)
    assert seen[-1] == view.selection()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=viewport_point(view, 80, 80))
    assert view.selection() is None and seen[-1] is None


def test_pan_tool_does_not_select(qtbot, view):
    view.set_tool(PAN_TOOL)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=viewport_point(view, 10, 10))
    qtbot.mouseMove(view.viewport(), pos=viewport_point(view, 60, 60))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=viewport_point(view, 60, 60))
    assert view.selection() is None


def test_select_all_deselect_and_clipping(view):
    view.select_all()
    assert view.selection() == QRect(0, 0, 200, 100)
    view.set_selection(QRect(150, 80, 100, 100))
    assert view.selection() == QRect(150, 80, 50, 20)
    view.deselect()
    assert view.selection() is None


def test_a_new_image_size_clears_the_selection(view):
    view.set_selection(QRect(1, 1, 5, 5))
    view.set_image(array_to_qimage(np.zeros((100, 200, 3), np.float32)))
    assert view.selection() == QRect(1, 1, 5, 5)
    view.set_image(array_to_qimage(np.zeros((50, 60, 3), np.float32)))
    assert view.selection() is None


def test_compare_divider_can_be_dragged(qtbot, view):
    view.zoom_actual_size()
    view.set_compare_image(array_to_qimage(np.zeros((50, 100, 3), np.float32)))  # stretched to fit
    view.set_compare_enabled(True)
    assert view._before_item.isVisible()
    assert view._before_item.sceneBoundingRect().width() == pytest.approx(200)
    start, end = viewport_point(view, 100, 50), viewport_point(view, 50, 50)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view.viewport(), pos=end)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    assert view.split == pytest.approx(0.25, abs=0.01)
    left = view.grab().toImage().pixelColor(viewport_point(view, 20, 50))
    assert left.getRgb()[:3] == (0, 0, 0)  # the 'before' image shows left of the divider
    view.set_compare_enabled(False)
    assert not view._before_item.isVisible()


def test_mask_overlay_follows_visibility_and_size(view):
    mask = np.zeros((100, 200), np.uint8)
    view.set_mask(mask)
    assert view._mask_item.isVisible()
    view.set_mask_visible(False)
    assert not view._mask_item.isVisible()
    view.set_mask_visible(True)
    view.set_mask(np.zeros((10, 10), np.uint8))  # stale size: not drawn
    assert not view._mask_item.isVisible()


def test_dropping_an_image_file_opens_it(qtbot, tmp_path):
    path = tmp_path / "dropped.png"
    PILImage.fromarray(np.zeros((8, 12, 3), np.uint8)).save(path)
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.open_finished, timeout=20000):
        window.dropEvent(event)
    assert window.windowTitle() == "dropped.png[*] — Restora"


def test_dropping_a_folder_opens_batch_export_on_it(qtbot, tmp_path, monkeypatch):
    from gui.dialogs.batch_dialog import BatchExportDialog

    shown = []
    def exec_(dialog):
        shown.append(dialog.input_edit.text())
        dialog.reject()                           # as closing it does: its worker thread stops

    monkeypatch.setattr(BatchExportDialog, "exec", exec_)
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: shown == [str(tmp_path)])
    window.batch_action.trigger()                 # from the menu: the remembered folder (none yet)
    assert shown == [str(tmp_path), ""]


def test_wheel_zooms_under_the_cursor(qtbot, view):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    view.set_zoom(4.0)  # larger than the viewport both ways, so it can scroll to keep the anchor
    view.centerOn(50, 40)
    pos = viewport_point(view, 40, 30)
    event = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom() > 4.6
    under = view.mapToScene(pos)
    assert abs(under.x() - 40) < 1.5 and abs(under.y() - 30) < 1.5


def test_space_drag_pans_instead_of_selecting(qtbot, view):
    view.set_zoom(4.0)
    view.set_tool(SELECT_TOOL)
    qtbot.keyPress(view, Qt.Key.Key_Space)
    assert view.dragMode() == view.DragMode.ScrollHandDrag
    before = view.horizontalScrollBar().value()
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    qtbot.mouseMove(view.viewport(), pos=QPoint(120, 150))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(120, 150))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert view.selection() is None
    assert view.horizontalScrollBar().value() > before
    assert view.dragMode() == view.DragMode.NoDrag


def test_models_dialog_lists_installed_models(qtbot, tmp_path, monkeypatch):
    from gui.dialogs.models_dialog import ModelListDialog

    monkeypatch.setenv("RESTORA_DATA_DIR", str(tmp_path))
    before = ModelListDialog()
    qtbot.addWidget(before)
    assert "mine" not in [before.table.item(r, 0).text() for r in range(before.table.rowCount())]
    card = tmp_path / "models" / "mine.json"
    card.parent.mkdir()
    card.write_text('{"name": "mine", "task": "restore", "arch": "unet", "params": {}, "weights": "mine.safetensors",'
                    ' "sha256": "0", "title": "my model", "benchmarks": {"headline": {"psnr": 31.5}}}')
    dialog = ModelListDialog()
    qtbot.addWidget(dialog)
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert "mine" in names
    row = names.index("mine")
    assert dialog.table.item(row, 1).text() == "my model" and "31.5" in dialog.table.item(row, 6).text()


def test_models_dialog_deletes_only_ones_own_models_after_asking(qtbot, own_tiny_models, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from gui.dialogs import models_dialog

    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(models_dialog.QMessageBox, "question", lambda *args, **kw: answers.pop(0))
    dialog = models_dialog.ModelListDialog()
    qtbot.addWidget(dialog)
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    sources = [dialog.table.item(r, 5).text() for r in range(dialog.table.rowCount())]
    assert not dialog.delete_button.isEnabled()
    dialog.table.selectRow(sources.index("shipped"))
    assert not dialog.delete_button.isEnabled() and not dialog.delete_selected()
    dialog.table.selectRow(names.index("test-sr-x2"))
    assert dialog.delete_button.isEnabled()
    assert not dialog.delete_selected()                                   # Cancel
    assert (own_tiny_models / "models" / "test-sr-x2.json").is_file()
    with qtbot.waitSignal(dialog.models_changed):
        dialog.delete_button.click()                                      # Yes
    assert not (own_tiny_models / "models" / "test-sr-x2.json").exists()
    assert dialog.table.rowCount() == len(names) - 1
    assert "test-sr-x2" not in [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert not dialog.delete_button.isEnabled()
