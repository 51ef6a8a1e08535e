"""The document's history stays small: 8-bit images held as uint8, a small change kept
as a patch, a mask edit holding no image, and undo and redo still exact."""
import gc
import weakref

import numpy as np

import engine
from gui.document import Document, changed_box


def _image(h=40, w=60, seed=0, bits=8) -> engine.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.float32) / 255
    return engine.Image(pixels=pixels, bits=bits)


def _healed(image: engine.Image, box: engine.Box, value: int = 7) -> engine.Image:
    pixels = image.pixels.copy()
    pixels[box.slices] = value
    return image.with_pixels(pixels)


def test_compact_holds_an_8_bit_image_as_uint8_exactly():
    image = _image()
    small = image.compact()
    assert small.pixels.dtype == np.uint8 and small.bits == 8
    np.testing.assert_array_equal(small.float_pixels(), image.pixels)
    assert small.compact() is small
    deep = _image(bits=16)
    assert deep.compact() is deep


def test_changed_box():
    image = _image().compact()
    assert changed_box(image, image.with_pixels(image.pixels.copy())) == engine.Box(0, 0, 0, 0)
    box = engine.Box(5, 3, 9, 20)
    assert changed_box(image, _healed(image, box)) == box
    assert changed_box(image, image.with_pixels(image.pixels[:20])) is None
    assert changed_box(image, image.with_pixels(image.float_pixels())) is None
    assert changed_box(image, image.with_pixels(image.pixels, alpha=np.ones((40, 60), np.float32))) is None


def test_the_document_holds_8_bit_images_compactly():
    doc = Document(_image())
    assert doc.current.pixels.dtype == np.uint8 and doc.original is doc.current
    doc.apply(doc.current.with_pixels(1.0 - doc.current.float_pixels()), "Invert")
    assert doc.current.pixels.dtype == np.uint8
    assert Document(_image(bits=16)).current.pixels.dtype == np.float32


def test_patches_and_mask_edits_hold_no_whole_image_and_undo_exactly():
    doc = Document(_image())
    doc.apply(doc.current.with_pixels(1.0 - doc.current.float_pixels()), "Invert")   # a whole-image edit
    states = [(doc.current.pixels.copy(), doc.mask)]

    def record():
        states.append((doc.current.pixels.copy(), None if doc.mask is None else doc.mask.copy()))

    first = _healed(doc.current, engine.Box(2, 2, 10, 8))
    doc.apply(first, "Heal", changed_box(doc.current, first))
    record()
    mask = np.zeros((40, 60), np.uint8)
    mask[20:30, 20:40] = 255
    doc.set_mask(mask, "Detect Damage", soft_mask=mask, threshold=0.5)
    record()
    second = _healed(doc.current, engine.Box(30, 25, 50, 35), value=200)
    doc.apply(second, "Heal", changed_box(doc.current, second))
    record()
    doc.paint_mask(engine.Box(0, 0, 4, 4), doc.mask[:4, :4].copy(), np.full((4, 4), 255, np.uint8), "Brush Stroke")
    record()

    first, second = weakref.ref(first), weakref.ref(second)
    gc.collect()
    assert first() is None    # neither a later patch nor the mask edit keeps it
    assert second() is doc.current
    for _ in range(2):        # all the way down and up again, exactly
        for pixels, mask in reversed(states[:-1]):
            doc.undo_stack.undo()
            np.testing.assert_array_equal(doc.current.pixels, pixels)
            assert (doc.mask is None) == (mask is None) and (mask is None or np.array_equal(doc.mask, mask))
        for pixels, mask in states[1:]:
            doc.undo_stack.redo()
            np.testing.assert_array_equal(doc.current.pixels, pixels)
            np.testing.assert_array_equal(doc.mask, mask)


def test_a_change_of_most_of_the_image_or_its_size_is_kept_whole():
    doc = Document(_image())
    start = doc.current
    big = _healed(start, engine.Box(0, 0, 60, 30))
    doc.apply(big, "Restore", changed_box(start, big))
    grown = engine.Image(pixels=np.zeros((80, 120, 3), np.uint8))
    doc.set_mask(np.full((40, 60), 255, np.uint8), "Set Mask")
    doc.apply(grown, "Upscale ×2", changed_box(doc.current, grown))
    assert doc.current is grown and doc.mask is None
    doc.undo_stack.undo()
    assert doc.current is big and doc.mask is not None
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.current is start


def test_past_its_budget_the_history_forgets_its_oldest_steps():
    size = 40 * 60 * 3                                   # one compact image
    doc = Document(_image(), history_budget=5 * size)
    states = [doc.current.pixels.copy()]
    stacks = []
    doc.history_replaced.connect(lambda: stacks.append(doc.undo_stack))
    for i in range(8):
        doc.apply(doc.current.with_pixels(np.full((40, 60, 3), i / 10, np.float32)), f"Step {i}")
        states.append(doc.current.pixels.copy())
        if i == 5:
            doc.mark_saved()
    assert stacks and stacks[-1] is doc.undo_stack
    stack = doc.undo_stack
    assert stack.count() == 4 and doc.forgotten == 4      # five images held: the states 4 to 8
    assert stack.undoText() == "Step 7" and stack.text(0) == "Step 4"
    for want in reversed(states[4:8]):
        stack.undo()
        np.testing.assert_array_equal(doc.current.pixels, want)
        assert doc.modified == (want is not states[6])   # the export after step 5 is remembered
    assert not stack.canUndo()
    for want in states[5:]:
        stack.redo()
        np.testing.assert_array_equal(doc.current.pixels, want)


def test_the_last_step_is_kept_even_over_the_budget():
    doc = Document(_image(), history_budget=1)
    doc.apply(doc.current.with_pixels(doc.current.float_pixels() * 0.5), "Darken")
    doc.apply(doc.current.with_pixels(doc.current.float_pixels() * 0.5), "Darken more")
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Darken more"
    assert doc.modified                                   # the saved (opened) state is gone
    doc.undo_stack.undo()
    assert doc.modified
