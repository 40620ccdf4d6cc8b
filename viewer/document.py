"""The open study as one evented document that every view, panel and tool shares.

In the spirit of napari's ``components`` and 3D Slicer's scene: the *document* holds
what is open and what the user is looking at; widgets subscribe to its events and
draw what it says; tools change it through its methods. Qt-free (the window's
Qt signals are a bridge over these events, see ``viewer/ui/main_window.py``).

What it holds:

- ``volume`` (:class:`~viewer.volume.Volume` or None) and ``state``
  (:class:`~viewer.view_state.ViewState`: the cursor and the view options);
- ``overlays``: the mask layers (:class:`~viewer.overlays.OverlayStack`), one
  :class:`~viewer.overlay_render.LayerRenderer` each, each label's volume in mL,
  and ``mask_sources`` (layer name -> the file it was read from);
- ``window``: the display window (centre, width, preset key) in the volume's units;
- ``notices``: what the user should know about the open data (resampled mask, ...);
- ``review_pair``: the prediction / reference pair under review, when there is one.

Events (:class:`Signal`; ``connect(callable)``, called in order, synchronously):

- ``volume_changed(volume)``: a new volume (or None); every layer is gone;
- ``overlays_changed()``: layers added, removed or relabelled as a whole;
- ``labels_edited(names, region)``: the labels of layers ``names`` were changed in
  place inside ``region`` (a tuple of three slices): a view re-renders only if its
  slice crosses it, a renderer drops only its cached outlines;
- ``cursor_moved(world_xyz)``, ``view_options_changed(what)`` (from the ViewState);
- ``window_changed(center, width, preset_key)``, ``notices_changed(notices)``,
  ``review_changed(pair)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from viewer.overlay_render import LayerRenderer
from viewer.overlays import OverlayLayer, OverlayStack, label_volumes_ml
from viewer.view_state import ViewState
from viewer.volume import Volume

log = logging.getLogger(__name__)

#: A region of a volume: three slices, one per voxel axis.
Region = tuple[slice, slice, slice]


class Signal:
    """A list of callables run in order by :meth:`emit` (no Qt, no threads)."""

    def __init__(self) -> None:
        self._slots: list[Callable] = []

    def connect(self, slot: Callable) -> Callable:
        if slot not in self._slots:
            self._slots.append(slot)
        return slot

    def disconnect(self, slot: Callable) -> None:
        self._slots.remove(slot)

    def emit(self, *args) -> None:
        for slot in list(self._slots):
            slot(*args)


class Document:
    """The open volume, its masks, the cursor, the display window, notices, review."""

    def __init__(self) -> None:
        self.volume: Volume | None = None
        self.state: ViewState | None = None
        self.overlays = OverlayStack()
        self.renderers: dict[str, LayerRenderer] = {}
        #: layer name -> {label present: volume in mL}
        self.label_volumes: dict[str, dict[int, float]] = {}
        #: layer name -> the file the layer was read from
        self.mask_sources: dict[str, Path] = {}
        self.window: tuple[float, float, str | None] = (40.0, 400.0, None)
        self.notices: list[str] = []
        self.review_pair = None

        self.volume_changed = Signal()
        self.overlays_changed = Signal()
        self.labels_edited = Signal()
        self.cursor_moved = Signal()
        self.view_options_changed = Signal()
        self.window_changed = Signal()
        self.notices_changed = Signal()
        self.review_changed = Signal()

    # ------------------------------------------------------------------ volume
    def set_volume(self, volume: Volume | None, radiological: bool = True,
                   crosshair_visible: bool = True, zoom_linked: bool = False) -> None:
        """Open ``volume`` (None: close it); every layer, source and notice goes."""
        self.volume = volume
        self.overlays.clear()
        self.renderers.clear()
        self.label_volumes.clear()
        self.mask_sources.clear()
        self.notices = []
        self.review_pair = None
        self.state = None
        if volume is not None:
            state = ViewState(volume.affine, volume.shape)
            state.crosshair_visible = crosshair_visible
            state.zoom_linked = zoom_linked
            state.set_radiological(radiological)
            state.subscribe(self._state_changed)
            self.state = state
        self.volume_changed.emit(volume)

    def _state_changed(self, what: str) -> None:
        if what == "cursor":
            self.cursor_moved.emit(self.state.cursor_world)
        else:
            self.view_options_changed.emit(what)

    # ------------------------------------------------------------------ layers
    def add_overlay(self, layer: OverlayLayer, source: str | Path | None = None) -> None:
        """Add or replace (by name) a mask layer on the volume's grid."""
        if self.volume is None:
            raise ValueError("open a volume before adding an overlay")
        if tuple(layer.labels.shape) != self.volume.shape:
            raise ValueError(f"overlay {layer.name!r} has shape {layer.labels.shape}, "
                             f"the volume {self.volume.shape}")
        self.overlays.add(layer)
        self.renderers[layer.name] = LayerRenderer(layer)
        self.label_volumes[layer.name] = self._measure(layer.labels)
        if source is None:
            self.mask_sources.pop(layer.name, None)
        else:
            self.mask_sources[layer.name] = Path(source)
        self.overlays_changed.emit()

    def remove_overlay(self, name: str) -> None:
        self.overlays.remove(name)
        self.renderers.pop(name, None)
        self.label_volumes.pop(name, None)
        self.mask_sources.pop(name, None)
        self.overlays_changed.emit()

    def relabelled(self) -> None:
        """Labels changed anywhere (a fill, an undo, a new set of labels): every
        renderer starts afresh and every layer is measured again."""
        for name, renderer in self.renderers.items():
            renderer.invalidate()
            layer = self.overlays.get(name)
            if layer is not None:
                self.label_volumes[name] = self._measure(layer.labels)
        self.overlays_changed.emit()

    def edit_labels(self, names, region: Region) -> None:
        """Layers ``names`` were changed in place inside ``region`` (a brush stroke):
        their cached outlines go, and whoever draws them re-renders that region.
        Volumes are measured again at :meth:`relabelled` (the stroke's end)."""
        names = tuple(name for name in names if name in self.renderers)
        for name in names:
            self.renderers[name].invalidate(region)
        if names:
            self.labels_edited.emit(names, region)

    def _measure(self, labels: np.ndarray) -> dict[int, float]:
        return label_volumes_ml(labels, self.volume.voxel_volume_mm3)

    # ------------------------------------------------------- window, notices
    def set_window(self, center: float, width: float, preset_key: str | None = None) -> None:
        """The display window in the volume's units (HU for CT); width at least 1."""
        self.window = (float(center), max(float(width), 1.0), preset_key)
        self.window_changed.emit(*self.window)

    def add_notice(self, text: str) -> None:
        self.notices.append(text)
        self.notices_changed.emit(list(self.notices))

    def set_review_pair(self, pair) -> None:
        """The :class:`~viewer.review.ReviewPair` under review (None: none)."""
        self.review_pair = pair
        self.review_changed.emit(pair)


def region_crosses_slice(region: Region, axis: int, index: int) -> bool:
    """Whether slice ``index`` along voxel ``axis`` passes through ``region``."""
    along = region[axis]
    return along.start <= index < along.stop
