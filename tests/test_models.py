"""Model registry: shapes, output ranges, config errors, a quick overfit, ONNX parity."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from signcaps.models.capsules import margin_loss, reconstruction_loss
from signcaps.models.registry import REGISTRY, build_model, count_parameters, list_models
from signcaps.util.config import CropConfig, ModelConfig

# The paper's layout is meant for 28x28; everything else runs at the project default (32x32).
NATIVE_SIZE = {"capsnet-sabour": 28}

TINY_CAPSNET = {
    "stem_channels": [8, 16],
    "stem_kernels": [3, 3],
    "stem_strides": [1, 2],
    "stem_padding": [0, 0],
    "primary_maps": 4,
    "primary_kernel": 3,
    "primary_stride": 2,
    "decoder_hidden": [32, 64],
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _build(name: str, size: int | None = None, channels: int = 1, **model_kw) -> torch.nn.Module:
    crop = CropConfig(input_size=size or NATIVE_SIZE.get(name, 32), channels=channels)
    return build_model(ModelConfig(name=name, **model_kw), crop, num_classes=10)


def _inputs(model: torch.nn.Module, n: int, size: int = 32, channels: int = 1) -> list[torch.Tensor]:
    given = {"image": torch.randn(n, channels, size, size) * 3, "pose": torch.randn(n, 21, 3)}
    return [given[kind] for kind in model.inputs]


def test_registry_is_one_table_listed_by_list_models() -> None:
    assert list_models() == sorted(REGISTRY)
    assert {"capsnet", "pose-capsnet", "fused-capsnet", "cnn", "landmark-mlp"} <= set(list_models())
    for name in list_models():
        assert set(REGISTRY[name].inputs) <= {"image", "pose"} and REGISTRY[name].summary


@pytest.mark.parametrize("name", list_models())
def test_every_model_returns_scores_in_unit_interval(name: str) -> None:
    model = _build(name)
    assert model.inputs == REGISTRY[name].inputs
    x = _inputs(model, 3, NATIVE_SIZE.get(name, 32))
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            out = model(*x)
        assert out.shape == (3, 10)
        assert out.dtype == torch.float32
        assert torch.all((out >= 0) & (out <= 1))
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", [n for n in list_models() if n.startswith("capsnet")])
def test_capsule_models_expose_capsules_and_reconstruction(name: str) -> None:
    model = _build(name).eval()
    assert model.has_decoder is True
    c, h, w = model.input_shape
    x = torch.rand(2, c, h, w)
    with torch.no_grad():
        lengths, caps = model.forward_capsules(x)
        assert caps.shape == (2, 10, 16)
        assert torch.allclose(lengths, caps.norm(dim=-1).clamp(max=1.0))
        assert torch.allclose(model(x), lengths)
        for targets in (None, torch.tensor([3, 7])):
            recon = model.reconstruct(caps, targets)
            assert recon.shape == (2, c, h, w)
            assert torch.all((recon >= 0) & (recon <= 1))


def test_cnn_baseline_has_no_decoder() -> None:
    assert _build("cnn").has_decoder is False


@pytest.mark.parametrize("name", ["pose-capsnet", "fused-capsnet"])
def test_pose_capsule_models_decode_the_winning_capsule_into_landmarks(name: str) -> None:
    model = _build(name).eval()
    assert model.has_pose_decoder is True
    x = _inputs(model, 2)
    with torch.no_grad():
        lengths, caps = model.forward_capsules(*x)
        assert caps.shape == (2, 10, 16)
        assert torch.allclose(model(*x), lengths)
        pose = model.reconstruct_pose(caps, torch.tensor([3, 7]))
    assert pose.shape == (2, 21, 3)


def test_fused_model_routes_image_and_pose_capsules_together() -> None:
    model = _build("fused-capsnet").eval()
    assert model.digits.in_caps == model.num_primary + model.encoder.num_capsules
    image, pose = _inputs(model, 4)
    with torch.no_grad():
        both = model(image, pose)
        other_pose = model(image, torch.randn(4, 21, 3))
    assert not torch.allclose(both, other_pose)  # the pose reaches the digit capsules
    model.train()
    model.image_dropout, model.pose_dropout = 1.0, 0.0
    with torch.no_grad():
        a, b = model(image, pose), model(torch.randn_like(image), pose)
    assert torch.allclose(a, b, atol=1e-6)  # with the image dropped, only the pose decides


@pytest.mark.parametrize(
    ("name", "size", "channels"),
    [("capsnet", 48, 3), ("capsnet", 24, 1), ("cnn", 40, 3), ("capsnet-sabour", 32, 1)],
)
def test_models_follow_crop_geometry(name: str, size: int, channels: int) -> None:
    model = _build(name, size=size, channels=channels).eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, 10)
    assert model.input_shape == (channels, size, size)


def test_capsnet_uses_moderate_primary_grid_and_routing_iterations() -> None:
    model = _build("capsnet", routing_iterations=2)
    assert model.digits.iterations == 2
    assert model.num_primary == 16 * 4 * 4  # 16 maps on a 4x4 grid
    assert model.digits.weight.shape == (256, 10, 16, 8)


def test_params_override_defaults() -> None:
    model = _build("capsnet", params={"primary_maps": 8, "decoder_hidden": [64, 128]})
    assert model.num_primary == 8 * 4 * 4
    assert model.decoder.net[0].out_features == 64
    sabour = _build("capsnet-sabour")
    assert sabour.num_primary == 1152  # 32 maps x 6x6, as in the paper


def test_unknown_model_raises() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'nope'; choose from: .*capsnet"):
        _build("nope")


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("capsnet", {"bogus": 1}, r"unknown param\(s\) \['bogus'\]"),
        ("cnn", {"primary_maps": 8}, "unknown param"),
        ("capsnet", {"primary_maps": "many"}, "must be an integer"),
        ("capsnet", {"stem_channels": [8, 16]}, "same length"),
        ("capsnet", {"stem_kernels": 5}, "list of integers"),
    ],
)
def test_bad_params_raise_one_line_value_error(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        _build(name, params=params)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("name", "size"), [("capsnet-sabour", 16), ("cnn", 4)])
def test_too_small_input_raises(name: str, size: int) -> None:
    with pytest.raises(ValueError, match="too small"):
        _build(name, size=size)


@pytest.fixture
def one_thread():
    """Tiny models run fastest single-threaded, and a busy shared CPU cannot stall a thread barrier."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_tiny_capsnet_overfits_random_samples(one_thread) -> None:
    model = _build("capsnet", size=16, params=TINY_CAPSNET)
    x = torch.rand(20, 1, 16, 16)
    y = torch.arange(20) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        lengths, caps = model.forward_capsules(x)
        loss = margin_loss(lengths, y) + 0.0005 * reconstruction_loss(model.reconstruct(caps, y), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.9


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # legacy exporter, requested on purpose
@pytest.mark.parametrize("name", ["capsnet", "cnn"])
def test_onnx_export_matches_torch(name: str, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = _build(name).eval()
    c, h, w = model.input_shape
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        model,
        (torch.randn(1, c, h, w),),
        str(path),
        input_names=["input"],
        output_names=["lengths"],
        dynamic_axes={"input": {0: "batch"}, "lengths": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = torch.rand(batch, c, h, w) * 2 - 1
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = session.run(["lengths"], {"input": x.numpy()})
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, expected, atol=1e-4)
