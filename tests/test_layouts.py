"""Input expansion (`expand_inputs`) and paired dataset layouts (`find_pairs`, `load_pair`, `PairedDataset`)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
import torch
from helpers_images import BLUE, RED, close, noise, pixels, side_by_side, solid, write
from PIL import Image

from cgan_cli.config.choices import PREPROCESS
from cgan_cli.data.inputs import expand_inputs, list_images
from cgan_cli.data.paired import Pair, PairedDataset, find_pairs, load_pair, split_aligned
from cgan_cli.data.transforms import Preprocess
from cgan_cli.errors import DataError

# --- expand_inputs --------------------------------------------------------------------------------


def _tree(root: Path) -> None:
    write(root / "b.png", solid(4, 4))
    write(root / "a.JPG", solid(4, 4), format="JPEG")
    write(root / "sub" / "c.Png", solid(4, 4), format="PNG")
    write(root / "sub" / "deeper" / "a.webp", solid(4, 4), format="PNG")  # content type is irrelevant here
    write(root / "z" / "0.tif", solid(4, 4), format="TIFF")
    write(root / ".hidden.png", solid(4, 4))
    write(root / ".cache" / "x.png", solid(4, 4))
    write(root / "sub" / ".git" / "y.png", solid(4, 4))
    (root / "notes.txt").write_text("not an image")
    (root / "sub" / "data.json").write_text("{}")
    (root / "README").write_text("x")


def test_folder_is_recursive_sorted_case_insensitive_and_skips_hidden(tmp_path: Path) -> None:
    _tree(tmp_path / "in")
    images, problems = expand_inputs([str(tmp_path / "in")])
    assert problems == []
    rels = [i.rel.as_posix() for i in images]
    assert rels == ["a.JPG", "b.png", "sub/c.Png", "sub/deeper/a.webp", "z/0.tif"]
    assert all(i.path == tmp_path / "in" / i.rel for i in images)
    assert [p.relative_to(tmp_path / "in").as_posix() for p in list_images(tmp_path / "in")] == rels


def test_sorted_by_relative_path_not_by_walk_order(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for rel in ["b/1.png", "a/2.png", "a/10.png", "a.png", "c.png"]:
        write(root / rel, solid(2, 2))
    images, _ = expand_inputs([str(root)])
    assert [i.rel.as_posix() for i in images] == sorted(["b/1.png", "a/2.png", "a/10.png", "a.png", "c.png"])


def test_explicit_files_keep_argument_order_and_use_file_name(tmp_path: Path) -> None:
    z = write(tmp_path / "x" / "z.png", solid(2, 2))
    a = write(tmp_path / "y" / "a.png", solid(2, 2))
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    images, problems = expand_inputs([str(z), str(a), str(txt)])
    assert problems == []
    assert [i.path for i in images] == [z, a, txt]  # an explicit file is taken whatever its extension
    assert [i.rel for i in images] == [Path("z.png"), Path("a.png"), Path("notes.txt")]


def test_explicitly_named_hidden_folder_is_read(tmp_path: Path) -> None:
    write(tmp_path / ".inbox" / "a.png", solid(2, 2))
    images, problems = expand_inputs([str(tmp_path / ".inbox")])
    assert problems == [] and [i.rel for i in images] == [Path("a.png")]


def test_stdin_paths_blank_lines_ignored(tmp_path: Path) -> None:
    a = write(tmp_path / "a.png", solid(2, 2))
    b = write(tmp_path / "d" / "b.png", solid(2, 2))
    stream = io.StringIO(f"\n{b}\n\n   \n{a}\n{tmp_path / 'd'}\n")
    images, problems = expand_inputs(["-"], stdin=stream)
    assert problems == []
    assert [i.path for i in images] == [b, a, b]
    assert [i.rel for i in images] == [Path("b.png"), Path("a.png"), Path("b.png")]


def test_stdin_mixed_with_arguments_in_order(tmp_path: Path) -> None:
    a = write(tmp_path / "a.png", solid(2, 2))
    b = write(tmp_path / "b.png", solid(2, 2))
    c = write(tmp_path / "c.png", solid(2, 2))
    images, problems = expand_inputs([str(a), "-", str(c)], stdin=io.StringIO(f"{b}\n"))
    assert problems == [] and [i.path for i in images] == [a, b, c]


def test_missing_paths_and_empty_folders_are_problems_not_exceptions(tmp_path: Path) -> None:
    good = write(tmp_path / "good.png", solid(2, 2))
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "a.txt").write_text("x")
    missing = tmp_path / "missing.png"
    args = [str(missing), str(tmp_path / "empty"), str(good), str(tmp_path / "only_text"), "-"]
    images, problems = expand_inputs(args, stdin=io.StringIO(f"{tmp_path / 'gone.png'}\n"))
    assert [i.path for i in images] == [good]
    assert len(problems) == 4
    assert str(missing) in problems[0]
    assert str(tmp_path / "empty") in problems[1]
    assert str(tmp_path / "only_text") in problems[2]
    assert str(tmp_path / "gone.png") in problems[3]
    assert all("\n" not in p for p in problems)


# --- find_pairs: aligned layout -------------------------------------------------------------------


@pytest.mark.parametrize("in_train", [True, False])
def test_aligned_layout_in_train_or_root(tmp_path: Path, in_train: bool) -> None:
    root = tmp_path / "ds"
    folder = root / "train" if in_train else root
    for name in ["b.png", "a.jpg", "sub/c.png"]:
        write(folder / name, side_by_side(noise(8, 8, 1), noise(8, 8, 2)))
    if in_train:
        write(root / "test" / "t.png", side_by_side(noise(8, 8, 3), noise(8, 8, 4)))
    pairs = find_pairs(root)
    assert [p.b for p in pairs] == [None, None, None]
    assert [p.a.relative_to(folder).as_posix() for p in pairs] == ["a.jpg", "b.png", "sub/c.png"]
    if in_train:
        assert [p.a.name for p in find_pairs(root, "test")] == ["t.png"]


def test_aligned_layout_loads_left_and_right_halves(tmp_path: Path) -> None:
    left, right = noise(8, 6, 1), noise(8, 6, 2)
    path = write(tmp_path / "ds" / "x.png", side_by_side(left, right))
    (pair,) = find_pairs(tmp_path / "ds")
    src, dst = load_pair(pair, "AtoB", 3, 3)
    assert (pixels(src) == pixels(left)).all() and (pixels(dst) == pixels(right)).all()
    src, dst = load_pair(pair, "BtoA", 3, 3)
    assert (pixels(src) == pixels(right)).all() and (pixels(dst) == pixels(left)).all()
    assert pair.name == str(path)


def test_split_aligned_drops_odd_last_column() -> None:
    img = noise(9, 4, 5)
    a, b = split_aligned(img)
    assert a.size == b.size == (4, 4)
    assert (pixels(a) == pixels(img)[:, :4]).all() and (pixels(b) == pixels(img)[:, 4:8]).all()


def test_aligned_file_too_narrow_is_a_data_error(tmp_path: Path) -> None:
    thin = write(tmp_path / "ds" / "thin.png", solid(1, 5))
    with pytest.raises(DataError, match="narrow") as info:
        find_pairs(tmp_path / "ds")
    assert str(thin) in str(info.value)


def test_empty_folders_are_data_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as info:
        find_pairs(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value)
    (tmp_path / "ab" / "A").mkdir(parents=True)
    (tmp_path / "ab" / "B").mkdir()
    with pytest.raises(DataError, match="no images"):
        find_pairs(tmp_path / "ab")
    with pytest.raises(DataError, match="no such folder"):
        find_pairs(tmp_path / "nope")


# --- find_pairs: A/ + B/ layout -------------------------------------------------------------------


def test_ab_layout_matches_relative_paths_across_extensions(tmp_path: Path) -> None:
    root = tmp_path / "ds" / "train"
    for rel in ["x/1", "x/2", "y/1", "0"]:
        write(root / "A" / f"{rel}.png", noise(6, 4, 1))
        write(root / "B" / f"{rel}.jpg", noise(6, 4, 2))
    pairs = find_pairs(tmp_path / "ds")
    assert [(p.a.relative_to(root / "A").as_posix(), p.b.relative_to(root / "B").as_posix()) for p in pairs] == [
        ("0.png", "0.jpg"),
        ("x/1.png", "x/1.jpg"),
        ("x/2.png", "x/2.jpg"),
        ("y/1.png", "y/1.jpg"),
    ]
    # the A/ B/ folders directly in the root work too
    flat = tmp_path / "flat"
    write(flat / "A" / "k.png", noise(5, 5))
    write(flat / "B" / "k.webp", noise(5, 5), format="PNG")
    (pair,) = find_pairs(flat)
    assert pair.a == flat / "A" / "k.png" and pair.b == flat / "B" / "k.webp"


@pytest.mark.parametrize("missing_side", ["A", "B"])
def test_missing_partner_names_the_file(tmp_path: Path, missing_side: str) -> None:
    root = tmp_path / "ds"
    write(root / "A" / "sub" / "same.png", noise(4, 4))
    write(root / "B" / "sub" / "same.png", noise(4, 4))
    lonely_side = "A" if missing_side == "B" else "B"
    lonely = write(root / lonely_side / "sub" / "lonely.png", noise(4, 4))
    with pytest.raises(DataError) as info:
        find_pairs(root)
    message = str(info.value)
    assert str(lonely) in message and str(root / missing_side) in message
    assert "same.png" not in message and "\n" not in message


def test_size_mismatch_names_both_files(tmp_path: Path) -> None:
    a = write(tmp_path / "ds" / "A" / "p.png", noise(8, 6))
    b = write(tmp_path / "ds" / "B" / "p.png", noise(8, 7))
    with pytest.raises(DataError, match="size mismatch") as info:
        find_pairs(tmp_path / "ds")
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_ab_sizes_compared_after_exif_rotation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    write(tmp_path / "ds" / "A" / "p.tif", noise(40, 24), exif=exif)  # shown 24×40
    write(tmp_path / "ds" / "B" / "p.png", noise(24, 40))
    (pair,) = find_pairs(tmp_path / "ds")
    src, dst = load_pair(pair, "AtoB", 3, 3)
    assert src.size == dst.size == (24, 40)


def test_a_folder_without_b_folder_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "ds" / "A" / "1.png", noise(8, 8))
    with pytest.raises(DataError, match="B"):
        find_pairs(tmp_path / "ds")


def test_ambiguous_stems_are_an_error(tmp_path: Path) -> None:
    write(tmp_path / "ds" / "A" / "1.png", noise(8, 8))
    write(tmp_path / "ds" / "A" / "1.jpg", noise(8, 8))
    write(tmp_path / "ds" / "B" / "1.png", noise(8, 8))
    with pytest.raises(DataError, match="1"):
        find_pairs(tmp_path / "ds")


def test_direction_swaps_input_and_target(tmp_path: Path) -> None:
    write(tmp_path / "ds" / "A" / "p.png", solid(6, 4, RED))
    write(tmp_path / "ds" / "B" / "p.jpg", solid(6, 4, BLUE), quality=100)
    (pair,) = find_pairs(tmp_path / "ds")
    prep = Preprocess("none", flip=False)
    for direction, (want_in, want_out) in {"AtoB": (RED, BLUE), "BtoA": (BLUE, RED)}.items():
        src, dst = load_pair(pair, direction, 3, 3)
        assert close(tuple(pixels(src)[2, 3]), want_in, 3) and close(tuple(pixels(dst)[2, 3]), want_out, 3)
        item = PairedDataset([pair], direction, prep, 3, 3)[(0, 0)]
        colour_in = tuple(((item["input"][:, 2, 3] + 1) * 127.5).round().int().tolist())
        colour_out = tuple(((item["target"][:, 2, 3] + 1) * 127.5).round().int().tolist())
        assert close(colour_in, want_in, 3) and close(colour_out, want_out, 3)


def test_load_pair_channels(tmp_path: Path) -> None:
    write(tmp_path / "ds" / "x.png", side_by_side(solid(4, 4, RED), solid(4, 4, BLUE)))
    (pair,) = find_pairs(tmp_path / "ds")
    src, dst = load_pair(pair, "AtoB", 1, 3)
    assert src.mode == "L" and dst.mode == "RGB"
    src, dst = load_pair(pair, "AtoB", 1, 1)
    assert src.mode == dst.mode == "L"
    item = PairedDataset([pair], "AtoB", Preprocess("none", flip=False), 1, 3)[(0, 0)]
    assert item["input"].shape == (1, 4, 4) and item["target"].shape == (3, 4, 4)


# --- PairedDataset: reproducible, shared augmentation ---------------------------------------------


def _same_image_pair(tmp_path: Path, layout: str) -> list[Pair]:
    img = noise(48, 40, seed=11)
    if layout == "aligned":
        write(tmp_path / "ds" / "train" / "x.png", side_by_side(img, img))
    else:
        write(tmp_path / "ds" / "A" / "x.png", img)
        write(tmp_path / "ds" / "B" / "x.png", img)
    return find_pairs(tmp_path / "ds")


@pytest.mark.parametrize("layout", ["aligned", "ab"])
@pytest.mark.parametrize("mode", PREPROCESS)
def test_a_and_b_get_the_same_crop_and_flip(tmp_path: Path, layout: str, mode: str) -> None:
    pairs = _same_image_pair(tmp_path, layout)
    ds = PairedDataset(pairs, "AtoB", Preprocess(mode, load_size=40, crop_size=24, flip=True, multiple=8), 3, 3)
    seen = set()
    for seed in range(8):
        item = ds[(0, seed)]
        assert torch.equal(item["input"], item["target"]), seed
        seen.add(item["input"].numpy().tobytes())
    if "crop" in mode:
        assert len(seen) > 2  # random crops and flips really happened


@pytest.mark.parametrize("mode", ["resize_and_crop", "crop", "scale_width_and_crop"])
def test_same_key_same_tensors_different_seed_different_crop(tmp_path: Path, mode: str) -> None:
    write(tmp_path / "ds" / "x.png", side_by_side(noise(48, 40, 1), noise(48, 40, 2)))
    pairs = find_pairs(tmp_path / "ds")
    ds = PairedDataset(pairs, "AtoB", Preprocess(mode, load_size=40, crop_size=24, flip=True), 3, 3)
    first, again = ds[(0, 5)], ds[(0, 5)]
    assert torch.equal(first["input"], again["input"]) and torch.equal(first["target"], again["target"])
    others = [ds[(0, s)]["input"] for s in range(6, 14)]
    assert any(not torch.equal(first["input"], o) for o in others)
    assert first["input"].shape == (3, 24, 24)


def test_flip_off_never_flips(tmp_path: Path) -> None:
    img = noise(24, 24, seed=4)
    write(tmp_path / "ds" / "x.png", side_by_side(img, img))
    pairs = find_pairs(tmp_path / "ds")
    ds = PairedDataset(pairs, "AtoB", Preprocess("crop", load_size=24, crop_size=24, flip=False), 3, 3)
    for seed in range(6):
        assert (((ds[(0, seed)]["input"] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy() == pixels(img)).all()
    flipping = PairedDataset(pairs, "AtoB", Preprocess("crop", load_size=24, crop_size=24, flip=True), 3, 3)
    flipped = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    outs = [((flipping[(0, s)]["input"] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy() for s in range(12)]
    assert any((o == pixels(flipped)).all() for o in outs) and any((o == pixels(img)).all() for o in outs)


# --- Preprocess output sizes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,multiple,expected",
    [
        ("resize_and_crop", 1, (32, 32)),
        ("crop", 1, (32, 32)),
        ("scale_width", 1, (64, 43)),  # 64 wide, height keeps the 3:2 aspect (42.67 → 43)
        ("scale_width", 16, (64, 48)),  # then rounded to the multiple
        ("scale_width_and_crop", 1, (32, 32)),
        ("none", 1, (300, 200)),
        ("none", 32, (288, 192)),  # 300/32 = 9.4 → 288, 200/32 = 6.25 → 192
        ("none", 64, (320, 192)),  # 4.69 → 5 × 64 (rounded up), 3.125 → 3 × 64 (rounded down)
    ],
)
def test_preprocess_output_size_for_non_square_input(mode: str, multiple: int, expected: tuple[int, int]) -> None:
    prep = Preprocess(mode, load_size=64, crop_size=32, flip=True, multiple=multiple)
    img = noise(300, 200, seed=2)
    for seed in range(3):
        out = prep.apply(img, prep.draw(img.size, random.Random(seed)))
        assert out.size == expected
        assert out.width % multiple == 0 and out.height % multiple == 0


def test_preprocess_through_dataset_gives_expected_tensor_size(tmp_path: Path) -> None:
    write(tmp_path / "ds" / "A" / "x.png", noise(300, 200, 1))
    write(tmp_path / "ds" / "B" / "x.png", noise(300, 200, 2))
    pairs = find_pairs(tmp_path / "ds")
    expected = {
        "resize_and_crop": (32, 32),
        "crop": (32, 32),
        "scale_width": (43, 64),
        "scale_width_and_crop": (32, 32),
        "none": (200, 300),
    }
    for mode, (h, w) in expected.items():
        item = PairedDataset(pairs, "AtoB", Preprocess(mode, load_size=64, crop_size=32), 3, 3)[(0, 1)]
        assert item["input"].shape == item["target"].shape == (3, h, w), mode


def test_crop_mode_upsizes_images_smaller_than_the_crop() -> None:
    prep = Preprocess("crop", load_size=64, crop_size=32)
    img = noise(20, 50, seed=1)
    out = prep.apply(img, prep.draw(img.size, random.Random(0)))
    assert out.size == (32, 32)


def test_centre_crop_is_centred_and_unflipped() -> None:
    prep = Preprocess("crop", load_size=64, crop_size=4, flip=True)
    img = noise(10, 8, seed=9)
    x, y, flip = prep.centre(img.size)
    assert (x, y, flip) == (3, 2, False)
    assert (pixels(prep.apply(img, (x, y, flip))) == pixels(img)[2:6, 3:7]).all()
