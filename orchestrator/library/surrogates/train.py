"""Train, save, load and run FNO surrogates on NumPy arrays of fields.

Data: inputs `x` and targets `y` are (n, N, N) float arrays. Inputs are normalised by
one mean and standard deviation, targets point by point (the solution's scale varies
over the domain), both from the training set; the statistics travel with the model.
The loss is the relative L2 error per sample, averaged over the batch (as in the FNO
paper), computed on de-normalised predictions.

Everything that touches torch imports it inside the function. `pick_device()` takes
CUDA when torch sees a GPU (on a gpu pool the worker is pinned to one) and the CPU
otherwise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library.surrogates.fno import build_fno, parameter_count, require_torch


@dataclass
class TrainConfig:
    epochs: int = 100
    learning_rate: float = 1e-3
    batch_size: int = 16
    weight_decay: float = 1e-4
    seed: int = 0
    modes: int = 12
    width: int = 32
    layers: int = 4
    padding: int = 8
    hidden: int = 0  # projection width; 0: 4 * width
    init: str = "paper"  # spectral weights: "paper" or "normal" (fno.INITS)
    dropout: float = 0.0
    threads: int = 0  # torch CPU threads; 0: leave torch's default
    optimizer: str = "adamw"  # or "adam" (the FNO paper's: Adam with L2 weight decay)
    schedule: str = "cosine"  # or "step": x `gamma` every `step_size` epochs (the paper's)
    step_size: int = 100
    gamma: float = 0.5


@dataclass
class TrainResult:
    state: dict[str, Any]  # what save() writes: weights, model config, normaliser
    history: list[float] = field(default_factory=list)  # training loss per epoch
    val_history: list[float] = field(default_factory=list)  # held-out loss per epoch
    seconds: float = 0.0
    device: str = "cpu"
    parameters: int = 0


def pick_device(prefer: str = "auto") -> Any:
    """cuda when available (or asked for), else cpu."""
    torch = require_torch()
    if prefer == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def set_threads(threads: int) -> None:
    if threads > 0:
        require_torch().set_num_threads(int(threads))


def lr_factor(step: int, total: int) -> float:
    """Learning-rate multiplier: linear warm-up over the first 5% of the steps, then a
    cosine decay to zero at the last step."""
    warm = max(1, total // 20)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def schedule_factor(config: TrainConfig, steps_per_epoch: int):
    """The learning-rate multiplier of step `i` (optimizer steps, counted from 0)."""
    if config.schedule == "cosine":
        total = config.epochs * steps_per_epoch
        return lambda step: lr_factor(step, total)
    if config.schedule == "step":
        return lambda step: config.gamma ** ((step // steps_per_epoch) // config.step_size)
    raise ValueError(f"unknown schedule {config.schedule!r}; expected cosine or step")


def normaliser(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return {"x_mean": float(x.mean()), "x_std": float(x.std() or 1.0),
            "y_mean": y.mean(axis=0).astype(np.float32),
            "y_std": (y.std(axis=0) + 1e-6 * float(np.abs(y).max() or 1.0)).astype(np.float32)}


def relative_l2(pred: Any, target: Any) -> Any:
    """Per-sample ||pred - target|| / ||target|| (torch tensors, batch first)."""
    diff = (pred - target).flatten(1).norm(dim=1)
    return diff / target.flatten(1).norm(dim=1).clamp_min(1e-12)


class _Wrapped:
    """A model with its normaliser: NumPy fields in, NumPy fields out."""

    def __init__(self, model: Any, norm: dict[str, Any], device: Any):
        torch = require_torch()
        self.model, self.device = model.to(device), device
        self.x_mean, self.x_std = norm["x_mean"], norm["x_std"]
        self.y_mean = torch.as_tensor(np.asarray(norm["y_mean"]), device=device)
        self.y_std = torch.as_tensor(np.asarray(norm["y_std"]), device=device)

    def encode(self, x: Any) -> Any:
        return ((x - self.x_mean) / self.x_std).unsqueeze(1)

    def decode(self, out: Any) -> Any:
        return out.squeeze(1) * self.y_std + self.y_mean

    def __call__(self, x: Any) -> Any:
        return self.decode(self.model(self.encode(x)))


def train_fno(x: np.ndarray, y: np.ndarray, config: TrainConfig,
              x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
              device: Any = None, log: Any = None, model: Any = None,
              val_epochs: Any = None) -> TrainResult:
    """Fit one FNO to (x, y); returns the state to save and the loss history. `model`: a
    module from (B, 1, N, N) to (B, 1, N, N) to train in place of the FNO2d that `config`
    describes, with the same loop (benchmarks/fno_library.py trains neuraloperator's FNO
    so); it is trained in place and its state has no `config` unless it has one. The
    held-out loss is measured after every epoch, or after the (1-based) epochs in
    `val_epochs`."""
    torch = require_torch()
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    device = device or pick_device()
    norm = normaliser(x, y)
    if model is None:
        model = build_fno(in_channels=1, out_channels=1, modes=config.modes,
                          width=config.width, layers=config.layers, padding=config.padding,
                          dropout=config.dropout, hidden=config.hidden or None,
                          init=config.init)
    net = _Wrapped(model, norm, device)
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.float32, device=device)
    if config.optimizer not in ("adamw", "adam"):
        raise ValueError(f"unknown optimizer {config.optimizer!r}; expected adamw or adam")
    make_opt = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    opt = make_opt(model.parameters(), lr=config.learning_rate,
                   weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, schedule_factor(config, -(-len(x) // config.batch_size)))
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    result = TrainResult(state={}, device=str(device), parameters=parameter_count(model))
    start = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        total = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(config.batch_size):
            idx = idx.to(device)
            loss = relative_l2(net(xt[idx]), yt[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        result.history.append(total / len(x))
        if (x_val is not None and y_val is not None and len(x_val)
                and (val_epochs is None or epoch + 1 in val_epochs)):
            result.val_history.append(float(np.mean(evaluate_errors(net, x_val, y_val))))
        if log is not None:
            log(epoch, result)
    result.seconds = time.perf_counter() - start
    # (neuraloperator's models also keep a `_metadata` dict in their state_dict)
    result.state = {"state_dict": {k: v.detach().cpu() if hasattr(v, "detach") else v
                                   for k, v in model.state_dict().items()},
                    "config": getattr(model, "config", {}), "normaliser": norm}
    return result


def from_state(state: dict[str, Any], device: Any = None) -> _Wrapped:
    """A trained member from `TrainResult.state`, ready for `predict`."""
    device = device or pick_device()
    model = build_fno(**state["config"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    return _Wrapped(model, state["normaliser"], device)


def save(state: dict[str, Any], path: str | Path) -> None:
    torch = require_torch()
    norm = state["normaliser"]
    out = dict(state, normaliser={"x_mean": norm["x_mean"], "x_std": norm["x_std"],
                                  "y_mean": torch.as_tensor(np.asarray(norm["y_mean"])),
                                  "y_std": torch.as_tensor(np.asarray(norm["y_std"]))})
    torch.save(out, str(path))


def load(path: str | Path, device: Any = None) -> _Wrapped:
    """A saved member, ready for `predict` (weights only: no pickled code is run)."""
    torch = require_torch()
    device = device or pick_device()
    state = torch.load(str(path), map_location=device, weights_only=True)
    model = build_fno(**state["config"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    norm = dict(state["normaliser"])
    norm["y_mean"], norm["y_std"] = norm["y_mean"].cpu().numpy(), norm["y_std"].cpu().numpy()
    return _Wrapped(model, norm, device)


CHUNK_VALUES = 1 << 19  # floats of one layer's activations per CPU inference call (2 MiB)


def chunk_size(members: list[Any], shape: tuple[int, ...], batch_size: int | None) -> int:
    """Samples per forward call. On the CPU, an activation of batch x width x (N + pad)^2
    floats that outgrows the cache makes every layer memory-bound (batched inference was
    2-3x slower per sample than one sample at a time at N >= 128), so by default a call
    holds at most CHUNK_VALUES values per layer; on a GPU, `batch_size` or 64."""
    if batch_size:
        return int(batch_size)
    net = members[0]
    if getattr(net.device, "type", "cpu") != "cpu":
        return 64
    cfg = getattr(net.model, "config", {})
    per_sample = cfg.get("width", 32) * (shape[-1] + cfg.get("padding", 0)) ** 2
    return max(1, min(64, CHUNK_VALUES // max(1, per_sample)))


def predict(members: list[Any], x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Predictions of every member: (n, members, N, N) float64; `batch_size` samples
    per forward call (None: `chunk_size`'s cache-sized choice)."""
    torch = require_torch()
    out = np.empty((len(x), len(members), *x.shape[1:]))
    if not len(x):
        return out
    step = chunk_size(members, x.shape, batch_size)
    with torch.inference_mode():
        for m, net in enumerate(members):
            xt = torch.as_tensor(x, dtype=torch.float32, device=net.device)
            for s in range(0, len(x), step):
                out[s:s + step, m] = net(xt[s:s + step]).cpu().numpy()
    return out


def evaluate_errors(net: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Relative L2 error of one model on each sample."""
    torch = require_torch()
    was_training = net.model.training
    net.model.eval()
    with torch.inference_mode():
        pred = net(torch.as_tensor(x, dtype=torch.float32, device=net.device))
        err = relative_l2(pred, torch.as_tensor(y, dtype=torch.float32, device=net.device))
    net.model.train(was_training)
    return err.cpu().numpy()
