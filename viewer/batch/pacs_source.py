"""A study that lives on a PACS: retrieved once into OUTDIR/retrieved/<SeriesInstanceUID>/.

The PACS client stages every retrieve (a series folder appears only complete), so a
folder already there is a finished earlier retrieve and a rerun reuses it. A DICOMweb
password comes from ``SPLEENSCOPE_PACS_PASSWORD``: a worker never prompts.
"""

from __future__ import annotations

from pathlib import Path

from viewer.batch.studies import Study
from viewer.errors import SpleenScopeError

RETRIEVED_FOLDER = "retrieved"
IMAGE_MODALITIES = ("CT", "MR")


def _image_series(client, study_uid: str) -> str:
    series = [s for s in client.find_series(study_uid) if s.modality in IMAGE_MODALITIES]
    if len(series) != 1:
        raise SpleenScopeError(
            f"study {study_uid} has {len(series)} CT or MR series on {client.node.label}; "
            "give series_uid in the manifest"
        )
    return series[0].series_uid


def local_source(study: Study, outdir: str | Path) -> str:
    """The path to segment: the study's own, or its series retrieved from the PACS."""
    if not study.pacs:
        return study.source
    target = Path(outdir) / RETRIEVED_FOLDER
    if study.series_uid and (target / study.series_uid).is_dir():
        return str(target / study.series_uid)
    from viewer.pacs.client import open_client
    from viewer.pacs.nodes import resolve_node

    target.mkdir(parents=True, exist_ok=True)
    with open_client(resolve_node(study.pacs)) as client:
        series_uid = study.series_uid or _image_series(client, study.study_uid)
        if (target / series_uid).is_dir():
            return str(target / series_uid)
        return str(client.retrieve_series(study.study_uid, series_uid, target))
