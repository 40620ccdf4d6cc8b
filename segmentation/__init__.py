"""SpleenScope's segmentation engine: numpy, scipy and torch only (never Qt).

The pieces, one idea per module:

- :mod:`segmentation.devices`: pick CUDA / MPS / CPU and describe it.
- :mod:`segmentation.unet`: the 2D UNet.
- :mod:`segmentation.config`: every preprocessing and architecture setting a model needs.
- :mod:`segmentation.preprocessing`: HU window, in-plane resampling, padding, and their exact inverse.
- :mod:`segmentation.model_file`: one torch file per model (weights + config + metadata).
- :mod:`segmentation.inference`: slice-by-slice inference with progress and cancel.
- :mod:`segmentation.postprocess`: threshold, largest component, fill holes.
- :mod:`segmentation.measurements`: spleen volume, extent, splenomegaly flag.
- :mod:`segmentation.metrics`: Dice, IoU, HD95, ASSD in mm, per-slice Dice.
- :mod:`segmentation.registry`: bundled and user models, the active model of each modality.
- :mod:`segmentation.study`: segment one study start to finish (modality, model choice,
  inference, volume range, verdict): what ``segment``, ``batch`` and the window call.
- :mod:`segmentation.uncertainty`: per-voxel uncertainty, volume range, uncertain slices.
- :mod:`segmentation.quality`: the ``ok`` / ``check`` / ``failed`` verdict and its reasons.
- :mod:`segmentation.model_comparison`: a new model against the active one, same cases.
- :mod:`segmentation.datasets`, :mod:`segmentation.augmentation`,
  :mod:`segmentation.training`: training from MSD folders or (image, label) pairs;
  :mod:`segmentation.train_bundled`, :mod:`segmentation.ct_geometries` and
  :mod:`segmentation.train_mr` rebuild and score the bundled CT and MR models.
"""
