"""GigaGAN networks at toy size (16×16, 8–16 channels): shapes, kernel selection, L2 attention, text masking
and conditioning, truncation, gradient flow, and the image pyramid shared by G, D and real images."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cgan_cli.nn.gigagan import (
    DownBlock,
    GigaGANDiscriminator,
    GigaGANGenerator,
    GigaGANNetConfig,
    ProjectionHead,
    SynthesisBlock,
    VisionAidedHead,
    make_pyramid,
)
from cgan_cli.nn.gigagan_layers import (
    AdaptiveModulatedConv2d,
    AttentionBlock,
    CrossAttention,
    L2SelfAttention,
    MappingNetwork,
    TextTransformer,
    eot_mask,
    l2_attention_logits,
    local_mask,
)

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = GigaGANNetConfig(
    image_size=16,
    text_dim=12,
    z_dim=8,
    w_dim=16,
    t_dim=16,
    text_layers=1,
    mapping_layers=2,
    ngf=8,
    ndf=8,
    channel_max=16,
    kernels=3,
    attn_max_res=8,
    heads=2,
    pyramid=3,
)
N, L = 3, 6


def text(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP-like tokens (N, L, text_dim) and a mask with 6, 4 and 2 real tokens (the last: SOT and EOT only)."""
    tokens = torch.randn(N, L, TINY.text_dim, generator=torch.Generator().manual_seed(seed))
    mask = torch.arange(L)[None] < torch.tensor([6, 4, 2])[:, None]
    return tokens, mask


def repad(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The same tokens with large random values where mask is False."""
    junk = 100 * torch.randn(tokens.shape, generator=torch.Generator().manual_seed(99))
    return torch.where(mask[..., None], tokens, junk)


def z(seed: int) -> torch.Tensor:
    return torch.randn(N, TINY.z_dim, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def nets() -> tuple[GigaGANGenerator, GigaGANDiscriminator]:
    torch.manual_seed(0)
    return GigaGANGenerator(TINY).eval(), GigaGANDiscriminator(TINY).eval()


# --- config and shapes -------------------------------------------------------------------------------


def test_config_rejects_impossible_sizes() -> None:
    for bad in (dict(image_size=48), dict(image_size=8), dict(image_size=512), dict(pyramid=0)):
        with pytest.raises(ValueError):
            GigaGANNetConfig(**bad)
    with pytest.raises(ValueError, match="pyramid"):  # G starts at 4×4: 16, 8, 4 is the most at 16
        GigaGANNetConfig(image_size=16, pyramid=4)
    assert GigaGANNetConfig().pyramid_sizes == [64, 32, 16, 8]
    assert [GigaGANNetConfig().g_width(r) for r in (4, 8, 64)] == [256, 256, 32]


def test_block_shapes() -> None:
    tokens, mask = text()
    t_local, t_global = TextTransformer(12, 16, 2, 2)(tokens, mask)
    assert t_local.shape == (N, L, 16) and t_global.shape == (N, 16)
    w = MappingNetwork(8, 16, 16, 2)(z(0), t_global)
    assert w.shape == (N, 16)
    x = torch.randn(N, 8, 4, 4)
    assert AdaptiveModulatedConv2d(8, 12, 16, 3, 3)(x, w).shape == (N, 12, 4, 4)
    assert AdaptiveModulatedConv2d(8, 12, 16, 3, 3, up=True)(x, w).shape == (N, 12, 8, 8)
    assert AttentionBlock(8, 16, 16, 2)(x, w, t_local, mask).shape == (N, 8, 4, 4)
    feats, rgb = SynthesisBlock(TINY, 8, 16, 8, up=True, to_rgb=True)(x, w, t_local, mask)
    assert feats.shape == (N, 16, 8, 8) and rgb.shape == (N, 3, 8, 8)
    assert SynthesisBlock(TINY, 8, 16, 8, up=False, to_rgb=False)(x, w, t_local, mask)[1] is None
    assert DownBlock(8, 16)(torch.randn(N, 8, 8, 8)).shape == (N, 16, 4, 4)
    assert ProjectionHead(8, 16)(x, t_global).shape == (N,)
    assert VisionAidedHead(32, 16, hidden=8)(torch.randn(N, 32), t_global).shape == (N,)


def test_attention_only_at_small_sides(nets) -> None:
    g, _ = nets
    assert [block.attn is not None for block in g.blocks] == [True, True, False]  # 4, 8 ≤ attn_max_res < 16


def test_generator_pyramid_and_discriminator_output(nets) -> None:
    g, d = nets
    tokens, mask = text()
    with torch.no_grad():
        pyramid = g(z(0), tokens, mask)
        assert [p.shape for p in pyramid] == [(N, 3, s, s) for s in (16, 8, 4)]
        assert torch.isfinite(torch.cat([p.flatten() for p in pyramid])).all()
        assert d(pyramid, tokens, mask).shape == (N, 3)
    with pytest.raises(ValueError, match="pyramid"):
        d(pyramid[:2], tokens, mask)


def test_single_scale_pyramid_at_32() -> None:
    cfg = GigaGANNetConfig(**{**TINY.__dict__, "image_size": 32, "pyramid": 1})
    tokens, mask = text()
    with torch.no_grad():
        images = GigaGANGenerator(cfg)(z(0), tokens, mask)
        assert [p.shape for p in images] == [(N, 3, 32, 32)]
        assert GigaGANDiscriminator(cfg)(images, tokens, mask).shape == (N, 1)


def test_real_pyramid_matches_generator_and_is_box_filtered(nets) -> None:
    g, d = nets
    tokens, mask = text()
    real = torch.rand(N, 3, 16, 16) * 2 - 1
    pyramid = make_pyramid(real, TINY.pyramid)
    with torch.no_grad():
        assert [p.shape for p in pyramid] == [p.shape for p in g(z(0), tokens, mask)]
        assert d(pyramid, tokens, mask).shape == (N, 3)
    assert pyramid[0] is real
    torch.testing.assert_close(pyramid[1], F.avg_pool2d(real, 2))
    torch.testing.assert_close(pyramid[2], F.avg_pool2d(real, 4))


# --- sample-adaptive kernel selection ----------------------------------------------------------------


def test_kernel_selection_is_a_per_sample_softmax() -> None:
    torch.manual_seed(1)
    conv = AdaptiveModulatedConv2d(4, 5, 16, 3, kernels=4)
    w = torch.randn(N, 16)
    sel = conv.selection(w)
    assert sel.shape == (N, 4)
    assert (sel >= 0).all()
    torch.testing.assert_close(sel.sum(1), torch.ones(N))
    assert (sel[0] - sel[1]).abs().max() > 1e-3  # different w, different mixture
    assert conv.bank.shape == (4, 5, 4, 3, 3)


def test_adaptive_conv_matches_per_sample_reference() -> None:
    """The grouped batch conv equals, sample by sample, a plain conv with Σ_k sel_k W_k, modulated and
    demodulated by hand: no sample's kernel leaks into another's."""
    torch.manual_seed(2)
    conv = AdaptiveModulatedConv2d(4, 5, 16, 3, kernels=3)
    with torch.no_grad():
        conv.bias.normal_()
    x, w = torch.randn(N, 4, 6, 6), torch.randn(N, 16)
    got = conv(x, w)
    sel, styles = conv.selection(w), conv.affine(w)
    for i in range(N):
        kernel = (sel[i, :, None, None, None, None] * conv.bank).sum(0) * styles[i][None, :, None, None]
        kernel = kernel / kernel.square().sum((1, 2, 3), keepdim=True).sqrt()
        want = F.conv2d(x[i : i + 1], kernel, conv.bias, padding=1)
        torch.testing.assert_close(got[i : i + 1], want, rtol=1e-4, atol=1e-5)


# --- attention ---------------------------------------------------------------------------------------


def test_l2_attention_logits_by_hand() -> None:
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    # ‖q − k‖² = 0, 2, 5; scaled by 1/√d with d = 2
    torch.testing.assert_close(l2_attention_logits(q, k), -torch.tensor([[0.0, 2.0, 5.0]]) / math.sqrt(2))


def test_self_attention_ties_query_and_key() -> None:
    """Logits are −‖q_i − k_j‖²/√d with q and k from the same matrix: every position is at distance 0 from
    itself, so its own logit is exactly 0, the largest possible."""
    torch.manual_seed(3)
    attn = L2SelfAttention(8, 16, heads=2)
    assert not hasattr(attn, "to_k") and not hasattr(attn, "to_q")
    x, w = torch.randn(N, 5, 8), torch.randn(N, 16)
    logits = attn.attention_logits(x, w)
    assert logits.shape == (N, 2, 5, 6)  # 5 positions + the w token as keys
    keys = attn.norm(torch.cat([x, attn.to_w_token(w)[:, None]], 1))
    qk = attn.split(attn.to_qk(keys))  # (N, h, 6, d)
    want = -torch.cdist(qk[:, :, :5], qk).square() / math.sqrt(attn.head_dim)
    torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits[..., :5].diagonal(dim1=-2, dim2=-1), torch.zeros(N, 2, 5))
    assert (logits <= 0).all()


def test_cross_attention_ignores_masked_keys() -> None:
    torch.manual_seed(4)
    attn = CrossAttention(8, 16, heads=2)
    x, ctx = torch.randn(N, 5, 8), torch.randn(N, L, 16)
    _, mask = text()
    out = attn(x, ctx, mask)
    torch.testing.assert_close(attn(x, repad(ctx, mask), mask), out, rtol=0, atol=1e-6)
    changed = ctx.clone()
    changed[:, 0] += 1.0  # a real token in every row
    assert (attn(x, changed, mask) - out).abs().max() > 1e-3


def test_eot_and_local_mask() -> None:
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.bool)
    assert eot_mask(mask).long().argmax(1).tolist() == [2, 1, 3] and eot_mask(mask).sum(1).tolist() == [1, 1, 1]
    assert local_mask(mask).tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]  # lone EOT is kept


# --- text conditioning -------------------------------------------------------------------------------


def test_padding_tokens_do_not_matter(nets) -> None:
    g, d = nets
    tokens, mask = text()
    padded = repad(tokens, mask)
    with torch.no_grad():
        for a, b in zip(g(z(0), tokens, mask), g(z(0), padded, mask)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        real = make_pyramid(torch.rand(N, 3, 16, 16), TINY.pyramid)
        torch.testing.assert_close(d(real, tokens, mask), d(real, padded, mask), rtol=0, atol=1e-5)
        # ... while the mask itself does matter: one more real token changes the image
        longer = mask.clone()
        longer[1, 4] = True
        assert (g(z(0), tokens, longer)[0][1] - g(z(0), tokens, mask)[0][1]).abs().max() > 1e-3


def test_text_transformer_ignores_padding_length() -> None:
    """Padding is zeroed on the way in, so the attention's key mask is what keeps the (projected) zeros out:
    appending more padding columns leaves every real token's output and t_global unchanged."""
    torch.manual_seed(7)
    tt = TextTransformer(TINY.text_dim, 16, 2, 2)
    tokens, mask = text()
    longer_tokens = torch.cat([tokens, torch.randn(N, 5, TINY.text_dim)], 1)
    longer_mask = torch.cat([mask, torch.zeros(N, 5, dtype=torch.bool)], 1)
    t_local, t_global = tt(tokens, mask)
    t_local_long, t_global_long = tt(longer_tokens, longer_mask)
    torch.testing.assert_close(t_global_long, t_global, rtol=0, atol=1e-5)
    torch.testing.assert_close(t_local_long[:, :L][mask], t_local[mask], rtol=0, atol=1e-5)


def test_text_changes_image_and_logits(nets) -> None:
    g, d = nets
    (tokens, mask), (other, _) = text(0), text(1)
    with torch.no_grad():
        image, image_other = g(z(0), tokens, mask)[0], g(z(0), other, mask)[0]
        assert ((image - image_other).flatten(1).abs().amax(1) > 1e-2).all()
        real = make_pyramid(torch.rand(N, 3, 16, 16), TINY.pyramid)
        assert ((d(real, tokens, mask) - d(real, other, mask)).abs().amax(1) > 1e-4).all()
        vision = VisionAidedHead(32, TINY.t_dim)
        embed = torch.randn(N, 32)
        assert (vision(embed, torch.randn(N, TINY.t_dim)) != vision(embed, torch.randn(N, TINY.t_dim))).all()


def test_text_reaches_image_through_cross_attention_alone(nets) -> None:
    """With t_global fixed, changing only t_local still changes the image: the cross-attention is live."""
    g, _ = nets
    (tokens, mask), (other, _) = text(0), text(1)
    with torch.no_grad():
        t_local, t_global = g.encode_text(tokens, mask)
        w = g.mapping(z(0), t_global)
        a = g.synthesis(w, t_local, mask)[0]
        b = g.synthesis(w, g.encode_text(other, mask)[0], mask)[0]
    assert (a - b).abs().max() > 1e-3


# --- truncation --------------------------------------------------------------------------------------


def test_truncation() -> None:
    torch.manual_seed(5)
    g = GigaGANGenerator(TINY)
    tokens, mask = text()
    g.train()
    g(z(0), tokens, mask)  # training mode: w_avg moves towards the batch mean of w
    w_avg = g.w_avg.clone()
    assert w_avg.abs().max() > 0
    g.eval()
    with torch.no_grad():
        same_a, same_b = g(z(1), tokens, mask, truncation=0.0)[0], g(z(2), tokens, mask, truncation=0.0)[0]
        free_a, free_b = g(z(1), tokens, mask)[0], g(z(2), tokens, mask)[0]
        _, t_global = g.encode_text(tokens, mask)
        half = g.mapping(z(1), t_global, truncation=0.5)
        full = g.mapping(z(1), t_global)
    torch.testing.assert_close(g.w_avg, w_avg)  # eval mode leaves it alone
    torch.testing.assert_close(same_a, same_b, rtol=0, atol=1e-6)
    assert (free_a - free_b).abs().max() > 1e-3
    torch.testing.assert_close(half, (full + w_avg) / 2)


# --- gradients ---------------------------------------------------------------------------------------


def test_gradients_reach_every_conditioning_path() -> None:
    torch.manual_seed(6)
    g, d = GigaGANGenerator(TINY), GigaGANDiscriminator(TINY)
    tokens, mask = text()
    logits = d(g(z(0), tokens, mask), tokens, mask)
    logits.sum().backward()

    def reached(params) -> bool:
        return all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)

    assert reached(g.text.parameters())
    assert reached(g.mapping_network.parameters())
    assert reached([block.conv0.bank for block in g.blocks] + [block.conv1.affine_sel.weight for block in g.blocks])
    assert reached([g.blocks[0].attn.cross_attn.to_k.weight, g.blocks[0].attn.self_attn.to_qk.weight, g.const])
    assert reached(d.text.parameters())
    assert reached(p for head in d.heads for p in head.proj.parameters())
    assert reached(d.from_rgb.parameters())  # every scale's fromRGB: each pyramid level is judged
