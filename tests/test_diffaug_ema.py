"""DiffAugment policies checked against what each augmentation must do to an image, and the weight EMA against
its formula."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cgan_cli.config.choices import DIFFAUG_POLICIES, parse_policy
from cgan_cli.nn.diffaug import (
    diff_augment,
    rand_brightness,
    rand_contrast,
    rand_cutout,
    rand_saturation,
    rand_translation,
)
from cgan_cli.nn.ema import EMA

ALL = DIFFAUG_POLICIES


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 6, c: int = 3, h: int = 16, w: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=gen(seed)) * 2 - 1


def per_image_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(1, 2, 3))


def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[i, j] = img[i + dy, j + dx], zero where that falls outside, by plain slicing."""
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    out[..., max(0, -dy) : min(h, h - dy), max(0, -dx) : min(w, w - dx)] = img[
        ..., max(0, dy) : min(h, h + dy), max(0, dx) : min(w, w + dx)
    ]
    return out


# --- color ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [1, 3])
def test_brightness_shifts_each_image_by_its_draw(c: int):
    x = images(c=c)
    out = rand_brightness(x, gen(5))
    expected_shift = torch.rand(x.shape[0], generator=gen(5)) - 0.5
    delta = out - x
    # one constant per image, equal to the draw, within [-0.5, 0.5]
    torch.testing.assert_close(delta, expected_shift.view(-1, 1, 1, 1).expand_as(x))
    torch.testing.assert_close(per_image_mean(out) - per_image_mean(x), expected_shift)
    assert (expected_shift.abs() <= 0.5).all() and expected_shift.std() > 0


def test_saturation_keeps_the_channel_mean_and_scales_within_0_to_2():
    x = images(n=8)
    out = rand_saturation(x, gen(6))
    mean = x.mean(dim=1, keepdim=True)
    torch.testing.assert_close(out.mean(dim=1, keepdim=True), mean)
    factor = ((out - mean).flatten(1) * (x - mean).flatten(1)).sum(1) / (x - mean).flatten(1).pow(2).sum(1)
    torch.testing.assert_close(out - mean, (x - mean) * factor.view(-1, 1, 1, 1))
    torch.testing.assert_close(factor, torch.rand(8, generator=gen(6)) * 2)
    assert ((factor >= 0) & (factor <= 2)).all()
    # a single channel has no colour to saturate
    gray = images(c=1)
    torch.testing.assert_close(rand_saturation(gray, gen(6)), gray)


def test_contrast_keeps_the_image_mean_and_scales_within_half_to_one_and_half():
    x = images(n=8)
    out = rand_contrast(x, gen(7))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(per_image_mean(out), per_image_mean(x))
    factor = torch.rand(8, generator=gen(7)) + 0.5
    torch.testing.assert_close(out - mean, (x - mean) * factor.view(-1, 1, 1, 1))


def test_color_policy_shifts_the_image_mean_by_exactly_the_brightness_draw():
    # saturation and contrast both keep the per-image mean, so only brightness moves it
    x = images(n=8)
    out = diff_augment(x, ("color",), gen(8))
    shift = torch.rand(8, generator=gen(8)) - 0.5
    torch.testing.assert_close(per_image_mean(out) - per_image_mean(x), shift)


# --- translation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 3, 16, 16), (8, 1, 20, 12), (4, 3, 17, 9)])
def test_translation_is_an_integer_zero_filled_shift_matching_the_draws(shape: tuple[int, int, int, int]):
    n, _, h, w = shape
    x = images(*shape)
    out = rand_translation(x, gen(9))
    # the documented draws: row shifts, then column shifts, each randint(-round(side/8), round(side/8) + 1)
    g = gen(9)
    max_dy, max_dx = int(h / 8 + 0.5), int(w / 8 + 0.5)
    dys = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), generator=g).flatten().tolist()
    dxs = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), generator=g).flatten().tolist()
    assert any(dys) and any(dxs)  # the check below is not vacuous
    for i in range(n):
        assert torch.equal(out[i], shifted(x[i], dys[i], dxs[i])), (i, dys[i], dxs[i])


def test_translation_output_is_some_allowed_shift_of_the_input():
    # independent of the draw order: every image is one of the allowed shifts of itself, and not all the same
    x = images(n=16, h=16, w=24)
    out = diff_augment(x, ("translation",), gen(10))
    found = []
    for i in range(16):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-3, 4) if torch.equal(out[i], shifted(x[i], dy, dx))]
        assert len(matches) == 1, (i, matches)
        found.append(matches[0])
    assert len(set(found)) > 1


# --- cutout -----------------------------------------------------------------------------------------------


def interval(start: int, size: int, length: int) -> torch.Tensor:
    idx = torch.arange(length)
    return (idx >= start) & (idx < start + size)


@pytest.mark.parametrize("shape", [(32, 3, 16, 16), (32, 1, 17, 10), (16, 3, 9, 9)])
def test_cutout_zeroes_one_half_side_square_per_image_and_nothing_else(shape: tuple[int, int, int, int]):
    n, _, h, w = shape
    x = images(*shape) + 3  # strictly positive: zeros can only come from the cutout
    out = rand_cutout(x, gen(11))
    size_h, size_w = int(h / 2 + 0.5), int(w / 2 + 0.5)  # the reference's rounding: 17 → 9, 9 → 5
    g = gen(11)
    tops = (torch.randint(0, h + 1 - size_h % 2, (n, 1, 1), generator=g).flatten() - size_h // 2).tolist()
    lefts = (torch.randint(0, w + 1 - size_w % 2, (n, 1, 1), generator=g).flatten() - size_w // 2).tolist()
    full = 0
    for i in range(n):
        cut = out[i] == 0
        assert torch.equal(cut, cut[:1].expand_as(cut))  # same pixels in every channel
        rows, cols = cut[0].any(1), cut[0].any(0)
        assert torch.equal(cut[0], rows[:, None] & cols[None, :])  # one axis-aligned rectangle
        # it is the size_h × size_w square at the drawn place, clipped by the border, at least half inside
        assert torch.equal(rows, interval(tops[i], size_h, h)) and torch.equal(cols, interval(lefts[i], size_w, w))
        assert rows.sum() >= size_h // 2 and cols.sum() >= size_w // 2
        full += int(rows.sum() == size_h and cols.sum() == size_w)
        torch.testing.assert_close(out[i][~cut], x[i][~cut], rtol=0, atol=0)  # the rest untouched
    assert full > 0


# --- the whole policy -------------------------------------------------------------------------------------


def test_same_generator_state_gives_the_same_augmentation():
    x = images()
    a = diff_augment(x, ALL, gen(12))
    b = diff_augment(x, ALL, gen(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, ALL, gen(13)))


def test_global_rng_is_used_without_a_generator():
    x = images()
    torch.manual_seed(3)
    a = diff_augment(x, ALL)
    torch.manual_seed(3)
    assert torch.equal(a, diff_augment(x, ALL))


def test_identical_halves_of_one_batch_get_independent_draws():
    # the documented behaviour: draws are per operation for the whole batch, so [a; a] in one call is
    # augmented twice independently, and is not two separate calls on a concatenated
    a = images(n=4)
    both = diff_augment(torch.cat([a, a]), ("color",), gen(14))
    g = gen(14)
    bright, sat, con = (torch.rand(8, generator=g).view(8, 1, 1, 1) for _ in range(3))
    expected = torch.cat([a, a]) + (bright - 0.5)
    mean = expected.mean(1, keepdim=True)
    expected = (expected - mean) * (sat * 2) + mean
    mean = expected.mean((1, 2, 3), keepdim=True)
    expected = (expected - mean) * (con + 0.5) + mean
    torch.testing.assert_close(both, expected)
    for i in range(4):
        assert not torch.allclose(both[i], both[4 + i])
    g = gen(14)
    separate = torch.cat([diff_augment(a, ("color",), g), diff_augment(a, ("color",), g)])
    assert not torch.allclose(both, separate)
    # with the generator reset before each call, two separate calls give identical halves
    assert torch.equal(diff_augment(a, ALL, gen(15)), diff_augment(a, ALL, gen(15)))


@pytest.mark.parametrize("c", [1, 3])
def test_gradients_flow_to_the_input(c: int):
    x = images(c=c, h=12, w=20).requires_grad_(True)
    out = diff_augment(x, ALL, gen(16))
    assert out.shape == x.shape
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradient_is_exact():
    x = images(n=2, h=8, w=8).double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: diff_augment(t, ALL, gen(17)), (x,))


def test_empty_policy_is_the_identity():
    x = images()
    assert diff_augment(x, (), gen(0)) is x


class NoHostSync(TorchFunctionMode):
    """Fails on any tensor → Python value conversion, which would be a device sync on CUDA."""

    FORBIDDEN = {"item", "tolist", "numpy", "nonzero", "__bool__", "__int__", "__float__", "__index__"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.FORBIDDEN:
            raise AssertionError(f"host sync via {func.__name__}")
        return func(*args, **(kwargs or {}))


def test_no_host_device_sync():
    x = images(h=13, w=11).requires_grad_(True)
    with NoHostSync():
        diff_augment(x, ALL, gen(18)).sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_itself_and_makes_no_sync():
    x = images().cuda().requires_grad_(True)
    g = torch.Generator(device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = diff_augment(x, ALL, g.manual_seed(0))
        out.sum().backward()
        again = diff_augment(x, ALL, g.manual_seed(0))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.equal(out, again) and torch.isfinite(x.grad).all()


def test_parse_policy():
    assert parse_policy("") == () and parse_policy("  ") == ()
    assert parse_policy("color,translation,cutout") == ALL
    assert parse_policy("cutout, color") == ("cutout", "color")
    with pytest.raises(ValueError, match="unknown DiffAugment policy 'colour'"):
        parse_policy("colour,cutout")
    with pytest.raises(ValueError, match="unknown DiffAugment policy ''"):
        parse_policy("color,,cutout")
    with pytest.raises(ValueError, match="'color' is listed twice"):
        parse_policy("color,color")
    with pytest.raises(ValueError, match="unknown DiffAugment policy 'flip'"):
        diff_augment(images(), ("flip",))
    with pytest.raises(TypeError, match="parse_policy"):
        diff_augment(images(), "color")  # type: ignore[arg-type]


# --- EMA --------------------------------------------------------------------------------------------------


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 1, 1))


def train_step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    model.train()
    opt.zero_grad()
    model(torch.randn(2, 3, 6, 6)).square().mean().backward()
    opt.step()


def test_ema_update_is_the_weighted_average_and_copies_buffers():
    model = small_model()
    ema = EMA(model)
    old = {k: v.clone() for k, v in ema.model.named_parameters()}
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1))
    ema.update(model, decay=0.9)
    new = dict(model.named_parameters())
    for name, p in ema.model.named_parameters():
        assert not torch.equal(p, old[name]) and not torch.equal(p, new[name])
        torch.testing.assert_close(p, 0.9 * old[name] + 0.1 * new[name].detach())
    for (name, b_ema), b in zip(ema.model.named_buffers(), model.buffers(), strict=True):
        assert torch.equal(b_ema, b), name
    assert ema.model[1].num_batches_tracked.item() == 1


def test_ema_decay_zero_is_an_exact_copy_and_decay_one_keeps_the_average():
    model = small_model()
    ema = EMA(model)
    before = [p.clone() for p in ema.model.parameters()]
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1))
    ema.update(model, decay=1.0)
    for p, b in zip(ema.model.parameters(), before, strict=True):
        assert torch.equal(p, b)
    ema.update(model, decay=0.0)
    for p, q in zip(ema.model.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="decay"):
        ema.update(model, decay=1.5)


def test_ema_model_is_frozen_and_not_touched_by_the_optimizer():
    model = small_model()
    ema = EMA(model)
    assert not ema.model.training and all(not p.requires_grad for p in ema.model.parameters())
    snapshot = [p.clone() for p in ema.model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(2):
        train_step(model, opt)
    assert model.training and not ema.model.training  # update leaves its mode alone, training leaves it eval
    for p, s, q in zip(ema.model.parameters(), snapshot, model.parameters(), strict=True):
        assert torch.equal(p, s) and not torch.equal(p, q)
        assert p.data_ptr() != q.data_ptr()
    ema.update(model, decay=0.5)
    assert not ema.model.training and all(not p.requires_grad for p in ema.model.parameters())


def test_ema_warm_up_follows_the_live_model_early_and_reaches_the_decay():
    from cgan_cli.nn.ema import warmed_up

    assert warmed_up(0.999, 0) == pytest.approx(0.1)
    assert warmed_up(0.999, 90) == pytest.approx(0.91)
    assert warmed_up(0.999, 10**6) == 0.999
    assert warmed_up(0.5, 100) == 0.5
    # the share of the initial weights left after 300 updates: tiny with the warm-up, most without it
    left = 1.0
    for step in range(300):
        left *= warmed_up(0.999, step)
    assert left < 0.01 < 0.7 < 0.999**300
