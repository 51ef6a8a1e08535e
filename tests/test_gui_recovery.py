"""Crash recovery: a copy of unexported edits is kept while the editor runs, removed
when nothing would be lost, and offered by the next editor if the first one died."""
import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

import engine
from gui.document import Document
from gui.main_window import MainWindow
from gui.recovery import RecoveryStore, read_copy, write_copy


def _image(seed=0):
    rng = np.random.default_rng(seed)
    return engine.Image(pixels=rng.integers(0, 256, (20, 30, 3)).astype(np.uint8), bits=8,
                        alpha=rng.random((20, 30)).astype(np.float32), icc_profile=b"icc", exif=b"Exif\x00\x00x")


@pytest.fixture
def store(tmp_path, qtbot):
    s = RecoveryStore(tmp_path / "recovery")
    yield s
    s.close()


def test_a_copy_holds_the_image_its_metadata_and_the_mask(tmp_path):
    image, mask = _image(), np.full((20, 30), 255, np.uint8)
    write_copy(tmp_path / "a.copy", image, mask, "photo.jpg", "/photos/photo.jpg")
    found = read_copy(tmp_path / "a.copy")
    np.testing.assert_array_equal(found.image.pixels, image.pixels)
    np.testing.assert_array_equal(found.image.alpha, image.alpha)
    np.testing.assert_array_equal(found.mask, mask)
    assert (found.image.icc_profile, found.image.exif, found.image.bits) == (b"icc", b"Exif\x00\x00x", 8)
    assert (found.name, found.path) == ("photo.jpg", "/photos/photo.jpg")


def test_the_copy_follows_unexported_edits(store):
    doc = Document(_image())
    store.watch(doc)
    store.flush()
    assert not store.file.exists()                       # nothing to lose yet
    doc.apply(doc.current.with_pixels(255 - doc.current.pixels), "Invert")
    store.flush()
    np.testing.assert_array_equal(read_copy(store.file).image.pixels, doc.current.pixels)
    written = store.file.stat().st_mtime_ns
    doc.set_threshold(0.4)                               # no mask to follow: nothing changes
    doc.changed.emit()
    store.flush()
    assert store.file.stat().st_mtime_ns == written      # the same state is not written again
    doc.mark_saved()                                     # exported: nothing to lose again
    store.flush()
    assert not store.file.exists()
    doc.undo_stack.undo()
    store.flush()
    assert store.file.exists()
    store.close()
    assert not store.file.exists()


def test_only_the_copies_of_editors_that_are_gone_are_orphans(tmp_path, store):
    running = RecoveryStore(tmp_path / "recovery")       # another editor, still running
    crashed = RecoveryStore(tmp_path / "recovery")
    for other in (running, crashed):
        doc = Document(_image())
        other.watch(doc)
        doc.apply(doc.current.with_pixels(255 - doc.current.pixels), "Invert")
        other.flush()
    crashed._lock.unlock()                               # as when its process died
    assert store.orphans() == [crashed.file]
    running.close()
    assert store.orphans() == [crashed.file]             # a clean close leaves nothing


def _window(qtbot, tmp_path, store):
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), recovery=store)
    qtbot.addWidget(window)
    return window


def test_the_next_editor_offers_the_edits_and_recovers_them(qtbot, tmp_path, store, unsaved_answers):
    image, mask = _image(), np.zeros((20, 30), np.uint8)
    mask[5:9, 5:9] = 255
    write_copy(tmp_path / "recovery" / "dead.restora-recovery", image, mask, "photo.png", "/x/photo.png")
    window = _window(qtbot, tmp_path, store)
    unsaved_answers.append(QMessageBox.StandardButton.Yes)
    assert window.offer_recovery()
    assert "photo.png" in unsaved_answers.asked[0]
    doc = window.document
    np.testing.assert_array_equal(doc.current.pixels, image.pixels)
    np.testing.assert_array_equal(doc.mask, mask)
    assert doc.modified and doc.path == "/x/photo.png" and window.isWindowModified()
    assert store.orphans() == [] and not (tmp_path / "recovery" / "dead.restora-recovery").exists()
    store.flush()
    assert store.file.exists()                           # this editor keeps the copy now


def test_declined_or_unreadable_copies_are_removed(qtbot, tmp_path, store, unsaved_answers):
    folder = tmp_path / "recovery"
    write_copy(folder / "old.restora-recovery", _image(), None, "photo.png", None)
    (folder / "broken.restora-recovery").write_bytes(b"not a copy")
    window = _window(qtbot, tmp_path, store)
    unsaved_answers.append(QMessageBox.StandardButton.Discard)
    assert not window.offer_recovery() and window.document is None
    assert len(unsaved_answers.asked) == 1 and list(folder.glob("*.restora-recovery")) == []
