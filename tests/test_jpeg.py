"""torchvision's JPEG decoder (cgan_cli/data/jpeg.py): same pixels as Pillow where it is taken, Pillow (and
its errors) everywhere else, and wired into translate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_images import noise, write
from PIL import Image, ImageOps

from cgan_cli.data import jpeg
from cgan_cli.data.io import image_to_uint8_tensor, normalise_mode, read_image
from cgan_cli.errors import ImageReadError

pytestmark = pytest.mark.skipif(jpeg._torchvision_decoder() is None, reason="torchvision has no JPEG decoder")


def pillow_only(path: Path, channels: int) -> np.ndarray:
    """What read_image gave before the torchvision path: Pillow decode, EXIF transpose, mode conversion."""
    with Image.open(path) as img:
        img.load()
        img = ImageOps.exif_transpose(img) or img
        return np.asarray(normalise_mode(img, channels))


def photo(width: int = 72, height: int = 48) -> Image.Image:
    """Smooth colour with texture, so chroma subsampling and the IDCT both matter."""
    return noise(width // 8, height // 8, seed=3).resize((width, height), Image.Resampling.BICUBIC)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[jpeg.EXIF_ORIENTATION] = orientation
    return exif


VARIANTS = {
    "420": lambda: (photo(), {"quality": 90}),
    "444": lambda: (photo(), {"quality": 90, "subsampling": 0}),
    "progressive": lambda: (photo(), {"quality": 75, "progressive": True}),
    "odd-size": lambda: (photo(71, 45), {"quality": 85}),
    "grey": lambda: (photo().convert("L"), {"quality": 90}),
    **{f"exif{o}": (lambda o=o: (photo(), {"quality": 90, "exif": _exif(o)})) for o in range(1, 9)},
}


CPU = torch.device("cpu")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("channels", [3, 1])
def test_torchvision_decode_equals_pillow_where_it_is_taken(tmp_path: Path, variant: str, channels: int) -> None:
    img, options = VARIANTS[variant]()
    path = write(tmp_path / "x.jpg", img, **options)
    expected = pillow_only(path, channels)
    got = jpeg.read_tensor(path, channels, CPU)
    if channels == 1 and img.mode == "RGB":
        assert got is None  # colour → grey is Pillow's conversion, not libjpeg's
        return
    assert got is not None and got.dtype == torch.uint8
    arr = got.permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(arr[:, :, 0] if channels == 1 else arr, expected)


def test_exif_orientation_really_rotates(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jpg", photo(72, 48), quality=95, exif=_exif(6))
    t = jpeg.decode(path, 3)
    assert t is not None and tuple(t.shape) == (3, 72, 48)  # 90° turn: height and width swap


def test_cmyk_goes_to_pillow(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jpg", photo().convert("CMYK"), quality=90)
    assert jpeg.read_tensor(path, 3, CPU) is None
    with Image.open(path) as img:
        assert not jpeg.decodable(img, 3)


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_truncated_jpeg_still_fails_with_pillows_message(tmp_path: Path, cut: float) -> None:
    data = (write(tmp_path / "whole.jpg", photo(), quality=90)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * cut)])
    assert jpeg.decode(path, 3) is None
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


def test_png_named_jpg_is_read_by_pillow(tmp_path: Path) -> None:
    path = write(tmp_path / "p.png", photo())
    disguised = tmp_path / "p.jpg"
    disguised.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(np.asarray(read_image(disguised)), np.asarray(photo()))
    assert jpeg.read_tensor(disguised, 3, torch.device("cpu")) is None


def test_read_tensor_matches_read_image(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jpg", photo(), quality=90, exif=_exif(3))
    t = jpeg.read_tensor(path, 3, torch.device("cpu"))
    assert t is not None and t.dtype == torch.uint8
    assert torch.equal(t, image_to_uint8_tensor(read_image(path)))


def test_translate_decodes_jpegs_with_torchvision_and_matches_pillow_path(tmp_path: Path, monkeypatch) -> None:
    """The translate pipeline reads JPEGs through torchvision; its tensors equal the Pillow route's, aligned
    halves included."""
    from cgan_cli.families.base import Translator
    from cgan_cli.translation import Job, TranslationRun

    path = write(tmp_path / "ab.jpg", photo(96, 40), quality=90)
    run = TranslationRun(Translator(None, 3, 3, 1, "right"), torch.device("cpu"), aligned=True)
    calls: list[Path] = []
    real = jpeg.read_tensor
    monkeypatch.setattr(jpeg, "read_tensor", lambda p, c, d: calls.append(p) or real(p, c, d))
    job = run._decode(Job(type("Item", (), {"path": path})(), tmp_path / "out.png"))
    assert calls == [path] and job.error is None
    right = np.asarray(read_image(path))[:, 48:96]
    assert torch.equal(job.tensor, torch.from_numpy(right.copy()).permute(2, 0, 1))  # uint8 until its batch runs


def test_translate_fallback_decodes_land_on_the_decode_device(tmp_path: Path, monkeypatch) -> None:
    """With GPU decoding, files torchvision does not take (PNG, CMYK, …) must reach the same device as the
    nvJPEG ones, or a batch would mix devices; "meta" stands in for CUDA here."""
    from cgan_cli.families.base import Translator
    from cgan_cli.translation import TranslationRun

    path = write(tmp_path / "x.png", photo())
    run = TranslationRun(Translator(None, 3, 3, 1, "left"), torch.device("meta"))
    run.gpu_decode = True
    monkeypatch.setattr(jpeg, "read_tensor", lambda p, c, d: None)
    assert run._read(path).device.type == "meta"


XMP_ORIENTATION_6 = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


def test_xmp_only_orientation_goes_to_pillow(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jpg", photo(72, 48), quality=90, xmp=XMP_ORIENTATION_6)
    with Image.open(path) as img:
        assert jpeg.orientation(img) == 6 and "exif" not in img.info  # Pillow sees the XMP orientation
    got = np.asarray(read_image(path))
    assert got.shape == (72, 48, 3)  # rotated, as Pillow does
    np.testing.assert_array_equal(got, pillow_only(path, 3))
    assert jpeg.read_tensor(path, 3, CPU) is None


def test_decompression_bomb_limit_still_applies(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "big.jpg", photo(90, 60), quality=90)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)  # 5400 pixels: over, but under Pillow's 2× error
    assert jpeg.read_tensor(path, 3, torch.device("cpu")) is None
    with pytest.raises(ImageReadError, match="too large"):
        read_image(path)
