"""Mask editing, the side panels, lasso, before/after and export options, through the
real main window, real mouse events and the real worker thread."""
import numpy as np
import pytest
from PIL import Image as PILImage
from PySide6.QtCore import QPointF, QRect, QSize, Qt

import engine
from gui import mask_ops, tools
from gui.canvas.convert import qimage_to_array
from gui.canvas.view import BRUSH_TOOL, HEAL_TOOL
from gui.main_window import MainWindow
from gui_helpers import TIMEOUT, open_image, run_tool, write_png


def drag(qtbot, view, points):
    """Press at the first image point, move through the others, release at the last."""
    port = view.viewport()
    at = [view.mapFromScene(QPointF(x, y)) for x, y in points]
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, pos=at[0])
    for p in at[1:]:
        qtbot.mouseMove(port, pos=p)
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, pos=at[-1])


def shown_mask(editor):
    """The mask as the overlay shows it (its alpha), as uint8 levels."""
    _, alpha = qimage_to_array(editor.view.shown_mask())
    return np.round(alpha * 255).astype(np.uint8)


@pytest.fixture
def opened(qtbot, window, tmp_path):
    open_image(qtbot, window, write_png(tmp_path / "photo.png", 48, 64))
    window.view.set_zoom(4.0)
    window.view.centerOn(32, 24)
    return window


def test_brush_stroke_paints_the_mask_and_undo_redo_restore_it(qtbot, opened):
    doc, view = opened.document, opened.view
    opened.brush_tool_action.trigger()
    assert view.tool() == BRUSH_TOOL
    opened.panel.brush_size.setValue(4)
    opened.panel.brush_hardness.setValue(100)
    assert view.brush_size() == 4
    drag(qtbot, view, [(12, 20), (30, 20), (45, 20)])
    assert doc.mask is not None and np.all(doc.mask[20, 13:45] == 255) and doc.mask[30].max() == 0
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Brush Stroke"
    np.testing.assert_array_equal(shown_mask(opened), doc.mask)
    painted = doc.mask

    opened.eraser_tool_action.trigger()
    drag(qtbot, view, [(25, 12), (25, 28)])
    assert doc.undo_stack.undoText() == "Eraser Stroke"
    assert doc.mask[20, 25] == 0 and doc.mask[20, 15] == 255
    erased = doc.mask

    opened.undo_action.trigger()
    np.testing.assert_array_equal(doc.mask, painted)
    np.testing.assert_array_equal(shown_mask(opened), painted)
    opened.undo_action.trigger()
    assert doc.mask is None and not view._mask_item.isVisible()
    opened.redo_action.trigger()
    opened.redo_action.trigger()
    np.testing.assert_array_equal(doc.mask, erased)


def test_heal_brush_repairs_the_stroke_and_leaves_the_mask(qtbot, opened):
    doc, view = opened.document, opened.view
    mask = np.zeros((48, 64), np.uint8)
    mask[2:6, 2:6] = 255
    doc.set_mask(mask, "Set Mask")
    before = doc.current.pixels
    opened.heal_tool_action.trigger()
    assert view.tool() == HEAL_TOOL
    opened.panel.brush_size.setValue(4)
    opened.panel.brush_hardness.setValue(100)
    with qtbot.waitSignal(opened.jobs.finished, timeout=TIMEOUT):
        drag(qtbot, view, [(12, 20), (30, 20), (45, 20)])
    after = doc.current.pixels
    changed = np.any(after != before, axis=2)
    assert changed[19:22, 13:45].mean() > 0.9              # the stroke is filled
    assert not changed[:17].any() and not changed[24:].any()  # nothing else moves
    np.testing.assert_array_equal(doc.mask, mask)
    np.testing.assert_array_equal(shown_mask(opened), mask)  # the stroke's overlay is gone
    assert doc.undo_stack.undoText() == "Heal"
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.current.pixels, before)


def test_brush_size_keys_and_cursor_outline(qtbot, opened):
    opened.brush_tool_action.trigger()
    opened.panel.brush_size.setValue(20)
    opened.larger_brush_action.trigger()
    assert opened.panel.brush()[0] == 25 and opened.view.brush_size() == 25
    opened.smaller_brush_action.trigger()
    opened.smaller_brush_action.trigger()
    assert opened.panel.brush()[0] == 16
    port = opened.view.viewport()
    centre = opened.view.mapFromScene(QPointF(32, 24))
    before = opened.view.grab().toImage()
    qtbot.mouseMove(port, pos=centre)
    after = opened.view.grab().toImage()
    edge = centre + type(centre)(round(16 * 4 / 2), 0)  # on the outline: radius 8 image px at 400%
    assert before.pixelColor(edge) != after.pixelColor(edge)


def test_grow_shrink_invert_clear_are_each_one_undoable_step(opened):
    doc = opened.document
    dot = np.zeros((48, 64), np.uint8)
    dot[20:22, 30:32] = 255
    doc.set_mask(dot, "Set Mask")
    opened.panel.mask_step.setValue(3)
    opened.grow_mask_action.trigger()
    assert doc.undo_stack.undoText() == "Grow Mask 3 px" and doc.mask[20, 34] == 255 and doc.mask[20, 35] == 0
    opened.shrink_mask(3)
    np.testing.assert_array_equal(doc.mask, dot)
    opened.invert_mask_action.trigger()
    np.testing.assert_array_equal(doc.mask, 255 - dot)
    opened.clear_mask_action.trigger()
    assert doc.mask is None and not opened.clear_mask_action.isEnabled()
    assert doc.undo_stack.count() == 5
    for _ in range(3):
        opened.undo_action.trigger()
    np.testing.assert_array_equal(doc.mask, mask_ops.grow(dot, 3))


def test_threshold_slider_updates_the_shown_mask_live_and_commits_one_step(qtbot, opened, tmp_path):
    ramp = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))   # soft: 0 at the left, 255 at the right
    PILImage.fromarray(ramp).save(tmp_path / "soft.png")
    opened.panel.threshold.setValue(50)
    assert opened.import_mask(str(tmp_path / "soft.png"))
    doc = opened.document
    assert doc.soft_mask is not None and (doc.mask > 0).sum() == 32 * 48
    steps = doc.undo_stack.count()

    opened.panel.threshold.setValue(25)              # as the keyboard or wheel would: preview now, commit later
    assert (shown_mask(opened) > 0).sum() > 32 * 48  # shown at once ...
    assert (doc.mask > 0).sum() == 32 * 48           # ... the document not yet changed
    qtbot.waitUntil(lambda: doc.undo_stack.count() == steps + 1, timeout=TIMEOUT)
    assert doc.undo_stack.undoText() == "Threshold 25%" and doc.threshold == 0.25
    np.testing.assert_array_equal(doc.mask, mask_ops.apply_threshold(doc.soft_mask, 0.25))
    np.testing.assert_array_equal(shown_mask(opened), doc.mask)

    opened.undo_action.trigger()
    assert opened.panel.threshold.value() == 50 and doc.undo_stack.index() == steps and doc.threshold == 0.5


def test_threshold_keeps_brush_edits(qtbot, opened):
    doc = opened.document
    soft = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    doc.set_mask(mask_ops.apply_threshold(soft, 0.5), "Detect Damage", soft_mask=soft, threshold=0.5)
    opened.brush_tool_action.trigger()
    opened.panel.brush_size.setValue(4)
    opened.panel.brush_hardness.setValue(100)
    drag(qtbot, opened.view, [(5, 10), (10, 10)])     # paint where the detector saw nothing
    opened.panel.threshold.setValue(90)
    opened.panel.threshold.sliderReleased.emit()      # as when a drag ends
    assert doc.threshold == 0.9
    assert doc.mask[10, 7] == 255 and doc.mask[30, 40] == 0 and doc.mask[30, 63] == 255


def test_detect_keeps_the_soft_mask_and_repair_uses_the_edited_mask(qtbot, opened, monkeypatch):
    doc = opened.document
    run_tool(qtbot, opened, lambda: opened.detect_damage(engine.MaskRequest(model="test-mask", threshold=0.4)))
    assert doc.soft_mask is not None and doc.threshold == 0.4
    np.testing.assert_array_equal(doc.mask, mask_ops.apply_threshold(doc.soft_mask, 0.4))
    opened.clear_mask_action.trigger()
    opened.brush_tool_action.trigger()
    opened.panel.brush_size.setValue(6)
    drag(qtbot, opened.view, [(20, 30), (40, 30)])
    seen = {}

    def fake_repair(image, request, mask, cancel):
        seen["mask"] = mask
        yield engine.Progress(1, 1, "repairing")
        return image.with_pixels(np.where(mask[..., None] > 0.5, 0.0, image.float_pixels()).astype(np.float32))

    monkeypatch.setattr(engine, "repair", fake_repair)
    run_tool(qtbot, opened, opened.repair_damage)
    np.testing.assert_array_equal(seen["mask"], mask_ops.to_fraction(doc.mask))
    assert doc.undo_stack.undoText() == "Repair"


@pytest.mark.parametrize("mask", ["none", "empty"])
def test_a_repair_that_changes_nothing_is_no_edit_and_says_why(qtbot, opened, monkeypatch, mask):
    doc = opened.document
    if mask == "empty":
        doc.set_mask(np.zeros((48, 64), np.uint8), "Clear Mask")
    steps = doc.undo_stack.count()

    def nothing_found(image, request, mask, cancel):   # the detector finds nothing / the mask marks nothing
        yield engine.Progress(1, 1, "repairing")
        return image.with_pixels(image.float_pixels().copy())

    monkeypatch.setattr(engine, "repair", nothing_found)
    run_tool(qtbot, opened, opened.repair_damage)
    assert doc.undo_stack.count() == steps
    expected = "Repair found no damage" if mask == "none" else "The mask marks no damage"
    assert opened.statusBar().currentMessage().startswith(expected)


def test_import_and_export_mask_round_trip(opened, tmp_path, errors):
    mask = np.zeros((48, 64), np.uint8)
    mask[5:15, 10:40] = 255
    PILImage.fromarray(mask).save(tmp_path / "in.png")
    assert opened.import_mask(str(tmp_path / "in.png"))
    assert opened.document.undo_stack.undoText() == "Import Mask"
    np.testing.assert_array_equal(opened.document.mask, mask)
    assert opened.export_mask(str(tmp_path / "out.png"))
    written = PILImage.open(tmp_path / "out.png")
    assert written.mode == "L"
    np.testing.assert_array_equal(np.asarray(written), mask)
    PILImage.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    assert not opened.import_mask(str(tmp_path / "small.png"))
    assert errors and errors[-1][0] == "Cannot import mask"
    assert "small.png" in errors[-1][1] and "10x10" in errors[-1][1]
    layer = np.full((48, 64, 4), 255, np.uint8)     # white strokes on a transparent (white) layer
    layer[..., 3] = mask
    PILImage.fromarray(layer).save(tmp_path / "layer.png")
    assert opened.import_mask(str(tmp_path / "layer.png"))
    np.testing.assert_array_equal(opened.document.mask, mask)


def test_lasso_selection_limits_the_change(qtbot, opened):
    before = opened.document.current.pixels
    opened.lasso_tool_action.trigger()
    triangle = [(20, 10), (50, 12), (24, 40)]
    drag(qtbot, opened.view, triangle + [(21, 20), (20, 10)])
    assert opened.view.selection_polygon() is not None
    assert opened.selection_label.text().startswith("Lasso")
    run_tool(qtbot, opened, lambda: opened.restore_document(engine.RestoreRequest(model="test-restore")))
    changed = np.any(opened.document.current.pixels != before, axis=2)
    polygon = opened.view.selection_polygon()
    inside = mask_ops.polygon_mask(np.array([(p.x(), p.y()) for p in polygon]), engine.Box(0, 0, 64, 48))
    band = mask_ops.grow(inside.astype(np.uint8) * 255, 8) > 0
    assert changed[inside].mean() > 0.9
    assert not np.any(changed & ~band)
    assert not changed[38, 48]  # inside the bounding box, far from the triangle


def test_difference_view_and_flashing_the_original(qtbot, opened):
    opened.difference_action.setChecked(True)
    assert opened.view.difference_shown()
    diff, _ = qimage_to_array(opened.view._difference_item.pixmap().toImage())
    assert diff.max() == 0  # nothing changed yet
    doc = opened.document
    doc.apply(doc.current.with_pixels(1.0 - doc.current.float_pixels()), "Invert")
    diff, _ = qimage_to_array(opened.view._difference_item.pixmap().toImage())
    assert diff.mean() > 0.5
    opened.difference_action.setChecked(False)
    assert not opened.view.difference_shown()

    qtbot.keyPress(opened.view, Qt.Key.Key_Backslash)
    assert opened.view.original_flashed() and opened.view._before_item.isVisible()
    qtbot.keyRelease(opened.view, Qt.Key.Key_Backslash)
    assert not opened.view.original_flashed() and not opened.view._before_item.isVisible()


def test_settings_panel_options_reach_the_request_and_are_remembered(qtbot, opened, monkeypatch, tmp_path):
    panel = opened.panel
    panel.restore_model.setCurrentIndex(panel.restore_model.findData("test-restore"))
    panel.tile.setValue(128)
    panel.device.setCurrentIndex(panel.device.findData("cpu"))
    panel.precision.setCurrentIndex(panel.precision.findData("fp32"))
    panel.upscale_variant.setCurrentIndex(panel.upscale_variant.findData("sharp"))
    panel.upscale_scale.setCurrentIndex(panel.upscale_scale.findData(2))
    seen = []

    def fake(image, request, cancel):
        seen.append(request)
        yield engine.Progress(1, 1, "working")
        return image

    monkeypatch.setattr(engine, "restore", fake)
    monkeypatch.setattr(engine, "upscale", fake)
    run_tool(qtbot, opened, opened.restore_document)
    run_tool(qtbot, opened, opened.upscale_image)
    options = engine.RunOptions(device="cpu", tile=128, precision="fp32")
    assert seen[0] == engine.RestoreRequest(model="test-restore", options=options)
    assert seen[1] == engine.UpscaleRequest(scale=2, variant="sharp", options=options)

    again = MainWindow(settings=opened.settings)
    qtbot.addWidget(again)
    assert again.panel.run_options() == options and again.panel.restore_model.currentData() == "test-restore"
    assert again.panel.upscale_request().variant == "sharp"


def test_history_panel_lists_the_steps_and_jumps_between_them(opened):
    doc = opened.document
    original = doc.current
    doc.apply(original.with_pixels(1.0 - original.float_pixels()), "Invert")
    doc.set_mask(np.zeros((48, 64), np.uint8), "Set Mask")
    model = opened.history.model()
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["Opened photo.png", "Invert", "Set Mask"]
    opened.history.setCurrentIndex(model.index(0, 0))
    assert doc.current is original and doc.mask is None
    assert opened.view.shown_image() is not None and opened.undo_action.isEnabled() is False
    opened.history.setCurrentIndex(model.index(2, 0))
    assert doc.mask is not None


def test_export_asks_for_quality_only_for_lossy_formats(opened, tmp_path, monkeypatch):
    asked = []

    def fake_exec(dialog):
        asked.append(dialog.windowTitle())
        dialog.spin.setValue(30)
        return dialog.DialogCode.Accepted

    monkeypatch.setattr("gui.main_window.ExportOptionsDialog.exec", fake_exec)
    assert opened._ask_quality(str(tmp_path / "a.png")) == 92 and asked == []
    assert opened._ask_quality(str(tmp_path / "a.jpg")) == 30 and asked == ["JPEG Options"]
    assert opened._ask_quality(str(tmp_path / "a.webp")) == 30   # remembered for next time
    assert opened.export_to(str(tmp_path / "low.jpg"), quality=10)
    assert opened.export_to(str(tmp_path / "high.jpg"), quality=95)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size


def test_mask_edits_wait_while_a_job_runs(qtbot, opened, monkeypatch):
    import time

    def slow(image, request, cancel):
        for i in range(300):
            time.sleep(0.01)
            yield engine.Progress(i, 300, "restoring")
        return image

    monkeypatch.setattr(engine, "restore", slow)
    with qtbot.waitSignal(opened.jobs.progress, timeout=TIMEOUT):
        opened.restore_document()
    opened.brush_tool_action.trigger()
    drag(qtbot, opened.view, [(10, 10), (20, 20)])
    assert opened.document.mask is None and not opened.history.isEnabled()
    with qtbot.waitSignal(opened.jobs.finished, timeout=TIMEOUT):
        opened.cancel_job()


def test_panel_reload_lists_a_new_user_model(qtbot, tmp_path, monkeypatch):
    """A model fine-tuned while the editor is open appears in the settings panel's choice."""
    from PySide6.QtCore import QSettings

    from gui.panels import SettingsPanel
    from model_factory import make_tiny_models

    monkeypatch.setenv("RESTORA_DATA_DIR", str(tmp_path / "empty"))
    panel = SettingsPanel(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(panel)
    assert panel.restore_model.findData("test-restore") < 0
    monkeypatch.setenv("RESTORA_DATA_DIR", str(tmp_path / "data"))
    make_tiny_models(tmp_path / "data")
    panel.reload_models("test-restore")
    assert panel.restore_model.currentData() == "test-restore"
    assert panel.restore_request().model == "test-restore"


def test_panel_look_at_full_size_reaches_the_requests_and_is_remembered(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from gui.panels import SettingsPanel

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    panel = SettingsPanel(settings)
    qtbot.addWidget(panel)
    assert panel.mask_request().scale is None and panel.repair_request().scale is None   # working size
    panel.detect_size.setCurrentIndex(panel.detect_size.findData("full"))
    assert panel.mask_request().scale == 1.0 and panel.repair_request().scale == 1.0
    again = SettingsPanel(settings)
    qtbot.addWidget(again)
    assert again.detect_size.currentData() == "full"


def _state(doc):
    return doc.current.pixels.copy(), doc.mask.copy(), doc.original.pixels.copy()


def test_rotate_and_flip_turn_the_image_the_mask_and_the_original_together(qtbot, opened):
    doc = opened.document
    mask = np.zeros((48, 64), np.uint8)
    mask[2:6, 2:12] = 255
    doc.set_mask(mask, "Detect Damage", soft_mask=mask // 2, threshold=0.25)
    pixels, mask, original = _state(doc)
    first = doc.original
    with qtbot.waitSignal(opened.jobs.finished, timeout=TIMEOUT):
        opened.rotate_cw_action.trigger()
    np.testing.assert_array_equal(doc.current.pixels, np.rot90(pixels, -1))
    np.testing.assert_array_equal(doc.mask, np.rot90(mask, -1))
    np.testing.assert_array_equal(doc.soft_mask, np.rot90(mask // 2, -1))
    np.testing.assert_array_equal(doc.original.pixels, np.rot90(original, -1))
    assert opened.view.image_size() == QSize(48, 64)
    np.testing.assert_array_equal(shown_mask(opened), np.rot90(mask, -1))
    opened.difference_action.setChecked(True)        # the original turned too: nothing differs
    assert opened.view.difference_shown()
    assert doc.undo_stack.undoText() == "Rotate 90° Clockwise"
    opened.difference_action.setChecked(False)
    doc.undo_stack.undo()
    assert doc.original is first and doc.current is first
    np.testing.assert_array_equal(doc.mask, mask)
    for _ in range(2):
        with qtbot.waitSignal(opened.jobs.finished, timeout=TIMEOUT):
            opened.flip_h_action.trigger()
    np.testing.assert_array_equal(doc.current.pixels, pixels)
    np.testing.assert_array_equal(doc.mask, mask)
    assert doc.undo_stack.count() == 3 and doc.undo_stack.undoText() == "Flip Horizontal"


def test_crop_to_selection_keeps_the_box_of_the_image_mask_and_original(qtbot, opened):
    doc = opened.document
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 15:25] = 255
    doc.set_mask(mask, "Set Mask")
    pixels, mask, original = _state(doc)
    assert not opened.crop_action.isEnabled()              # nothing selected
    opened.view.set_selection(QRect(10, 5, 20, 30))
    assert opened.crop_action.isEnabled()
    with qtbot.waitSignal(opened.jobs.finished, timeout=TIMEOUT):
        opened.crop_action.trigger()
    np.testing.assert_array_equal(doc.current.pixels, pixels[5:35, 10:30])
    np.testing.assert_array_equal(doc.mask, mask[5:35, 10:30])
    np.testing.assert_array_equal(doc.original.pixels, original[5:35, 10:30])
    assert opened.view.selection() is None and not opened.crop_action.isEnabled()
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.current.pixels, pixels)
    np.testing.assert_array_equal(doc.mask, mask)


def test_crop_of_an_upscaled_image_cuts_the_same_part_of_the_original():
    big = np.arange(48 * 64).reshape(48, 64)
    cut = tools.crop(engine.Box(8, 4, 24, 20), 64, 48)
    np.testing.assert_array_equal(cut(big), big[4:20, 8:24])
    small = big[::2, ::2]                                  # the original of a x2 upscale
    np.testing.assert_array_equal(cut(small), small[2:10, 4:12])


def test_the_history_panel_follows_a_history_that_forgot_steps(opened, monkeypatch, tmp_path, qtbot):
    monkeypatch.setattr("gui.document.HISTORY_BUDGET", 3 * 48 * 64 * 3)
    open_image(qtbot, opened, write_png(tmp_path / "other.png", 48, 64, seed=5))
    doc = opened.document
    for i in range(4):
        doc.apply(doc.current.with_pixels(np.full((48, 64, 3), i / 8, np.float32)), f"Step {i}")
    assert doc.forgotten == 2 and opened.history.stack() is doc.undo_stack
    assert opened.history.emptyLabel().startswith("2 earlier steps forgotten")
    opened.undo_action.trigger()
    assert doc.undo_stack.index() == 1 and opened.redo_action.isEnabled()


def test_the_status_bar_shows_the_pixel_under_the_pointer(qtbot, opened):
    port = opened.view.viewport()
    qtbot.mouseMove(port, pos=opened.view.mapFromScene(QPointF(30.5, 20.5)))
    r, g, b = opened.document.current.pixels[20, 30]
    assert opened.pointer_label.text() == f"30, 20  ·  {r} {g} {b}"
    opened.view.pointer_moved.emit(None)                     # off the image
    assert opened.pointer_label.text() == ""
