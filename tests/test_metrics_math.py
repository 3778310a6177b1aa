"""The numeric metrics against SciPy / NumPy restatements of their reference implementations and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch

from cgan_cli.metrics import fid as fid_module
from cgan_cli.metrics.fid import feature_stats, frechet_distance
from cgan_cli.metrics.inception_score import inception_score
from cgan_cli.metrics.kid import kernel_inception_distance
from cgan_cli.metrics.paired import l1, psnr, ssim
from cgan_cli.metrics.prdc import density_coverage, knn_radii_sq, precision_recall

# ---------------------------------------------------------------------------------------------------- FID


def inception_like(d: int, n1: int, n2: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative features with a decaying spectrum (like pool3 activations); the second set is perturbed."""
    rng = np.random.default_rng(seed)
    q1 = np.linalg.qr(rng.standard_normal((d, d)))[0]
    q2 = np.linalg.qr(rng.standard_normal((d, d)))[0]
    w = (q1 * (0.6 * np.arange(1, d + 1) ** -0.6)) @ q2
    base = rng.uniform(0.0, 0.6, d)
    x = np.abs(rng.standard_normal((n1, d)) @ w + base)
    w2 = w + 0.05 * rng.standard_normal((d, d)) / np.sqrt(d)
    y = np.abs(rng.standard_normal((n2, d)) @ w2 + base + 0.05)
    return x, y


def scipy_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float:
    """pytorch-fid's `calculate_frechet_distance`, restated without sqrtm's deprecated `disp`."""
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LinAlgWarning for singular products
        covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def exact_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """From the features themselves: Tr √(Σx Σy) = ‖Xc Ycᵀ‖_* / √((n−1)(m−1)), no covariance squared."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    tr = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / np.sqrt((len(x) - 1) * (len(y) - 1))
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + np.trace(np.cov(x, rowvar=False)) + np.trace(np.cov(y, rowvar=False)) - 2 * tr)


def np_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), np.cov(x, rowvar=False)


def test_feature_stats_equal_numpy_mean_and_cov():
    x = torch.randn(203, 17, generator=torch.Generator().manual_seed(0)) * 3 + 5
    for chunk in (7, 8192):
        mu, sigma = feature_stats(x, chunk=chunk)
        assert mu.dtype == sigma.dtype == torch.float64
        ref_mu, ref_sigma = np_stats(x.double().numpy())
        np.testing.assert_allclose(mu.numpy(), ref_mu, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(sigma.numpy(), ref_sigma, rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError):
        feature_stats(x[:1])


@pytest.mark.parametrize("d, n1, n2, seed", [(64, 500, 400, 0), (256, 1000, 800, 1), (512, 1500, 1500, 2)])
def test_frechet_distance_equals_scipy_sqrtm_full_rank(d, n1, n2, seed):
    x, y = inception_like(d, n1, n2, seed)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-8)  # measured: ~1e-14
    assert ours == pytest.approx(exact_frechet(x, y), rel=1e-12)


@pytest.mark.parametrize("d, n1, n2, seed", [(256, 120, 180, 0), (256, 60, 90, 1), (512, 200, 300, 2)])
def test_frechet_distance_rank_deficient_is_exact_where_sqrtm_is_not(d, n1, n2, seed):
    # Fewer samples than dimensions: Σ1Σ2 has hundreds of zero eigenvalues, which sqrtm's Schur form returns as
    # ±1e-16-ish noise whose square roots (1e-8 each) pile up to a ~1.5e-7 relative error in pytorch-fid's value.
    x, y = inception_like(d, n1, n2, seed)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    ours, reference, exact = frechet_distance(mu1, s1, mu2, s2), scipy_frechet(mu1, s1, mu2, s2), exact_frechet(x, y)
    assert ours == pytest.approx(exact, rel=1e-12)
    assert reference == pytest.approx(exact, rel=1e-6)
    assert ours == pytest.approx(reference, rel=1e-6)


def test_frechet_distance_matches_pytorch_fid_itself():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    x, y = inception_like(128, 400, 300, 3)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reference = fid_score.calculate_frechet_distance(mu1, s1, mu2, s2)
        except TypeError:  # SciPy ≥ 1.18 dropped sqrtm's `disp`, which pytorch-fid passes
            pytest.skip("this SciPy's sqrtm has no `disp` argument")
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(float(reference), rel=1e-8)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x, _ = inception_like(128, 400, 10, 4)
    mu, sigma = np_stats(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-12 * np.trace(sigma)  # rounding only (~1e-15)
    x_small, _ = inception_like(128, 50, 10, 5)  # rank-deficient too
    mu, sigma = np_stats(x_small)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-12 * np.trace(sigma)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(6)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    eye = np.eye(32)
    assert frechet_distance(mu1, eye, mu2, eye) == pytest.approx(float(np.sum((mu1 - mu2) ** 2)), rel=1e-12)
    a, b = rng.uniform(0.0, 4.0, 32), rng.uniform(0.0, 4.0, 32)
    a[:5] = 0.0  # singular covariances too
    expected = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(np.zeros(1), np.ones((1, 1)) * 4, np.zeros(1), np.ones((1, 1))) == pytest.approx(1.0)


def test_frechet_distance_accepts_numpy_and_torch_alike():
    x, y = inception_like(48, 200, 150, 7)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    from_numpy = frechet_distance(mu1, s1, mu2, s2)
    from_torch = frechet_distance(*(torch.from_numpy(t) for t in (mu1, s1, mu2, s2)))
    assert from_torch == from_numpy
    stats = [*feature_stats(torch.from_numpy(x).float()), *feature_stats(torch.from_numpy(y).float())]
    assert frechet_distance(stats[0], stats[1], stats[2], stats[3]) == pytest.approx(
        scipy_frechet(*(t.numpy() for t in stats)), rel=1e-8
    )


def test_frechet_distance_rejects_what_pytorch_fid_rejects():
    eye = np.eye(3)
    with pytest.raises(ValueError, match="Imaginary component"):
        frechet_distance(np.zeros(3), -eye, np.zeros(3), eye)  # sqrtm(−I) = i·I
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), eye, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), eye * np.nan, np.zeros(3), eye)
    # rounding-level negative eigenvalues of a covariance count as 0 in its root (the real part of √λ), as
    # pytorch-fid takes the real part of sqrtm; the traces keep them (here 2·(−1e-9))
    almost = np.diag([1.0, 1.0, -1e-9])
    assert frechet_distance(np.zeros(3), almost, np.zeros(3), almost) == pytest.approx(-2e-9, abs=1e-15)


def test_frechet_distance_retries_with_eps_like_pytorch_fid(monkeypatch):
    x, y = inception_like(16, 100, 100, 8)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    real = fid_module.trace_sqrt_product
    calls = []

    def failing_once(a, b):
        calls.append(a)
        if len(calls) == 1:
            raise torch.linalg.LinAlgError("did not converge")
        return real(a, b)

    monkeypatch.setattr(fid_module, "trace_sqrt_product", failing_once)
    with pytest.warns(RuntimeWarning, match="adding 1e-06 to diagonal"):
        value = frechet_distance(mu1, s1, mu2, s2)
    offset = np.eye(16) * 1e-6
    tr = real(torch.from_numpy(s1 + offset), torch.from_numpy(s2 + offset)).item()
    diff = mu1 - mu2
    assert value == pytest.approx(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr, rel=1e-13)


@pytest.mark.slow
def test_frechet_distance_equals_scipy_on_2048_dims():
    for n1, n2, rel in ((3000, 3000, 1e-8), (1000, 1500, 1e-6)):
        x, y = inception_like(2048, n1, n2, 9)
        (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
        ours = frechet_distance(mu1, s1, mu2, s2)
        assert ours == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=rel)
        assert ours == pytest.approx(exact_frechet(x, y), rel=1e-12)


# ---------------------------------------------------------------------------------------------------- KID


def numpy_kid(real: np.ndarray, fake: np.ndarray, subsets: int, size: int, seed: int) -> tuple[float, float]:
    """Bińkowski et al.'s unbiased MMD², written out pair by pair, on torch-fidelity's subsets."""
    rng = np.random.RandomState(seed)
    d = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]

        def k(a, b):
            return (a @ b / d + 1.0) ** 3

        m = size
        xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
        values.append(xx + yy - 2 * xy)
    return float(np.mean(values)), float(np.std(values))


def test_kid_equals_the_unbiased_mmd_formula_on_torch_fidelity_subsets():
    rng = np.random.default_rng(10)
    real, fake = rng.standard_normal((40, 6)), rng.standard_normal((35, 6)) + 0.3
    mean, std, notes = kernel_inception_distance(
        torch.from_numpy(real).float(), torch.from_numpy(fake).float(), subsets=4, subset_size=12, seed=2020
    )
    as_float32 = [t.astype(np.float32).astype(np.float64) for t in (real, fake)]
    ref_mean, ref_std = numpy_kid(*as_float32, subsets=4, size=12, seed=2020)
    assert notes == []
    assert mean == pytest.approx(ref_mean, rel=1e-12)
    assert std == pytest.approx(ref_std, rel=1e-9)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    g = torch.Generator().manual_seed(11)
    a, b = torch.randn(600, 32, generator=g), torch.randn(600, 32, generator=g)
    same, same_std, _ = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted, _, _ = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 0.05 and shifted > 20 * abs(same)


def test_kid_clamps_the_subset_size_with_a_warning():
    g = torch.Generator().manual_seed(12)
    real, fake = torch.randn(50, 8, generator=g), torch.randn(30, 8, generator=g)
    mean, std, notes = kernel_inception_distance(real, fake, subsets=5)
    assert len(notes) == 1 and "1000" in notes[0] and "30" in notes[0]
    assert (mean, std, []) == kernel_inception_distance(real, fake, subsets=5, subset_size=30)
    with pytest.raises(ValueError):
        kernel_inception_distance(real, fake[:1], subsets=5)


def test_kid_is_reproducible_per_seed():
    g = torch.Generator().manual_seed(13)
    real, fake = torch.randn(80, 8, generator=g), torch.randn(80, 8, generator=g) + 0.2
    first = kernel_inception_distance(real, fake, subsets=6, subset_size=20, seed=3)
    assert kernel_inception_distance(real, fake, subsets=6, subset_size=20, seed=3) == first
    assert kernel_inception_distance(real, fake, subsets=6, subset_size=20, seed=4) != first


# ---------------------------------------------------------------------------------------------------- IS


def torch_fidelity_isc(logits: np.ndarray, splits: int) -> tuple[float, float]:
    """torch-fidelity's `isc_features_to_metric` without its shuffle, in NumPy."""
    n = len(logits)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        q = part.mean(0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(q)), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


def test_inception_score_of_uniform_predictions_is_one():
    assert inception_score(torch.zeros(100, 1008)) == (pytest.approx(1.0, abs=1e-12), pytest.approx(0.0, abs=1e-12))


def test_inception_score_of_confident_balanced_predictions_is_the_class_count():
    classes, splits = 20, 5
    labels = torch.arange(classes * splits * 3) % classes  # every split holds every class equally often
    logits = torch.nn.functional.one_hot(labels, classes).double() * 60.0
    mean, std = inception_score(logits, splits=splits)
    assert mean == pytest.approx(classes, rel=1e-9) and std == pytest.approx(0.0, abs=1e-6)


def test_inception_score_splits_and_shuffle():
    classes, splits = 10, 10
    logits = torch.nn.functional.one_hot(torch.arange(200) // 20, classes).double() * 60.0  # sorted by class
    assert inception_score(logits, splits=splits)[0] == pytest.approx(1.0)  # one class per split
    shuffled, _ = inception_score(logits, splits=splits, seed=2020)
    assert shuffled > 5.0
    perm = torch.from_numpy(np.random.RandomState(2020).permutation(200))
    assert inception_score(logits[perm], splits=splits) == inception_score(logits, splits=splits, seed=2020)
    g = torch.Generator().manual_seed(14)
    noisy = torch.randn(103, 50, generator=g) * 3  # 103 samples: uneven splits i·N//splits
    for k in (1, 3, 10):
        ours = inception_score(noisy, splits=k)
        ref = torch_fidelity_isc(noisy.double().numpy(), k)
        assert ours == (pytest.approx(ref[0], rel=1e-12), pytest.approx(ref[1], rel=1e-9, abs=1e-12))
    with pytest.raises(ValueError):
        inception_score(noisy[:5], splits=10)


# ---------------------------------------------------------------------------------------------------- PRDC


def numpy_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """clovaai's `compute_prdc` restated (full distance matrices, k-th value of the k+1 smallest), except that
    precision and recall use ≤ as Kynkäänniemi et al. do (prdc uses <; they differ only on exact ties)."""

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    real_r = np.sort(dist(real, real), axis=1)[:, k]
    fake_r = np.sort(dist(fake, fake), axis=1)[:, k]
    d = dist(real, fake)
    return dict(
        precision=(d <= real_r[:, None]).any(axis=0).mean(),
        recall=(d <= fake_r[None, :]).any(axis=1).mean(),
        density=(1.0 / k) * (d < real_r[:, None]).sum(axis=0).mean(),
        coverage=(d.min(axis=1) < real_r).mean(),
    )


def overlapping_sets(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(60, 8, generator=g), torch.randn(45, 8, generator=g) * 1.3 + 0.4


def test_prdc_equal_the_reference_formulas():
    real, fake = overlapping_sets(15)
    for k in (1, 3, 5):
        ref = numpy_prdc(real.double().numpy(), fake.double().numpy(), k)
        assert precision_recall(real, fake, k=k) == (ref["precision"], ref["recall"])
        assert density_coverage(real, fake, k=k) == pytest.approx((ref["density"], ref["coverage"]), rel=1e-15)
    ref = numpy_prdc(real.double().numpy(), fake.double().numpy(), 3)
    assert 0 < ref["precision"] < 1 and 0 < ref["recall"] < 1 and 0 < ref["coverage"] < 1  # a real test


def test_prdc_chunked_equals_unchunked():
    real, fake = overlapping_sets(16)
    assert precision_recall(real, fake, chunk=7) == precision_recall(real, fake, chunk=10**6)
    assert density_coverage(real, fake, chunk=7) == density_coverage(real, fake, chunk=10**6)
    # the radii themselves may differ in the last bit: BLAS sums a block's dot products in an order that can
    # depend on the block's shape; only an exact tie at that level could change a count
    torch.testing.assert_close(knn_radii_sq(real, 3, chunk=4), knn_radii_sq(real, 3, chunk=10**6), rtol=1e-14, atol=0)


def test_prdc_of_identical_and_of_far_apart_sets():
    real, _ = overlapping_sets(17)
    # the k-NN radius counts a sample as its own 0th neighbour, so each sample lies in its own ball
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    density, coverage = density_coverage(real, real.clone())
    assert coverage == 1.0 and density >= 1.0 / 5
    far = real + 1000.0
    assert precision_recall(real, far) == (0.0, 0.0)
    assert density_coverage(real, far) == (0.0, 0.0)


def test_prdc_tie_conventions():
    # four copies of one point: every 3-NN radius is 0; a fake sample on that point is inside (≤) for
    # precision/recall (Kynkäänniemi) but not strictly inside (<) for density/coverage (prdc)
    real = torch.zeros(4, 2)
    fake = torch.zeros(4, 2)
    assert precision_recall(real, fake, k=3) == (1.0, 1.0)
    assert density_coverage(real, fake, k=3) == (0.0, 0.0)
    with pytest.raises(ValueError):
        precision_recall(real[:3], fake, k=3)


# ---------------------------------------------------------------------------------------------------- paired


def numpy_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """skimage's `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` for
    one (C, H, W) image: reflect-filtered local statistics (truncate 3.5 → 11 taps), 5-pixel border cropped."""
    values = []
    for x, y in zip(a, b):
        x, y = x.astype(np.float64), y.astype(np.float64)

        def f(img):
            return scipy.ndimage.gaussian_filter(img, sigma=1.5, truncate=3.5, mode="reflect")

        ux, uy, uxx, uyy, uxy = f(x), f(y), f(x * x), f(y * y), f(x * y)
        vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        values.append(s[5:-5, 5:-5].mean())
    return float(np.mean(values))


def image_pair(seed: int, shape=(3, 3, 24, 30)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=g)
    smooth = torch.nn.functional.avg_pool2d(a, 5, stride=1, padding=2)  # some structure, some noise
    b = (0.7 * smooth + 0.3 * torch.rand(shape, generator=g)).clamp(0, 1)
    return a, b


def test_psnr_and_l1():
    a, _ = image_pair(18)
    assert torch.isinf(psnr(a, a)).all() and (psnr(a, a) > 0).all()
    b = a * 0.8 + 0.1  # values stay in [0, 1]; per image MSE differs
    mse = ((a.double() - b.double()) ** 2).flatten(1).mean(1)
    torch.testing.assert_close(psnr(a, b), 10 * torch.log10(1 / mse))
    offset = torch.full((2, 1, 16, 16), 0.25)
    torch.testing.assert_close(psnr(offset, offset + 0.1), torch.full((2,), 20.0, dtype=torch.float64))
    torch.testing.assert_close(
        psnr(offset * 255, offset * 255 + 25.5, data_range=255.0), torch.full((2,), 20.0).double()
    )
    torch.testing.assert_close(l1(offset, offset + 0.1), torch.full((2,), 0.1, dtype=torch.float64))
    assert l1(a, b).shape == (3,) and l1(a, a).eq(0).all()
    with pytest.raises(ValueError):
        psnr(a, a[:, :2])


def test_ssim_of_identical_images_is_one():
    a, _ = image_pair(19)
    assert ssim(a, a).eq(1.0).all()


def test_ssim_equals_a_numpy_restatement_of_skimage():
    a, b = image_pair(20)
    ours = ssim(a, b)
    assert ours.shape == (3,) and (ours < 0.9).all()
    for i in range(3):
        assert ours[i].item() == pytest.approx(numpy_ssim(a[i].numpy(), b[i].numpy()), rel=1e-10)
    assert ssim(a * 255, b * 255, data_range=255.0)[0].item() == pytest.approx(
        numpy_ssim(a[0].numpy() * 255, b[0].numpy() * 255, data_range=255.0), rel=1e-10
    )
    with pytest.raises(ValueError):
        ssim(a[..., :10], b[..., :10])


def test_ssim_equals_skimage():
    metrics = pytest.importorskip("skimage.metrics")
    a, b = image_pair(21, shape=(2, 3, 32, 27))
    for i in range(2):
        ref = metrics.structural_similarity(
            a[i].double().numpy(),
            b[i].double().numpy(),
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        assert ssim(a, b)[i].item() == pytest.approx(ref, rel=1e-10)
