"""Captioned image folders (`find_captioned`, `CaptionedImages`, `first_captions`, `CaptionedDataset`):
sidecar `.txt` files and `captions.jsonl`, their precedence, and every layout mistake as a one-line DataError."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from helpers_images import RED, noise, solid, write

from cgan_cli.data.captions import CaptionedDataset, CaptionedImages, find_captioned, first_captions
from cgan_cli.errors import DataError

FLICKR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "flickr8k-700"


def image(path: Path, seed: int = 0, size: tuple[int, int] = (12, 10)) -> Path:
    return write(path, noise(*size, seed=seed))


def text(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def jsonl(root: Path, *entries: object) -> Path:
    """captions.jsonl with one line per entry; a str entry is written verbatim (blank or broken lines)."""
    lines = [e if isinstance(e, str) else json.dumps(e) for e in entries]
    return text(root / "captions.jsonl", "\n".join(lines) + "\n")


def by_name(data: CaptionedImages) -> dict[str, tuple[str, ...]]:
    return {p.relative_to(data.root).as_posix(): caps for p, caps in data.items}


def data_error(root: Path) -> str:
    """The message of the DataError find_captioned raises, checked to be a single line."""
    with pytest.raises(DataError) as info:
        find_captioned(root)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


# ------------------------------------------------------------------ layouts


def test_sidecars_one_caption_per_line_stripped_blank_lines_skipped(tmp_path: Path) -> None:
    image(tmp_path / "b.png", 1)
    image(tmp_path / "a.jpg", 2)
    text(tmp_path / "a.txt", "  a red bird \n\n   \nA bird on a branch.\n")
    text(tmp_path / "b.txt", "\ufeffwindows line one\r\nline two\r\n\r\n")  # BOM and CRLF are fine
    data = find_captioned(tmp_path)
    assert data.root == tmp_path
    assert by_name(data) == {"a.jpg": ("a red bird", "A bird on a branch."), "b.png": ("windows line one", "line two")}
    assert [p.name for p, _ in data.items] == ["a.jpg", "b.png"]


def test_jsonl_captions_list_and_single_caption(tmp_path: Path) -> None:
    image(tmp_path / "one.png", 1)
    image(tmp_path / "sub" / "two.png", 2)
    image(tmp_path / "three.png", 3)
    jsonl(
        tmp_path,
        {"file": "one.png", "captions": ["first", " second "]},
        "",
        "   ",
        {"file": "sub/two.png", "caption": "only one"},
        {"file": "./three.png", "captions": ["c3"]},
        {"file": "three.png", "caption": "c3 again"},  # one line per caption (COCO style) adds up
    )
    data = find_captioned(tmp_path)
    assert by_name(data) == {
        "one.png": ("first", "second"),
        "sub/two.png": ("only one",),
        "three.png": ("c3", "c3 again"),
    }


def test_sidecar_wins_over_jsonl_and_layouts_mix(tmp_path: Path) -> None:
    image(tmp_path / "both.png", 1)
    image(tmp_path / "json_only.png", 2)
    image(tmp_path / "txt_only.png", 3)
    text(tmp_path / "both.txt", "from the sidecar\n")
    text(tmp_path / "txt_only.txt", "sidecar two\n")
    jsonl(tmp_path, {"file": "both.png", "captions": ["from jsonl"]}, {"file": "json_only.png", "caption": "jsonl"})
    assert by_name(find_captioned(tmp_path)) == {
        "both.png": ("from the sidecar",),
        "json_only.png": ("jsonl",),
        "txt_only.png": ("sidecar two",),
    }


def test_recursive_sorted_by_relative_path_and_hidden_skipped(tmp_path: Path) -> None:
    for rel in ["b.png", "a/z.png", "a/deeper/m.png", "c/a.png"]:
        image(tmp_path / rel)
        text((tmp_path / rel).with_suffix(".txt"), f"caption of {rel}\n")
    image(tmp_path / ".cache" / "thumb.png")  # hidden: neither an image without a caption ...
    text(tmp_path / ".notes" / "todo.txt", "not a caption\n")  # ... nor a stray caption file
    image(tmp_path / ".hidden.png")
    data = find_captioned(tmp_path)
    assert list(by_name(data)) == ["a/deeper/m.png", "a/z.png", "b.png", "c/a.png"]
    assert all(caps == (f"caption of {p.relative_to(tmp_path).as_posix()}",) for p, caps in data.items)


def test_same_stem_images_share_one_sidecar(tmp_path: Path) -> None:
    image(tmp_path / "a.jpg", 1)
    image(tmp_path / "a.png", 2)
    text(tmp_path / "a.txt", "shared\n")
    assert by_name(find_captioned(tmp_path)) == {"a.jpg": ("shared",), "a.png": ("shared",)}


def test_caption_range_indexes_the_flattened_captions(tmp_path: Path) -> None:
    counts = [3, 1, 2, 5]
    for i, n in enumerate(counts):
        image(tmp_path / f"{i}.png", i)
        text(tmp_path / f"{i}.txt", "".join(f"image {i} caption {k}\n" for k in range(n)))
    data = find_captioned(tmp_path)
    flat = data.captions()
    assert len(flat) == sum(counts)
    stop = 0
    for i, (_, caps) in enumerate(data.items):
        start, stop_i = data.caption_range(i)
        assert start == stop  # contiguous, in item order
        assert flat[start:stop_i] == list(caps)
        stop = stop_i
    assert stop == len(flat)
    assert data.caption_range(-1) == data.caption_range(len(counts) - 1)
    with pytest.raises(IndexError):
        data.caption_range(len(counts))
    flat.append("mutating the returned list")  # must not leak into the dataset
    assert len(data.captions()) == sum(counts)


def test_first_captions(tmp_path: Path) -> None:
    image(tmp_path / "x.png", 1)
    image(tmp_path / "y.png", 2)
    text(tmp_path / "x.txt", "\n  first of x \nsecond of x\n")
    jsonl(tmp_path, {"file": "y.png", "captions": ["first of y", "second of y"]})
    assert first_captions(find_captioned(tmp_path)) == {
        tmp_path / "x.png": "first of x",
        tmp_path / "y.png": "first of y",
    }


# ------------------------------------------------------------------ dataset


@pytest.fixture
def captioned(tmp_path: Path) -> CaptionedImages:
    """Three 40×30 noise images with 4, 1 and 3 captions."""
    for i, n in enumerate([4, 1, 3]):
        image(tmp_path / f"{i}.png", seed=i, size=(40, 30))
        text(tmp_path / f"{i}.txt", "".join(f"{i}:{k}\n" for k in range(n)))
    return find_captioned(tmp_path)


@pytest.mark.parametrize("channels", [3, 1])
def test_dataset_item_shape_range_and_types(captioned: CaptionedImages, channels: int) -> None:
    ds = CaptionedDataset(captioned, image_size=16, channels=channels)
    assert len(ds) == 3
    item = ds[(0, 7)]
    assert item["image"].shape == (channels, 16, 16) and item["image"].dtype == torch.float32
    assert -1.0 <= item["image"].min() < item["image"].max() <= 1.0
    assert item["caption"].dtype == torch.int64 and item["caption"].dim() == 0


def test_dataset_resizes_like_labelled_dataset(tmp_path: Path) -> None:
    write(tmp_path / "red.png", solid(30, 20, RED))
    text(tmp_path / "red.txt", "red\n")
    img = CaptionedDataset(find_captioned(tmp_path), image_size=8)[(0, 0)]["image"]
    assert torch.allclose(img[0], torch.ones(8, 8)) and torch.allclose(img[1:], -torch.ones(2, 8, 8))


def test_caption_drawn_is_own_deterministic_and_covers_all(captioned: CaptionedImages) -> None:
    ds = CaptionedDataset(captioned, image_size=8)
    flat = captioned.captions()
    for index in range(len(ds)):
        start, stop = captioned.caption_range(index)
        drawn = [int(ds[(index, seed)]["caption"]) for seed in range(60)]
        assert all(start <= c < stop for c in drawn)
        assert all(flat[c].startswith(f"{index}:") for c in drawn)
        assert set(drawn) == set(range(start, stop))  # every caption of the image gets drawn
        assert drawn == [int(ds[(index, seed)]["caption"]) for seed in range(60)]  # same seed, same caption
    # a fresh dataset over the same data (another worker, a resumed run) agrees
    again = CaptionedDataset(captioned, image_size=8)
    assert all(int(again[(0, s)]["caption"]) == int(ds[(0, s)]["caption"]) for s in range(20))


def test_flip_is_deterministic_per_seed_and_independent_of_caption(captioned: CaptionedImages) -> None:
    plain = CaptionedDataset(captioned, image_size=16)
    flipping = CaptionedDataset(captioned, image_size=16, flip=True)
    upright = plain[(0, 0)]["image"]
    flipped_seeds = []
    for seed in range(40):
        item = flipping[(0, seed)]
        assert torch.equal(item["image"], flipping[(0, seed)]["image"])
        assert torch.equal(item["caption"], plain[(0, seed)]["caption"])  # flip on/off keeps the caption
        assert torch.equal(plain[(0, seed)]["image"], upright)
        if torch.equal(item["image"], torch.flip(upright, dims=[2])):
            flipped_seeds.append(seed)
        else:
            assert torch.equal(item["image"], upright)
    assert 5 < len(flipped_seeds) < 35


def test_dataset_survives_pickling_for_workers(captioned: CaptionedImages) -> None:
    """DataLoader workers get a pickled copy; it must give the same items (caption offsets included)."""
    ds = CaptionedDataset(captioned, image_size=8, flip=True)
    captioned.caption_range(0)  # fill the cached offsets before pickling
    copy = pickle.loads(pickle.dumps(ds))
    for key in [(0, 1), (1, 2), (2, 3)]:
        assert torch.equal(copy[key]["image"], ds[key]["image"]) and torch.equal(
            copy[key]["caption"], ds[key]["caption"]
        )


def test_dataset_rejects_bad_arguments(captioned: CaptionedImages) -> None:
    with pytest.raises(ValueError):
        CaptionedDataset(captioned, image_size=16, channels=2)
    with pytest.raises(ValueError):
        CaptionedDataset(captioned, image_size=0)


# ------------------------------------------------------------------ errors


def test_missing_folder_file_and_empty_folder(tmp_path: Path) -> None:
    assert str(tmp_path / "nope") in data_error(tmp_path / "nope")
    not_dir = text(tmp_path / "file.txt", "x\n")
    assert str(not_dir) in data_error(not_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    text(empty / "orphan.txt", "only captions\n")
    message = data_error(empty)
    assert str(empty) in message and "no images" in message


def test_image_without_caption_is_named(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    text(tmp_path / "a.txt", "fine\n")
    image(tmp_path / "sub" / "lonely.png")
    message = data_error(tmp_path)
    assert str(tmp_path / "sub" / "lonely.png") in message and "other" not in message


def test_several_images_without_captions_are_counted(tmp_path: Path) -> None:
    for name in ["a.png", "b.png", "c.png"]:
        image(tmp_path / name)
    message = data_error(tmp_path)
    assert str(tmp_path / "a.png") in message and "2 other images" in message


@pytest.mark.parametrize("content", ["", "\n  \n\t\n", "\ufeff\r\n"])
def test_empty_caption_file(tmp_path: Path, content: str) -> None:
    image(tmp_path / "a.png")
    image(tmp_path / "b.png")
    text(tmp_path / "a.txt", "fine\n")
    text(tmp_path / "b.txt", content)
    assert str(tmp_path / "b.txt") in data_error(tmp_path)


def test_caption_file_not_utf8(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    text(tmp_path / "a.txt", "first line\ncaf\xe9 au lait\n".encode("latin-1"))
    message = data_error(tmp_path)
    assert f"{tmp_path / 'a.txt'}:2" in message and "UTF-8" in message


@pytest.mark.parametrize("name", ["orphan.txt", "sub/orphan.txt", "notes.txt"])
def test_sidecar_without_image(tmp_path: Path, name: str) -> None:
    image(tmp_path / "a.png")
    text(tmp_path / "a.txt", "fine\n")
    text(tmp_path / "notes.svg", "<svg/>")  # a file of that stem that is not an image does not count
    text(tmp_path / name, "caption for nothing\n")
    assert str(tmp_path / name) in data_error(tmp_path)


def test_jsonl_not_utf8(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    text(tmp_path / "captions.jsonl", b'{"file": "a.png", "caption": "ok"}\n{"file": "a.png", "caption": "\xff"}\n')
    assert f"{tmp_path / 'captions.jsonl'}:2" in data_error(tmp_path)


JSONL_ERRORS: dict[str, tuple[object, str]] = {
    "missing image": ({"file": "gone.png", "caption": "x"}, "gone.png"),
    "invalid json": ('{"file": "a.png", "caption": ', "invalid JSON"),
    "not an object": (["a.png", "caption"], "object"),
    "string entry": ('"a.png"', "object"),
    "missing file": ({"captions": ["x"]}, '"file"'),
    "file not a string": ({"file": 3, "caption": "x"}, '"file"'),
    "empty captions list": ({"file": "a.png", "captions": []}, "empty captions"),
    "blank caption": ({"file": "a.png", "caption": "   "}, "empty captions"),
    "captions a string": ({"file": "a.png", "captions": "x"}, "list of strings"),
    "captions with a number": ({"file": "a.png", "captions": ["x", 2]}, "list of strings"),
    "caption not a string": ({"file": "a.png", "caption": ["x"]}, '"caption"'),
    "no captions key": ({"file": "a.png"}, "captions"),
    "both keys": ({"file": "a.png", "caption": "x", "captions": ["y"]}, "not both"),
    "absolute path": ({"file": "/etc/a.png", "caption": "x"}, "relative"),
    "dot dot": ({"file": "../a.png", "caption": "x"}, "escapes"),
    "dot dot inside": ({"file": "sub/../../a.png", "caption": "x"}, "escapes"),
    "backslash dot dot": ({"file": "..\\a.png", "caption": "x"}, "escapes"),
    "not an image": ({"file": "a.txt", "caption": "x"}, "not an image"),
    "folder": ({"file": "sub", "caption": "x"}, "not an image"),
}


@pytest.mark.parametrize("case", list(JSONL_ERRORS))
def test_jsonl_errors_name_file_and_line(tmp_path: Path, case: str) -> None:
    """The bad entry is on line 3, after a good line and a blank one."""
    entry, expected = JSONL_ERRORS[case]
    image(tmp_path / "a.png")
    image(tmp_path / "b.png")
    text(tmp_path / "a.txt", "sidecar\n")
    (tmp_path / "sub").mkdir()
    path = jsonl(tmp_path, {"file": "b.png", "caption": "fine"}, "", entry)
    message = data_error(tmp_path)
    assert f"{path}:3:" in message and expected in message


def test_jsonl_entry_is_checked_even_when_a_sidecar_wins(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    text(tmp_path / "a.txt", "sidecar\n")
    jsonl(tmp_path, {"file": "a.png", "captions": []})
    assert str(tmp_path / "captions.jsonl") in data_error(tmp_path)


# ------------------------------------------------------------------ real data


@pytest.mark.skipif(not FLICKR.is_dir(), reason="../shared/data/flickr8k-700 is not present")
def test_flickr8k_700() -> None:
    data = find_captioned(FLICKR)
    assert len(data.items) == 700
    assert len(data.captions()) == 3500
    assert all(len(caps) == 5 for _, caps in data.items)
    assert all(p.suffix == ".jpg" for p, _ in data.items)
    item = CaptionedDataset(data, image_size=32, flip=True)[(699, 5)]
    assert item["image"].shape == (3, 32, 32)
    assert data.caption_range(699)[0] <= int(item["caption"]) < 3500
