"""A compact 2-D Fourier Neural Operator (Li et al., "Fourier Neural Operator for
Parametric Partial Differential Equations", ICLR 2021), in plain PyTorch.

    input (B, C_in, N, N) + (x, y) coordinates
      -> lifting (1x1 conv to `width` channels)
      -> zero padding by `padding` cells (the problems are not periodic)
      -> `layers` Fourier layers: v <- act(SpectralConv(v) + W v)   (no act after the last)
      -> crop the padding
      -> projection (pointwise: linear to `hidden` = 4*width, GELU, linear to C_out)

SpectralConv keeps the lowest `modes` frequencies in each direction (rfft2, a complex
weight per (in, out, kx, ky) for the positive and the negative kx band, irfft2), so the
same weights apply at any resolution. Its weights start as `init` says: "paper" (the
FNO paper's code: real and imaginary parts uniform in [0, 1 / (in out))) or "normal"
(neuraloperator's: complex normal, std sqrt(2 / (in + out)), about 100x larger). On the
heat-surrogate data (benchmarks/fno_library.py) "normal" was 1-18% more accurate after
15 epochs on 128 fields, but 24-34% less accurate at the workflow's 50 epochs on 256
fields, hence the default.

Why not the `neuraloperator` package: measured against its FNO at the same settings
(benchmarks/fno_library.py, docs/decisions.md "The FNO: ours, measured against
neuraloperator's"), ours is 17-27% more accurate at the same parameter count at the
heat-surrogate's training settings, trains and runs faster on the CPU and exports to
ONNX for OpenVINO, which the library's does not; and `import neuralop` imports wandb, opentelemetry,
matplotlib, h5py, tensorly and tensorly-torch (56 distributions beyond torch's).

torch is imported when a model is built, never when this module is imported (planning
and validation must not pull torch in): the classes are created on first use by
`classes()`.
"""

from __future__ import annotations

import functools
from typing import Any

INITS = ("paper", "normal")  # spectral weight initialisations (see the module docstring)
TORCH_HINT = "PyTorch is needed for surrogate stages: pip install 'orchestrator[torch]'"


def require_torch() -> Any:
    """The torch module, or an ImportError that says which extra to install."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover (depends on the environment)
        raise ImportError(f"{TORCH_HINT} ({exc})") from exc
    return torch


@functools.cache
def classes() -> tuple[type, type]:
    """(SpectralConv2d, FNO2d), defined on first call."""
    torch = require_torch()
    from torch import nn
    from torch.nn import functional as F

    class SpectralConv2d(nn.Module):
        """Fourier layer kernel: multiply the lowest `modes` frequencies by learned weights."""

        def __init__(self, in_channels: int, out_channels: int, modes1: int, modes2: int,
                     init: str = "paper"):
            super().__init__()
            self.modes1, self.modes2 = modes1, modes2
            shape = (in_channels, out_channels, modes1, modes2)
            if init == "paper":
                scale, draw = 1.0 / (in_channels * out_channels), torch.rand
            elif init == "normal":  # randn of cfloat: each part has std 1/sqrt(2)
                scale, draw = (2.0 / (in_channels + out_channels)) ** 0.5, torch.randn
            else:
                raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
            self.w_pos = nn.Parameter(scale * draw(*shape, dtype=torch.cfloat))
            self.w_neg = nn.Parameter(scale * draw(*shape, dtype=torch.cfloat))
            self.out_channels = out_channels

        def forward(self, x: Any) -> Any:
            # rfft2 -> keep modes -> irfft2, as two 1-D transforms each way so that the
            # row transforms see only the m2 kept columns (not n2 / 2 + 1): less work and
            # a working set that stays in cache for large grids and batches
            b, _, n1, n2 = x.shape
            m1, m2 = min(self.modes1, n1 // 2), min(self.modes2, n2 // 2 + 1)
            xf = torch.fft.fft(torch.fft.rfft(x, dim=-1)[..., :m2], dim=-2)
            out = torch.zeros(b, self.out_channels, n1, m2, dtype=torch.cfloat,
                              device=x.device)
            out[:, :, :m1] = torch.einsum(
                "bixy,ioxy->boxy", xf[:, :, :m1], self.w_pos[:, :, :m1, :m2])
            out[:, :, -m1:] = torch.einsum(
                "bixy,ioxy->boxy", xf[:, :, -m1:], self.w_neg[:, :, :m1, :m2])
            return torch.fft.irfft(torch.fft.ifft(out, dim=-2), n=n2, dim=-1)

    class FNO2d(nn.Module):
        """Fourier Neural Operator: (B, in_channels, N, N) -> (B, out_channels, N, N)."""

        def __init__(self, in_channels: int = 1, out_channels: int = 1, modes: int = 12,
                     width: int = 32, layers: int = 4, padding: int = 8,
                     dropout: float = 0.0, hidden: int | None = None, init: str = "paper"):
            super().__init__()
            hidden = hidden or 4 * width
            self.config = {"in_channels": in_channels, "out_channels": out_channels,
                           "modes": modes, "width": width, "layers": layers,
                           "padding": padding, "dropout": dropout, "hidden": hidden,
                           "init": init}
            self.padding = padding
            self.lift = nn.Conv2d(in_channels + 2, width, 1)
            self.spectral = nn.ModuleList(
                SpectralConv2d(width, width, modes, modes, init) for _ in range(layers))
            self.pointwise = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(layers))
            self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
            # pointwise MLP on channels-last data: nn.Linear runs as one GEMM, about
            # twice as fast on CPUs as the equivalent 1x1 convolutions
            self.project = nn.Sequential(nn.Linear(width, hidden), nn.GELU(),
                                         nn.Linear(hidden, out_channels))

        def forward(self, a: Any) -> Any:
            b, _, n1, n2 = a.shape
            ys = torch.linspace(0, 1, n1, device=a.device, dtype=a.dtype)
            xs = torch.linspace(0, 1, n2, device=a.device, dtype=a.dtype)
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            coords = torch.stack([gx, gy]).expand(b, 2, n1, n2)
            v = self.lift(torch.cat([a, coords], dim=1))
            if self.padding:
                v = F.pad(v, [0, self.padding, 0, self.padding])
            last = len(self.spectral) - 1
            for i, (spec, point) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
                v = spec(v) + point(v)
                if i < last:
                    v = self.dropout(F.gelu(v))
            if self.padding:
                v = v[..., :n1, :n2]
            return self.project(v.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    return SpectralConv2d, FNO2d


def build_fno(**config: Any) -> Any:
    """A new FNO2d; `config` as FNO2d's keyword arguments (model.config records them)."""
    return classes()[1](**config)


def parameter_count(model: Any) -> int:
    return int(sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters()))
