"""Image intake for the multimodal model: any accepted file in, one 8-bit RGB image out.

BiMediX2 is a LLaVA model fed RGB PIL images. Clinicians attach whatever their viewer
exports, so this module decides the type from the content (never the extension alone),
refuses oversized or damaged files with a message they can act on, and hands DICOM to
engine/dicom.py, which turns it into a displayable picture.

Privacy: only pixels, a description built from non-identifying tags and notes for the
person (frame counts) leave intake. DICOM files are parsed with `specific_tags`, so
patient tags are never even read into memory, and Pillow metadata (EXIF, PNG text
chunks) is dropped from the result because it can hold names, dates or GPS positions.
"""

from __future__ import annotations

import io
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from engine.errors import UserFacingError
# What engine/dicom.py shares with this module (kept apart so neither imports the other).
from engine.intake_basics import (ACCEPTED_TEXT, MAX_FILE_BYTES, MAX_PIXELS, IntakeNote, check_dimensions,  # noqa: F401
                                  stretch, to_uint8, too_large)

ACCEPTED_TYPES = ("png", "jpeg", "webp", "tiff", "dicom")
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


@dataclass(frozen=True, repr=False)
class MedicalImage:
    """One image ready for the model. Holds no metadata beyond `description`."""

    image: Image.Image  # 8-bit RGB, no EXIF or text chunks
    source_name: str  # base name only, for the UI; file names can carry patient names
    kind: str  # one of ACCEPTED_TYPES
    description: str  # e.g. "DICOM CT 512×512, window 40/400, frame 12 of 25"
    notes: tuple[IntakeNote, ...] = field(default=())  # for the person, not the model

    def __str__(self) -> str:
        return self.description

    def notices(self, lang: str = "en") -> list[str]:
        """What the person should be told about this image, in `lang` (e.g. which frame
        of a multi-frame series is the one the model sees)."""
        return [note.text(lang) for note in self.notes]

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
    notes: tuple[IntakeNote, ...] = ()
    if kind in ("dicom", "dicom-headerless"):
        from engine.dicom import load_dicom  # pydicom only once a DICOM file comes

        image, description, notes = load_dicom(data, headerless=kind == "dicom-headerless")
        kind = "dicom"
    else:
        image, description = _load_pillow(data, kind)
    return MedicalImage(image=image, source_name=source_name, kind=kind, description=description,
                        notes=notes)


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
                raise too_large(file_bytes=size)
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
        raise too_large(file_bytes=len(data))
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
        raise UserFacingError("image_unsupported_type", found=refused, accepted=ACCEPTED_TEXT)
    # Old DICOM files may lack the preamble; only then does the extension count, and
    # the parse must still find DICOM elements (checked in engine/dicom.py).
    if source_name.lower().endswith(".dcm"):
        return "dicom-headerless"
    raise UserFacingError("image_not_an_image", accepted=ACCEPTED_TEXT)


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


# ---------------------------------------------------------------- PNG, JPEG, WebP, TIFF


def _load_pillow(data: bytes, kind: str) -> tuple[Image.Image, str]:
    label = _LABELS[kind]
    if kind == "png":
        _check_png_header(data)
    try:
        # formats=[...]: the signature already chose the decoder; no other plugin may guess.
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]]) as opened:
            check_dimensions(*opened.size)  # header only: nothing is decoded yet
            frames = getattr(opened, "n_frames", 1)  # TIFF pages / WebP frames; we keep the first
            orientation = opened.getexif().get(0x0112, 1)
            opened.load()  # decode now, inside the try, so truncation is caught here
            upright = ImageOps.exif_transpose(opened)
    except UserFacingError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own guard (the warning only raises if a caller made warnings errors).
        raise too_large() from error
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
    check_dimensions(*struct.unpack(">II", data[16:24]))


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
            "image_unsupported_type", found=f"{label} ({image.mode})", accepted=ACCEPTED_TEXT
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
        scaled = stretch(values, np.ones(values.shape, dtype=bool))
    return Image.fromarray(to_uint8(scaled), mode="L")
