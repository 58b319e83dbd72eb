"""fno-train: fit a Fourier Neural Operator (orchestrator.library.surrogates) to a dataset
file; writes model.pt (state_dict, model config, normaliser) and history.json (loss per
epoch, held-out loss, the training config).

The dataset is an .npz of (n, N, N) arrays: inputs and targets under `input_key` and
`target_key`, optionally held-out ones under `val_input_key` and `val_target_key` (their
loss is recorded per epoch, never trained on). Member `member` of an ensemble trains with
seed `seed * 1000 + member`: its own initialisation and data order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library.stage_io import task_dir

MODEL = "model.pt"
HISTORY = "history.json"


def load_arrays(path: str | Path, keys: list[str]) -> list[np.ndarray | None]:
    """The named arrays of an .npz (None for an empty key), with a clear error for a
    missing one."""
    with np.load(path) as data:
        missing = [k for k in keys if k and k not in data]
        if missing:
            raise KeyError(f"{path}: no array {missing[0]!r} (it has {', '.join(data.files)})")
        return [np.asarray(data[k]) if k else None for k in keys]


def train(dataset: str, member: int = 0, epochs: int = 100, learning_rate: float = 1e-3,
          batch_size: int = 16, seed: int = 0, width: int = 24, modes: int = 10,
          layers: int = 4, threads: int = 1, input_key: str = "inputs",
          target_key: str = "targets", val_input_key: str = "", val_target_key: str = "",
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Train ensemble member `member` on the arrays of `dataset`; writes model.pt and
    history.json, returns the loss per epoch and where the model is."""
    from orchestrator.library.surrogates import train as tr

    x, y, x_val, y_val = load_arrays(dataset, [input_key, target_key, val_input_key,
                                               val_target_key])
    config = tr.TrainConfig(epochs=int(epochs), learning_rate=float(learning_rate),
                            batch_size=int(batch_size), seed=int(seed) * 1000 + int(member),
                            width=int(width), modes=int(modes), layers=int(layers),
                            padding=max(1, x.shape[-1] // 8), threads=int(threads))

    def log(epoch: int, res: Any) -> None:
        if epoch % 10 == 9 or epoch == config.epochs - 1:
            held_out = f", held-out {res.val_history[-1]:.4f}" if res.val_history else ""
            print(f"epoch {epoch + 1}: loss {res.history[-1]:.4f}{held_out}", flush=True)

    res = tr.train_fno(x, y, config, x_val, y_val, log=log)
    out = task_dir(context)
    tr.save(res.state, out / MODEL)
    history = {"loss": res.history, "val_loss": res.val_history, "config": vars(config)}
    (out / HISTORY).write_text(json.dumps(history, indent=1))
    return {"member": int(member), "model": str(out / MODEL), "loss": res.history,
            "val_loss": res.val_history, "final_loss": res.history[-1],
            "final_val_loss": res.val_history[-1] if res.val_history else None,
            "seconds": res.seconds, "device": res.device, "parameters": res.parameters,
            "threads": int(threads)}
