"""Tiny valid files (a few hundred bytes) that fuzzers and regression cases start from."""

from __future__ import annotations

import io

import numpy as np


def tiny_nifti(version: int) -> bytes:
    import nibabel as nib

    image_class = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    image = image_class(np.arange(32, dtype=np.int16).reshape(4, 4, 2), np.diag([0.8, 0.8, 2.5, 1]))
    image.header.set_qform(image.affine, 1)
    return image.to_bytes()


def tiny_dicom(frames: int) -> bytes:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4" if frames == 1 else "1.2.840.10008.5.1.4.1.1.4.1"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "MR"
    ds.SeriesInstanceUID = generate_uid()
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    if frames == 1:
        ds.ImagePositionPatient = [0, 0, 0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 2
        ds.InstanceNumber = 1
    else:
        ds.NumberOfFrames = frames
        shared, orientation, measures = Dataset(), Dataset(), Dataset()
        orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        measures.PixelSpacing = [0.7, 0.7]
        measures.SliceThickness = 2
        shared.PlaneOrientationSequence = Sequence([orientation])
        shared.PixelMeasuresSequence = Sequence([measures])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        per_frame = []
        for k in range(frames):
            item, position = Dataset(), Dataset()
            position.ImagePositionPatient = [0, 0, 2 * k]
            item.PlanePositionSequence = Sequence([position])
            per_frame.append(item)
        ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = np.arange(16 * frames, dtype=np.uint16).tobytes()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def tiny_dicom_series(slices: int = 3) -> dict[str, bytes]:
    """``slices`` single-frame files 2 mm apart, as a folder's contents."""
    import pydicom

    files = {}
    series_uid = "1.2.826.0.1.3680043.8.498.1"
    for k in range(slices):
        ds = pydicom.dcmread(io.BytesIO(tiny_dicom(1)))
        ds.SeriesInstanceUID = series_uid
        ds.ImagePositionPatient = [0, 0, 2 * k]
        ds.InstanceNumber = k + 1
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        files[f"slice{k:02d}.dcm"] = buffer.getvalue()
    return files
