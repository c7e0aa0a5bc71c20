"""Image intake for the multimodal model: any accepted file in, one 8-bit RGB image out.

BiMediX2 is a LLaVA model fed RGB PIL images. Clinicians attach whatever their viewer
exports, so this module decides the type from the content (never the extension alone),
refuses oversized or damaged files with a message they can act on, and turns DICOM
into a displayable picture (modality LUT, window, MONOCHROME1 inversion).

Privacy: only pixels and a description built from non-identifying tags leave this
module. DICOM files are parsed with `specific_tags`, so patient tags are never even
read into memory, and Pillow metadata (EXIF, PNG text chunks) is dropped from the
result because it can hold names, dates or GPS positions.
"""

from __future__ import annotations

import io
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from engine.errors import UserFacingError

ACCEPTED_TYPES = ("png", "jpeg", "webp", "tiff", "dicom")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 50_000_000

_ACCEPTED_TEXT = "PNG, JPEG, WebP, TIFF, DICOM"
_LABELS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "tiff": "TIFF", "dicom": "DICOM"}
_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF"}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
# Image formats we recognise but do not accept: naming them ("GIF images are not
# supported") helps more than "not an image". Only strong signatures, so random bytes
# are never mistaken for one of them.
_REFUSED_MAGIC = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"8BPS", "PSD"),
)
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"avif": "AVIF"}

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


@dataclass(frozen=True, repr=False)
class MedicalImage:
    """One image ready for the model. Holds no metadata beyond `description`."""

    image: Image.Image  # 8-bit RGB, no EXIF or text chunks
    source_name: str  # base name only, for the UI; file names can carry patient names
    kind: str  # one of ACCEPTED_TYPES
    description: str  # e.g. "DICOM CT 512×512, window 40/400, frame 12 of 25"

    def __str__(self) -> str:
        return self.description

    def __repr__(self) -> str:
        # Written out so that neither the file name nor the pixel object lands in logs.
        return f"MedicalImage(kind={self.kind!r}, description={self.description!r})"


def is_decoded(image) -> bool:
    """Whether `image` is ready for the model (decoded at intake), not a file."""
    return isinstance(image, (MedicalImage, Image.Image))


def decoded(image) -> MedicalImage | Image.Image:
    """An attachment as the model reads it: decoded ones as they are, files through
    `load_image` (UserFacingError on bad input)."""
    return image if is_decoded(image) else load_image(image)


def load_image(path_or_bytes: str | os.PathLike | bytes, name: str | None = None) -> MedicalImage:
    """Read an attachment as the model will see it. Raises UserFacingError on bad input."""
    data, source_name = _read_input(path_or_bytes, name)
    kind = _sniff(data, source_name)
    if kind in ("dicom", "dicom-headerless"):
        image, description = _load_dicom(data, headerless=kind == "dicom-headerless")
        kind = "dicom"
    else:
        image, description = _load_pillow(data, kind)
    return MedicalImage(image=image, source_name=source_name, kind=kind, description=description)


def _read_input(path_or_bytes, name: str | None) -> tuple[bytes, str]:
    """The file's bytes (size-checked before reading) and a base name for display."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        source_name = _base_name(name) or "image"
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        path = Path(path_or_bytes)
        try:
            # Size first, so a multi-gigabyte file is refused without being read.
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise _too_large(file_bytes=size)
            with path.open("rb") as handle:  # read-only: the original is never modified
                data = handle.read(MAX_FILE_BYTES + 1)  # +1: it may have grown since stat
        except OSError as error:
            raise UserFacingError("image_not_found") from error
        source_name = _base_name(name) or _base_name(path.name) or "image"
    else:
        raise TypeError(f"expected a path or bytes, got {type(path_or_bytes).__name__}")
    if not data:
        raise UserFacingError("image_empty")
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(file_bytes=len(data))
    return data, source_name


def _base_name(name: str | None) -> str:
    """Strip directories, Windows ones included (browsers send C:\\fakepath\\x.png)."""
    if not name:
        return ""
    base = re.split(r"[\\/]", str(name))[-1]
    return "".join(ch for ch in base if ch.isprintable()).strip()[:255]


def _sniff(data: bytes, source_name: str) -> str:
    """The accepted kind this content is, from its signature; raises otherwise."""
    # DICOM first: its 128-byte preamble may itself hold a TIFF header (dual-format files).
    if data[128:132] == b"DICM":
        return "dicom"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    refused = _refused_format(data)
    if refused:
        raise UserFacingError("image_unsupported_type", found=refused, accepted=_ACCEPTED_TEXT)
    # Old DICOM files may lack the preamble; only then does the extension count, and
    # the parse must still find DICOM elements (checked in _read_dicom).
    if source_name.lower().endswith(".dcm"):
        return "dicom-headerless"
    raise UserFacingError("image_not_an_image", accepted=_ACCEPTED_TEXT)


def _refused_format(data: bytes) -> str | None:
    for magic, label in _REFUSED_MAGIC:
        if data.startswith(magic):
            return label
    # BMP: "BM", then 4 bytes of size and 4 reserved bytes that must be zero.
    if data[:2] == b"BM" and len(data) >= 26 and data[6:10] == b"\x00" * 4:
        return "BMP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return _HEIF_BRANDS[data[8:12]]
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in head:
        return "SVG"
    return None


def _too_large(file_bytes: int | None = None, pixels: int | None = None) -> UserFacingError:
    return UserFacingError(
        "image_too_large",
        limit_mb=MAX_FILE_BYTES // (1024 * 1024),
        limit_megapixels=MAX_PIXELS // 1_000_000,
        file_bytes=file_bytes,
        pixels=pixels,
    )


def _check_dimensions(width: int, height: int) -> None:
    """Refuse empty or bomb-sized images from their header, before any decoding."""
    if width <= 0 or height <= 0:
        raise UserFacingError("image_empty")
    if width * height > MAX_PIXELS:
        raise _too_large(pixels=width * height)


# ---------------------------------------------------------------- PNG, JPEG, WebP, TIFF


def _load_pillow(data: bytes, kind: str) -> tuple[Image.Image, str]:
    label = _LABELS[kind]
    if kind == "png":
        _check_png_header(data)
    try:
        # formats=[...]: the signature already chose the decoder; no other plugin may guess.
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]]) as opened:
            _check_dimensions(*opened.size)  # header only: nothing is decoded yet
            frames = getattr(opened, "n_frames", 1)  # TIFF pages / WebP frames; we keep the first
            orientation = opened.getexif().get(0x0112, 1)
            opened.load()  # decode now, inside the try, so truncation is caught here
            upright = ImageOps.exif_transpose(opened)
    except UserFacingError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own guard (the warning only raises if a caller made warnings errors).
        raise _too_large() from error
    except Exception as error:
        # Pillow plugins raise a grab-bag on malformed input (OSError, SyntaxError,
        # ValueError, EOFError, struct.error, IndexError...): all mean "damaged file".
        raise UserFacingError("image_corrupt", kind=label) from error
    width, height = upright.size
    details = [f"{label} {width}×{height}"]
    if frames > 1:
        details.append(f"{'page' if kind == 'tiff' else 'frame'} 1 of {frames}")
    if orientation in range(2, 9):
        details.append("rotated per EXIF")
    return _to_rgb(upright, label), ", ".join(details)


def _check_png_header(data: bytes) -> None:
    """Read IHDR ourselves: Pillow refuses a 0-pixel PNG as 'unidentified', which
    would otherwise be reported as corrupt rather than empty."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise UserFacingError("image_corrupt", kind="PNG")
    _check_dimensions(*struct.unpack(">II", data[16:24]))


def _to_rgb(image: Image.Image, label: str) -> Image.Image:
    try:
        if image.mode.startswith("I;16") or image.mode in ("I", "F"):
            image = _high_bit_depth_to_l(image)
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
            # The model has no notion of alpha; transparent areas become white, as on a page.
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        rgb = image.convert("RGB")
    except (ValueError, OSError) as error:  # a mode Pillow cannot convert
        raise UserFacingError(
            "image_unsupported_type", found=f"{label} ({image.mode})", accepted=_ACCEPTED_TEXT
        ) from error
    # A fresh image: drops EXIF, XMP, ICC and text chunks, which can hold names, dates, GPS.
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def _high_bit_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grayscale to 8-bit without clipping (Pillow's convert("L")
    clips everything above 255 to white).

    Unsigned 16-bit: divide by the full scale of the smallest bit depth (8..16) that
    holds the maximum. A true 16-bit image is divided by 65535 as any viewer shows it,
    while 10/12/14-bit data stored in 16-bit containers (common for X-ray and CT
    exports) is scaled to its own depth instead of looking almost black. Zero stays
    black and contrast stays linear. Signed or float data has no nominal range, so it
    is stretched from its minimum to its maximum.
    """
    values = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16"):
        peak = float(values.max()) if values.size else 0.0
        bits = min(16, max(8, int(peak).bit_length()))
        scaled = values / (2**bits - 1)
    else:
        scaled = _stretch(values, np.ones(values.shape, dtype=bool))
    return Image.fromarray(_to_uint8(scaled), mode="L")


def _stretch(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Map min..max of the masked values to 0..1; a flat image becomes all 0."""
    selected = values[mask] if mask.any() else values.ravel()
    low, high = float(selected.min()), float(selected.max())
    if high <= low:
        return np.zeros(values.shape)
    return (values - low) / (high - low)


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    """0..1 floats to 0..255 bytes, rounded and clipped."""
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- DICOM


def _load_dicom(data: bytes, headerless: bool) -> tuple[Image.Image, str]:
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
    _check_dimensions(columns, rows)
    index = frames // 2  # the middle frame is the most representative of a series
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
    if frames > 1:
        details.append(f"frame {index + 1} of {frames}")
    return image, ", ".join(details)


def _read_dicom(data: bytes, headerless: bool):
    # pydicom is imported on the first DICOM only: text-only sessions never pay for it.
    from pydicom import dcmread
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        ds = dcmread(io.BytesIO(data), force=headerless, specific_tags=_DICOM_TAGS)
        found = any(keyword in ds for keyword in ("SOPClassUID", "Rows", *_PIXEL_KEYWORDS))
    except Exception as error:  # pydicom raises many types on malformed input
        code = "image_not_an_image" if headerless else "image_corrupt"
        raise UserFacingError(code, kind="DICOM", accepted=_ACCEPTED_TEXT) from error
    if headerless and not found:  # force=True parses anything; this was not DICOM
        raise UserFacingError("image_not_an_image", accepted=_ACCEPTED_TEXT)
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
    from pydicom.pixels import as_pixel_options, get_decoder

    syntax = ds.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as error:
        raise UserFacingError("dicom_unsupported_transfer_syntax", syntax=syntax.name) from error
    if not decoder.is_available:  # e.g. JPEG-LS without pylibjpeg/pyjpegls installed
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
    from pydicom.pixels import apply_modality_lut

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
        return _to_uint8(unit), f"window {center:g}/{width:g}"
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
    return _to_uint8(_stretch(values, mask)), "window auto (min–max)"


def _voi_lut_sequence(values: np.ndarray, ds) -> np.ndarray:
    """The file's first VOI LUT, scaled by the range its own entries span: the bit depth
    in LUT Descriptor is notoriously unreliable (16 declared for 12-bit tables)."""
    from pydicom.pixels import apply_voi

    try:
        entries, first = (int(v) for v in ds.VOILUTSequence[0].LUTDescriptor[:2])
        # Looking up every input the table covers yields its entries, decoded by pydicom
        # whether LUT Data was written as US or as OW.
        table = apply_voi(np.arange(first, first + (entries or 65536)), ds).astype(np.float64)
        mapped = apply_voi(np.rint(values).astype(np.int64), ds).astype(np.float64)
    except Exception as error:  # a malformed table: the image cannot be shown as intended
        raise UserFacingError("image_corrupt", kind="DICOM") from error
    low, high = float(table.min()), float(table.max())
    return _to_uint8((mapped - low) / max(high - low, 1.0))


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
    from pydicom.pixels import apply_color_lut, convert_color_space

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
            "image_unsupported_type", found=f"DICOM {photometric}", accepted=_ACCEPTED_TEXT
        ) from error
    if pixels.dtype == np.uint8 and full_scale == 255:
        return np.ascontiguousarray(pixels)
    return _to_uint8(pixels.astype(np.float64) / full_scale)
