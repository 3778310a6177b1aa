"""Shapes and structure of the pix2pix networks against the reference's known figures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cgan_cli.config.choices import UNET_SIZES
from cgan_cli.nn.patchgan import PatchGANConfig, patchgan
from cgan_cli.nn.unet import UNetConfig, UNetGenerator


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_unet_256_matches_reference_size_and_dropout_layout():
    net = UNetGenerator(UNetConfig(num_downs=8))
    # pytorch-CycleGAN-and-pix2pix prints 54.414 M parameters for unet_256 / batch norm
    assert n_params(net) == 54_413_955
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3  # num_downs - 5 inner blocks
    assert isinstance(net.model.model[-1], nn.Tanh)  # the outermost block ends in tanh: outputs in [-1, 1]
    no_drop = UNetGenerator(UNetConfig(num_downs=8, dropout=False))
    assert not any(isinstance(m, nn.Dropout) for m in no_drop.modules())


@pytest.mark.parametrize("name", sorted(UNET_SIZES))
def test_unet_output_shape_and_range(name):
    num_downs = UNET_SIZES[name]
    net = UNetGenerator(UNetConfig(in_channels=1, out_channels=3, ngf=4, num_downs=num_downs)).eval()
    side = 2**num_downs
    x = torch.randn(2, 1, side, side * 2)  # non-square works when both sides are multiples
    y = net(x)
    assert y.shape == (2, 3, side, side * 2)
    assert y.abs().max() <= 1.0


def test_unet_norm_choices_set_biases_like_reference():
    bn = UNetGenerator(UNetConfig(num_downs=5, ngf=4, norm="batch"))
    inorm = UNetGenerator(UNetConfig(num_downs=5, ngf=4, norm="instance"))
    inner_bn = [m for m in bn.modules() if isinstance(m, nn.Conv2d)][1]
    inner_in = [m for m in inorm.modules() if isinstance(m, nn.Conv2d)][1]
    assert inner_bn.bias is None  # BN supplies the shift
    assert inner_in.bias is not None
    assert any(isinstance(m, nn.InstanceNorm2d) for m in inorm.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in inorm.modules())


def test_unet_rejects_too_few_downsamplings():
    with pytest.raises(ValueError):
        UNetGenerator(UNetConfig(num_downs=4))


def test_patchgan_basic_is_30x30_at_256_with_70px_receptive_field():
    d = patchgan(PatchGANConfig(in_channels=6))
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert n_params(d) == 2_768_705  # the reference prints 2.769 M for pix2pix D (6 input channels)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    rf = 1
    for conv in reversed(convs):
        rf = (rf - 1) * conv.stride[0] + conv.kernel_size[0]
    assert rf == 70
    # no norm after the first conv, as in the reference
    first = list(d.model)[:2]
    assert isinstance(first[0], nn.Conv2d) and isinstance(first[1], nn.LeakyReLU)


def test_patchgan_n_layers_and_pixel_shapes():
    assert patchgan(PatchGANConfig(in_channels=6, n_layers=5))(torch.randn(1, 6, 256, 256)).shape == (1, 1, 6, 6)
    pixel = patchgan(PatchGANConfig(in_channels=6, n_layers=0))
    assert pixel(torch.randn(2, 6, 40, 24)).shape == (2, 1, 40, 24)


def test_init_is_normal_0_02():
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(num_downs=8, ngf=16))
    weights = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(weights.mean().item()) < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    bn_scales = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    assert bn_scales.mean().item() == pytest.approx(1.0, abs=0.01)


def test_every_registered_family_trains_one_step(demo_dir, classes_dir):
    """timm-style: every registered family builds from its defaults plus tiny sizes and runs a step."""
    from torch.utils.data import default_collate

    from cgan_cli.families import FAMILIES, create
    from tests.conftest import tiny_family_config

    for name in FAMILIES:
        family = create(name, tiny_family_config(name, demo_dir, classes_dir), torch.device("cpu"))
        data = family.dataset()
        batch = default_collate([data[(i, i)] for i in range(2)])
        generator = next(net for key, net in family.nets.items() if key.startswith("G"))  # G, or G_A
        before = {k: v.clone() for k, v in generator.state_dict().items()}
        losses = family.train_step(batch)
        assert losses and all(torch.isfinite(v) for v in losses.values())
        after = generator.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)


def test_norm_none_has_no_conv_biases_like_the_reference():
    assert n_params(UNetGenerator(UNetConfig(num_downs=8, norm="none"))) == 54_404_099
    assert n_params(patchgan(PatchGANConfig(in_channels=6, norm="none"))) == 2_766_913


def test_per_image_batch_norm_equals_the_reference_test_time_behaviour():
    import copy

    from cgan_cli.nn.norm import per_image_batch_norm

    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(num_downs=5, ngf=4, dropout=False))
    net.train()
    for _ in range(3):  # give the running statistics something to remember
        net(torch.randn(4, 3, 32, 32) * 3 + 1)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = torch.cat([copy.deepcopy(net).train()(x[i : i + 1]) for i in range(2)])  # test.py, batch 1
        swapped = per_image_batch_norm(copy.deepcopy(net).eval())
        assert torch.allclose(swapped(x), reference, atol=1e-5)
        assert torch.allclose(swapped(x[1:]), reference[1:], atol=1e-5)  # independent of batching
        assert not torch.allclose(copy.deepcopy(net).eval()(x), reference, atol=1e-3)  # running stats differ


def test_the_torch_free_crop_multiple_is_each_generators_own():
    """`--crop-size` is checked without building a network (config/choices.py); it must say what the network says."""
    from cgan_cli.config.choices import generator_multiple
    from cgan_cli.config.image_translation import GENERATORS
    from cgan_cli.config.pix2pix import Pix2PixConfig
    from cgan_cli.families.image_translation import generator_config

    for name in GENERATORS:
        assert generator_multiple(name) == generator_config(Pix2PixConfig(net_g=name), 3, 3).multiple, name
