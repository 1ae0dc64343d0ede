"""Capsule building blocks: squash, primary capsules, routing, margin loss, decoder."""
from __future__ import annotations

import pytest
import torch

from signcaps.models.capsules import (
    Decoder,
    PrimaryCapsules,
    RoutingCapsules,
    capsule_lengths,
    margin_loss,
    reconstruction_loss,
    squash,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def reference_routing(weight: torch.Tensor, u: torch.Tensor, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Textbook routing written independently of the module: explicit u_hat and loops of einsums."""
    u_hat = torch.einsum("ijdk,nik->nijd", weight, u)  # (N, I, J, D)
    u_hat_const = u_hat.detach()
    b = torch.zeros(u.shape[0], weight.shape[0], weight.shape[1])
    v = c = None
    for r in range(iterations):
        c = torch.softmax(b, dim=2)
        preds = u_hat if r == iterations - 1 else u_hat_const
        v = squash(torch.einsum("nij,nijd->njd", c, preds))
        b = b + torch.einsum("nijd,njd->nij", u_hat_const, v.detach())
    return v, c


# ----------------------------------------------------------------------------- squash


def test_squash_norms_in_unit_interval_and_direction_kept() -> None:
    # Seeded, and |s| up to ~1e3: beyond about 4e3 float32 rounds the length to exactly 1 (see
    # test_squash_huge_vectors_saturate_without_overflow), which an unseeded draw reached now and then.
    generator = torch.Generator().manual_seed(0)
    s = torch.randn(200, 16, generator=generator) * torch.logspace(-4, 2.5, 200).unsqueeze(1)
    v = squash(s)
    norms = v.norm(dim=-1)
    assert torch.all(norms >= 0) and torch.all(norms < 1)
    cos = torch.nn.functional.cosine_similarity(v, s, dim=-1)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)
    # the length follows |s|^2 / (1 + |s|^2)
    sn = s.norm(dim=-1)
    assert torch.allclose(norms, sn**2 / (1 + sn**2), rtol=1e-4, atol=1e-7)


def test_squash_huge_vectors_saturate_without_overflow() -> None:
    v = squash(torch.full((2, 8), 1e18))
    assert torch.isfinite(v).all()
    assert torch.all(capsule_lengths(v) <= 1.0)


def test_squash_zero_vector_is_finite_with_finite_gradient() -> None:
    s = torch.zeros(3, 8, requires_grad=True)
    v = squash(s)
    v.sum().backward()
    assert torch.all(v == 0)
    assert torch.isfinite(s.grad).all()


def test_squash_along_other_dim() -> None:
    s = torch.randn(4, 8, 5) * 3
    assert torch.allclose(squash(s, dim=1), squash(s.transpose(1, 2)).transpose(1, 2), atol=1e-6)


# ----------------------------------------------------------------------------- primary capsules


@pytest.mark.parametrize("static_grid", [False, True])
def test_primary_capsules_shape_and_grouping(static_grid: bool) -> None:
    layer = PrimaryCapsules(
        in_channels=6, num_maps=4, capsule_dim=8, kernel_size=3, stride=2, input_size=11 if static_grid else None
    )
    x = torch.randn(2, 6, 11, 11)
    assert layer.output_grid(11, 11) == (5, 5)
    assert layer.num_capsules(11, 11) == 4 * 5 * 5
    caps = layer(x)
    assert caps.shape == (2, 100, 8)
    assert torch.all(capsule_lengths(caps) < 1)
    # capsule (map m, row y, col x) is conv channels m*8 .. m*8+7 at (y, x), squashed
    raw = layer.conv(x)
    m, y, xx = 2, 3, 1
    index = m * 25 + y * 5 + xx
    assert torch.allclose(caps[:, index], squash(raw[:, m * 8 : (m + 1) * 8, y, xx]), atol=1e-6)


# ----------------------------------------------------------------------------- routing


def _routing_layer(iterations: int = 3) -> RoutingCapsules:
    return RoutingCapsules(in_caps=36, in_dim=8, out_caps=5, out_dim=16, iterations=iterations, init_std=0.3)


def test_couplings_sum_to_one_over_output_capsules() -> None:
    layer = _routing_layer()
    u = squash(torch.randn(4, 36, 8))
    v, c = layer(u, return_couplings=True)
    assert v.shape == (4, 5, 16)
    assert c.shape == (4, 36, 5)
    assert torch.allclose(c.sum(dim=-1), torch.ones(4, 36), atol=1e-6)
    assert torch.equal(layer.last_couplings, c)
    assert torch.all(capsule_lengths(v) < 1)
    # after 3 iterations routing is not uniform any more
    assert (c - 1 / 5).abs().max() > 1e-3


def test_one_iteration_is_uniform_coupling() -> None:
    layer = _routing_layer(iterations=1)
    u = squash(torch.randn(3, 36, 8))
    v, c = layer(u, return_couplings=True)
    assert torch.allclose(c, torch.full_like(c, 1 / 5))
    u_hat = torch.einsum("ijdk,nik->nijd", layer.weight, u)
    expected = squash(u_hat.sum(dim=1) / 5)
    assert torch.allclose(v, expected, atol=1e-6)


@pytest.mark.parametrize("iterations", [1, 2, 3])
@pytest.mark.parametrize("fused", [False, True])
def test_routing_matches_reference_values_and_gradients(iterations: int, fused: bool) -> None:
    layer = _routing_layer(iterations)
    layer.fused_min_batch = 1 if fused else 10**9  # force one implementation
    u = squash(torch.randn(6, 36, 8)).requires_grad_()
    v, c = layer(u, return_couplings=True)
    v_ref, c_ref = reference_routing(layer.weight, u, iterations)
    assert torch.allclose(v, v_ref, atol=1e-6)
    assert torch.allclose(c, c_ref, atol=1e-6)
    target = torch.randn_like(v)
    grads = torch.autograd.grad((v * target).sum(), [u, layer.weight])
    grads_ref = torch.autograd.grad((v_ref * target).sum(), [u, layer.weight])
    for g, g_ref in zip(grads, grads_ref):
        assert torch.allclose(g, g_ref, atol=1e-6)


def test_routing_fused_and_materialised_paths_agree() -> None:
    layer = RoutingCapsules(in_caps=64, in_dim=8, out_caps=10, out_dim=16, iterations=3, init_std=0.1)
    u = squash(torch.randn(20, 64, 8))
    layer.fused_min_batch = 1
    v_fused = layer(u)
    layer.fused_min_batch = 10**9
    v_mat = layer(u)
    assert torch.allclose(v_fused, v_mat, atol=1e-6)


def test_routing_rejects_zero_iterations() -> None:
    with pytest.raises(ValueError, match="iterations"):
        RoutingCapsules(4, 8, 2, 16, iterations=0)


# ----------------------------------------------------------------------------- losses


def test_margin_loss_hand_computed() -> None:
    lengths = torch.tensor([[0.95, 0.3, 0.05], [0.5, 0.2, 0.8]])
    targets = torch.tensor([0, 2])
    # sample 0: present 0.95 >= 0.9 -> 0; absent 0.5*(0.3-0.1)^2 = 0.02; 0.05 < 0.1 -> 0
    # sample 1: present (0.9-0.8)^2 = 0.01; absent 0.5*0.4^2 = 0.08 and 0.5*0.1^2 = 0.005
    expected = (0.02 + (0.01 + 0.08 + 0.005)) / 2
    assert margin_loss(lengths, targets).item() == pytest.approx(expected, abs=1e-7)
    onehot = torch.nn.functional.one_hot(targets, 3).float()
    assert margin_loss(lengths, onehot).item() == pytest.approx(expected, abs=1e-7)
    assert margin_loss(lengths, targets, lam=1.0).item() == pytest.approx((0.04 + 0.01 + 0.16 + 0.01) / 2, abs=1e-7)


def test_reconstruction_loss_is_sum_per_sample_mean_over_batch() -> None:
    recon = torch.zeros(2, 1, 2, 2)
    images = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[1.0, 1.0], [1.0, 0.5]]]])
    assert reconstruction_loss(recon, images).item() == pytest.approx((1.0 + 3.25) / 2)


# ----------------------------------------------------------------------------- decoder


def test_decoder_masks_by_target_or_by_longest_capsule() -> None:
    decoder = Decoder(num_caps=4, caps_dim=16, out_shape=(1, 8, 8), hidden=(32, 64))
    caps = torch.randn(2, 4, 16) * 0.1
    caps[:, 2] *= 5  # capsule 2 is the longest
    by_longest = decoder.mask(caps).view(2, 4, 16)
    assert torch.equal(by_longest[:, 2], caps[:, 2])
    assert torch.all(by_longest[:, [0, 1, 3]] == 0)
    targets = torch.tensor([0, 3])
    by_target = decoder.mask(caps, targets).view(2, 4, 16)
    assert torch.equal(by_target[0, 0], caps[0, 0]) and torch.equal(by_target[1, 3], caps[1, 3])
    assert by_target[0, 1:].abs().sum() == 0 and by_target[1, :3].abs().sum() == 0

    image = decoder(caps)
    assert image.shape == (2, 1, 8, 8)
    assert torch.all((image >= 0) & (image <= 1))
    # the reconstruction depends only on the kept capsule
    other = caps.clone()
    other[:, [0, 1, 3]] = torch.randn(2, 3, 16) * 0.1
    assert torch.allclose(decoder(other), image)
    assert torch.allclose(decoder(caps, torch.tensor([2, 2])), image)
    assert not torch.allclose(decoder(caps, targets), image)
