"""What both image intakes share (engine/images.py for PNG, JPEG, WebP and TIFF, and
engine/dicom.py for DICOM): the size limits, the notes for the person, and the scaling of
pixel values to 8 bits. Its own module, so that neither intake imports the other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import UserFacingError, notice

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 50_000_000
ACCEPTED_TEXT = "PNG, JPEG, WebP, TIFF, DICOM"


@dataclass(frozen=True)
class IntakeNote:
    """Something the person should know about how a file was read (which frame of a
    series the model sees), kept as a code of engine/errors.py MESSAGES and its values
    so that each caller words it in its own interface language."""

    code: str
    params: tuple[tuple[str, int | str], ...] = ()

    def text(self, lang: str = "en") -> str:
        return notice(self.code, lang, **dict(self.params))


def too_large(file_bytes: int | None = None, pixels: int | None = None) -> UserFacingError:
    return UserFacingError(
        "image_too_large",
        limit_mb=MAX_FILE_BYTES // (1024 * 1024),
        limit_megapixels=MAX_PIXELS // 1_000_000,
        file_bytes=file_bytes,
        pixels=pixels,
    )


def check_dimensions(width: int, height: int) -> None:
    """Refuse empty or bomb-sized images from their header, before any decoding."""
    if width <= 0 or height <= 0:
        raise UserFacingError("image_empty")
    if width * height > MAX_PIXELS:
        raise too_large(pixels=width * height)


def stretch(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Map min..max of the masked values to 0..1; a flat image becomes all 0."""
    selected = values[mask] if mask.any() else values.ravel()
    low, high = float(selected.min()), float(selected.max())
    if high <= low:
        return np.zeros(values.shape)
    return (values - low) / (high - low)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """0..1 floats to 0..255 bytes, rounded and clipped."""
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)
