"""The window side of the document: the views and the window's own panels follow
the events of :class:`viewer.document.Document` (``self.document``), and the
public methods tools call change it (``set_volume``, ``set_overlay``,
``open_mask``, ``set_window``, ``set_cursor_world``, ...). The document's events
are re-emitted as the window's Qt signals (``volume_changed``, ...).

A mixin of :class:`viewer.ui.main_window.MainWindow` (the shell).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from viewer.document import region_crosses_slice
from viewer.errors import SpleenScopeError
from viewer.io.dicom_seg import seg_label_colors, seg_label_names
from viewer.io.file_names import stem_of
from viewer.overlays import (
    OverlayLayer,
    OverlayStack,
    colors_for_names,
    guess_label_names,
    load_mask_for_volume,
    present_labels,
)
from viewer.slicing import SLICE_AXIS
from viewer.ui.readout_panel import readout_values
from viewer.view_state import ViewState
from viewer.volume import Volume
from viewer.window_level import (
    auto_window,
    default_window,
    drag_window,
    levels_from_window,
    looks_like_ct,
    preset_by_key,
)

log = logging.getLogger(__name__)

class DocumentDisplay:
    """Shows the document in the views and panels of the main window."""

    # ------------------------------------------------ the document, shown
    # The open study lives in ``self.document`` (viewer/document.py, Qt-free); these
    # read it, the methods below change it, and the ``_shown_*`` handlers bring the
    # views and panels in line with its events and re-emit them as Qt signals.
    @property
    def volume(self) -> Volume | None:
        return self.document.volume

    @property
    def state(self) -> ViewState | None:
        return self.document.state

    @property
    def overlays(self) -> OverlayStack:
        return self.document.overlays

    @property
    def mask_sources(self) -> dict[str, Path]:
        """overlay layer name -> the file ``open_mask`` read it from"""
        return self.document.mask_sources

    @property
    def notices(self) -> list[str]:
        return self.document.notices

    @property
    def window_center_width(self) -> tuple[float, float]:
        center, width, _preset = self.document.window
        return center, width

    def _follow_document(self) -> None:
        document = self.document
        document.volume_changed.connect(self._shown_volume)
        document.overlays_changed.connect(self._shown_overlays)
        document.labels_edited.connect(self._shown_label_edit)
        document.cursor_moved.connect(self._shown_cursor)
        document.view_options_changed.connect(self._shown_view_options)
        document.window_changed.connect(self._shown_window)
        document.notices_changed.connect(
            lambda notices: self.info_panel.show_volume(self.volume, notices))

    def set_volume(self, volume: Volume | None) -> None:
        """Show ``volume`` now (replacing any other and dropping its overlays)."""
        self.document.set_volume(volume, radiological=self.act_radiological.isChecked(),
                                 crosshair_visible=self.act_crosshair.isChecked(),
                                 zoom_linked=self.act_link_zoom.isChecked())

    def _shown_volume(self, volume: Volume | None) -> None:
        if volume is None:
            for view in self.views.values():
                view.set_volume(None, np.eye(4), None)
            self.histogram_panel.set_volume_array(None)
            self.info_panel.show_volume(None)
            self.setWindowTitle("SpleenScope")
            self._shown_overlays()
            self.volume_changed.emit(None)
            return
        is_ct = looks_like_ct(volume)
        self._value_unit = "HU" if is_ct else ""
        low, high = volume.value_range
        self._value_span = max(high - low, 1.0)
        for preset_action in self._preset_actions:
            preset_action.setEnabled(True)
        for view in self.views.values():
            view.set_volume(volume.array, volume.affine, self.state)
            view.set_crosshair_visible(self.state.crosshair_visible)
        self.histogram_panel.set_volume_array(volume.array)
        self.apply_preset("header")
        self.info_panel.show_volume(volume)
        self.setWindowTitle(f"SpleenScope — {volume.description or 'volume'}")
        self._shown_overlays()
        self.volume_changed.emit(volume)

    # ---------------------------------------------------------------- overlays
    def set_overlay(self, layer: OverlayLayer) -> None:
        """Add or replace (by name) an overlay layer and draw it."""
        self.document.add_overlay(layer)

    def remove_overlay(self, name: str) -> None:
        self.document.remove_overlay(name)

    def refresh_overlays(self) -> None:
        """Redraw all overlays after their labels changed in place."""
        self.document.relabelled()

    def open_mask(self, path: str | Path, name: str | None = None) -> OverlayLayer:
        """Load a label file onto the volume's grid and show it as an overlay.

        Raises :class:`SpleenScopeError` (unreadable file, no overlap) for callers
        to report; the menu action shows it in a dialog.
        """
        if self.volume is None:
            raise SpleenScopeError("open an image before its mask")
        labels, notice = load_mask_for_volume(path, self.volume)
        present = present_labels(labels)
        modality = self.volume.modality or ("CT" if looks_like_ct(self.volume) else "MR")
        names = seg_label_names(path) or guess_label_names(present, modality)
        layer = OverlayLayer(
            name=name or stem_of(path),
            labels=labels,
            colors={**colors_for_names(names), **seg_label_colors(path)},
            label_names=names,
            opacity=0.5,
        )
        self.document.add_overlay(layer, source=path)
        if notice:
            self.document.add_notice(notice)
            self.statusBar().showMessage(notice, 10000)
        return layer

    def _shown_overlays(self) -> None:
        document = self.document
        pairs = [(layer, document.renderers[layer.name]) for layer in document.overlays]
        for view in self.views.values():
            view.set_overlays(pairs)
        self.overlay_panel.set_stack(document.overlays, document.label_volumes)
        self._show_cursor_readout()
        self.overlays_changed.emit()

    def _shown_label_edit(self, _names, region) -> None:
        """Labels changed in place inside ``region``: re-render the views whose
        slice crosses it (their overlay images only: a brush keeps up with the hand)."""
        for view in self.views.values():
            if view.state is not None and region_crosses_slice(
                    region, SLICE_AXIS[view.view], view.slice_index):
                view.render_overlays()

    def _overlay_settings_changed(self) -> None:
        for view in self.views.values():
            view.render_overlays()
        self._show_cursor_readout()

    def set_overlays_visible(self, visible: bool) -> None:
        for layer in self.overlays:
            layer.visible = visible
        self.overlay_panel.set_stack(self.overlays, self.document.label_volumes)
        self._overlay_settings_changed()

    def toggle_overlays(self) -> None:
        self.set_overlays_visible(not any(layer.visible for layer in self.overlays))

    def toggle_outline(self) -> None:
        layers = list(self.overlays)
        mode = "fill" if layers and all(la.mode == "outline" for la in layers) else "outline"
        for layer in layers:
            layer.mode = mode
        self.overlay_panel.set_stack(self.overlays, self.document.label_volumes)
        self._overlay_settings_changed()

    # ------------------------------------------------------------------ cursor
    def set_cursor_world(self, xyz) -> None:
        if self.state is not None:
            self.state.set_cursor_world(np.asarray(xyz, float))

    def cursor_world(self) -> np.ndarray | None:
        return None if self.state is None else self.state.cursor_world

    def go_to_slice(self, view_name: str, index: int) -> None:
        if self.state is not None:
            self.state.set_slice(view_name, index)

    def _shown_cursor(self, world) -> None:
        for view in self.views.values():
            view.refresh()
        if not self._hovering:
            self._show_cursor_readout()
        self.cursor_moved.emit(world)

    def _shown_view_options(self, what: str) -> None:
        if what == "orientation":
            for view in self.views.values():
                view.apply_orientation()
                view.refresh(force=True)
        elif what == "crosshair":
            for view in self.views.values():
                view.set_crosshair_visible(self.state.crosshair_visible)

    # ----------------------------------------------------------- window/level
    def set_window(self, center: float, width: float, preset_key: str | None = None) -> None:
        """Display window of all three views, in the volume's units (HU for CT)."""
        self.document.set_window(center, width, preset_key)

    def _shown_window(self, center: float, width: float, preset_key: str | None) -> None:
        levels = levels_from_window(center, width)
        for view in self.views.values():
            view.set_levels(levels, (center, width))
        self.histogram_panel.show_window(center, width, preset_key)
        self.wl_status.setText(f"W {width:.0f}  L {center:.0f}")

    def apply_preset(self, key: str) -> None:
        """``key``: a preset from resources/window_presets.json, ``header`` or ``auto``."""
        if self.volume is None:
            return
        if key == "header":
            center, width = default_window(self.volume)
        elif key == "auto":
            center, width = auto_window(self.volume.array)
        else:
            preset = preset_by_key(key)
            center, width = preset.center, preset.width
        self.set_window(center, width, preset_key=key)

    def _window_dragged(self, dx: float, dy: float) -> None:
        center, width = drag_window(*self.window_center_width, dx, dy, self._value_span)
        self.set_window(center, width)

    def _lookup_table_changed(self, lut) -> None:
        for view in self.views.values():
            view.set_lookup_table(lut)

    # ---------------------------------------------------------------- readout
    def _hovered(self, view: str, ijk) -> None:
        if self.volume is None:
            return
        if ijk is None:
            self._hovering = False
            self._show_cursor_readout()
            return
        self._hovering = True
        values = readout_values(self.volume, self.overlays, ijk, self._value_unit)
        self.readout_panel.show_values(values, f"mouse · {view}")

    def _show_cursor_readout(self) -> None:
        if self.volume is None or self.state is None:
            return
        values = readout_values(self.volume, self.overlays, self.state.cursor_voxel,
                                self._value_unit)
        self.readout_panel.show_values(values, "crosshair")
