"""The canvas: the zoomable image view with its mask overlay, selection and
compare slider, and the ndarray <-> QImage conversion (the only place it happens)."""
from .convert import DisplayCache, MaskOverlay, array_to_qimage, difference_qimage, qimage_to_array
from .view import ImageView

__all__ = ["DisplayCache", "ImageView", "MaskOverlay", "array_to_qimage", "difference_qimage", "qimage_to_array"]
