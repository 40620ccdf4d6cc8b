"""A volume and its masks as a folder of per-slice PNG images, and back, exactly.

``export_images`` writes, along one axis of the canonical grid, an 8-bit windowed PNG
per slice (to look at and annotate), a lossless 16-bit PNG of the stored values, a
PNG layer per mask, and one ``manifest.json`` with the geometry and no patient
values (:mod:`viewer.image_export.manifest`). ``import_images`` rebuilds the volume
and any (outside-edited) mask layers on the original grid.

Qt-free and torch-free: numpy, Pillow and the readers/writers of ``viewer.io``.
"""

from viewer.image_export.export import export_images
from viewer.image_export.rebuild import import_images

__all__ = ["export_images", "import_images"]
