"""Data package: the bundled model files and their model cards.

Found through :mod:`viewer.package_data` (see :func:`segmentation.registry.bundled_model_path`);
no code lives here.
"""
