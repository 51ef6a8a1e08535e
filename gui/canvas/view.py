"""The image view: zoom and pan, the damage-mask overlay, a rectangle selection
and a before/after compare slider.

Scene coordinates are image pixels: the image sits at (0, 0) with its own size.
Zoom is the view's scale (1.0 = 100%); at 200% and above pixels are drawn crisp
(nearest neighbour), below it smoothly. Pan with the scroll bars, the middle
button, Space + drag, or a plain drag when the pan tool is active.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPalette, QPen,
                           QPixmap, QTransform, QWheelEvent)
from PySide6.QtWidgets import (QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene,
                               QGraphicsView, QStyleOptionGraphicsItem, QWidget)

MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
CRISP_ZOOM = 2.0          # from this zoom on, pixels are drawn as sharp squares
WHEEL_STEP = 1.0015       # zoom factor per wheel angle unit (120 units = one notch, about x1.2)
BUTTON_STEP = 1.25        # zoom factor of Zoom In / Zoom Out
SPLIT_GRAB_PX = 8         # how near (viewport pixels) the compare divider can be grabbed

PAN_TOOL = "pan"
SELECT_TOOL = "select"


class ClippedPixmapItem(QGraphicsPixmapItem):
    """A pixmap drawn only left of a split line at `split` (0..1 of its width):
    the 'before' side of the compare slider."""

    def __init__(self) -> None:
        super().__init__()
        self.split = 0.5

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        pixmap = self.pixmap()
        painter.save()
        painter.setClipRect(QRectF(0, 0, pixmap.width() * self.split, pixmap.height()))
        super().paint(painter, option, widget)
        painter.restore()


class SelectionItem(QGraphicsRectItem):
    """The selection outline: black and white dashes, one screen pixel wide at any zoom."""

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = self.rect()
        light = QPen(QColor(255, 255, 255), 0)
        dark = QPen(QColor(0, 0, 0), 0, Qt.PenStyle.CustomDashLine)
        dark.setDashPattern([4, 4])
        painter.setBrush(QColor(80, 160, 255, 40))
        painter.setPen(light)
        painter.drawRect(rect)
        painter.setPen(dark)
        painter.drawRect(rect)


class ImageView(QGraphicsView):
    """Shows one image with optional mask overlay, selection and compare slider."""

    zoom_changed = Signal(float)          # the new zoom, 1.0 = 100%
    selection_changed = Signal(object)    # QRect in image pixels, or None

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._image_item = QGraphicsPixmapItem()
        self._before_item = ClippedPixmapItem()
        self._mask_item = QGraphicsPixmapItem()
        self._selection_item = SelectionItem()
        for z, item in enumerate((self._image_item, self._before_item, self._mask_item, self._selection_item)):
            item.setZValue(z)
            item.setVisible(False)
            self.scene().addItem(item)
        self._mask_item.setOpacity(0.5)

        self._has_alpha = False
        self._checker = self._checker_brush()
        self._fit_on_resize = True        # until the person zooms, the image follows the window size
        self._tool = PAN_TOOL
        self._selection: QRect | None = None
        self._select_origin: QPointF | None = None
        self._space_held = False
        self._middle_pan_from: QPoint | None = None
        self._compare_enabled = False
        self._dragging_split = False
        self._hovering_split = False
        self._mask_visible = True

        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # set_zoom anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        # the compare divider is drawn in viewport coordinates over the scene: repaint it whole
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
        else fits the new image and clears the selection."""
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
            self.fit_to_window()
        self._sync_overlays()

    def set_mask_overlay(self, overlay: QImage | None) -> None:
        """The damage overlay (same size as the image), drawn semi-transparent over it."""
        self._mask_item.setPixmap(QPixmap() if overlay is None else QPixmap.fromImage(overlay))
        self._sync_overlays()

    def set_mask_visible(self, visible: bool) -> None:
        self._mask_visible = visible
        self._sync_overlays()

    def set_compare_image(self, image: QImage | None) -> None:
        """The 'before' image for the compare slider; stretched over the current image
        if their sizes differ (e.g. after upscaling)."""
        self._before_item.setPixmap(QPixmap() if image is None else QPixmap.fromImage(image))
        self._sync_overlays()

    def set_compare_enabled(self, enabled: bool) -> None:
        self._compare_enabled = enabled
        self._sync_overlays()

    def compare_enabled(self) -> bool:
        return self._compare_enabled

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
        before = self._before_item.pixmap()
        self._before_item.setVisible(shown and self._compare_enabled and not before.isNull())
        if not before.isNull() and shown:
            self._before_item.setTransform(QTransform.fromScale(size.width() / before.width(),
                                                                size.height() / before.height()))
        mask = self._mask_item.pixmap()
        self._mask_item.setVisible(shown and self._mask_visible and not mask.isNull()
                                   and mask.size() == size)
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

    def fit_to_window(self) -> None:
        """Show the whole image as large as the viewport allows; keeps fitting as the window resizes."""
        if self.has_image():
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
            if self.zoom() > MAX_ZOOM:
                self.set_zoom(MAX_ZOOM)
        self._fit_on_resize = True
        self._zoom_updated()

    def _zoom_updated(self) -> None:
        self._update_smoothing()
        self.zoom_changed.emit(self.zoom())

    def _update_smoothing(self) -> None:
        mode = (Qt.TransformationMode.FastTransformation if self.zoom() >= CRISP_ZOOM
                else Qt.TransformationMode.SmoothTransformation)
        for item in (self._image_item, self._before_item, self._mask_item):
            item.setTransformationMode(mode)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if not self.has_image() or not delta:
            return super().wheelEvent(event)
        self.set_zoom(self.zoom() * WHEEL_STEP ** delta, anchor=event.position().toPoint())
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_on_resize:
            self.fit_to_window()

    # -- tools and selection ----------------------------------------------------------------------

    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        """PAN_TOOL: dragging moves the image; SELECT_TOOL: dragging draws a selection."""
        if tool not in (PAN_TOOL, SELECT_TOOL):
            raise ValueError(f"unknown tool {tool!r}")
        self._tool = tool
        self._apply_tool_cursor()

    def selection(self) -> QRect | None:
        """The selected rectangle in image pixels, or None."""
        return QRect(self._selection) if self._selection is not None else None

    def set_selection(self, rect: QRect | None) -> None:
        """Select `rect` (clipped to the image; empty means none) and emit selection_changed if it differs."""
        if rect is not None:
            rect = rect.normalized().intersected(QRect(QPoint(0, 0), self.image_size()))
            if rect.isEmpty():
                rect = None
        if rect == self._selection:
            return
        self._selection = rect
        self._selection_item.setVisible(rect is not None)
        if rect is not None:
            self._selection_item.setRect(QRectF(rect))
        self.selection_changed.emit(self.selection())

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

    def _apply_tool_cursor(self) -> None:
        panning = self._space_held or self._tool == PAN_TOOL
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag if panning else QGraphicsView.DragMode.NoDrag)
        self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if panning else Qt.CursorShape.CrossCursor)

    # -- compare divider ----------------------------------------------------------------------------

    def _split_viewport_x(self) -> float | None:
        if not self._before_item.isVisible():
            return None
        return self.mapFromScene(QPointF(self.split * self.image_size().width(), 0)).x()

    def _near_split(self, pos: QPointF) -> bool:
        x = self._split_viewport_x()
        return x is not None and abs(pos.x() - x) <= SPLIT_GRAB_PX

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        x = self._split_viewport_x()
        if x is None:
            return
        painter.save()
        painter.resetTransform()  # draw in viewport pixels: the divider looks the same at any zoom
        image_box = self.mapFromScene(QRectF(QPointF(0, 0), QSize(self.image_size()))).boundingRect()
        visible = image_box.intersected(self.viewport().rect())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
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
        painter.restore()

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

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton:
            self._middle_pan_from = pos.toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self._near_split(pos):
            self._dragging_split = True
            event.accept()
            return
        if (event.button() == Qt.MouseButton.LeftButton and self._tool == SELECT_TOOL
                and not self._space_held and self.has_image()):
            self._select_origin = self.mapToScene(pos.toPoint())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
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
        near = self._near_split(pos)
        if event.buttons() == Qt.MouseButton.NoButton and near != self._hovering_split:
            self._hovering_split = near
            if near:
                self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            else:
                self._apply_tool_cursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton and self._middle_pan_from is not None:
            self._middle_pan_from = None
            self._apply_tool_cursor()
            return
        if self._dragging_split and event.button() == Qt.MouseButton.LeftButton:
            self._dragging_split = False
            return
        if self._select_origin is not None and event.button() == Qt.MouseButton.LeftButton:
            origin, self._select_origin = self._select_origin, None
            end = self.mapToScene(event.position().toPoint())
            moved = (self.mapFromScene(origin) - event.position().toPoint()).manhattanLength() > 2
            self.set_selection(self._selection_from(origin, end) if moved else None)  # a click deselects
            return
        super().mouseReleaseEvent(event)

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
