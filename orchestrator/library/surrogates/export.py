"""Export trained FNO members to ONNX, so that runtimes without torch (OpenVINO) run them.

Neither of torch 2.13's ONNX exporters takes the FNO as it is: the TorchScript one has
no rule for `aten::fft_rfft2`, and the torch.export one cannot decompose the complex
einsum of the spectral weights. The exported graph therefore computes every Fourier
layer in real arithmetic (`RealSpectralConv`): the kept modes of the 2-D real FFT are a
truncated DFT, two small real matrix products per axis with cosine and sine tables; the
weights multiply their real and imaginary parts; the inverse is again two products (a
complex inverse DFT over the rows, then the Hermitian half-spectrum sum over the columns,
which is what `irfft2` computes). It is the same linear map as rfft2 -> keep the modes ->
multiply -> irfft2, up to float32 round-off (tests/unit/test_steps_sci.py checks
1e-5 relative), at a fixed grid: the tables are built for the training grid, which the
model is tied to anyway (its output normaliser is per grid point).

The graph includes each member's normaliser and stacks the members: input `x` (batch,
N, N) float32 features as trained on, output `y` (batch, members, N, N); the batch size
is free.

Which exporter: torch 2.13 has two, and both need the `onnx` package (the `torch` extra
installs it). The default, torch.export-based one also needs `onnxscript` and took 25 s
for a two-member heat-surrogate FNO on the 2-core development machine; the TorchScript
one (`dynamo=False`, deprecated since torch 2.9 but present) takes 1.7 s for the same
graph, which OpenVINO reads identically. We use the TorchScript one
(docs/decisions.md, "Surrogate inference: ONNX to OpenVINO").
"""

from __future__ import annotations

import copy
import functools
import math
import time
import warnings
from pathlib import Path
from typing import Any

from orchestrator.library.surrogates.fno import require_torch

ONNX_HINT = "exporting to ONNX needs the onnx package: pip install 'orchestrator[torch]'"
INPUT, OUTPUT = "x", "y"


@functools.cache
def classes() -> tuple[type, type]:
    """(RealSpectralConv, Served), defined on first call (torch is imported here)."""
    torch = require_torch()
    from torch import nn

    class RealSpectralConv(nn.Module):
        """A trained SpectralConv2d as real matrix products, for inputs of size x size."""

        def __init__(self, spec: Any, size: int):
            super().__init__()
            m1, m2 = min(spec.modes1, size // 2), min(spec.modes2, size // 2 + 1)
            f64 = torch.float64
            rows = torch.cat([torch.arange(m1), torch.arange(size - m1, size)]).to(f64)
            cols, pos = torch.arange(m2, dtype=f64), torch.arange(size, dtype=f64)
            ang_r = (2 * math.pi / size) * rows[:, None] * pos[None, :]  # (2 m1, size)
            ang_c = (2 * math.pi / size) * pos[:, None] * cols[None, :]  # (size, m2)
            # irfft2's half-spectrum sum counts the columns other than 0 and size/2 twice
            twice = torch.full((m2, 1), 2.0, dtype=f64)
            twice[0] = 1.0
            if size % 2 == 0 and m2 - 1 == size // 2:
                twice[-1] = 1.0
            weight = torch.cat([spec.w_pos[:, :, :m1, :m2], spec.w_neg[:, :, :m1, :m2]], dim=2)
            tables = {
                "fwd_rows_re": ang_r.cos(), "fwd_rows_im": -ang_r.sin(),     # exp(-i ...)
                "fwd_cols_re": ang_c.cos(), "fwd_cols_im": -ang_c.sin(),
                "inv_rows_re": ang_r.cos().T / size, "inv_rows_im": ang_r.sin().T / size,
                "inv_cols_re": twice * ang_c.T.cos() / size,
                "inv_cols_im": -twice * ang_c.T.sin() / size,
                "w_re": weight.real.double(), "w_im": weight.imag.double(),
            }
            for name, value in tables.items():
                self.register_buffer(name, value.detach().float().contiguous())

        def forward(self, x: Any) -> Any:
            xr, xi = self.fwd_rows_re @ x, self.fwd_rows_im @ x
            re = xr @ self.fwd_cols_re - xi @ self.fwd_cols_im  # kept modes of rfft2(x)
            im = xr @ self.fwd_cols_im + xi @ self.fwd_cols_re
            yr = (torch.einsum("bixy,ioxy->boxy", re, self.w_re)
                  - torch.einsum("bixy,ioxy->boxy", im, self.w_im))
            yi = (torch.einsum("bixy,ioxy->boxy", re, self.w_im)
                  + torch.einsum("bixy,ioxy->boxy", im, self.w_re))
            zr = self.inv_rows_re @ yr - self.inv_rows_im @ yi  # inverse DFT over rows
            zi = self.inv_rows_re @ yi + self.inv_rows_im @ yr
            return zr @ self.inv_cols_re + zi @ self.inv_cols_im  # irfft over columns

    class Served(nn.Module):
        """Members with their normalisers: features (B, N, N) -> (B, members, N, N)."""

        def __init__(self, members: list[Any]):
            super().__init__()
            grid = int(members[0].y_mean.shape[-1])
            nets = []
            for m in members:
                net = copy.deepcopy(m.model).cpu().eval()
                size = grid + net.padding
                net.spectral = nn.ModuleList(RealSpectralConv(s, size) for s in net.spectral)
                nets.append(net)
            self.nets = nn.ModuleList(nets)
            self.grid = grid
            self.x_norm = [(float(m.x_mean), float(m.x_std)) for m in members]
            self.register_buffer("y_mean", torch.stack([m.y_mean.cpu() for m in members]))
            self.register_buffer("y_std", torch.stack([m.y_std.cpu() for m in members]))

        def forward(self, x: Any) -> Any:
            outs = []
            for i, net in enumerate(self.nets):
                mean, std = self.x_norm[i]
                out = net(((x - mean) / std).unsqueeze(1)).squeeze(1)
                outs.append(out * self.y_std[i] + self.y_mean[i])
            return torch.stack(outs, dim=1)

    return RealSpectralConv, Served


def served(model_paths: list[str | Path]) -> Any:
    """The export graph of the saved members (on the CPU, in eval mode)."""
    from orchestrator.library.surrogates import train as tr

    torch = require_torch()
    members = [tr.load(p, device=torch.device("cpu")) for p in model_paths]
    if not members:
        raise ValueError("no model files to export")
    grids = {int(m.y_mean.shape[-1]) for m in members}
    if len(grids) != 1:
        raise ValueError(f"members trained on different grids: {sorted(grids)}")
    return classes()[1](members).eval()


def export_onnx(model_paths: list[str | Path], path: str | Path,
                opset: int = 17) -> dict[str, Any]:
    """Write the members' graph to `path` (ONNX); returns what was exported."""
    torch = require_torch()
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{ONNX_HINT} ({exc})") from exc
    module = served(model_paths)
    example = torch.zeros(2, module.grid, module.grid)
    start = time.perf_counter()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's
        warnings.filterwarnings("ignore", "Constant folding", UserWarning)  # (of the crop)
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    return {"path": str(path), "grid": module.grid, "members": len(module.nets),
            "opset": opset, "seconds": time.perf_counter() - start,
            "bytes": Path(path).stat().st_size}
