"""Segmenting a cohort: many studies, one model load per worker, resumable, one table.

The pieces, each in its own module:

- :mod:`viewer.batch.studies`: what to segment (folders, files, a manifest CSV) as a
  list of :class:`~viewer.batch.studies.Study` with stable, file-name-derived ids.
- :mod:`viewer.batch.study_task`: what a worker does with one study (the same
  "segment one study" code path as ``spleenscope segment``), with the model loaded
  once per worker.
- :mod:`viewer.batch.outputs`: where a study's files go and how they are committed
  atomically (a whole study folder appears at once, or not at all).
- :mod:`viewer.batch.results`: the ``results.csv`` columns and the final summary.
- :mod:`viewer.batch.local_engine` and :mod:`viewer.batch.ray_engine`: two ways of
  running study tasks (a process pool here, Ray Data on a cluster). Both hand
  finished rows to :func:`viewer.batch.runner.run_batch`, which owns progress,
  resuming and the table, so both engines give the same results.

Nothing here imports Qt; torch and ray are imported inside the functions that need them.
"""
