"""The one-step surrogate: an FNO that maps the vorticity w(t) to w(t + model_dt).

The network predicts the increment in units of the training data's standard deviation,
`w' = w + s * net(w / s)`, on the periodic grid (no padding: the torus needs none). It is
trained on every consecutive pair of frames of the training trajectories, with the loss of
the FNO paper (relative L2 per sample), and from the second loop iteration on it starts from
the previous iteration's weights. A forecast is the autoregressive rollout of this map.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library.surrogates.fno import build_fno, parameter_count, require_torch
from orchestrator.library.surrogates.train import lr_factor, relative_l2, set_threads


class Stepper:
    """A trained model with its scale: NumPy fields in, NumPy fields out."""

    def __init__(self, net: Any, scale: float):
        self.net, self.scale = net, float(scale)

    def step(self, w: Any) -> Any:
        """One model step of a torch batch (B, N, N)."""
        return w + self.scale * self.net((w / self.scale).unsqueeze(1)).squeeze(1)

    def rollout(self, w0: np.ndarray, steps: int) -> np.ndarray:
        """(steps + 1, B, N, N): w0 and the forecast after each model step."""
        torch = require_torch()
        self.net.eval()
        with torch.inference_mode():
            w = torch.as_tensor(np.asarray(w0), dtype=torch.float32)
            out = [w]
            for _ in range(steps):
                w = self.step(w)
                out.append(w)
            return torch.stack(out).double().numpy()


def pairs(trajectories: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive frames of (frames, N, N) trajectories: inputs and targets."""
    x = np.concatenate([t[:-1] for t in trajectories])
    y = np.concatenate([t[1:] for t in trajectories])
    return x, y


def train(trajectories: list[np.ndarray], epochs: int, learning_rate: float,
          batch_size: int, width: int, modes: int, layers: int, seed: int,
          threads: int = 0, start_from: str | None = None) -> tuple[dict[str, Any], dict]:
    """Fit the stepper; returns (the state to save, facts: loss history, seconds, ...)."""
    torch = require_torch()
    set_threads(threads)
    torch.manual_seed(seed)
    x, y = pairs(trajectories)
    config = {"in_channels": 1, "out_channels": 1, "modes": int(modes), "width": int(width),
              "layers": int(layers), "padding": 0}
    net = build_fno(**config)
    scale = float(np.concatenate([t.ravel() for t in trajectories]).std() or 1.0)
    if start_from:
        state = torch.load(start_from, map_location="cpu", weights_only=True)
        if state["config"] == net.config:
            net.load_state_dict(state["state_dict"])
            scale = float(state["scale"])
    model = Stepper(net, scale)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=1e-4)
    total = max(1, epochs * -(-len(x) // batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_factor(k, total))
    gen = torch.Generator().manual_seed(seed)
    history: list[float] = []
    start = time.perf_counter()
    net.train()
    for _ in range(int(epochs)):
        loss_sum = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = relative_l2(model.step(xt[idx]), yt[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
        history.append(loss_sum / len(x))
    state = {"state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
             "config": net.config, "scale": scale}
    return state, {"history": history, "seconds": time.perf_counter() - start,
                   "pairs": len(x), "parameters": parameter_count(net),
                   "warm_start": bool(start_from)}


def save(state: dict[str, Any], path: Path) -> None:
    """Write atomically (a crash leaves no half-written model)."""
    torch = require_torch()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, str(tmp))
    tmp.replace(path)


def load(path: str | Path, threads: int = 0) -> Stepper:
    torch = require_torch()
    set_threads(threads)
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    net = build_fno(**state["config"])
    net.load_state_dict(state["state_dict"])
    net.eval()
    return Stepper(net, float(state["scale"]))
