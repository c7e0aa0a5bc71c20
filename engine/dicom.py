"""DICOM intake: one frame of a DICOM file as an 8-bit picture, for engine/images.py.

Decoding goes through pydicom's pixel plugins: its own (uncompressed, RLE, deflate),
Pillow (JPEG Baseline, JPEG 2000) and pylibjpeg with its libjpeg and openjpeg plugins
(JPEG Lossless and Extended, JPEG-LS, JPEG 2000), so the compressed files a PACS exports
are read as they come rather than refused. Display follows the file: modality LUT or
rescale, VOI window or LUT, MONOCHROME1 inversion, palette and YBR colour.

Privacy: files are parsed with `specific_tags`, so patient tags are never read into
memory; only pixels and a description built from non-identifying tags leave here.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

from pydicom import dcmread
from pydicom.pixels import (apply_color_lut, apply_modality_lut, apply_voi, as_pixel_options,
                            convert_color_space, get_decoder)
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from engine.errors import UserFacingError
from engine.intake_basics import ACCEPTED_TEXT, IntakeNote, check_dimensions, stretch, to_uint8

# The only DICOM elements ever parsed. Everything else, the patient module included,
# is skipped by pydicom, so it can reach neither the model nor a log or warning.
_DICOM_TAGS = [
    "SOPClassUID", "Modality", "SamplesPerPixel", "PhotometricInterpretation",
    "PlanarConfiguration", "NumberOfFrames", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PixelPaddingValue",
    "WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence",
    "RescaleIntercept", "RescaleSlope", "ModalityLUTSequence",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence", "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    "FloatPixelData", "DoubleFloatPixelData", "PixelData",
]
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def load_dicom(data: bytes, headerless: bool) -> tuple[Image.Image, str, tuple[IntakeNote, ...]]:
    """One frame of a DICOM file as 8-bit RGB, its description for the model and the
    notes for the person. Raises UserFacingError on what cannot be shown."""
    ds = _read_dicom(data, headerless)
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        # pydicom stops quietly (with a warning) at a premature end of file, so a cut-off
        # image looks like an object without pixels. Image objects (they have Rows, or an
        # "... Image Storage" class) and objects without even a SOP class were truncated.
        sop_class = ds.get("SOPClassUID")
        if "Rows" in ds or sop_class is None or "Image Storage" in sop_class.name:
            raise UserFacingError("image_corrupt", kind="DICOM")
        raise UserFacingError("dicom_no_pixels")
    try:
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        frames = max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError) as error:
        raise UserFacingError("image_corrupt", kind="DICOM") from error
    # Rows×Columns of the one frame we decode (pixel_array(index=...) never decodes the
    # others); the whole file is already bounded by MAX_FILE_BYTES. Checking every frame
    # would refuse ordinary cine loops (ultrasound, angiography) for no memory gain.
    check_dimensions(columns, rows)
    # The middle frame, not the first: a CT or MR stack starts at the edge of the scanned
    # volume and a cine or angiography loop before the contrast or motion of interest, so
    # the middle is the one most likely to show the anatomy the series was taken for.
    index = frames // 2
    pixels, photometric = _decode_dicom_frame(ds, index)
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        gray, window = _display_grayscale(pixels, ds, index)
        if photometric == "MONOCHROME1":
            gray = 255 - gray  # MONOCHROME1: the lowest value is displayed as white
        image = Image.fromarray(gray, mode="L").convert("RGB")
        details = [window]
    else:
        image = Image.fromarray(_display_colour(pixels, ds, photometric), mode="RGB")
        details = ["colour"]
    modality = str(ds.get("Modality") or "").strip().upper()
    title = " ".join(["DICOM"] + ([modality] if re.fullmatch(r"[A-Z0-9_]{1,16}", modality) else []))
    details.insert(0, f"{title} {columns}×{rows}")
    notes: tuple[IntakeNote, ...] = ()
    if frames > 1:
        details.append(f"frame {index + 1} of {frames}")
        # The model sees one picture: the person must know which, to ask about another.
        notes = (IntakeNote("dicom_frame_shown", (("frames", frames), ("frame", index + 1))),)
    return image, ", ".join(details), notes


def _read_dicom(data: bytes, headerless: bool):
    try:
        ds = dcmread(io.BytesIO(data), force=headerless, specific_tags=_DICOM_TAGS)
        found = any(keyword in ds for keyword in ("SOPClassUID", "Rows", *_PIXEL_KEYWORDS))
    except Exception as error:  # pydicom raises many types on malformed input
        code = "image_not_an_image" if headerless else "image_corrupt"
        raise UserFacingError(code, kind="DICOM", accepted=ACCEPTED_TEXT) from error
    if headerless and not found:  # force=True parses anything; this was not DICOM
        raise UserFacingError("image_not_an_image", accepted=ACCEPTED_TEXT)
    if not ds.file_meta.get("TransferSyntaxUID"):
        # No file meta (preamble-less files): the encoding pydicom detected is the syntax.
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else
            ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def _decode_dicom_frame(ds, index: int) -> tuple[np.ndarray, str]:
    """One decoded frame and its photometric interpretation after decoding (pydicom
    already converts YBR_FULL/YBR_FULL_422 to RGB with as_rgb, its default)."""
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as error:
        raise UserFacingError("dicom_unsupported_transfer_syntax", syntax=syntax.name) from error
    if not decoder.is_available:  # its plugin package (requirements.txt) is not installed
        raise UserFacingError("dicom_unsupported_transfer_syntax", syntax=syntax.name)
    try:
        pixels, meta = decoder.as_array(ds, index=index, validate=True, **as_pixel_options(ds))
    except Exception as error:
        # For compressed data a failing codec cannot tell an unsupported variant from
        # a damaged stream, and the remedy is the same: export uncompressed.
        if syntax.is_compressed:
            raise UserFacingError(
                "dicom_unsupported_transfer_syntax", syntax=syntax.name
            ) from error
        raise UserFacingError("image_corrupt", kind="DICOM") from error
    photometric = meta.get("photometric_interpretation") or ds.get("PhotometricInterpretation")
    photometric = str(photometric or "").strip()
    single_sample = photometric.startswith("MONOCHROME") or photometric == "PALETTE COLOR"
    expected_ndim = 2 if single_sample else 3
    if pixels.ndim != expected_ndim:
        raise UserFacingError("image_corrupt", kind="DICOM")
    return pixels, photometric


def _display_grayscale(stored: np.ndarray, ds, index: int) -> tuple[np.ndarray, str]:
    """Stored values → modality values (e.g. Hounsfield units) → VOI window → 0..255."""
    if ds.get("ModalityLUTSequence"):
        values = apply_modality_lut(stored, ds).astype(np.float64)
    else:
        slope = _frame_number(ds, index, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _frame_number(ds, index, "PixelValueTransformationSequence", "RescaleIntercept")
        values = stored.astype(np.float64) * (1.0 if slope is None else slope)
        values += 0.0 if intercept is None else intercept
    center = _frame_number(ds, index, "FrameVOILUTSequence", "WindowCenter")
    width = _frame_number(ds, index, "FrameVOILUTSequence", "WindowWidth")
    function = str(_frame_value(ds, index, "FrameVOILUTSequence", "VOILUTFunction") or "LINEAR")
    if center is not None and width is not None and width > 0:
        unit = _window(values, center, width, function.strip().upper())
        return to_uint8(unit), f"window {center:g}/{width:g}"
    if ds.get("VOILUTSequence"):
        return _voi_lut_sequence(values, ds), "VOI LUT"
    # No window in the file: min–max of the frame rather than a percentile window, so
    # nothing is saturated: the brightest or darkest few pixels (calcifications, metal,
    # free air) are often the finding. Padding outside the field of view is excluded
    # because it would otherwise waste the grey scale on a value that is not anatomy.
    mask = np.ones(stored.shape, dtype=bool)
    padding = ds.get("PixelPaddingValue")
    if isinstance(padding, int):
        mask = stored != padding
    return to_uint8(stretch(values, mask)), "window auto (min–max)"


def _voi_lut_sequence(values: np.ndarray, ds) -> np.ndarray:
    """The file's first VOI LUT, scaled by the range its own entries span: the bit depth
    in LUT Descriptor is notoriously unreliable (16 declared for 12-bit tables)."""
    try:
        entries, first = (int(v) for v in ds.VOILUTSequence[0].LUTDescriptor[:2])
        # Looking up every input the table covers yields its entries, decoded by pydicom
        # whether LUT Data was written as US or as OW.
        table = apply_voi(np.arange(first, first + (entries or 65536)), ds).astype(np.float64)
        mapped = apply_voi(np.rint(values).astype(np.int64), ds).astype(np.float64)
    except Exception as error:  # a malformed table: the image cannot be shown as intended
        raise UserFacingError("image_corrupt", kind="DICOM") from error
    low, high = float(table.min()), float(table.max())
    return to_uint8((mapped - low) / max(high - low, 1.0))


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """VOI LUT functions of DICOM PS3.3 C.11.2.1.2, as fractions 0..1 of the output range."""
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if width <= 1:  # LINEAR with width 1 is a threshold (and avoids dividing by 0)
        return (values > center - 0.5).astype(np.float64)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _frame_value(ds, index: int, group: str, keyword: str):
    """A value from the top level or, for enhanced multi-frame objects, from this
    frame's functional group (which overrides the shared one); first of many."""
    sources = [ds]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if index < len(per_frame) and per_frame[index].get(group):
        sources.append(per_frame[index].get(group)[0])
    shared = ds.get("SharedFunctionalGroupsSequence") or []
    if shared and shared[0].get(group):
        sources.append(shared[0].get(group)[0])
    for source in sources:
        value = source.get(keyword)
        if value is not None and value != "":
            if not isinstance(value, (str, bytes)) and hasattr(value, "__getitem__"):
                return value[0] if len(value) else None  # multi-valued: first
            return value
    return None


def _frame_number(ds, index: int, group: str, keyword: str) -> float | None:
    try:
        value = _frame_value(ds, index, group, keyword)
        return None if value is None else float(value)
    except (TypeError, ValueError):  # a malformed number: behave as if absent
        return None


def _display_colour(pixels: np.ndarray, ds, photometric: str) -> np.ndarray:
    """RGB, palette or leftover YBR frames as 8-bit RGB (modality and VOI LUTs are
    defined for grayscale only)."""
    try:
        if photometric == "PALETTE COLOR":
            pixels = apply_color_lut(pixels, ds)
            full_scale = 255 if pixels.dtype == np.uint8 else 65535
        else:
            if photometric != "RGB":
                pixels = convert_color_space(pixels, photometric, "RGB")
            full_scale = 2 ** int(ds.get("BitsStored") or pixels.dtype.itemsize * 8) - 1
    except (NotImplementedError, ValueError, AttributeError, KeyError) as error:
        raise UserFacingError(
            "image_unsupported_type", found=f"DICOM {photometric}", accepted=ACCEPTED_TEXT
        ) from error
    if pixels.dtype == np.uint8 and full_scale == 255:
        return np.ascontiguousarray(pixels)
    return to_uint8(pixels.astype(np.float64) / full_scale)
