"""Labelled image folders (`find_classes`, `find_images`, `detect_channels`, `LabelledDataset`) and the
idx format of MNIST/Fashion-MNIST (`read_idx`, `write_class_folders`)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_images import BLUE, GREEN, RED, noise, solid, write
from PIL import Image
from torchvision import transforms

from cgan_cli.data.classes import (
    LabelledDataset,
    LabelledImages,
    detect_channels,
    find_classes,
    find_images,
    resize_and_centre_crop,
)
from cgan_cli.data.idx import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    read_fashion_mnist,
    read_idx,
    write_class_folders,
)
from cgan_cli.errors import CganError, DataError, ImageReadError


def _mode(path: Path) -> str:
    with Image.open(path) as img:
        return img.mode


def _array(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L"
        return np.asarray(img)


def _one_line(exc: pytest.ExceptionInfo[CganError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


# --- find_classes ---------------------------------------------------------------------------------


def test_find_classes_sorted_names_nested_images_and_labels(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "zebra" / "a.png", solid(4, 4))
    write(root / "cat" / "sub" / "deep" / "b.png", solid(4, 4))
    write(root / "cat" / "a.jpg", solid(4, 4), format="JPEG")
    write(root / "Dog" / "x.png", solid(4, 4))
    write(root / "cat" / ".hidden.png", solid(4, 4))
    write(root / "cat" / ".cache" / "c.png", solid(4, 4))
    write(root / ".git" / "objects.png", solid(4, 4))  # a hidden folder is not a class
    (root / "README.txt").write_text("not an image, not a class")
    (root / "cat" / "notes.txt").write_text("ignored")

    data = find_classes(root)
    assert data.names == ("Dog", "cat", "zebra")  # plain sorted order, as ImageFolder numbers them
    rel = [(p.relative_to(root).as_posix(), label) for p, label in data.items]
    assert rel == [("Dog/x.png", 0), ("cat/a.jpg", 1), ("cat/sub/deep/b.png", 1), ("zebra/a.png", 2)]


def test_find_classes_labels_match_torchvision_image_folder(tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    root = tmp_path / "data"
    for cls in ["b", "a10", "a2", "c"]:
        for i in range(2):
            write(root / cls / f"{i}.png", solid(2, 2))
    ours = find_classes(root)
    theirs = ImageFolder(str(root))
    assert list(ours.names) == theirs.classes
    assert [(str(p), label) for p, label in ours.items] == theirs.samples


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        find_classes(tmp_path / "nope")
    assert _one_line(exc) == f"{tmp_path / 'nope'}: no such folder"


def test_root_is_a_file(tmp_path: Path) -> None:
    f = write(tmp_path / "x.png", solid(2, 2))
    for finder in (find_classes, find_images):
        with pytest.raises(DataError) as exc:
            finder(f)
        assert _one_line(exc) == f"{f}: not a folder"


def test_no_class_subfolders_points_to_dcgan(tmp_path: Path) -> None:
    write(tmp_path / "flat" / "a.png", solid(2, 2))
    write(tmp_path / "flat" / "b.png", solid(2, 2))
    with pytest.raises(DataError) as exc:
        find_classes(tmp_path / "flat")
    msg = _one_line(exc)
    assert str(tmp_path / "flat") in msg and "2 images but no class subfolders" in msg
    assert "one subfolder per class" in msg and "use dcgan" in msg

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class subfolders.*one subfolder per class"):
        find_classes(tmp_path / "empty")


def test_loose_images_next_to_class_folders_would_be_ignored(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "cat" / "a.png", solid(2, 2))
    write(root / "dog" / "a.png", solid(2, 2))
    write(root / "stray.png", solid(2, 2))
    with pytest.raises(DataError) as exc:
        find_classes(root)
    msg = _one_line(exc)
    assert str(root / "stray.png") in msg and "would be ignored" in msg and "class subfolder" in msg


def test_class_folder_without_images_is_named(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "cat" / "a.png", solid(2, 2))
    write(root / "dog" / ".hidden.png", solid(2, 2))
    (root / "dog" / "notes.txt").write_text("x")
    write(root / "emu" / "a.png", solid(2, 2))
    with pytest.raises(DataError) as exc:
        find_classes(root)
    assert _one_line(exc) == f"{root / 'dog'}: class folder holds no images"


def test_a_single_class_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "cat" / "a.png", solid(2, 2))
    with pytest.raises(DataError) as exc:
        find_classes(root)
    msg = _one_line(exc)
    assert str(root) in msg and "(cat)" in msg and "at least 2 classes" in msg and "dcgan" in msg


# --- find_images ----------------------------------------------------------------------------------


def test_find_images_is_recursive_unlabelled(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "b.png", solid(2, 2))
    write(root / "a" / "c.png", solid(2, 2))
    write(root / ".hidden" / "d.png", solid(2, 2))
    data = find_images(root)
    assert data == LabelledImages((), [(root / "a" / "c.png", 0), (root / "b.png", 0)])


def test_find_images_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        find_images(tmp_path / "nope")
    assert _one_line(exc) == f"{tmp_path / 'nope'}: no such folder"
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError) as exc:
        find_images(tmp_path / "empty")
    assert _one_line(exc) == f"{tmp_path / 'empty'}: no images found"


# --- detect_channels ------------------------------------------------------------------------------


@pytest.fixture()
def mixed(tmp_path: Path) -> dict[str, Path]:
    sixteen = Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    return {
        "L": write(tmp_path / "l.png", noise(8, 8, mode="L")),
        "L-jpeg": write(tmp_path / "l.jpg", noise(8, 8, mode="L")),
        "1": write(tmp_path / "bits.png", Image.new("1", (8, 8), 1)),
        "I;16": write(tmp_path / "sixteen.png", sixteen),
        "F": write(tmp_path / "float.tif", Image.new("F", (8, 8), 0.5)),
        "LA": write(tmp_path / "la.png", Image.new("LA", (8, 8), (128, 100))),
        "RGB": write(tmp_path / "rgb.png", noise(8, 8)),
        "RGBA": write(tmp_path / "rgba.png", Image.new("RGBA", (8, 8), (10, 20, 30, 128))),
        "P": write(tmp_path / "p.png", Image.new("L", (8, 8), 77).convert("P")),  # grey palette: still colour
    }


def test_detect_channels_all_grey_modes(mixed: dict[str, Path]) -> None:
    grey = [mixed[k] for k in ("L", "L-jpeg", "1", "I;16", "F", "LA")]
    assert [_mode(p) for p in grey] == ["L", "L", "1", "I;16", "F", "LA"]
    assert detect_channels(grey) == 1
    assert detect_channels([mixed["I;16"]]) == 1


@pytest.mark.parametrize("colour", ["RGB", "RGBA", "P"])
def test_detect_channels_one_colour_image_makes_it_colour(mixed: dict[str, Path], colour: str) -> None:
    assert _mode(mixed[colour]) == colour
    assert detect_channels([mixed["L"], mixed["I;16"], mixed[colour], mixed["1"]]) == 3
    assert detect_channels([mixed[colour]]) == 3


def test_detect_channels_empty_and_unreadable(tmp_path: Path, mixed: dict[str, Path]) -> None:
    assert detect_channels([]) == 3
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a picture")
    with pytest.raises(DataError) as exc:
        detect_channels([mixed["L"], bad])
    assert _one_line(exc) == f"{bad}: not an image Pillow can read"
    with pytest.raises(DataError) as exc:
        detect_channels([tmp_path / "gone.png"])
    assert _one_line(exc) == f"{tmp_path / 'gone.png'}: no such file"


# --- LabelledDataset ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("wh", [(50, 30), (30, 71), (100, 100), (20, 12)])  # wide, tall, square, smaller
def test_dataset_shape_range_dtype(tmp_path: Path, size: int, wh: tuple[int, int]) -> None:
    items = [
        (write(tmp_path / "grey.png", noise(*wh, mode="L")), 0),
        (write(tmp_path / "rgb.png", noise(*wh, seed=1)), 1),
        (write(tmp_path / "rgba.png", noise(*wh, seed=2).convert("RGBA")), 2),
    ]
    data = LabelledImages(("a", "b", "c"), items)
    for channels in (1, 3):
        ds = LabelledDataset(data, image_size=size, channels=channels)
        assert len(ds) == 3
        for i in range(3):
            item = ds[(i, 1234)]
            image, label = item["image"], item["label"]
            assert image.shape == (channels, size, size) and image.dtype == torch.float32
            assert -1.0 <= float(image.min()) and float(image.max()) <= 1.0
            assert float(image.max()) - float(image.min()) > 0.5  # noise survives; not a constant image
            assert label.dtype == torch.int64 and label.shape == () and int(label) == i


def test_dataset_colour_conversions(tmp_path: Path) -> None:
    items = [
        (write(tmp_path / "grey.png", solid(10, 6, (200,), mode="L")), 0),
        (write(tmp_path / "rgb.png", solid(10, 6, RED)), 1),
        (write(tmp_path / "rgba.png", solid(10, 6, (0, 0, 255, 0), mode="RGBA")), 0),  # clear → white
        (write(tmp_path / "pal.png", solid(10, 6, GREEN).convert("P")), 1),
    ]
    rgb = LabelledDataset(LabelledImages(("x", "y"), items), image_size=4, channels=3)
    expect = [(200, 200, 200), RED, (255, 255, 255), GREEN]
    for i, colour in enumerate(expect):
        image = rgb[(i, 0)]["image"]
        assert image.shape == (3, 4, 4)
        assert torch.allclose(image, torch.tensor(colour).float().div(127.5).sub(1).view(3, 1, 1).expand(3, 4, 4))
    grey = LabelledDataset(LabelledImages(("x", "y"), items), image_size=4, channels=1)
    assert grey[(0, 0)]["image"].shape == (1, 4, 4)
    assert torch.allclose(grey[(0, 0)]["image"], torch.full((1, 4, 4), 200 / 127.5 - 1))


def test_centre_crop_is_centred(tmp_path: Path) -> None:
    # Wide, no resize needed: red | green | blue bands, the green one covering the middle 40 columns.
    wide = Image.new("RGB", (100, 20), RED)
    wide.paste(GREEN, (30, 0, 70, 20))
    wide.paste(BLUE, (70, 0, 100, 20))
    # Tall, resized 60×180 → 20×60 then cropped to rows 20..40 (= original rows 60..120, all green).
    tall = Image.new("RGB", (60, 180), RED)
    tall.paste(GREEN, (0, 45, 60, 135))
    tall.paste(BLUE, (0, 135, 60, 180))
    items = [(write(tmp_path / "wide.png", wide), 0), (write(tmp_path / "tall.png", tall), 0)]
    ds = LabelledDataset(LabelledImages((), items), image_size=20, channels=3)
    green = torch.tensor(GREEN).float().div(127.5).sub(1).view(3, 1, 1)
    for i in range(2):
        image = ds[(i, 0)]["image"]
        assert image.shape == (3, 20, 20)
        assert (image - green).abs().max() < 0.02, f"item {i} is not the green centre"


@pytest.mark.parametrize("wh", [(7, 5), (33, 64), (64, 33), (65, 40), (31, 31), (200, 3)])
def test_preprocess_matches_torchvision_resize_and_center_crop(wh: tuple[int, int]) -> None:
    for size in (8, 32):
        img = noise(*wh, seed=wh[0])
        reference = transforms.Compose(
            [transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(size)]
        )(img)
        ours = resize_and_centre_crop(img, size)
        assert ours.size == (size, size)
        assert np.array_equal(np.asarray(ours), np.asarray(reference))


def test_dataset_corrupt_file_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "cat" / "bad.png"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = LabelledDataset(LabelledImages(("cat", "dog"), [(bad, 0)]), image_size=8, channels=3)
    with pytest.raises(ImageReadError) as exc:
        ds[(0, 0)]
    assert _one_line(exc).startswith(f"{bad}: ")


# --- idx ------------------------------------------------------------------------------------------

_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C}
_CODES.update({np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E})


def _idx_bytes(arr: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, _CODES[arr.dtype], arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    data = _idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 0, 9, 1, 1], dtype=np.uint8)
    got = read_idx(_write_idx(tmp_path / ("images.gz" if gz else "images"), images, gz))
    assert got.dtype == np.uint8 and got.shape == (5, 4, 3) and np.array_equal(got, images)
    assert np.array_equal(read_idx(_write_idx(tmp_path / "labels", labels, gz)), labels)


def test_read_idx_other_types_native_order(tmp_path: Path) -> None:
    for dtype in ["i1", "i2", "i4", "f4", "f8"]:
        arr = (np.arange(-6, 6).reshape(3, 4) * 3).astype(dtype)
        got = read_idx(_write_idx(tmp_path / f"x-{dtype}", arr))
        assert got.dtype == np.dtype(dtype) and got.dtype.isnative and np.array_equal(got, arr)


def test_read_idx_refuses_bad_files(tmp_path: Path) -> None:
    good = _idx_bytes(np.zeros((4, 3, 3), dtype=np.uint8))
    cases = {
        "magic": (b"\x01\x02" + good[2:], "not an idx file"),
        "text": (b"hello world", "not an idx file"),
        "short": (b"\0\0", "not an idx file"),
        "type": (good[:2] + b"\x07" + good[3:], "unknown idx data type 0x07"),
        "truncated": (good[:-5], "truncated: header says 4×3×3 uint8 (36 bytes), found 31"),
        "padded": (good + b"\0", "has trailing bytes"),
        "header": (good[:9], "truncated idx header"),
        "nodims": (b"\0\0\x08\0", "declares no dimensions"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError) as exc:
            read_idx(path)
        msg = _one_line(exc)
        assert msg.startswith(f"{path}: ") and expected in msg, (name, msg)
    gz = tmp_path / "truncated.gz"
    gz.write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(DataError, match="damaged gzip data"):
        read_idx(gz)
    gz.write_bytes(gzip.compress(good[:-1]))  # a whole gzip stream around truncated idx data
    with pytest.raises(DataError, match="truncated"):
        read_idx(gz)
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "missing.gz")


# --- write_class_folders --------------------------------------------------------------------------


def test_write_class_folders_layout_and_find_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 6, 5), dtype=np.uint8)
    labels = np.array([2, 0, 1, 2, 2, 0, 1, 1, 0, 2, 0, 1], dtype=np.uint8)
    names = ("t-shirt_top", "bag", "ankle_boot")  # deliberately not in sorted order
    out = tmp_path / "out"
    assert write_class_folders(images, labels, out, names) == 12
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))[:3] == [
        "ankle_boot/00000.png",
        "ankle_boot/00003.png",
        "ankle_boot/00004.png",
    ]
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left behind
    assert np.array_equal(_array(out / "bag" / "00002.png"), images[2])

    data = find_classes(out)
    assert data.names == tuple(sorted(names))  # folders are numbered in sorted order, as by ImageFolder
    assert len(data.items) == 12
    for path, label in data.items:
        index = int(path.stem)
        assert data.names[label] == names[labels[index]]
        assert np.array_equal(_array(path), images[index])
    assert detect_channels([p for p, _ in data.items]) == 1
    item = LabelledDataset(data, image_size=6, channels=1)[(0, 0)]
    assert item["image"].shape == (1, 6, 6)


def test_write_class_folders_limit_and_rerun(tmp_path: Path) -> None:
    images = np.zeros((10, 3, 3), dtype=np.uint8)
    labels = np.array([0, 1, 0, 0, 1, 1, 1, 0, 0, 1], dtype=np.uint8)
    out = tmp_path / "out"
    assert write_class_folders(images, labels, out, ["a", "b"], limit_per_class=2) == 4
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "a/00000.png",
        "a/00002.png",
        "b/00001.png",
        "b/00004.png",
    ]
    assert write_class_folders(images, labels, out, ["a", "b"], limit_per_class=2) == 0
    (out / "a" / "00002.png").unlink()
    assert write_class_folders(images, labels, out, ["a", "b"], limit_per_class=3) == 3  # a/2, a/3, b/5
    assert write_class_folders(images, labels, out, ["a", "b"]) == 10 - 6


def test_write_class_folders_refuses_bad_input(tmp_path: Path) -> None:
    images = np.zeros((3, 2, 2), dtype=np.uint8)
    labels = np.array([0, 1, 2], dtype=np.uint8)
    with pytest.raises(DataError, match="label 2 has no class name"):
        write_class_folders(images, labels, tmp_path, ["a", "b"])
    with pytest.raises(DataError, match="cannot be a class folder name"):
        write_class_folders(images, labels, tmp_path, ["a", "b/c", "d"])
    with pytest.raises(DataError, match="2 labels"):
        write_class_folders(images, labels[:2], tmp_path, ["a", "b", "c"])
    with pytest.raises(DataError, match="uint8 images"):
        write_class_folders(images.astype(np.float32), labels, tmp_path, ["a", "b", "c"])
    assert not list(tmp_path.iterdir())


def test_fashion_mnist_class_names() -> None:
    assert len(FASHION_MNIST_CLASSES) == 10 == len(set(FASHION_MNIST_CLASSES))
    assert FASHION_MNIST_CLASSES[0] == "t-shirt_top" and FASHION_MNIST_CLASSES[9] == "ankle_boot"
    assert all(n == n.lower() and "/" not in n and " " not in n for n in FASHION_MNIST_CLASSES)


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason=f"{FASHION_MNIST_DIR} absent (Debian dataset-fashion-mnist)")
def test_real_fashion_mnist(tmp_path: Path) -> None:
    images, labels = read_fashion_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and int(labels.min()) == 0 and int(labels.max()) == 9
    assert np.bincount(labels).tolist() == [6000] * 10
    assert np.array_equal(read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz"), labels)
    test_images, test_labels = read_fashion_mnist("t10k")
    assert test_images.shape == (10000, 28, 28) and np.bincount(test_labels).tolist() == [1000] * 10

    out = tmp_path / "fashion"
    assert write_class_folders(images, labels, out, FASHION_MNIST_CLASSES, limit_per_class=2) == 20
    data = find_classes(out)
    assert sorted(data.names) == sorted(FASHION_MNIST_CLASSES) and len(data.items) == 20
    for path, label in data.items:
        assert data.names[label] == FASHION_MNIST_CLASSES[labels[int(path.stem)]]
