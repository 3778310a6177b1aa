"""The classic training tricks on the latent families: each changes the step in the way its paper says,
restated here independently, and every one resumes bit-exactly."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from helpers_classes import write_classes
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.device import Runtime
from cgan_cli.families.cgan import CGAN, CGANConfig
from cgan_cli.families.latent_data import diversity
from cgan_cli.nn.dcgan import DCGANDiscriminator, DCGANNetConfig
from cgan_cli.nn.historical import HistoricalAverage
from cgan_cli.nn.minibatch import MinibatchDiscrimination, MinibatchStdDev
from cgan_cli.nn.unrolled import look_ahead

FP32 = Runtime(torch.device("cpu"), "fp32")


@pytest.fixture(scope="module")
def classes_dir(tmp_path_factory):
    return write_classes(tmp_path_factory.mktemp("classes"))


def family(root, **overrides) -> CGAN:
    values = {"classes": str(root), "image_size": 32, "ngf": 8, "ndf": 8, "batch_size": 6, "seed": 1}
    values.update(overrides)
    return CGAN(CGANConfig(**values), FP32)


def batch_of(fam: CGAN, n: int = 6) -> dict[str, torch.Tensor]:
    ds = fam.dataset()
    return {k: torch.stack([ds[(i, 0)][k] for i in range(n)]) for k in ("image", "label")}


def grads(params) -> list[torch.Tensor]:
    return [p.grad.clone() for p in params]


# --- feature matching ---------------------------------------------------------------------------


def test_feature_matching_alone_is_improved_gans_feature_distance(classes_dir):
    fam = family(classes_dir, feature_matching=2.0, feature_matching_only=True)
    batch = batch_of(fam)
    real, labels = batch["image"], batch["label"]
    fake = fam.G(torch.randn(6, fam.config.z_dim), fam.G.class_vector(labels))
    loss, terms = fam.g_loss(fam.D, real, fake, labels, None)
    assert set(terms) == {"G_fm"}  # no adversarial term
    m_real = fam.D.features(real).flatten(1).mean(0)
    m_fake = fam.D.features(fake).flatten(1).mean(0)
    want = 2.0 * (m_real - m_fake).abs().mean()
    torch.testing.assert_close(loss, want)
    # and G's gradient is that of the distance alone
    fam.G.zero_grad()
    loss.backward(retain_graph=True)
    ours = grads(fam.G.parameters())
    fam.G.zero_grad()
    want.backward()
    for a, b in zip(ours, grads(fam.G.parameters())):
        torch.testing.assert_close(a, b)


def test_feature_matching_is_added_to_the_adversarial_loss(classes_dir):
    fam = family(classes_dir, feature_matching=0.5)
    batch = batch_of(fam)
    fake = fam.G(torch.randn(6, fam.config.z_dim), fam.G.class_vector(batch["label"]))
    loss, terms = fam.g_loss(fam.D, batch["image"], fake, batch["label"], None)
    assert set(terms) == {"G", "G_fm"} and float(terms["G_fm"].detach()) > 0
    torch.testing.assert_close(loss, terms["G"] + terms["G_fm"])
    logits = fam.D(fake, batch["label"]).logits
    torch.testing.assert_close(terms["G"], F.binary_cross_entropy_with_logits(logits, torch.ones(6)))


# --- minibatch layers ---------------------------------------------------------------------------


def test_minibatch_discrimination_restated():
    layer = MinibatchDiscrimination(12, kernels=7, dims=3)
    x = torch.randn(5, 12)
    m = (x @ layer.T).view(5, 7, 3)
    want = torch.empty(5, 7)
    for i in range(5):
        for b in range(7):
            want[i, b] = sum(torch.exp(-(m[i, b] - m[j, b]).abs().sum()) for j in range(5) if j != i) + layer.b[b]
    torch.testing.assert_close(layer(x), want)


def test_minibatch_stddev_restated_from_progan():
    x = torch.randn(8, 3, 4, 4)
    out = MinibatchStdDev(4)(x)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)
    # ProGAN: groups of 4 made of samples {m, m + M, m + 2M, m + 3M} with M = N / 4
    for i in range(8):
        group = x[i % 2 :: 2]
        std = (group.var(0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(out[i, 3], torch.full((4, 4), float(std)))


@pytest.mark.parametrize("option", [{"minibatch_disc": 10}, {"minibatch_stddev": 2}])
def test_with_a_minibatch_layer_d_scores_a_sample_by_its_batch(option):
    plain = DCGANDiscriminator(DCGANNetConfig(32, 3, 10, 8, 8)).eval()
    D = DCGANDiscriminator(DCGANNetConfig(32, 3, 10, 8, 8, **option)).eval()  # eval: no batch-norm statistics
    x = torch.randn(4, 3, 32, 32)
    other = x.clone()
    other[1:] = torch.randn(3, 3, 32, 32)  # same first image, other companions
    assert torch.equal(plain(x).logits[0], plain(other).logits[0])
    assert not torch.allclose(D(x).logits[0], D(other).logits[0])


# --- historical averaging -----------------------------------------------------------------------


def test_historical_averaging_is_zero_first_and_then_the_distance_to_the_past_mean(classes_dir):
    fam = family(classes_dir, historical_averaging=0.5)
    batch = batch_of(fam)
    past = []
    for step in range(4):
        fam.step = step
        before = [p.detach().clone() for p in fam.D.parameters()]
        losses = fam.train_step(batch)
        if step == 0:
            assert float(losses["D_hist"]) == 0.0 and float(losses["G_hist"]) == 0.0
        else:
            mean = [torch.stack(ps).mean(0) for ps in zip(*past)]
            want = 0.5 * sum(((p - m) ** 2).sum() for p, m in zip(before, mean))
            torch.testing.assert_close(losses["D_hist"], want)
            assert float(losses["D_hist"]) > 0  # the weights moved
        past.append(before)
    assert int(fam.history["D"].count) == 4 and "net/D_hist/count" in fam.state_tensors()


def test_historical_average_refuses_another_model():
    hist = HistoricalAverage(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError):
        hist.penalty(torch.nn.Linear(3, 3), 1.0)


# --- WGAN (weight clipping) ---------------------------------------------------------------------


def test_wgan_clips_the_critic_with_rmsprop_and_five_critic_steps(classes_dir):
    fam = family(classes_dir, loss="wgan", weight_clip=0.02)
    assert isinstance(fam.opt_D, torch.optim.RMSprop) and fam.opt_D.param_groups[0]["lr"] == 5e-5
    batch = batch_of(fam)
    with torch.no_grad():
        next(fam.D.parameters()).mul_(100)  # far outside the box
    updated = []
    for step in range(6):
        fam.step = step
        updated.append("G" in fam.train_step(batch))
        assert all(float(p.detach().abs().max()) <= 0.02 for p in fam.D.parameters())
    assert updated == [True, False, False, False, False, True]
    explicit = family(classes_dir, loss="wgan", lr=1e-4, n_critic=2).config.optimiser()
    assert (explicit.kind, explicit.lr, explicit.n_critic) == ("rmsprop", 1e-4, 2)


# --- unrolled GAN -------------------------------------------------------------------------------


def test_look_ahead_is_k_steps_of_a_copy_and_leaves_d_alone():
    torch.manual_seed(0)
    D = torch.nn.Linear(4, 1)
    opt = torch.optim.Adam(D.parameters(), lr=0.1, betas=(0.5, 0.9))
    x = torch.randn(8, 4)
    D(x).pow(2).mean().backward()
    opt.step()  # some optimiser state to carry on from
    state = copy.deepcopy(opt.state_dict())
    weights = copy.deepcopy(D.state_dict())
    ahead = look_ahead(D, opt, lambda d: d(x).pow(2).mean(), steps=3)
    # the same three steps on a manual copy
    manual = copy.deepcopy(D)
    manual_opt = torch.optim.Adam(manual.parameters(), lr=0.1, betas=(0.5, 0.9))
    manual_opt.load_state_dict(state)
    for _ in range(3):
        manual_opt.zero_grad()
        manual(x).pow(2).mean().backward()
        manual_opt.step()
    for a, b in zip(ahead.parameters(), manual.parameters()):
        torch.testing.assert_close(a, b)
    assert all(torch.equal(v, D.state_dict()[k]) for k, v in weights.items())  # D untouched
    assert opt.state_dict()["state"][0]["step"] == state["state"][0]["step"]  # and its optimiser too
    assert not torch.allclose(ahead.weight, D.weight)


def test_unrolled_g_step_judges_against_the_look_ahead_d(classes_dir):
    plain, unrolled = family(classes_dir), family(classes_dir, unrolled=3)
    batch = batch_of(plain)
    for fam in (plain, unrolled):
        torch.manual_seed(5)
        fam.step = 0
        fam.train_step(batch)
    # D's own update is the same; G's differs, because it was judged by D three steps ahead
    assert all(torch.equal(a, b) for a, b in zip(plain.D.parameters(), unrolled.D.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(plain.G.parameters(), unrolled.G.parameters()))


# --- R3GAN --------------------------------------------------------------------------------------


def test_r3gan_is_rpgan_with_r1_and_r2(classes_dir):
    fam = family(classes_dir, loss="r3gan", gamma=0.3)
    assert fam.opt_D.param_groups[0]["betas"] == (0.0, 0.99) and fam.opt_D.param_groups[0]["lr"] == 2e-4
    batch = batch_of(fam)
    real, labels = batch["image"], batch["label"]
    fake = fam.G(torch.randn(6, fam.config.z_dim), fam.G.class_vector(labels)).detach()
    loss, terms = fam.d_loss(fam.D, fam.D, real, fake, labels, None)
    # restated from brownvc/R3GAN: softplus(−(D(real) − D(fake))) + γ/2 (‖∇D(real)‖² + ‖∇D(fake)‖²)
    r, f = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    lr_, lf = fam.D(r, labels).logits, fam.D(f, labels).logits
    (gr,) = torch.autograd.grad(lr_.sum(), r)
    (gf,) = torch.autograd.grad(lf.sum(), f)
    adv = F.softplus(-(lr_ - lf)).mean()
    penalty = 0.15 * (gr.pow(2).sum((1, 2, 3)).mean() + gf.pow(2).sum((1, 2, 3)).mean())
    torch.testing.assert_close(terms["D_adv"], adv)
    torch.testing.assert_close(loss, adv + penalty)
    g_loss, g_terms = fam.g_loss(fam.D, real, fake, labels, None)
    torch.testing.assert_close(g_terms["G"], F.softplus(-(lf - lr_)).mean())


# --- diversity of the validation samples ------------------------------------------------------


def test_diversity_is_zero_for_a_generator_that_ignores_z(classes_dir):
    fam = family(classes_dir)
    val = fam.validation_batch()
    for m in fam.G.modules():  # running statistics of the validation batch itself, as a trained G would have
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one pass sets them
    with torch.no_grad():
        fam.G.train()(val["z"], fam.G.class_vector(val["label"]))
    healthy = fam.sample_stats(val)["diversity"]
    with torch.no_grad():
        fam.G.main[0].weight[: fam.config.z_dim].zero_()  # the first layer's z inputs: G now ignores z
    collapsed = fam.sample_stats(val)["diversity"]
    assert healthy > 0.02 and collapsed < 1e-6
    same = torch.zeros(8, 3, 4, 4)
    assert float(diversity(same, 4)) == 0.0
    assert float(diversity(torch.stack([torch.ones(3, 4, 4), -torch.ones(3, 4, 4)]), 2)) == pytest.approx(2.0)


def test_training_logs_the_diversity_beside_each_sample_grid(classes_dir, tmp_path):
    result = CliRunner().invoke(app, ["train", "cgan", "--classes", str(classes_dir), "--out", str(tmp_path / "r"),
                                      "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "6",
                                      "--steps", "4", "--sample-every", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    figures = [r for r in log if "diversity" in r]
    assert [r["step"] for r in figures] == [2, 4] and all(0 < r["diversity"] < 3 for r in figures)
    assert sorted(p.name for p in (tmp_path / "r" / "samples").iterdir()) == ["step-0000002.png", "step-0000004.png"]


# --- exact resume and usage errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "trick",
    [
        ["--feature-matching", "1", "--minibatch-disc", "6"],
        ["--historical-averaging", "0.1", "--minibatch-stddev", "2"],
        ["--loss", "wgan"],
        ["--unrolled", "2"],
        ["--loss", "r3gan"],
    ],
    ids=["fm+mbdisc", "hist+mbstd", "wgan", "unrolled", "r3gan"],
)
def test_every_trick_resumes_bit_exactly(trick, classes_dir, tmp_path):
    common = ["--classes", str(classes_dir), "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "4",
              "--seed", "2", "--log-every", "2", "--device", "cpu", "--workers", "0", *trick]  # fmt: skip

    def train(out, steps):
        result = CliRunner().invoke(app, ["train", "cgan", "--out", str(out), "--steps", steps, *common])
        assert result.exit_code == 0, result.output

    train(tmp_path / "straight", "6")
    train(tmp_path / "split", "3")
    resumed = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "split" / "latest.safetensors"),
                                       "--steps", "6"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "straight" / "latest.safetensors").tensors
    b = load_checkpoint(tmp_path / "split" / "latest.safetensors").tensors
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--feature-matching-only"], "--feature-matching"),
        (["--loss", "r3gan", "--r1", "1"], "--r1"),
        (["--minibatch-disc", "10", "--minibatch-stddev", "4"], "--minibatch-stddev"),
        (["--unrolled", "-1"], "--unrolled"),
        (["--loss", "wgan2"], "--loss"),
    ],
)
def test_trick_usage_errors_are_one_line_and_exit_2(args, flag, classes_dir, tmp_path):
    result = CliRunner().invoke(app, ["train", "cgan", "--classes", str(classes_dir), "--out", str(tmp_path / "r"),
                                      "--device", "cpu", *args])  # fmt: skip
    assert result.exit_code == 2
    assert flag in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r" / "latest.safetensors").exists()


def test_pix2pix_does_not_offer_the_latent_losses():
    result = CliRunner().invoke(app, ["train", "pix2pix", "--help"])
    assert result.exit_code == 0 and "wgangp" in result.stdout and "r3gan" not in result.stdout


def test_a_sample_step_makes_its_grid_and_diversity_from_one_forward_pass(classes_dir):
    fam = family(classes_dir)
    val = fam.validation_batch()
    calls = []
    hook = fam.G.register_forward_hook(lambda *_: calls.append(1))
    image, stats = fam.show(val)
    hook.remove()
    assert len(calls) == 1
    assert torch.equal(image, fam.sample_grid(val)) and stats == fam.sample_stats(val)
