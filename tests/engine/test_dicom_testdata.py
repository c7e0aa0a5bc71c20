"""Intake of every pixel-bearing DICOM file that pydicom's wheel ships (real exports of
CT, MR, NM, US, RT dose, SEG and secondary captures, in every transfer syntax pydicom knows).

Only files inside the installed wheel are used: `pydicom.data.get_testdata_files` would
also download the files listed in pydicom's urls.json from the network, so the wheel's
test_files folder is globbed directly. Every file is accepted except the few that are
damaged on purpose, each named below with its defect.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data.data_manager import DATA_ROOT

from engine.errors import UserFacingError
from engine.images import load_image

TEST_FILES = Path(DATA_ROOT) / "test_files"

# name → (error code, why the file cannot be shown). pydicom's test_files/README.txt and
# its own tests describe these defects.
DAMAGED = {
    "JPEG-lossy.dcm": ("dicom_unsupported_transfer_syntax",
                       "non-conformant JPEG: invalid spectral selection end (Se) in its SOS "
                       "marker; JPGExtended.dcm is the fixed copy, and is accepted"),
    "JPEG2000-embedded-sequence-delimiter.dcm": ("dicom_unsupported_transfer_syntax",
                                                 "4 bytes of its J2K codestream overwritten "
                                                 "with a Sequence Delimiter"),
    "MR_truncated.dcm": ("image_corrupt", "Pixel Data shorter than Rows × Columns"),
    "badVR.dcm": ("image_corrupt", "Number of Frames is '1A', not a number"),
    "meta_missing_tsyntax.dcm": ("image_empty", "a parser fixture: 2 bytes of Pixel Data, "
                                                "no Rows or Columns"),
    "nested_priv_SQ.dcm": ("image_empty", "a parser fixture: 2 bytes of Pixel Data, "
                                          "no Rows or Columns"),
}
# Compressed as PACS export them, and refused before pylibjpeg was installed.
NEWLY_DECODED = (
    "GDCMJ2K_TextGBR.dcm",  # JPEG 2000 Lossless
    "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm",  # JPEG-LS near-lossless
    "JPGExtended.dcm",  # JPEG Extended, 12-bit
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
    "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm",  # JPEG-LS near-lossless, colour
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG Lossless, Process 14 [Selection Value 1]
)


def _pixel_files() -> dict[str, Path]:
    files = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # several files are malformed on purpose
        for path in sorted(TEST_FILES.rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".json", ".txt", ".gz", ".dump", ".icc"):
                continue
            try:
                ds = dcmread(path, force=True)
            except Exception:
                continue
            if any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
                files[path.relative_to(TEST_FILES).as_posix()] = path
    return files


PIXEL_FILES = _pixel_files()


def test_the_wheel_ships_the_files_this_suite_reads():
    # A pydicom upgrade that stopped shipping them must not make this suite pass vacuously.
    assert len(PIXEL_FILES) >= 90
    assert set(DAMAGED) | set(NEWLY_DECODED) <= set(PIXEL_FILES)


@pytest.mark.parametrize("name", sorted(PIXEL_FILES))
def test_every_shipped_dicom_image_is_read_unless_damaged(name):
    path = PIXEL_FILES[name]
    if name in DAMAGED:
        code, why = DAMAGED[name]
        with pytest.raises(UserFacingError) as caught:
            load_image(path)
        assert caught.value.code == code, why
        return
    result = load_image(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(path, stop_before_pixels=True)
    assert result.kind == "dicom" and result.image.mode == "RGB"
    assert result.image.size == (ds.Columns, ds.Rows)
    frames = int(ds.get("NumberOfFrames") or 1)
    assert len(result.notices("en")) == (frames > 1)


@pytest.mark.parametrize("name", NEWLY_DECODED)
def test_compressed_syntaxes_from_pacs_are_decoded(name):
    pixels = np.asarray(load_image(PIXEL_FILES[name]).image)
    # More than black and white: not a blank or saturated picture (the JPEG-LS
    # near-lossless files are small synthetic images with 7 levels).
    assert len(np.unique(pixels)) > 2


@pytest.mark.parametrize("compressed, uncompressed", [
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),  # 16-bit MR, window 600/1600
    ("SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm"),  # JPEG Lossless against RLE of the same image
])
def test_lossless_compression_shows_the_same_picture(compressed, uncompressed):
    first = np.asarray(load_image(PIXEL_FILES[compressed]).image)
    second = np.asarray(load_image(PIXEL_FILES[uncompressed]).image)
    assert np.array_equal(first, second)


def test_a_shipped_cine_loop_tells_which_frame_is_shown():
    result = load_image(PIXEL_FILES["examples_ybr_color.dcm"])  # ultrasound, 30 frames
    assert result.description.endswith("frame 16 of 30")
    for lang in ("en", "ar"):
        [note] = result.notices(lang)
        assert "30" in note and "16" in note
