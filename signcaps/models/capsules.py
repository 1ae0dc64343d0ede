"""Capsule-network building blocks (Sabour, Frosst & Hinton 2017, "Dynamic Routing Between Capsules").

Everything here is plain torch so that a model's default ``forward`` traces into a static ONNX
graph: shapes are fixed at construction time, the batch dimension is the only dynamic one, and no
Python value is read back from a tensor while a graph is being captured.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Shrink a vector's length into [0, 1) while keeping its direction.

    v = |s|^2 / (1 + |s|^2) * s / |s|. The length of a capsule is read as the probability that
    its entity is present, so it must stay below 1 (in float32 it rounds to exactly 1 once
    |s| exceeds about 4e3). ``eps`` inside the square root keeps the value and the gradient
    finite for an all-zero vector (which maps to zero).
    """
    sq_norm = (s * s).sum(dim=dim, keepdim=True)
    scale = sq_norm / (1.0 + sq_norm) / torch.sqrt(sq_norm + eps)
    return scale * s


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Spatial size after a convolution or pooling (floor mode), so shapes are known at init."""
    return (size + 2 * padding - kernel_size) // stride + 1


def capsule_lengths(caps: torch.Tensor) -> torch.Tensor:
    """Euclidean length of every capsule (last dimension): the class-presence probabilities.

    Clamped at 1 so float rounding of a saturated capsule can never report a probability > 1.
    """
    return torch.linalg.vector_norm(caps, dim=-1).clamp(max=1.0)


def _is_exporting() -> bool:
    """True while a graph is being captured (TorchScript/ONNX tracing, torch.export, dynamo).

    The routing layer then takes one fixed code path and keeps no Python-side state, so the
    captured graph has no batch-size branch and no attribute mutation.
    """
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()  # torch >= 2.3
    return torch.jit.is_tracing() or compiling or torch.onnx.is_in_onnx_export()


class PrimaryCapsules(nn.Module):
    """Convolution whose output channels are grouped into ``num_maps`` maps of ``capsule_dim``-D capsules.

    Each spatial position of each map is one capsule, so the layer yields
    ``num_maps * H' * W'`` capsules, ordered (map, row, column); capsule (m, y, x) is conv
    channels m*dim .. m*dim+dim-1 at (y, x). Pass ``input_size`` (the feature-map size this
    layer will see) to fix the grid at init: the reshape then uses constants only and the ONNX
    graph gets no shape arithmetic. Without it any input size works.
    """

    def __init__(
        self,
        in_channels: int,
        num_maps: int = 32,
        capsule_dim: int = 8,
        kernel_size: int = 9,
        stride: int = 2,
        padding: int = 0,
        input_size: int | tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.num_maps = num_maps
        self.capsule_dim = capsule_dim
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.conv = nn.Conv2d(in_channels, num_maps * capsule_dim, kernel_size, stride, padding)
        self.grid: tuple[int, int] | None = None
        if input_size is not None:
            h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
            self.grid = self.output_grid(h, w)

    def output_grid(self, height: int, width: int) -> tuple[int, int]:
        """Spatial grid of capsules produced for an input feature map of ``height x width``."""
        h = conv_output_size(height, self.kernel_size, self.stride, self.padding)
        w = conv_output_size(width, self.kernel_size, self.stride, self.padding)
        return h, w

    def num_capsules(self, height: int, width: int) -> int:
        """How many capsules come out for a given input size (used to size the routing layer)."""
        h, w = self.output_grid(height, width)
        return self.num_maps * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_maps * H' * W', capsule_dim), squashed."""
        u = self.conv(x)  # (N, maps*dim, H', W')
        if self.grid is not None:
            cells = self.grid[0] * self.grid[1]
            u = u.reshape(-1, self.num_maps, self.capsule_dim, cells).transpose(2, 3)
            u = u.reshape(-1, self.num_maps * cells, self.capsule_dim)
        else:
            u = u.unflatten(1, (self.num_maps, self.capsule_dim))  # (N, maps, dim, H', W')
            u = u.permute(0, 1, 3, 4, 2).flatten(1, 3)  # (N, maps*H'*W', dim)
        return squash(u)


class RoutingCapsules(nn.Module):
    """Fully connected capsule layer with dynamic routing by agreement.

    Every input capsule i predicts every output capsule j through its own matrix
    W_ij (out_dim x in_dim): u_hat_j|i = W_ij u_i. Routing starts from logits b = 0, sets
    c_i = softmax_j(b_i), s_j = sum_i c_ij u_hat_j|i, v_j = squash(s_j), b_ij += u_hat_j|i . v_j,
    and repeats ``iterations`` times; the last v is the output.

    Gradient detaching: the iterations before the last one run on detached predictions, so the
    gradient reaches W and the input only through the final weighted sum, with the couplings
    treated as constants. Routing is a clustering step, not a learned one; back-propagating
    through every iteration multiplies the backward cost and is known to make training less
    stable, while the detached variant trains as well or better.

    Two numerically equivalent implementations (a test checks they agree):

    * ``_route_materialised`` builds u_hat, (I, N, J, D), with one batched matmul. Cheapest for
      small batches and used whenever the module is traced, so the ONNX graph is this one.
    * ``_route_fused`` never builds u_hat: since s_j = sum_i W_ij (c_ij u_i) and
      u_hat_j|i . v_j = u_i . (W_ij^T v_j), both routing steps become one large GEMM over all
      input capsules at once. On a 2-core CPU this halves the training-step cost of the layer,
      because the materialised tensor (N x I x J x D floats) is memory-bound to stream.
    """

    def __init__(
        self,
        in_caps: int,
        in_dim: int,
        out_caps: int,
        out_dim: int = 16,
        iterations: int = 3,
        init_std: float = 0.01,
        fused_min_batch: int = 16,
    ) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"routing iterations must be >= 1, got {iterations}")
        self.in_caps = in_caps
        self.in_dim = in_dim
        self.out_caps = out_caps
        self.out_dim = out_dim
        self.iterations = iterations
        self.fused_min_batch = fused_min_batch
        self.weight = nn.Parameter(init_std * torch.randn(in_caps, out_caps, out_dim, in_dim))
        self.last_couplings: torch.Tensor | None = None

    def predictions(self, u: torch.Tensor) -> torch.Tensor:
        """u_hat: (N, in_caps, in_dim) -> (in_caps, N, out_caps, out_dim).

        One batched matmul with the input capsules as the batch, (I, N, K) @ (I, K, J*D): a
        single BLAS call on CPU and a plain MatMul in ONNX, without expanding W per sample.
        """
        w = self.weight.permute(0, 3, 1, 2).reshape(self.in_caps, self.in_dim, self.out_caps * self.out_dim)
        u_hat = torch.matmul(u.transpose(0, 1), w)  # (I, N, J*D)
        return u_hat.reshape(self.in_caps, -1, self.out_caps, self.out_dim)

    def _route_materialised(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Routing on explicit predictions; returns v (N, J, D) and couplings (I, N, J) or None (uniform)."""
        u_hat = self.predictions(u)  # (I, N, J, D)
        u_hat_const = u_hat.detach()
        logits: torch.Tensor | None = None  # (I, N, J); None = all zero
        couplings: torch.Tensor | None = None
        v = u_hat[0]  # always reassigned below (iterations >= 1)
        for r in range(self.iterations):
            last = r == self.iterations - 1
            preds = u_hat if last else u_hat_const
            if couplings is None:
                # b = 0 gives c = 1/J: skip the softmax and any batch-shaped zeros tensor.
                s = preds.sum(dim=0) / self.out_caps
            else:
                s = (couplings.unsqueeze(-1) * preds).sum(dim=0)
            v = squash(s)
            if not last:
                agreement = (u_hat_const * v.detach()).sum(dim=-1)
                logits = agreement if logits is None else logits + agreement
                couplings = torch.softmax(logits, dim=-1)
        return v, couplings

    def _route_fused(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Same maths as ``_route_materialised`` through GEMMs over W; couplings as (I, N, J).

        Layouts are chosen for the CPU: output-capsule-major (J, N, ...) so both GEMMs are plain
        batched matmuls over the J output capsules with a K*I inner dimension, and the input
        capsules stored component-major (N, K, I) so the elementwise products with the
        couplings broadcast over an outer axis and vectorise along the I capsules.
        """
        n = u.shape[0]
        i_caps, k, j_caps, d = self.in_caps, self.in_dim, self.out_caps, self.out_dim
        w = self.weight.permute(1, 3, 0, 2).reshape(j_caps, k * i_caps, d)  # (J, K*I, D)
        u_t = u.transpose(1, 2).contiguous()  # (N, K, I)
        w_const, u_const = w.detach(), u_t.detach()
        logits: torch.Tensor | None = None  # (J, N, I)
        couplings: torch.Tensor | None = None
        v = u.new_empty(0)  # always reassigned below (iterations >= 1)
        for r in range(self.iterations):
            last = r == self.iterations - 1
            ww, uu = (w, u_t) if last else (w_const, u_const)
            if couplings is None:  # uniform coupling: one GEMM over all (i, j) at once
                flat_w = ww.transpose(0, 1).reshape(k * i_caps, j_caps * d)
                s = (uu.reshape(n, k * i_caps) @ flat_w).view(n, j_caps, d).transpose(0, 1) / j_caps
            else:
                z = (couplings.unsqueeze(2) * uu.unsqueeze(0)).view(j_caps, n, k * i_caps)  # c_ij u_i
                s = torch.matmul(z, ww)  # (J, N, D)
            v = squash(s)
            if not last:
                back = torch.matmul(v.detach(), w_const.transpose(1, 2))  # W_ij^T v_j: (J, N, K*I)
                agreement = (back.view(j_caps, n, k, i_caps) * u_const).sum(dim=2)  # (J, N, I)
                logits = agreement if logits is None else logits + agreement
                couplings = torch.softmax(logits, dim=0)
        return v.transpose(0, 1), None if couplings is None else couplings.permute(2, 1, 0)

    def forward(
        self, u: torch.Tensor, return_couplings: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(N, in_caps, in_dim) -> output capsules (N, out_caps, out_dim).

        With ``return_couplings`` also returns the coupling coefficients used in the last
        iteration, (N, in_caps, out_caps), summing to 1 over the output capsules. Outside
        graph capture they are also kept in ``last_couplings`` for inspection.
        """
        capturing = _is_exporting()
        if not capturing and u.shape[0] >= self.fused_min_batch:
            v, couplings = self._route_fused(u)
        else:
            v, couplings = self._route_materialised(u)
        if return_couplings or not capturing:
            if couplings is None:  # one iteration: uniform coupling
                couplings = torch.full(
                    (self.in_caps, u.shape[0], self.out_caps), 1.0 / self.out_caps, dtype=u.dtype, device=u.device
                )
            couplings = couplings.detach().permute(1, 0, 2)
            if not capturing:
                self.last_couplings = couplings
        if return_couplings:
            return v, couplings
        return v


def margin_loss(
    lengths: torch.Tensor,
    targets: torch.Tensor,
    m_pos: float = 0.9,
    m_neg: float = 0.1,
    lam: float = 0.5,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Capsule margin loss, summed over classes and averaged over the batch.

    L_k = T_k max(0, m+ - |v_k|)^2 + lam (1 - T_k) max(0, |v_k| - m-)^2. ``lam`` down-weights
    absent classes so early training does not shrink all capsules. ``targets`` are class indices
    (N,) or one-hot / soft targets (N, K); an all-zero target row is a hand that shows none of the
    classes, whose every capsule is pushed below m-. ``weights`` (N,) scale each sample's loss.
    """
    if targets.dim() == 1:
        targets = F.one_hot(targets.long(), lengths.shape[1]).to(lengths.dtype)
    present = targets * F.relu(m_pos - lengths).pow(2)
    absent = lam * (1.0 - targets) * F.relu(lengths - m_neg).pow(2)
    per_sample = (present + absent).sum(dim=1)
    if weights is not None:
        per_sample = per_sample * weights
    return per_sample.mean()


def mask_capsules(caps: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """(N, K, D) capsules -> (N, K*D) with every capsule zeroed but the target's (or the longest one):
    what a decoder reads, so it draws what that one class capsule encodes."""
    if targets is None:
        targets = capsule_lengths(caps).argmax(dim=1)
    onehot = F.one_hot(targets.long(), caps.shape[1]).to(caps.dtype)
    return (caps * onehot.unsqueeze(-1)).flatten(1)


class Decoder(nn.Module):
    """Reconstructs the input image from the digit capsules, as a regulariser.

    All capsules but one are zeroed: the true class during training (so the decoder learns to
    draw what that class capsule encodes), otherwise the longest capsule (the prediction).
    """

    def __init__(
        self,
        num_caps: int,
        caps_dim: int,
        out_shape: tuple[int, int, int],
        hidden: tuple[int, ...] = (512, 1024),
    ) -> None:
        super().__init__()
        self.num_caps = num_caps
        self.caps_dim = caps_dim
        self.out_shape = tuple(out_shape)
        layers: list[nn.Module] = []
        width = num_caps * caps_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        c, hh, ww = self.out_shape
        layers += [nn.Linear(width, c * hh * ww), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def mask(self, caps: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Zero every capsule except the target's (or the longest one); returns (N, K*D)."""
        return mask_capsules(caps, targets)

    def forward(self, caps: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K, D) digit capsules -> (N, C, H, W) image in [0, 1]."""
        return self.net(self.mask(caps, targets)).unflatten(1, self.out_shape)


def reconstruction_loss(recon: torch.Tensor, images01: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors per sample, averaged over the batch.

    The images must be in [0, 1] (undo the crop normalisation first); the caller scales this
    by ``TrainConfig.recon_weight`` (0.0005) so it does not dominate the margin loss.
    """
    return (recon - images01).pow(2).flatten(1).sum(dim=1).mean()
