"""Write the spleen volume report as a DICOM Structured Report (TID 1500) beside its SEG.

The report is a Comprehensive 3D SR holding one TID 1500 "Imaging Measurement
Report" with one volumetric ROI group (TID 1411) for the spleen segment of a DICOM
SEG SpleenScope wrote: the spleen volume in mL, the lower and upper ends of the
volume range (as volume measurements with the SNOMED "Minimum" / "Maximum"
derivation) when the segmentation gave one, the self-check verdict when there was
one and, when the spleen runs past the scan, that the volume is only a lower bound
(qualitative evaluations, in SpleenScope's private coding scheme :data:`CODING_SCHEME`:
DICOM's numeric value qualifiers have no "at least"), and the model's name (algorithm identification). It
references the SEG and, through it, the source series, and lists both as evidence,
so a PACS viewer shows it in the same study and links it to the right images.

Like the SEG, the report is de-identified: patient and study attributes are copied
from the SEG file (already ``ANONYMOUS^`` with a pseudonymous ID), never from the
source images. :mod:`viewer.pacs.sending` files it under the real patient only in
the copy sent to the PACS.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from viewer.atomic import atomic_path
from viewer.errors import SpleenScopeError
from viewer.io.file_names import DICOM, is_format

log = logging.getLogger(__name__)

CODING_SCHEME = "99SPLEENSCOPE"  # private coding scheme ("99" prefix, PS3.16 8.2)
SOFTWARE_VERSION = "0.1.0"
SPLEEN_SEGMENT_NUMBER = 1


@dataclass(frozen=True)
class VolumeReport:
    """What the report states. ``volume_range_ml`` and ``verdict`` are left out of the
    SR when the segmentation did not produce them (never filled with a guess)."""

    volume_ml: float
    model_name: str
    volume_range_ml: tuple[float, float] | None = None
    verdict: str | None = None
    volume_is_lower_bound: bool = False  # the spleen runs past the scan


def volume_report_from_summary(summary: dict) -> VolumeReport:
    """The report facts from a segmentation's JSON summary (what ``segment --json``
    prints, :meth:`segmentation.study.StudyResult.summary`).

    The volume range (``volume_ml_range``: [low, high]) and the verdict
    (``quality.verdict``) are taken when the segmentation produced them and left out
    otherwise.
    """
    span = summary.get("volume_ml_range", summary.get("volume_range_ml"))
    volume_range = None
    if isinstance(span, (list, tuple)) and len(span) == 2 and None not in span:
        volume_range = (float(span[0]), float(span[1]))
    verdict = summary.get("quality", summary.get("verdict"))
    if isinstance(verdict, dict):
        verdict = verdict.get("verdict")
    return VolumeReport(
        volume_ml=float(summary["volume_ml"]),
        model_name=str(summary.get("model") or ""),
        volume_range_ml=volume_range,
        verdict=str(verdict) if verdict else None,
        volume_is_lower_bound=summary.get("volume_is_lower_bound") is True,
    )


def _code_value(text: str) -> str:
    value = re.sub(r"[^A-Z0-9]+", "-", text.upper()).strip("-")
    return (value or "UNKNOWN")[:16]


def _read_seg(seg_path: Path) -> pydicom.Dataset:
    try:
        seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise SpleenScopeError(f"{seg_path.name}: cannot read the DICOM SEG ({error})") from None
    if seg.get("Modality") != "SEG" or "ReferencedSeriesSequence" not in seg:
        raise SpleenScopeError(
            f"{seg_path.name}: not a DICOM SEG with a referenced series; a volume report "
            "references the SEG it measures"
        )
    return seg


def _source_stubs(seg: pydicom.Dataset) -> list[pydicom.Dataset]:
    """Minimal datasets naming the SEG's source images, for the SR's evidence list."""
    stubs = []
    for series in seg.ReferencedSeriesSequence:
        for instance in series.get("ReferencedInstanceSequence", []):
            stub = pydicom.Dataset()
            stub.StudyInstanceUID = seg.StudyInstanceUID
            stub.SeriesInstanceUID = series.SeriesInstanceUID
            stub.SOPClassUID = instance.ReferencedSOPClassUID
            stub.SOPInstanceUID = instance.ReferencedSOPInstanceUID
            for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex"):
                setattr(stub, keyword, seg.get(keyword, ""))
            stubs.append(stub)
    return stubs


def _measurements(report: VolumeReport, algorithm) -> list:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    milliliter = hd.sr.CodedConcept("mL", "UCUM", "milliliter")
    measurements = [
        hd.sr.Measurement(
            name=codes.SCT.Volume,
            value=round(float(report.volume_ml), 3),
            unit=milliliter,
            algorithm_id=algorithm,
        )
    ]
    if report.volume_range_ml is not None:
        low, high = sorted(float(v) for v in report.volume_range_ml)
        for derivation, value in ((codes.SCT.Minimum, low), (codes.SCT.Maximum, high)):
            measurements.append(
                hd.sr.Measurement(
                    name=codes.SCT.Volume,
                    value=round(value, 3),
                    unit=milliliter,
                    derivation=derivation,
                    algorithm_id=algorithm,
                )
            )
    return measurements


def build_volume_report_sr(report: VolumeReport, seg: pydicom.Dataset) -> pydicom.Dataset:
    """The SR dataset for ``report`` measuring segment 1 of ``seg`` (a SEG header)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if not report.model_name:
        raise SpleenScopeError("a volume report needs the name of the model that made the mask")
    algorithm = hd.sr.AlgorithmIdentification(name=report.model_name[:64], version=SOFTWARE_VERSION)
    source_series = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    evaluations = []
    if report.verdict:
        evaluations.append(
            hd.sr.QualitativeEvaluation(
                name=hd.sr.CodedConcept("QCVERDICT", CODING_SCHEME, "Segmentation self-check"),
                value=hd.sr.CodedConcept(
                    _code_value(report.verdict), CODING_SCHEME, report.verdict[:64]
                ),
            )
        )
    if report.volume_is_lower_bound:
        evaluations.append(
            hd.sr.QualitativeEvaluation(
                name=hd.sr.CodedConcept("VOLCOMPLETE", CODING_SCHEME, "Volume completeness"),
                value=hd.sr.CodedConcept(
                    "LOWERBOUND", CODING_SCHEME, "Lower bound: spleen runs past the scan"
                ),
            )
        )
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Spleen"),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=SPLEEN_SEGMENT_NUMBER,
            source_series=hd.sr.SourceSeriesForSegmentation(source_series),
        ),
        finding_type=codes.SCT.Spleen,
        algorithm_id=algorithm,
        measurements=_measurements(report, algorithm),
        qualitative_evaluations=evaluations or None,
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="SpleenScope", manufacturer_name="SpleenScope"
        ),
    )
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg, *_source_stubs(seg)],
        content=content[0],
        series_instance_uid=generate_uid(),
        series_number=int(seg.get("SeriesNumber") or 0) + 1,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="SpleenScope",
        is_complete=True,
        series_description="SpleenScope spleen volume",
    )
    if evaluations:
        scheme = pydicom.Dataset()
        scheme.CodingSchemeDesignator = CODING_SCHEME
        scheme.CodingSchemeName = "SpleenScope self-check verdicts"
        scheme.CodingSchemeResponsibleOrganization = "SpleenScope"
        sr.CodingSchemeIdentificationSequence = [scheme]
    return sr


def check_report_request(report_path: Path, seg_path: Path, overwrite: bool) -> None:
    """Refuse a report request before any work: it needs a DICOM SEG output to
    reference, a .dcm name of its own, and no existing file unless overwriting."""
    report_path, seg_path = Path(report_path), Path(seg_path)
    if not is_format(seg_path, DICOM.key):
        raise SpleenScopeError(
            "--report needs the mask written as a DICOM SEG (-o OUT.dcm) for the report to "
            "reference"
        )
    if not is_format(report_path, DICOM.key):
        raise SpleenScopeError(f"{report_path.name}: a DICOM SR file name must end in .dcm")
    if report_path.resolve() == seg_path.resolve():
        raise SpleenScopeError(
            f"{report_path.name}: the report must not replace its SEG; choose another name"
        )
    if report_path.exists() and not overwrite:
        raise SpleenScopeError(
            f"{report_path}: already exists; choose another name or pass --overwrite"
        )


def save_volume_report_sr(
    report: VolumeReport, seg_path: str | Path, path: str | Path, *, overwrite: bool = False
) -> Path:
    """Write the report for the SEG at ``seg_path`` to ``path`` (.dcm), atomically."""
    seg_path, path = Path(seg_path), Path(path)
    check_report_request(path, seg_path, overwrite)
    sr = build_volume_report_sr(report, _read_seg(seg_path))
    with atomic_path(path) as temporary:
        sr.save_as(temporary, enforce_file_format=True)
    log.info("wrote DICOM SR %s", path.name)
    return path
