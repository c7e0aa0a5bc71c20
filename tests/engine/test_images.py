"""Image intake: every fixture is generated in tmp_path, no binary file is committed."""

from __future__ import annotations

import io
import re
import string
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.pixels import convert_color_space, get_decoder
from pydicom.uid import (
    HTJ2K,
    BasicTextSRStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from engine import images
from engine.errors import MESSAGES, UserFacingError
from engine.images import ACCEPTED_TYPES, MAX_FILE_BYTES, MAX_PIXELS, MedicalImage, load_image

ARABIC = re.compile(r"[\u0600-\u06FF]")
IMAGE_CODES = (
    "image_not_found", "image_empty", "image_not_an_image", "image_unsupported_type",
    "image_corrupt", "image_too_large", "dicom_unsupported_transfer_syntax", "dicom_no_pixels",
    "dicom_frame_shown",
)


def expect_error(code: str, *args, **kwargs) -> UserFacingError:
    """load_image must fail with `code`, worded in both languages."""
    with pytest.raises(UserFacingError) as caught:
        load_image(*args, **kwargs)
    error = caught.value
    assert error.code == code, error.message("en")
    english, arabic = error.message("en"), error.message("ar")
    assert ARABIC.search(arabic) and not ARABIC.search(english)
    assert arabic != english and "{" not in english + arabic
    return error


# ------------------------------------------------------------------------ fixtures


def save(image: Image.Image, path, fmt: str, **options):
    image.save(path, fmt, **options)
    return path


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def patch_png_size(data: bytes, width: int, height: int) -> bytes:
    """A real PNG whose IHDR claims another size, with a valid CRC."""
    ihdr = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:8] + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


def dicom_dataset(pixels: np.ndarray, sop_class=CTImageStorage, syntax=ExplicitVRLittleEndian,
                  photometric="MONOCHROME2", **tags) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = FileDataset("fixture.dcm", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    colour = photometric == "RGB" or photometric.startswith("YBR")  # three samples per pixel
    frames = pixels.shape[0] if pixels.ndim == (4 if colour else 3) else 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(pixels.dtype.kind == "i")
    ds.PixelData = pixels.tobytes()
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


def write_dicom(path, ds):
    ds.save_as(path, enforce_file_format=True)
    return path


def ct_pixels() -> np.ndarray:
    """Stored values; with slope 1 and intercept -1024 they are HU + 1024."""
    pixels = np.full((64, 64), 1024, dtype=np.int16)  # water, 0 HU
    pixels[0, 0] = 1064  # 40 HU: the window center
    pixels[0, 1] = 0  # -1024 HU: below the window
    pixels[0, 2] = 3000  # 1976 HU: above the window
    return pixels


# --------------------------------------------------------------- PNG, JPEG, WebP, TIFF


def test_rgb_png(tmp_path):
    source = Image.new("RGB", (32, 16), (10, 20, 30))
    source.putpixel((31, 15), (200, 100, 50))
    result = load_image(save(source, tmp_path / "scan.png", "PNG"))
    assert isinstance(result, MedicalImage)
    assert (result.kind, result.source_name, result.description) == ("png", "scan.png", "PNG 32×16")
    assert result.image.mode == "RGB" and result.image.size == (32, 16)
    assert result.image.getpixel((0, 0)) == (10, 20, 30)
    assert result.image.getpixel((31, 15)) == (200, 100, 50)
    assert str(result) == "PNG 32×16"


def test_rgba_transparency_is_composited_over_white(tmp_path):
    source = Image.new("RGBA", (3, 1))
    source.putdata([(255, 0, 0, 0), (0, 0, 255, 255), (0, 0, 0, 128)])
    image = load_image(save(source, tmp_path / "a.png", "PNG")).image
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)  # fully transparent: white, not red
    assert image.getpixel((1, 0)) == (0, 0, 255)
    assert all(abs(channel - 127) <= 1 for channel in image.getpixel((2, 0)))


def test_palette_png_with_transparent_index(tmp_path):
    source = Image.new("P", (2, 1))
    source.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    source.putdata([0, 1])
    path = save(source, tmp_path / "p.png", "PNG", transparency=0)
    image = load_image(path).image
    assert image.getpixel((0, 0)) == (255, 255, 255) and image.getpixel((1, 0)) == (255, 0, 0)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path, fmt):
    full = np.array([[0, 32768, 65535, 1000]], dtype=np.uint16)
    image = load_image(save(Image.fromarray(full), tmp_path / f"full.{fmt.lower()}", fmt)).image
    assert [image.getpixel((x, 0))[0] for x in range(4)] == [0, 128, 255, 4]
    # 12-bit data in a 16-bit container is scaled to 12 bits, not left almost black.
    twelve = np.array([[0, 2048, 4095]], dtype=np.uint16)
    image = load_image(save(Image.fromarray(twelve), tmp_path / f"12.{fmt.lower()}", fmt)).image
    assert [image.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255,) * 3]


def test_jpeg_exif_orientation_is_applied(tmp_path):
    source = Image.new("RGB", (40, 20), (255, 0, 0))
    source.paste((0, 0, 255), (20, 0, 40, 20))  # stored: red left half, blue right half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    exif[0x010F] = "Example Camera"
    result = load_image(save(source, tmp_path / "photo.jpg", "JPEG", exif=exif, quality=95))
    image = result.image
    assert image.size == (20, 40) and result.kind == "jpeg"
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # the stored left edge is now at the top
    assert bottom[2] > 200 and bottom[0] < 60
    assert "rotated per EXIF" in result.description
    assert not image.info and not image.getexif()  # metadata is not passed on


def test_webp_and_animated_webp_use_the_first_frame(tmp_path):
    still = load_image(save(Image.new("RGB", (8, 8), (0, 200, 0)), tmp_path / "s.webp", "WEBP",
                            lossless=True))
    assert still.kind == "webp" and still.image.getpixel((4, 4)) == (0, 200, 0)
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.webp"
    frames[0].save(path, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    animated = load_image(path)
    assert animated.image.getpixel((4, 4)) == (255, 0, 0)
    assert animated.description == "WebP 8×8, frame 1 of 2"


def test_multi_page_tiff_uses_the_first_page(tmp_path):
    pages = [Image.new("RGB", (6, 4), colour) for colour in [(1, 2, 3), (200, 0, 0), (0, 200, 0)]]
    path = tmp_path / "pages.tif"
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:])
    result = load_image(path)
    assert result.image.getpixel((0, 0)) == (1, 2, 3)
    assert (result.kind, result.description) == ("tiff", "TIFF 6×4, page 1 of 3")


# -------------------------------------------------------------------------- inputs


def test_bytes_input_and_names_are_reduced_to_a_base_name(tmp_path):
    data = png_bytes(Image.new("RGB", (4, 4)))
    assert load_image(data, name="/home/dr/Doe_Jane/scan.png").source_name == "scan.png"
    assert load_image(data, name="C:\\fakepath\\scan.png").source_name == "scan.png"
    assert load_image(bytearray(data)).source_name == "image"
    path = tmp_path / "dir" / "x.png"
    path.parent.mkdir()
    path.write_bytes(data)
    assert load_image(path).source_name == "x.png"
    assert load_image(str(path), name="../up/renamed.png").source_name == "renamed.png"


def test_the_extension_is_not_trusted(tmp_path):
    jpeg = tmp_path / "really-a-jpeg.png"
    save(Image.new("RGB", (4, 4)), jpeg, "JPEG")
    assert load_image(jpeg).kind == "jpeg"
    text = tmp_path / "notes.png"
    text.write_text("Patient notes, not an image.\n")
    expect_error("image_not_an_image", text)


def test_accepted_types_and_limits():
    assert ACCEPTED_TYPES == ("png", "jpeg", "webp", "tiff", "dicom")
    assert MAX_FILE_BYTES == 50 * 1024 * 1024 and MAX_PIXELS == 50_000_000


# ------------------------------------------------------------------------ bad input


def test_pdf_and_random_bytes_are_not_images(tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")
    error = expect_error("image_not_an_image", pdf)
    assert "PNG, JPEG, WebP, TIFF, DICOM" in error.message("en")
    expect_error("image_not_an_image", np.random.default_rng(0).bytes(4096), name="x.png")


def test_empty_inputs(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    expect_error("image_empty", empty)
    expect_error("image_empty", b"")
    zero_width = patch_png_size(png_bytes(Image.new("RGB", (4, 4))), 0, 4)
    expect_error("image_empty", zero_width)


def test_missing_file(tmp_path):
    expect_error("image_not_found", tmp_path / "gone.png")
    expect_error("image_not_found", tmp_path)  # a directory


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_corrupt(tmp_path, fmt):
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, fmt)
    data = buffer.getvalue()
    error = expect_error("image_corrupt", data[: len(data) // 2])
    assert fmt in error.message("en") and fmt in error.message("ar")


@pytest.mark.parametrize("size", [(20000, 20000), (8000, 8000)])  # above / below Pillow's own guard
def test_a_huge_header_is_refused_before_decoding(monkeypatch, size):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    bomb = patch_png_size(png_bytes(Image.new("L", (8, 8))), *size)
    error = expect_error("image_too_large", bomb)
    assert "50" in error.message("en") and "50" in error.message("ar")


def test_a_huge_jpeg_header_is_refused_before_decoding(monkeypatch):
    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", 9000, 9000)  # height, width in SOF0
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
    expect_error("image_too_large", bytes(data))


def test_a_file_over_the_size_limit_is_not_read(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    with big.open("wb") as handle:  # sparse: no disk space, nothing to read
        handle.write(png_bytes(Image.new("RGB", (4, 4))))
        handle.truncate(MAX_FILE_BYTES + 1)
    monkeypatch.setattr(type(big), "open", lambda *a, **k: pytest.fail("the file was read"))
    expect_error("image_too_large", big)


def test_bytes_over_the_size_limit(monkeypatch):
    data = png_bytes(Image.new("RGB", (64, 64)))
    monkeypatch.setattr(images, "MAX_FILE_BYTES", len(data) - 1)
    expect_error("image_too_large", data)


@pytest.mark.parametrize("fmt, label", [("GIF", "GIF"), ("BMP", "BMP")])
def test_other_image_formats_are_refused_by_name(tmp_path, fmt, label):
    path = save(Image.new("RGB", (4, 4)), tmp_path / f"x.{fmt.lower()}", fmt)
    error = expect_error("image_unsupported_type", path)
    for lang in ("en", "ar"):
        assert label in error.message(lang) and "DICOM" in error.message(lang)


# ---------------------------------------------------------------------------- DICOM


def test_ct_rescale_and_window(tmp_path):
    ds = dicom_dataset(ct_pixels(), RescaleSlope=1, RescaleIntercept=-1024,
                       WindowCenter=[40, 300], WindowWidth=[400, 1500])  # first value wins
    result = load_image(write_dicom(tmp_path / "ct.dcm", ds))
    image = result.image
    assert (result.kind, image.mode, image.size) == ("dicom", "RGB", (64, 64))
    assert abs(image.getpixel((0, 0))[0] - 128) <= 1  # window center → mid grey
    assert image.getpixel((1, 0)) == (0, 0, 0)  # below the window → black
    assert image.getpixel((2, 0)) == (255, 255, 255)  # above the window → white
    assert result.description == "DICOM CT 64×64, window 40/400"


def test_monochrome1_is_inverted(tmp_path):
    pixels = np.zeros((8, 8), dtype=np.uint16)
    pixels[0, 1] = 1000
    ds = dicom_dataset(pixels, photometric="MONOCHROME1", WindowCenter=500, WindowWidth=1000)
    ds.Modality = "CR"
    image = load_image(write_dicom(tmp_path / "cr.dcm", ds)).image
    assert image.getpixel((0, 0)) == (255, 255, 255)  # lowest value shows white
    assert image.getpixel((1, 0)) == (0, 0, 0)


def test_multi_frame_uses_the_middle_frame(tmp_path):
    k = 100
    frames = np.stack([np.full((8, 8), i * k, dtype=np.uint16) for i in range(5)])
    ds = dicom_dataset(frames, WindowCenter=2 * k, WindowWidth=4 * k)
    result = load_image(write_dicom(tmp_path / "cine.dcm", ds))
    assert abs(result.image.getpixel((3, 3))[0] - 128) <= 1  # frame 3 of 5 holds 2k
    assert result.description == "DICOM CT 8×8, window 200/400, frame 3 of 5"


def test_enhanced_multi_frame_window_from_functional_groups(tmp_path):
    frames = np.stack([np.full((4, 4), value, dtype=np.uint16) for value in (0, 500, 1000)])
    ds = dicom_dataset(frames)
    voi, transform, shared = Dataset(), Dataset(), Dataset()
    voi.WindowCenter, voi.WindowWidth = 600, 400  # window 400..800: 500 is 1/4 up
    transform.RescaleSlope, transform.RescaleIntercept = 1, 0
    shared.FrameVOILUTSequence, shared.PixelValueTransformationSequence = [voi], [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    result = load_image(write_dicom(tmp_path / "e.dcm", ds))
    assert abs(result.image.getpixel((0, 0))[0] - 64) <= 1
    assert "window 600/400" in result.description


def test_default_window_is_min_max_without_padding(tmp_path):
    pixels = np.full((8, 8), 600, dtype=np.uint16)
    pixels[0, 0], pixels[0, 1], pixels[7, 7] = 100, 1100, 4000  # 4000 is padding
    ds = dicom_dataset(pixels, PixelPaddingValue=4000)
    ds.Modality = "MR"
    result = load_image(write_dicom(tmp_path / "mr.dcm", ds))
    image = result.image
    assert image.getpixel((0, 0)) == (0, 0, 0) and image.getpixel((1, 0)) == (255, 255, 255)
    assert image.getpixel((3, 3)) == (128, 128, 128)  # exactly half-way
    assert result.description == "DICOM MR 8×8, window auto (min–max)"


def test_rgb_and_ybr_dicom(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0], rgb[0, 0] = 200, (10, 150, 250)
    ds = dicom_dataset(rgb, sop_class=SecondaryCaptureImageStorage, photometric="RGB")
    ds.Modality = "US"
    result = load_image(write_dicom(tmp_path / "us.dcm", ds))
    assert result.image.getpixel((0, 0)) == (10, 150, 250)
    assert result.description == "DICOM US 4×4, colour"
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    ds = dicom_dataset(ybr, sop_class=SecondaryCaptureImageStorage, photometric="YBR_FULL")
    image = load_image(write_dicom(tmp_path / "y.dcm", ds)).image
    assert all(abs(a - b) <= 2 for a, b in zip(image.getpixel((0, 0)), (10, 150, 250)))


def test_voi_lut_sequence_when_there_is_no_window(tmp_path):
    ds = dicom_dataset(np.array([[0, 1, 2, 3]], dtype=np.uint16))
    lut = Dataset()
    lut.LUTDescriptor = [4, 0, 16]  # declares 16 bits, uses 12: scaled by its own range
    lut.LUTData = np.array([0, 1365, 2730, 4095], dtype="<u2").tobytes()
    ds.VOILUTSequence = [lut]
    result = load_image(write_dicom(tmp_path / "voi.dcm", ds))
    assert [result.image.getpixel((x, 0))[0] for x in range(4)] == [0, 85, 170, 255]
    assert result.description == "DICOM CT 4×1, VOI LUT"


def test_palette_colour_dicom(tmp_path):
    ds = dicom_dataset(np.array([[0, 1, 2]], dtype=np.uint8), photometric="PALETTE COLOR")
    for index, colour in enumerate(("Red", "Green", "Blue")):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [3, 0, 16])
        table = np.zeros(3, dtype="<u2")
        table[index] = 65535
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.tobytes())
    image = load_image(write_dicom(tmp_path / "pal.dcm", ds)).image
    assert [image.getpixel((x, 0)) for x in range(3)] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def test_compressed_dicom_that_can_be_decoded(tmp_path):
    ramp = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    ds = dicom_dataset(ramp, WindowCenter=2048, WindowWidth=4096)
    ds.compress(RLELossless)  # pydicom's own numpy codec
    assert load_image(write_dicom(tmp_path / "rle.dcm", ds)).image.getpixel((0, 32))[0] == 128
    buffer = io.BytesIO()  # JPEG Baseline, decoded through Pillow
    Image.new("L", (16, 16), 200).save(buffer, "JPEG", quality=95)
    ds = dicom_dataset(np.zeros((16, 16), dtype=np.uint8), syntax=JPEGBaseline8Bit,
                       WindowCenter=127.5, WindowWidth=256)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
    result = load_image(write_dicom(tmp_path / "named-like-a.png", ds))  # content wins
    assert result.kind == "dicom" and abs(result.image.getpixel((8, 8))[0] - 200) <= 2


@pytest.mark.parametrize("syntax", [
    JPEGLosslessSV1, JPEGLossless, JPEGExtended12Bit, JPEGLSLossless, JPEGLSNearLossless,
    JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2K,
])
def test_every_compressed_syntax_a_pacs_exports_has_a_decoder(syntax):
    # pydicom's plugin packages (requirements.txt) installed: JPEG Lossless (the usual
    # lossless PACS export), 12-bit JPEG Extended, JPEG-LS and (HT)JPEG 2000.
    assert get_decoder(syntax).is_available, syntax.name


def test_compressed_16_bit_ct_is_rescaled_and_windowed_as_uncompressed(tmp_path):
    tags = dict(RescaleSlope=1, RescaleIntercept=-1024, WindowCenter=40, WindowWidth=400)
    plain = load_image(write_dicom(tmp_path / "plain.dcm", dicom_dataset(ct_pixels(), **tags)))
    ds = dicom_dataset(ct_pixels(), **tags)
    ds.compress(JPEG2000Lossless)  # signed 16-bit through openjpeg
    packed = load_image(write_dicom(tmp_path / "j2k.dcm", ds))
    assert packed.description == plain.description == "DICOM CT 64×64, window 40/400"
    assert np.array_equal(np.asarray(packed.image), np.asarray(plain.image))
    assert packed.image.getpixel((0, 0)) == (128, 128, 128)  # 40 HU, the window center


def test_a_multi_frame_series_tells_the_person_which_frame(tmp_path):
    frames = np.stack([np.full((64, 64), i * 100, dtype=np.uint16) for i in range(4)])
    ds = dicom_dataset(frames, WindowCenter=200, WindowWidth=400)
    ds.compress(JPEG2000Lossless)  # encapsulated: only the shown frame is decoded
    result = load_image(write_dicom(tmp_path / "series.dcm", ds))
    assert result.description == "DICOM CT 64×64, window 200/400, frame 3 of 4"
    assert abs(result.image.getpixel((3, 3))[0] - 128) <= 1  # frame 3 holds 200
    assert result.notices("en") == [
        "This DICOM series has 4 frames; the model sees only frame 3 (the middle one). To ask "
        "about another frame, export that frame on its own and attach it."]
    [arabic] = result.notices("ar")
    assert ARABIC.search(arabic) and "4" in arabic and "3" in arabic and "DICOM" in arabic
    single = load_image(write_dicom(tmp_path / "one.dcm", dicom_dataset(ct_pixels())))
    assert single.notes == () and single.notices("ar") == []
    assert load_image(png_bytes(Image.new("RGB", (4, 4)))).notices("en") == []


@pytest.mark.parametrize("array", [np.array([[-1.0, 0.0, 1.0]], dtype=np.float32),
                                   np.array([[-5, 0, 5]], dtype=np.int32)])
def test_float_and_32_bit_tiff_are_stretched(tmp_path, array):
    image = load_image(save(Image.fromarray(array), tmp_path / "f.tif", "TIFF")).image
    assert [image.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_patient_data_never_reaches_the_description_or_logs(tmp_path, recwarn):
    secrets = {
        "PatientName": "Doe^Jane", "PatientID": "MRN-7734921", "PatientBirthDate": "19700101",
        "InstitutionName": "Saint Example Hospital", "ReferringPhysicianName": "House^Gregory",
    }
    series = np.stack([ct_pixels()] * 3)  # a series: its notice is checked too
    ds = dicom_dataset(series, RescaleSlope=1, RescaleIntercept=-1024, **secrets)
    path = tmp_path / "anonymous-name.dcm"
    before = write_dicom(path, ds).read_bytes()
    result = load_image(path)
    assert path.read_bytes() == before  # the original file is never modified
    texts = [result.description, str(result), repr(result), str(result.image.info)]
    texts += result.notices("en") + result.notices("ar") + [repr(result.notes)]
    texts += [str(warning.message) for warning in recwarn]
    for value in secrets.values():
        for text in texts:
            assert value not in text and value.split("^")[0] not in text
    assert not result.image.info
    assert set(vars(result)) == {"image", "source_name", "kind", "description", "notes"}


def test_dicom_without_preamble_needs_the_dcm_extension(tmp_path):
    ds = dicom_dataset(ct_pixels(), WindowCenter=1064, WindowWidth=400)
    bare = Dataset()
    bare.update(ds)
    buffer = io.BytesIO()
    dcmwrite(buffer, bare, implicit_vr=True, little_endian=True)
    data = buffer.getvalue()
    assert data[128:132] != b"DICM"
    result = load_image(data, name="old.dcm")
    assert result.kind == "dicom" and abs(result.image.getpixel((0, 0))[0] - 128) <= 1
    expect_error("image_not_an_image", data, name="old.bin")
    expect_error("image_not_an_image", b"just some text\n" * 20, name="notes.dcm")


def test_truncated_dicom_is_corrupt(tmp_path):
    data = write_dicom(tmp_path / "ct.dcm", dicom_dataset(ct_pixels())).read_bytes()
    error = expect_error("image_corrupt", data[: len(data) - 2000], name="ct.dcm")
    assert "DICOM" in error.message("ar")
    expect_error("image_corrupt", data[:200], name="ct.dcm")  # cut inside the header
    before_pixels = data.rindex(b"\xe0\x7f\x10\x00")  # the (7FE0,0010) Pixel Data tag
    expect_error("image_corrupt", data[:before_pixels], name="ct.dcm")
    expect_error("image_corrupt", data[: before_pixels + 6], name="ct.dcm")


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, JPEGLSLossless])
def test_compressed_dicom_that_cannot_be_decoded(tmp_path, syntax):
    ds = dicom_dataset(np.zeros((16, 16), dtype=np.uint16), syntax=syntax)
    ds.PixelData = encapsulate([b"\x00junk, not a codestream" * 4])
    ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
    error = expect_error("dicom_unsupported_transfer_syntax", write_dicom(tmp_path / "j.dcm", ds))
    for lang in ("en", "ar"):
        assert syntax.name in error.message(lang) and "PNG" in error.message(lang)


def test_dicom_without_pixels(tmp_path):
    ds = dicom_dataset(np.zeros((2, 2), dtype=np.uint8), sop_class=BasicTextSRStorage)
    for keyword in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, keyword)
    ds.Modality = "SR"
    expect_error("dicom_no_pixels", write_dicom(tmp_path / "sr.dcm", ds))


def test_a_huge_dicom_header_is_refused_before_decoding(tmp_path):
    ds = dicom_dataset(np.zeros((4, 4), dtype=np.uint16))
    ds.Rows = ds.Columns = 10000  # the tiny pixel data would be "corrupt" if decoding ran
    expect_error("image_too_large", write_dicom(tmp_path / "huge.dcm", ds))


# --------------------------------------------------------------------------- messages


def test_every_image_message_is_bilingual_with_the_same_placeholders():
    for code in IMAGE_CODES:
        texts = MESSAGES[code]
        fields = {lang: {f for _, f, _, _ in string.Formatter().parse(texts[lang]) if f}
                  for lang in ("en", "ar")}
        assert fields["en"] == fields["ar"], code
        assert ARABIC.search(texts["ar"]) and texts["ar"] != texts["en"]
