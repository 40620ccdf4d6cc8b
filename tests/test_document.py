"""The Qt-free document: what it holds and the events it sends, without any window."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from viewer.document import Document, region_crosses_slice
from viewer.overlays import OverlayLayer
from viewer.phantom import make_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(spacing=(2.0, 2.0, 4.0), field_of_view_mm=(160.0, 140.0, 120.0))


def _recorder(document: Document) -> list:
    seen = []
    for name in ("volume_changed", "overlays_changed", "labels_edited", "cursor_moved",
                 "view_options_changed", "window_changed", "notices_changed"):
        getattr(document, name).connect(lambda *args, name=name: seen.append((name, args)))
    return seen


def test_volume_layers_and_their_volumes(phantom):
    document = Document()
    seen = _recorder(document)
    volume = phantom.volume()
    document.set_volume(volume)
    assert seen == [("volume_changed", (volume,))] and document.state is not None
    mask = phantom.canonical_mask().copy()
    document.add_overlay(OverlayLayer("spleen", mask), source="/data/spleen.nii.gz")
    expected_ml = np.count_nonzero(mask) * abs(np.linalg.det(volume.affine[:3, :3])) / 1000
    assert document.label_volumes["spleen"] == {1: pytest.approx(expected_ml)}
    assert str(document.mask_sources["spleen"]) == "/data/spleen.nii.gz"
    with pytest.raises(ValueError, match="shape"):
        document.add_overlay(OverlayLayer("bad", np.zeros((2, 2, 2), np.uint8)))

    mask[mask > 0] = 0  # erased in place, then announced as a whole
    document.relabelled()
    assert document.label_volumes["spleen"] == {}
    document.set_volume(None)  # closing drops every layer and source
    assert len(document.overlays) == 0 and document.mask_sources == {}
    assert [name for name, _ in seen] == ["volume_changed", "overlays_changed",
                                          "overlays_changed", "volume_changed"]


def test_an_edit_announces_its_region_and_drops_cached_outlines(phantom):
    document = Document()
    document.set_volume(phantom.volume())
    labels = phantom.canonical_mask().copy()
    layer = OverlayLayer("mask", labels, mode="outline")
    document.add_overlay(layer)
    renderer = document.renderers["mask"]
    k = int(np.argwhere(labels)[0][2])
    before = renderer.render("axial", k, labels[:, :, k]).copy()
    seen = _recorder(document)
    region = (slice(0, labels.shape[0]), slice(0, labels.shape[1]), slice(k, k + 1))
    labels[:, :, k] = 0
    document.edit_labels(["mask", "no such layer"], region)
    assert seen == [("labels_edited", (("mask",), region))]
    after = renderer.render("axial", k, labels[:, :, k])
    assert before[..., 3].any() and not after[..., 3].any()  # not the cached outline
    assert region_crosses_slice(region, 2, k) and not region_crosses_slice(region, 2, k + 1)


def test_cursor_window_and_notices_are_events(phantom):
    document = Document()
    document.set_volume(phantom.volume(), radiological=False)
    assert document.state.radiological is False
    seen = _recorder(document)
    document.state.set_slice("axial", 3)
    document.set_window(50.0, 0.2, "abdomen")
    document.add_notice("mask resampled onto the image grid")
    names = [name for name, _ in seen]
    assert names == ["cursor_moved", "window_changed", "notices_changed"]
    assert seen[1][1] == (50.0, 1.0, "abdomen")  # the width is at least 1
    assert np.allclose(seen[0][1][0], document.state.cursor_world)
    assert document.notices == ["mask resampled onto the image grid"]


def test_the_document_needs_no_qt():
    assert "viewer.document" in sys.modules
    import viewer.document as module

    assert "PyQt5" not in open(module.__file__).read()
