"""`read_image`, `image_size` and `save_image` on every odd kind of file, made here with Pillow/numpy."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_images import BLUE, GREEN, RED, WHITE, close, corner_colours, noise, pixels, solid, with_marker, write
from PIL import Image, features

from cgan_cli.data.io import image_size, read_image, save_image, to_tensor
from cgan_cli.errors import ImageReadError, UsageError

needs_webp = pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")


# --- modes ----------------------------------------------------------------------------------------


def test_grayscale_becomes_rgb_with_equal_channels(tmp_path: Path) -> None:
    path = write(tmp_path / "g.png", noise(9, 7, mode="L"))
    img = read_image(path)
    assert img.mode == "RGB" and img.size == (9, 7)
    arr = pixels(img)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert (arr[..., 0] == pixels(path)).all()


def test_channels_1_gives_grayscale(tmp_path: Path) -> None:
    gray = write(tmp_path / "g.png", noise(9, 7, mode="L"))
    img = read_image(gray, channels=1)
    assert img.mode == "L" and (pixels(img) == pixels(gray)).all()
    colour = read_image(write(tmp_path / "c.png", solid(4, 4, RED)), channels=1)
    assert colour.mode == "L"
    assert abs(int(pixels(colour)[0, 0]) - 76) <= 1  # ITU-R 601 luma of pure red


def test_palette_without_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (4, 2), 0)
    img.putpalette([0, 0, 0, *RED, *BLUE] + [0] * (256 * 3 - 9))
    img.putpixel((1, 0), 1)
    img.putpixel((2, 0), 2)
    path = write(tmp_path / "p.png", img)
    assert Image.open(path).mode == "P"
    out = read_image(path)
    assert out.mode == "RGB"
    arr = pixels(out)
    assert tuple(arr[0, 0]) == (0, 0, 0) and tuple(arr[0, 1]) == RED and tuple(arr[0, 2]) == BLUE


@pytest.mark.parametrize("ext", ["png", "gif"])
def test_palette_with_transparency_goes_on_white(tmp_path: Path, ext: str) -> None:
    img = Image.new("P", (4, 2), 0)
    img.putpalette([0, 0, 0, *RED, *BLUE] + [0] * (256 * 3 - 9))
    img.putpixel((1, 0), 1)
    img.putpixel((2, 0), 2)
    path = write(tmp_path / f"p.{ext}", img, transparency=2)  # index 2 (blue) is transparent
    out = pixels(read_image(path))
    assert tuple(out[0, 2]) == WHITE
    assert tuple(out[0, 1]) == RED and tuple(out[0, 0]) == (0, 0, 0)


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (3, 1))
    img.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black → white
    img.putpixel((1, 0), (0, 0, 0, 128))  # half-transparent black → mid grey
    img.putpixel((2, 0), (*BLUE, 255))  # opaque stays
    out = pixels(read_image(write(tmp_path / "a.png", img)))
    assert tuple(out[0, 0]) == WHITE
    assert all(abs(int(v) - 128) <= 2 for v in out[0, 1])
    assert tuple(out[0, 2]) == BLUE
    gray = pixels(read_image(tmp_path / "a.png", channels=1))
    assert gray[0, 0] == 255 and abs(int(gray[0, 1]) - 128) <= 2


def test_la_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("LA", (3, 1))
    img.putpixel((0, 0), (0, 0))
    img.putpixel((1, 0), (0, 128))
    img.putpixel((2, 0), (40, 255))
    path = write(tmp_path / "la.png", img)
    assert Image.open(path).mode == "LA"
    out = pixels(read_image(path))
    assert tuple(out[0, 0]) == WHITE
    assert all(abs(int(v) - 128) <= 2 for v in out[0, 1])
    assert tuple(out[0, 2]) == (40, 40, 40)
    one = read_image(path, channels=1)
    assert one.mode == "L" and pixels(one)[0, 0] == 255 and pixels(one)[0, 2] == 40


@pytest.mark.parametrize("mode,key,other", [("RGB", RED, (10, 20, 30)), ("L", 7, 100)])
def test_colour_key_transparency_goes_on_white(tmp_path: Path, mode: str, key, other) -> None:
    img = Image.new(mode, (2, 1), other)
    img.putpixel((0, 0), key)
    path = write(tmp_path / "k.png", img, transparency=key)
    assert "transparency" in Image.open(path).info
    out = pixels(read_image(path))
    assert tuple(out[0, 0]) == WHITE


def test_one_bit_image(tmp_path: Path) -> None:
    img = Image.new("1", (2, 1), 0)
    img.putpixel((0, 0), 1)
    out = pixels(read_image(write(tmp_path / "b.png", img)))
    assert tuple(out[0, 0]) == WHITE and tuple(out[0, 1]) == (0, 0, 0)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    img = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # red
    img.paste((255, 0, 0, 0), (8, 0, 16, 8))  # cyan
    path = write(tmp_path / "c.jpg", img, quality=95)
    assert Image.open(path).mode == "CMYK"
    out = read_image(path)
    assert out.mode == "RGB" and out.size == (16, 8)
    arr = pixels(out)
    assert close(tuple(arr[4, 2]), RED, 20)
    assert close(tuple(arr[4, 13]), (0, 255, 255), 20)


# --- high bit depth -------------------------------------------------------------------------------


def _ramp16() -> np.ndarray:
    return np.array([[0, 1000, 20000, 32768, 50000, 65535]], dtype=np.uint16)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_gray_scaled_not_clipped(tmp_path: Path, ext: str) -> None:
    path = write(tmp_path / f"g16.{ext}", Image.fromarray(_ramp16()))
    assert Image.open(path).mode in ("I;16", "I;16B", "I;16L", "I")
    out = read_image(path, channels=1)
    row = pixels(out)[0].tolist()
    assert row[0] == 0 and row[-1] == 255
    assert abs(row[3] - 128) <= 1  # 32768 → ~128 (clipping would give 255)
    assert row == sorted(row) and len(set(row)) == len(row)  # the ramp keeps its order
    rgb = pixels(read_image(path))
    assert (rgb[..., 0] == np.array(row)).all() and (rgb[..., 2] == np.array(row)).all()


def test_16bit_wide_ramp_uses_whole_range(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 256).astype(np.uint16)[None, :].repeat(3, 0)
    out = pixels(read_image(write(tmp_path / "ramp.png", Image.fromarray(ramp)), channels=1))
    assert (np.diff(out[0]) >= 0).all()
    assert len(np.unique(out[0])) > 200  # not collapsed onto a few values, nor clipped to 255


def test_32bit_int_tiff_mode_i(tmp_path: Path) -> None:
    path = write(tmp_path / "i.tif", Image.fromarray(_ramp16().astype(np.int32)))
    assert Image.open(path).mode == "I"
    row = pixels(read_image(path, channels=1))[0].tolist()
    assert row[0] == 0 and row[-1] == 255 and abs(row[3] - 128) <= 1


def test_float_tiff_mode_f(tmp_path: Path) -> None:
    unit = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)
    path = write(tmp_path / "f.tif", Image.fromarray(unit, mode="F"))
    assert Image.open(path).mode == "F"
    row = pixels(read_image(path, channels=1))[0].tolist()
    assert row[0] == 0 and row[-1] == 255 and abs(row[2] - 128) <= 1 and abs(row[1] - 64) <= 1
    big = write(tmp_path / "f2.tif", Image.fromarray(unit * 1000, mode="F"))
    row = pixels(read_image(big, channels=1))[0].tolist()
    assert row[0] == 0 and row[-1] == 255 and abs(row[2] - 128) <= 1


# --- EXIF orientation -----------------------------------------------------------------------------

# Orientation 6: the stored top-left is shown top-right (rotate 90° clockwise);
# orientation 8: it is shown bottom-left (rotate 90° counter-clockwise); 3: bottom-right (180°).
MARKER_LANDS = {6: "top-right", 8: "bottom-left", 3: "bottom-right", 1: "top-left"}


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("orientation", [6, 8, 3, 1])
def test_exif_rotated_jpeg(tmp_path: Path, orientation: int) -> None:
    path = write(tmp_path / "r.jpg", with_marker(40, 24, RED, box=8), exif=_exif(orientation), quality=95)
    img = read_image(path)
    swapped = orientation in (6, 8)
    assert img.size == ((24, 40) if swapped else (40, 24))
    assert image_size(path) == img.size
    corners = corner_colours(img)
    for name, colour in corners.items():
        want = RED if name == MARKER_LANDS[orientation] else WHITE
        assert close(colour, want, 30), (name, colour)


@pytest.mark.parametrize(
    "ext",
    [
        "png",
        pytest.param("webp", marks=needs_webp),
        "tif",
    ],
)
def test_exif_rotation_lossless_formats_agree_with_image_size(tmp_path: Path, ext: str) -> None:
    options = {"lossless": True} if ext == "webp" else {}
    path = write(tmp_path / f"r.{ext}", with_marker(40, 24, GREEN, box=8), exif=_exif(6), **options)
    img = read_image(path)
    assert img.size == (24, 40)
    assert corner_colours(img)["top-right"] == GREEN and corner_colours(img)["top-left"] == WHITE
    assert image_size(path) == (24, 40)


# --- other formats --------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["gif", "png", pytest.param("webp", marks=needs_webp)])
def test_animated_image_gives_first_frame(tmp_path: Path, ext: str) -> None:
    frames = [solid(8, 6, RED), solid(8, 6, BLUE), solid(8, 6, GREEN)]
    options = {"lossless": True} if ext == "webp" else {}
    path = tmp_path / f"anim.{ext}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0, **options)
    assert getattr(Image.open(path), "n_frames", 1) == 3
    img = read_image(path)
    assert img.size == (8, 6) and img.mode == "RGB"
    assert close(tuple(pixels(img)[3, 4]), RED, 4)


@pytest.mark.parametrize(
    "ext,options",
    [
        pytest.param("webp", {"lossless": True}, marks=needs_webp),
        ("bmp", {}),
        ("tga", {}),
        ("ppm", {}),
        ("tiff", {}),
    ],
)
def test_lossless_formats_round_trip(tmp_path: Path, ext: str, options: dict) -> None:
    src = noise(13, 11, seed=3)
    path = write(tmp_path / f"x.{ext}", src, **options)
    img = read_image(path)
    assert img.mode == "RGB" and img.size == (13, 11)
    assert (pixels(img) == pixels(src)).all()


@needs_webp
def test_webp_with_alpha_goes_on_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (4, 4), (*BLUE, 255))
    img.paste((0, 0, 0, 0), (0, 0, 2, 4))
    out = pixels(read_image(write(tmp_path / "a.webp", img, lossless=True)))
    assert tuple(out[1, 0]) == WHITE and tuple(out[1, 3]) == BLUE


# --- bad files ------------------------------------------------------------------------------------


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    noise(64, 64, seed=1).save(buf, fmt)
    return buf.getvalue()


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    bad = {}
    bad["zero-byte"] = tmp_path / "empty.png"
    bad["zero-byte"].write_bytes(b"")
    bad["text"] = tmp_path / "notes.png"
    bad["text"].write_text("this is not an image\n")
    jpg, png = _encoded("JPEG"), _encoded("PNG")
    bad["truncated-jpeg"] = tmp_path / "cut.jpg"
    bad["truncated-jpeg"].write_bytes(jpg[: len(jpg) // 2])
    bad["truncated-png"] = tmp_path / "cut.png"
    bad["truncated-png"].write_bytes(png[: len(png) // 2])
    bad["folder"] = tmp_path / "folder.png"
    bad["folder"].mkdir()
    bad["missing"] = tmp_path / "missing.png"
    return bad


@pytest.mark.parametrize("kind", ["zero-byte", "text", "truncated-jpeg", "truncated-png", "folder", "missing"])
def test_bad_file_raises_one_line_image_read_error(tmp_path: Path, kind: str) -> None:
    path = _bad_inputs(tmp_path)[kind]
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message and message.strip() == message
    assert len(message) > len(str(path)) + 2  # says why, not just the path
    assert info.value.path == path


def test_truncated_files_say_truncated(tmp_path: Path) -> None:
    bad = _bad_inputs(tmp_path)
    for kind in ("truncated-jpeg", "truncated-png"):
        with pytest.raises(ImageReadError, match="truncated"):
            read_image(bad[kind])


@pytest.mark.parametrize("kind", ["zero-byte", "text", "missing"])
def test_image_size_of_bad_file_raises_image_read_error(tmp_path: Path, kind: str) -> None:
    path = _bad_inputs(tmp_path)[kind]
    with pytest.raises(ImageReadError) as info:
        image_size(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# --- save_image -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("o.png", "PNG"),
        ("o.PNG", "PNG"),
        ("o.jpg", "JPEG"),
        ("o.jpeg", "JPEG"),
        pytest.param("o.webp", "WEBP", marks=needs_webp),
    ],
)
def test_save_image_format_from_extension(tmp_path: Path, name: str, fmt: str) -> None:
    out = save_image(noise(10, 6), tmp_path / "sub" / name)
    assert out == tmp_path / "sub" / name
    with Image.open(out) as img:
        assert img.format == fmt and img.size == (10, 6)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [name]  # no temp file left


def test_save_image_png_is_lossless_and_tensor_round_trips(tmp_path: Path) -> None:
    src = noise(12, 5, seed=7)
    save_image(src, tmp_path / "a.png")
    assert (pixels(tmp_path / "a.png") == pixels(src)).all()
    save_image(to_tensor(src), tmp_path / "t.png")
    assert (pixels(tmp_path / "t.png") == pixels(src)).all()
    gray = noise(12, 5, seed=8, mode="L")
    save_image(to_tensor(gray), tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as img:
        assert img.mode == "L"
    assert (pixels(tmp_path / "g.png") == pixels(gray)).all()


def test_save_image_file_mode_follows_umask(tmp_path: Path) -> None:
    path = save_image(noise(4, 4), tmp_path / "m.png")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("name", ["o.gif", "o.tiff", "o.bmp", "noext"])
def test_save_image_refuses_unknown_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError) as info:
        save_image(noise(4, 4), tmp_path / name)
    assert name in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_save_image_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "o.png"
    save_image(solid(4, 4, RED), target)
    save_image(solid(4, 4, BLUE), target)
    assert tuple(pixels(target)[0, 0]) == BLUE
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_save_image_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "o.png"
    save_image(solid(4, 4, RED), target)
    before = target.read_bytes()
    written: list[str] = []

    def broken_save(self, fp, format=None, **params):
        Path(fp).write_bytes(b"\x89PNG half a file")
        written.append(str(fp))
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(solid(4, 4, BLUE), target)
    assert written and Path(written[0]) != target  # it wrote beside the target, not onto it
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
    # and a first write that fails leaves nothing at all
    with pytest.raises(OSError):
        save_image(solid(4, 4, BLUE), tmp_path / "new.png")
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_save_image_keyboard_interrupt_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    def interrupted(self, fp, format=None, **params):
        Path(fp).write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_image(solid(4, 4), tmp_path / "k.png")
    assert list(tmp_path.iterdir()) == []


def test_to_tensor_range_and_layout() -> None:
    img = Image.fromarray(np.array([[[0, 255, 128]]], dtype=np.uint8))
    t = to_tensor(img)
    assert t.shape == (3, 1, 1) and t.dtype == torch.float32
    assert torch.allclose(t.flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)
