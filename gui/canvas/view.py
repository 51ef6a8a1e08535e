"""The image view: zoom and pan, the damage-mask overlay, rectangle and lasso
selections, brush strokes on the mask, a before/after compare slider, a held
flash of the original and a difference view.

Scene coordinates are image pixels: the image sits at (0, 0) with its own size.
Zoom is the view's scale (1.0 = 100%); at 200% and above pixels are drawn crisp
(nearest neighbour), below it smoothly. Pan with the scroll bars, the middle
button, Space + drag, or a plain drag when the pan tool is active.

The view does not edit the mask itself: with the brush or eraser it reports the
stroke (`stroke_started`, `stroke_moved`, `stroke_finished`, in image pixels) and
the window paints it, showing progress through `update_mask`.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPalette, QPen,
                           QPixmap, QPolygonF, QTransform, QWheelEvent)
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsScene,
                               QGraphicsView, QStyleOptionGraphicsItem, QWidget)

from .convert import MaskOverlay

MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
CRISP_ZOOM = 2.0          # from this zoom on, pixels are drawn as sharp squares
WHEEL_STEP = 1.0015       # zoom factor per wheel angle unit (120 units = one notch, about x1.2)
BUTTON_STEP = 1.25        # zoom factor of Zoom In / Zoom Out
SPLIT_GRAB_PX = 8         # how near (viewport pixels) the compare divider can be grabbed
FIT_MIN_SIDE_PX = 16      # fitting never shows the image's short side smaller than this (or than 100%)

LASSO_STEP_PX = 3         # a lasso point is kept every this many viewport pixels of movement

PAN_TOOL = "pan"
SELECT_TOOL = "select"
LASSO_TOOL = "lasso"
BRUSH_TOOL = "brush"
ERASER_TOOL = "eraser"
HEAL_TOOL = "heal"
TOOLS = (PAN_TOOL, SELECT_TOOL, LASSO_TOOL, BRUSH_TOOL, ERASER_TOOL, HEAL_TOOL)
PAINT_TOOLS = (BRUSH_TOOL, ERASER_TOOL, HEAL_TOOL)


class ClippedPixmapItem(QGraphicsPixmapItem):
    """A pixmap drawn only left of a split line at `split` (0..1 of its width):
    the 'before' side of the compare slider; drawn whole while `clipped` is False."""

    def __init__(self) -> None:
        super().__init__()
        self.split = 0.5
        self.clipped = True

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if not self.clipped:
            return super().paint(painter, option, widget)
        pixmap = self.pixmap()
        painter.save()
        painter.setClipRect(QRectF(0, 0, pixmap.width() * self.split, pixmap.height()))
        super().paint(painter, option, widget)
        painter.restore()


class MaskItem(QGraphicsItem):
    """The damage mask, drawn from a `MaskOverlay` whose pixels brush strokes rewrite
    in place (a pixmap would have to be rebuilt whole for every mouse move)."""

    def __init__(self) -> None:
        super().__init__()
        self.overlay: MaskOverlay | None = None
        self.smooth = True

    def set_overlay(self, overlay: MaskOverlay | None) -> None:
        self.prepareGeometryChange()
        self.overlay = overlay
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self.overlay.image.rect()) if self.overlay is not None else QRectF()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self.overlay is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
            painter.drawImage(QPointF(0, 0), self.overlay.image)


class SelectionItem(QGraphicsPathItem):
    """The selection outline (a rectangle or a lasso): black and white dashes, one
    screen pixel wide at any zoom, over a light blue tint."""

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        path = self.path()
        light = QPen(QColor(255, 255, 255), 0)
        dark = QPen(QColor(0, 0, 0), 0, Qt.PenStyle.CustomDashLine)
        dark.setDashPattern([4, 4])
        painter.setBrush(QColor(80, 160, 255, 40))
        painter.setPen(light)
        painter.drawPath(path)
        painter.setPen(dark)
        painter.drawPath(path)


class ImageView(QGraphicsView):
    """Shows one image with optional mask overlay, selection, compare slider and difference."""

    zoom_changed = Signal(float)          # the new zoom, 1.0 = 100%
    selection_changed = Signal(object)    # QRect in image pixels (a lasso's bounding box), or None
    stroke_started = Signal(QPointF)      # brush or eraser pressed, at this image point
    stroke_moved = Signal(QPointF)        # ... dragged to this image point
    stroke_finished = Signal()            # ... released
    pointer_moved = Signal(object)        # QPoint: the image pixel under the pointer, or None off the image

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._image_item = QGraphicsPixmapItem()
        self._difference_item = QGraphicsPixmapItem()
        self._before_item = ClippedPixmapItem()
        self._mask_item = MaskItem()
        self._selection_item = SelectionItem()
        items = (self._image_item, self._difference_item, self._before_item, self._mask_item, self._selection_item)
        for z, item in enumerate(items):
            item.setZValue(z)
            item.setVisible(False)
            self.scene().addItem(item)
        self._mask_item.setOpacity(0.5)

        self._has_alpha = False
        self._checker = self._checker_brush()
        self._fit_on_resize = True        # until the person zooms, the image follows the window size
        self._fit_enlarges = False        # ... and is fitted at most at 100% (Fit to Window enlarges)
        self._tool = PAN_TOOL
        self._selection: QRect | None = None
        self._polygon: QPolygonF | None = None      # the lasso, when the selection is one
        self._select_origin: QPointF | None = None
        self._lasso_points: list[QPointF] | None = None
        self._space_held = False
        self._middle_pan_from: QPoint | None = None
        self._compare_enabled = False
        self._dragging_split = False
        self._hovering_split = False
        self._mask_visible = True
        self._original_flashed = False
        self._brush_size = 20.0
        self._pointer: QPointF | None = None        # viewport position of the brush outline
        self._stroking = False

        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # set_zoom anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        # the compare divider and the brush outline are drawn in viewport coordinates: repaint whole
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # drops go to the main window, which opens the dropped file
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setMouseTracking(True)
        self._apply_tool_cursor()
        self._update_smoothing()

    # -- content --------------------------------------------------------------------------------

    def has_image(self) -> bool:
        return self._image_item.isVisible()

    def image_size(self) -> QSize:
        """Size of the shown image in pixels (empty when none)."""
        return self._image_item.pixmap().size() if self.has_image() else QSize()

    def shown_image(self) -> QImage:
        """The shown image as a QImage (for checks and exports of the view)."""
        return self._image_item.pixmap().toImage()

    def set_image(self, image: QImage | None) -> None:
        """Show `image` (or nothing). Keeps zoom and selection if the size is unchanged,
        else fits the new image (at most at 100%) and clears the selection."""
        if image is None or image.isNull():
            self._image_item.setVisible(False)
            self._image_item.setPixmap(QPixmap())
            self.set_selection(None)
            self.scene().setSceneRect(QRectF())
            self._sync_overlays()
            return
        resized = image.size() != self.image_size()
        self._image_item.setPixmap(QPixmap.fromImage(image))
        self._image_item.setVisible(True)
        self._has_alpha = image.hasAlphaChannel()
        if resized:
            self.scene().setSceneRect(QRectF(0, 0, image.width(), image.height()))
            self.set_selection(None)
            self.fit_to_window(enlarge=False)
        self._sync_overlays()

    def set_mask(self, mask: np.ndarray | None) -> None:
        """The damage mask (HxW uint8 levels, the image's size), tinted over the image."""
        if mask is None:
            self._mask_item.set_overlay(None)
        else:
            overlay = self._mask_item.overlay
            if overlay is None or overlay.image.size() != QSize(mask.shape[1], mask.shape[0]):
                overlay = MaskOverlay(mask.shape[1], mask.shape[0])
            overlay.update(mask)
            self._mask_item.set_overlay(overlay)
        self._sync_overlays()

    def update_mask(self, mask: np.ndarray, box) -> None:
        """Redraw the part `box` (an engine.Box) of the mask shown by `set_mask` from `mask`."""
        if self._mask_item.overlay is not None:
            self._mask_item.overlay.update(mask, box)
            self._mask_item.update(QRectF(box.x0, box.y0, box.width, box.height))

    def shown_mask(self) -> QImage | None:
        """A copy of the mask overlay as drawn (alpha = mask level), or None."""
        overlay = self._mask_item.overlay
        return None if overlay is None else overlay.image.copy()

    def set_mask_visible(self, visible: bool) -> None:
        self._mask_visible = visible
        self._sync_overlays()

    def set_mask_opacity(self, opacity: float) -> None:
        self._mask_item.setOpacity(min(1.0, max(0.0, opacity)))

    def mask_opacity(self) -> float:
        return self._mask_item.opacity()

    def set_compare_image(self, image: QImage | None) -> None:
        """The 'before' image for the compare slider and the flash of the original;
        stretched over the current image if their sizes differ (e.g. after upscaling)."""
        self._before_item.setPixmap(QPixmap() if image is None else QPixmap.fromImage(image))
        self._sync_overlays()

    def set_difference_image(self, image: QImage | None) -> None:
        """Show `image` (what changed, same size as the image) in place of the image; None
        shows the image again."""
        self._difference_item.setPixmap(QPixmap() if image is None else QPixmap.fromImage(image))
        self._sync_overlays()

    def difference_shown(self) -> bool:
        return self._difference_item.isVisible()

    def set_compare_enabled(self, enabled: bool) -> None:
        self._compare_enabled = enabled
        self._sync_overlays()

    def set_original_flashed(self, flashed: bool) -> None:
        """Show the original over everything while `flashed` (a held key)."""
        self._original_flashed = flashed
        self._sync_overlays()

    def original_flashed(self) -> bool:
        return self._original_flashed

    @property
    def split(self) -> float:
        """Where the compare divider is, as a fraction of the image width."""
        return self._before_item.split

    def set_split(self, fraction: float) -> None:
        self._before_item.split = min(1.0, max(0.0, fraction))
        self._before_item.update()
        self.viewport().update()

    def _sync_overlays(self) -> None:
        shown = self.has_image()
        size = self.image_size()
        flashed = shown and self._original_flashed
        before = self._before_item.pixmap()
        self._before_item.clipped = not flashed
        self._before_item.setVisible(shown and (self._compare_enabled or flashed) and not before.isNull())
        if not before.isNull() and shown:
            self._before_item.setTransform(QTransform.fromScale(size.width() / before.width(),
                                                                size.height() / before.height()))
        difference = self._difference_item.pixmap()
        self._difference_item.setVisible(shown and not flashed and difference.size() == size)
        overlay = self._mask_item.overlay
        self._mask_item.setVisible(shown and self._mask_visible and not flashed and overlay is not None
                                   and overlay.image.size() == size)
        self.viewport().update()

    # -- zoom -------------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPoint | None = None) -> None:
        """Zoom to `zoom` (clamped), keeping the image point under `anchor` (a viewport
        position; the view's centre if None) where it is, as far as scrolling allows."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        factor = zoom / self.zoom()
        if not math.isclose(factor, 1.0):
            anchor = self.viewport().rect().center() if anchor is None else anchor
            fixed = self.mapToScene(anchor)
            self.scale(factor, factor)
            drift = self.mapFromScene(fixed) - anchor
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())
        self._fit_on_resize = False
        self._zoom_updated()

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * BUTTON_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / BUTTON_STEP)

    def zoom_actual_size(self) -> None:
        self.set_zoom(1.0)

    def fit_to_window(self, enlarge: bool = True) -> None:
        """Show the whole image as large as the viewport allows (with `enlarge` False, at most at
        100%: how a new image opens); keeps fitting as the window resizes. A very long, thin
        image (a 3x20000 strip) keeps its short side FIT_MIN_SIDE_PX wide, so it stays visible
        and scrolls along its length."""
        if self.has_image():
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
            size = self.image_size()
            floor = min(1.0, FIT_MIN_SIDE_PX / max(1, min(size.width(), size.height())))
            limit = MAX_ZOOM if enlarge else 1.0
            if not floor <= self.zoom() <= limit:
                self.set_zoom(min(limit, max(floor, self.zoom())))
        self._fit_on_resize, self._fit_enlarges = True, enlarge
        self._zoom_updated()

    def _zoom_updated(self) -> None:
        self._update_smoothing()
        self.zoom_changed.emit(self.zoom())

    def _update_smoothing(self) -> None:
        crisp = self.zoom() >= CRISP_ZOOM
        mode = Qt.TransformationMode.FastTransformation if crisp else Qt.TransformationMode.SmoothTransformation
        for item in (self._image_item, self._difference_item, self._before_item):
            item.setTransformationMode(mode)
        self._mask_item.smooth = not crisp

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if not self.has_image() or not delta:
            return super().wheelEvent(event)
        self.set_zoom(self.zoom() * WHEEL_STEP ** delta, anchor=event.position().toPoint())
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_on_resize:
            self.fit_to_window(self._fit_enlarges)

    # -- tools and selection ----------------------------------------------------------------------

    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        """What a left-button drag does: PAN_TOOL moves the image, SELECT_TOOL draws a
        rectangle, LASSO_TOOL a freehand selection, BRUSH_TOOL / ERASER_TOOL / HEAL_TOOL a stroke."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self._tool = tool
        self._apply_tool_cursor()
        self.viewport().update()

    def brush_size(self) -> float:
        return self._brush_size

    def set_brush_size(self, diameter: float) -> None:
        """The brush outline's diameter in image pixels."""
        self._brush_size = max(1.0, diameter)
        self.viewport().update()

    def selection(self) -> QRect | None:
        """The selected rectangle in image pixels (a lasso's bounding box), or None."""
        return QRect(self._selection) if self._selection is not None else None

    def selection_polygon(self) -> QPolygonF | None:
        """The lasso outline in image pixels when the selection is a lasso, else None."""
        return QPolygonF(self._polygon) if self._polygon is not None else None

    def set_selection(self, rect: QRect | None) -> None:
        """Select `rect` (clipped to the image; empty means none) and emit selection_changed if it differs."""
        self._select(rect, None)

    def set_lasso(self, polygon: QPolygonF | None) -> None:
        """Select the inside of `polygon` (image pixels); fewer than 3 points or nothing
        inside the image means no selection."""
        if polygon is None or polygon.size() < 3:
            return self._select(None, None)
        bounds = polygon.boundingRect()
        left, top = math.floor(bounds.left()), math.floor(bounds.top())
        rect = QRect(left, top, math.ceil(bounds.right()) - left, math.ceil(bounds.bottom()) - top)
        self._select(rect, QPolygonF(polygon))

    def _select(self, rect: QRect | None, polygon: QPolygonF | None) -> None:
        if rect is not None:
            rect = rect.normalized().intersected(QRect(QPoint(0, 0), self.image_size()))
            if rect.isEmpty():
                rect, polygon = None, None
        if rect == self._selection and polygon == self._polygon:
            return
        self._selection, self._polygon = rect, polygon
        self._show_selection_outline()
        self.selection_changed.emit(self.selection())

    def _show_selection_outline(self, drawing: QPolygonF | None = None) -> None:
        path = QPainterPath()
        if drawing is not None:
            path.addPolygon(drawing)
            path.closeSubpath()
        elif self._polygon is not None:
            path.addPolygon(self._polygon)
            path.closeSubpath()
        elif self._selection is not None:
            path.addRect(QRectF(self._selection))
        self._selection_item.setPath(path)
        self._selection_item.setVisible(not path.isEmpty())

    def select_all(self) -> None:
        if self.has_image():
            self.set_selection(QRect(QPoint(0, 0), self.image_size()))

    def deselect(self) -> None:
        self.set_selection(None)

    def _selection_from(self, a: QPointF, b: QPointF) -> QRect:
        """The pixel rectangle covering the drag from `a` to `b` (scene points)."""
        x0, x1 = sorted((a.x(), b.x()))
        y0, y1 = sorted((a.y(), b.y()))
        left, top = math.floor(x0), math.floor(y0)
        return QRect(left, top, math.ceil(x1) - left, math.ceil(y1) - top)

    def _painting(self) -> bool:
        return self._tool in PAINT_TOOLS and not self._space_held

    def _apply_tool_cursor(self) -> None:
        panning = self._space_held or self._tool == PAN_TOOL
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag if panning else QGraphicsView.DragMode.NoDrag)
        if panning:
            cursor = Qt.CursorShape.OpenHandCursor
        elif self._painting():
            cursor = Qt.CursorShape.BlankCursor  # the brush outline is drawn instead
        else:
            cursor = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(cursor)

    # -- compare divider, brush outline -------------------------------------------------------------

    def _split_viewport_x(self) -> float | None:
        if not self._before_item.isVisible() or self._original_flashed:
            return None
        return self.mapFromScene(QPointF(self.split * self.image_size().width(), 0)).x()

    def _near_split(self, pos: QPointF) -> bool:
        x = self._split_viewport_x()
        return x is not None and abs(pos.x() - x) <= SPLIT_GRAB_PX

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        painter.resetTransform()  # draw in viewport pixels: the same size at any zoom
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        image_box = self.mapFromScene(QRectF(QPointF(0, 0), QSize(self.image_size()))).boundingRect()
        visible = image_box.intersected(self.viewport().rect())
        x = self._split_viewport_x()
        if x is not None:
            self._draw_divider(painter, x, visible)
        elif self._original_flashed and self.has_image():
            self._draw_label(painter, "Original", QPointF(visible.left() + 8, visible.top() + 8), align_right=False)
        if self._painting() and self._pointer is not None and self.has_image():
            self._draw_brush_outline(painter, self._pointer)
        painter.restore()

    def _draw_divider(self, painter: QPainter, x: float, visible: QRect) -> None:
        painter.setPen(QPen(QColor(0, 0, 0, 110), 3))
        painter.drawLine(QPointF(x, visible.top()), QPointF(x, visible.bottom()))
        painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        painter.drawLine(QPointF(x, visible.top()), QPointF(x, visible.bottom()))
        centre = QPointF(x, visible.center().y())
        painter.setBrush(QColor(255, 255, 255))
        painter.setPen(QPen(QColor(0, 0, 0, 110), 1))
        painter.drawEllipse(centre, 12, 12)
        arrows = QPainterPath()
        for direction in (-1, 1):
            tip = centre + QPointF(direction * 8, 0)
            arrows.moveTo(tip)
            arrows.lineTo(centre + QPointF(direction * 3, -5))
            arrows.lineTo(centre + QPointF(direction * 3, 5))
            arrows.closeSubpath()
        painter.fillPath(arrows, QColor(40, 40, 40))
        self._draw_label(painter, "Before", QPointF(x - 8, visible.top() + 8), align_right=True)
        self._draw_label(painter, "After", QPointF(x + 8, visible.top() + 8), align_right=False)

    def _draw_brush_outline(self, painter: QPainter, centre: QPointF) -> None:
        """A circle the brush's size (black over white, visible on any image) and a centre mark."""
        radius = self._brush_size * self.zoom() / 2
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for colour, width in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255), 1.0)):
            painter.setPen(QPen(colour, width))
            if radius >= 3:
                painter.drawEllipse(centre, radius, radius)
            painter.drawLine(centre - QPointF(4, 0), centre + QPointF(4, 0))
            painter.drawLine(centre - QPointF(0, 4), centre + QPointF(0, 4))

    def _draw_label(self, painter: QPainter, text: str, anchor: QPointF, align_right: bool) -> None:
        metrics = painter.fontMetrics()
        box = QRectF(0, 0, metrics.horizontalAdvance(text) + 12, metrics.height() + 6)
        if align_right:
            box.moveTopRight(anchor)
        else:
            box.moveTopLeft(anchor)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        dark = self.palette().color(QPalette.ColorRole.Window).lightness() < 128
        painter.fillRect(rect, QColor(30, 30, 32) if dark else QColor(205, 205, 208))
        if self.has_image() and self._has_alpha:  # checkerboard shows through transparent pixels
            painter.fillRect(QRectF(QPointF(0, 0), QSize(self.image_size())), self._checker)

    @staticmethod
    def _checker_brush() -> QBrush:
        tile = QPixmap(16, 16)
        tile.fill(QColor(255, 255, 255))
        p = QPainter(tile)
        p.fillRect(0, 0, 8, 8, QColor(204, 204, 204))
        p.fillRect(8, 8, 8, 8, QColor(204, 204, 204))
        p.end()
        return QBrush(tile)

    # -- mouse and keys ---------------------------------------------------------------------------

    def _scene_point(self, pos: QPointF) -> QPointF:
        """The image point under viewport position `pos`, keeping fractions of a pixel."""
        return self.viewportTransform().inverted()[0].map(pos)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        left = event.button() == Qt.MouseButton.LeftButton
        if event.button() == Qt.MouseButton.MiddleButton:
            self._middle_pan_from = pos.toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if left and self._near_split(pos):
            self._dragging_split = True
            event.accept()
            return
        if left and not self._space_held and self.has_image() and self._tool != PAN_TOOL:
            scene = self.mapToScene(pos.toPoint())
            if self._tool == SELECT_TOOL:
                self._select_origin = scene
            elif self._tool == LASSO_TOOL:
                self._lasso_points = [self._scene_point(pos)]
            else:
                self._stroking = True
                self.stroke_started.emit(self._scene_point(pos))
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        self._report_pointer(pos)
        if self._tool in PAINT_TOOLS:
            self._pointer = QPointF(pos)
            self.viewport().update()
        if self._middle_pan_from is not None:
            delta = pos.toPoint() - self._middle_pan_from
            self._middle_pan_from = pos.toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            return
        if self._dragging_split:
            width = self.image_size().width()
            self.set_split(self.mapToScene(pos.toPoint()).x() / width if width else 0.5)
            return
        if self._select_origin is not None:
            rect = self._selection_from(self._select_origin, self.mapToScene(pos.toPoint()))
            self.set_selection(rect)
            return
        if self._lasso_points is not None:
            point = self._scene_point(pos)
            if (self.mapFromScene(self._lasso_points[-1]) - pos.toPoint()).manhattanLength() >= LASSO_STEP_PX:
                self._lasso_points.append(point)
                self._show_selection_outline(QPolygonF(self._lasso_points))
            return
        if self._stroking:
            self.stroke_moved.emit(self._scene_point(pos))
            return
        near = self._near_split(pos)
        if event.buttons() == Qt.MouseButton.NoButton and near != self._hovering_split:
            self._hovering_split = near
            if near:
                self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            else:
                self._apply_tool_cursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        left = event.button() == Qt.MouseButton.LeftButton
        if event.button() == Qt.MouseButton.MiddleButton and self._middle_pan_from is not None:
            self._middle_pan_from = None
            self._apply_tool_cursor()
            return
        if self._dragging_split and left:
            self._dragging_split = False
            return
        if self._select_origin is not None and left:
            origin, self._select_origin = self._select_origin, None
            end = self.mapToScene(event.position().toPoint())
            moved = (self.mapFromScene(origin) - event.position().toPoint()).manhattanLength() > 2
            self.set_selection(self._selection_from(origin, end) if moved else None)  # a click deselects
            return
        if self._lasso_points is not None and left:
            points, self._lasso_points = self._lasso_points, None
            points.append(self._scene_point(event.position()))
            self.set_lasso(QPolygonF(points) if len(points) >= 3 else None)  # a click deselects
            self._show_selection_outline()
            return
        if self._stroking and left:
            self._stroking = False
            self.stroke_moved.emit(self._scene_point(event.position()))
            self.stroke_finished.emit()
            return
        super().mouseReleaseEvent(event)

    def _report_pointer(self, pos: QPointF | None) -> None:
        pixel = None
        if pos is not None and self.has_image():
            point = self.mapToScene(pos.toPoint())
            x, y = math.floor(point.x()), math.floor(point.y())
            if 0 <= x < self.image_size().width() and 0 <= y < self.image_size().height():
                pixel = QPoint(x, y)
        self.pointer_moved.emit(pixel)

    def leaveEvent(self, event) -> None:
        self._report_pointer(None)
        self._pointer = None
        self.viewport().update()
        super().leaveEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self._apply_tool_cursor()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self._apply_tool_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)
