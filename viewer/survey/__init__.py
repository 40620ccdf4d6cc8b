"""A survey of a data folder: one row per DICOM series or volume file, from headers.

``collect.survey_folder`` walks the tree and reads headers only (pixels only where
asked, for intensity percentiles from a sample of slices); ``outliers`` flags the
rows that stand out, with the reason; ``report`` writes the self-contained HTML
(matplotlib plots embedded), CSV and JSON. Patient names, IDs and dates never
reach a row: patients and studies are only counted.

Qt-free and torch-free.
"""
