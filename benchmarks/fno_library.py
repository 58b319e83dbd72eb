"""Our FNO (orchestrator/library/surrogates/fno.py) against the field's library,
`neuraloperator`'s FNO (neuralop.models.FNO), at the same settings, on the heat-surrogate
Darcy problem: test error, parameters, training time, inference time (issue 17, item 6).

Data: log-conductivity fields in, exact discrete solutions (SciPy's direct solver) out,
for the log-normal and the two-phase (`threshold`) field; training fields from the
train stream, `--n-test` held-out fields from the test stream (orchestrator.library.fields).
Models (the same kept Fourier modes, width, layers and padding in all):
- `ours`: FNO2d as the fno-train step builds it (padding grid // 8, one-sided);
- `neuralop`: the library's FNO with its defaults (lifting and projection MLPs of
  2 x width, a channel MLP and soft-gating skip in every Fourier block);
- `neuralop_matched`: the library's FNO set to our architecture (linear lifting, projection
  MLP of 4 x width, no channel MLP): the same parameter count, so the difference is the
  implementation (initialisation, FFT layout);
- `ours_libinit`: ours with the library's initialisation of the spectral weights
  (`init="normal"`: complex normal, std sqrt(2 / (in + out)), where ours by default
  draws the FNO paper's code's uniform [0, 1 / (in out)) for real and imaginary parts,
  about 100x smaller).
`n_modes = (2 modes, 2 modes - 1)` keeps the same frequencies as our `modes` (|kx| < modes
both signs, 0 <= ky < modes); symmetric padding of p/2 per side is a circular shift of
our one-sided p, hence `domain_padding = p / (2 grid)`.

All train with the same loop (`surrogates.train.train_fno`: AdamW, warm-up + cosine
schedule, per-point normalisation, relative L2 loss), the same data order and seed,
on one thread; each run is its own process, the library's in the `.envs/neuralop`
interpreter (scripts/install-neuralop.sh; the project venv never imports neuralop),
ours in this one (both torch 2.13.0 CPU), models alternating. Inference: seconds per
sample through the normalised model, a batch of `--infer-batch` and one sample alone,
best of `--repeats` after a warm-up. Prints a markdown table, then one JSON line.

    python benchmarks/fno_library.py                 # both fields, 2 seeds: 7 min (*)
    python benchmarks/fno_library.py --full          # the workflow's 256 fields, 50 epochs
                                                     # (38 min (*) for ours, neuralop_matched)
    python benchmarks/fno_library.py --quick         # smoke test (numbers not to quote)

(*) on 2 cores shared with a CI run (load average 7-10); figures: docs/decisions.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NEURALOP_PYTHON = REPO / ".envs" / "neuralop" / "bin" / "python"
OURS = ("ours", "ours_libinit")
MODELS = (*OURS, "neuralop", "neuralop_matched")
LIBRARY = {"neuralop": {}, "neuralop_matched": {
    "lifting_channel_ratio": 0, "projection_channel_ratio": 4, "use_channel_mlp": False}}
PERCENT = 100.0


# ---- data and metrics (the project venv; cheap, tested in tests/unit) ----

def dataset(kind: str, n_train: int, n_test: int, grid: int, seed: int = 0,
            correlation_length: float = 0.1, contrast: float = 10.0) -> dict[str, np.ndarray]:
    """The heat-surrogate Darcy data: features (log k) of the train and test streams and
    their exact discrete solutions, float32, as (n, grid, grid) arrays."""
    from orchestrator.library import fields
    from orchestrator.library.solvers import darcy

    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        raw = fields.sample_fields(kind, n, grid, correlation_length, contrast, seed,
                                   fields.STREAMS[split])
        out[f"x_{split}"] = fields.features(raw, kind).astype(np.float32)
        out[f"y_{split}"] = np.stack([darcy.solve_linear(f, kind, "direct").u
                                      for f in raw]).astype(np.float32)
    return out


def library_kwargs(model: str, modes: int, width: int, layers: int, padding: int,
                   grid: int) -> dict[str, Any]:
    """neuralop.models.FNO's arguments for `model`, keeping our FNO's frequencies and
    padding (see the module docstring)."""
    return {"n_modes": (2 * modes, 2 * modes - 1), "in_channels": 1, "out_channels": 1,
            "hidden_channels": width, "n_layers": layers,
            "domain_padding": padding / (2 * grid) if padding else None, **LIBRARY[model]}


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its normal 95% interval."""
    v = np.asarray(values, dtype=float)
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(half)


def pairs(models: list[str]) -> list[tuple[str, str]]:
    """(ours, library) model pairs to compare: each of ours with each library model."""
    return [(a, b) for a in models if a in OURS for b in models if b not in OURS]


def ratios(runs: list[dict[str, Any]], kind: str, library: str,
           mine: str = "ours") -> dict[str, Any]:
    """`mine` / `library` per seed, for every figure, with their median."""
    keyed = {(r["model"], r["seed"]): r for r in runs if r["kind"] == kind}
    seeds = sorted(s for (m, s) in keyed if m == mine and (library, s) in keyed)
    out: dict[str, Any] = {"seeds": seeds}
    for figure in ("error_mean", "seconds_per_epoch", "ms_batched", "ms_single",
                   "parameters"):
        per = [keyed[(mine, s)][figure] / keyed[(library, s)][figure] for s in seeds]
        out[figure] = {"per_seed": [round(v, 3) for v in per],
                       "median": round(statistics.median(per), 3) if per else None}
    return out


# ---- one training run (either interpreter) ----

def build(model: str, cfg: dict[str, Any]) -> Any:
    if model in OURS:
        from orchestrator.library.surrogates.fno import build_fno

        return build_fno(in_channels=1, out_channels=1, modes=cfg["modes"],
                         width=cfg["width"], layers=cfg["layers"], padding=cfg["padding"],
                         init="normal" if model == "ours_libinit" else "paper")
    import warnings

    warnings.filterwarnings("ignore")  # neuralop's import-time UserWarnings
    from neuralop.models import FNO

    return FNO(**library_kwargs(model, cfg["modes"], cfg["width"], cfg["layers"],
                                cfg["padding"], cfg["grid"]))


def export_check(model: str, net: Any, grid: int, folder: Path) -> dict[str, str]:
    """Whether the trained model exports to ONNX: ours through the project's exporter
    (surrogates.export, the real-arithmetic rewrite the OpenVINO stage reads), the
    library's as it is, with torch's TorchScript exporter (the one the project uses)."""
    import torch

    from orchestrator.library.surrogates import train as tr

    try:
        if model in OURS:
            from orchestrator.library.surrogates import export as ex

            tr.save({"state_dict": net.model.state_dict(), "config": net.model.config,
                     "normaliser": {"x_mean": net.x_mean, "x_std": net.x_std,
                                    "y_mean": net.y_mean.numpy(),
                                    "y_std": net.y_std.numpy()}}, folder / "m.pt")
            ex.export_onnx([folder / "m.pt"], folder / "m.onnx")
        else:  # the library's state_dict carries a `_metadata` dict, which the tracer
            # cannot take: use nn.Module's, to see whether the layers themselves export
            import types

            plain = net.model.eval()
            plain.state_dict = types.MethodType(torch.nn.Module.state_dict, plain)
            torch.onnx.export(plain, (torch.zeros(2, 1, grid, grid),),
                              str(folder / f"{model}.onnx"), dynamo=False)
        return {"onnx": "ok"}
    except Exception as exc:  # the outcome is the figure
        return {"onnx": f"fails: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}


def worker(spec_path: str) -> int:
    """Train one model on one dataset as `spec` says; print its figures as JSON."""
    import torch

    from orchestrator.library.steps.surrogate_infer import timed
    from orchestrator.library.surrogates import train as tr

    spec = json.loads(Path(spec_path).read_text())
    cfg = spec["config"]
    torch.set_num_threads(cfg["threads"])
    with np.load(spec["data"]) as d:
        data = {k: d[k] for k in d.files}
    config = tr.TrainConfig(epochs=cfg["epochs"], learning_rate=cfg["learning_rate"],
                            batch_size=cfg["batch_size"], seed=spec["seed"],
                            modes=cfg["modes"], width=cfg["width"], layers=cfg["layers"],
                            padding=cfg["padding"], threads=cfg["threads"])
    torch.manual_seed(spec["seed"])
    model = build(spec["model"], cfg)
    res = tr.train_fno(data["x_train"], data["y_train"], config, device=torch.device("cpu"),
                       model=model)
    net = tr._Wrapped(model, res.state["normaliser"], torch.device("cpu"))
    model.eval()
    errors = tr.evaluate_errors(net, data["x_test"], data["y_test"])

    def run(q: np.ndarray) -> Any:
        with torch.inference_mode():
            return net(torch.as_tensor(q))

    t = timed(run, data["x_test"][:cfg["infer_batch"]], cfg["repeats"])
    mean, half = mean_ci(errors)
    out = {"model": spec["model"], "kind": spec["kind"], "seed": spec["seed"],
           "parameters": tr.parameter_count(model), "error_mean": mean, "error_ci95": half,
           "error_p90": float(np.quantile(errors, 0.9)), "n_test": len(errors),
           "final_loss": res.history[-1], "train_seconds": res.seconds,
           "seconds_per_epoch": res.seconds / cfg["epochs"],
           "ms_batched": t["seconds_per_sample"] * 1e3, "ms_single": t["seconds_single"] * 1e3,
           "torch": torch.__version__}
    if spec.get("export"):
        with tempfile.TemporaryDirectory() as tmp:
            out.update(export_check(spec["model"], net, cfg["grid"], Path(tmp)))
    if spec["model"] not in OURS:
        import neuralop

        out["neuralop"] = neuralop.__version__
    print(json.dumps(out), flush=True)
    return 0


# ---- the driver (the project venv) ----

def launch(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    path = folder / f"{spec['model']}-{spec['kind']}-{spec['seed']}.json"
    path.write_text(json.dumps(spec))
    library = spec["model"] not in OURS
    python = str(NEURALOP_PYTHON) if library else sys.executable
    threads = str(spec["config"]["threads"])
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
               PYTHONWARNINGS="ignore")
    if library:  # the project's code from this checkout, on the library's interpreter
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([python, __file__, "--worker", str(path)], capture_output=True,
                          text=True, env=env, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{spec['model']} ({spec['kind']}, seed {spec['seed']}) failed "
                         f"({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def _pct(values: list[float]) -> str:
    return ", ".join(f"{v * PERCENT:.2f}" for v in values)


def table(runs: list[dict[str, Any]], kinds: list[str], models: list[str]) -> str:
    lines = ["| field | model | parameters | test rel. L2 % (per seed) | s / epoch | "
             "ms / sample, batched | ms / sample, single |", "|---|---|---|---|---|---|---|"]
    for kind in kinds:
        for model in models:
            rs = sorted((r for r in runs if r["kind"] == kind and r["model"] == model),
                        key=lambda r: r["seed"])
            if not rs:
                continue
            med = {k: statistics.median(r[k] for r in rs)
                   for k in ("seconds_per_epoch", "ms_batched", "ms_single")}
            lines.append(f"| {kind} | {model} | {rs[0]['parameters']:,} | "
                         f"{_pct([r['error_mean'] for r in rs])} "
                         f"(± {statistics.median(r['error_ci95'] for r in rs) * PERCENT:.2f}) | "
                         f"{med['seconds_per_epoch']:.2f} | {med['ms_batched']:.3f} | "
                         f"{med['ms_single']:.3f} |")
    lines += ["", "| field | ratio, per seed | error | s / epoch | batched | single | "
              "parameters |", "|---|---|---|---|---|---|---|"]
    for kind in kinds:
        for mine, lib in pairs(models):
            r = ratios(runs, kind, lib, mine)
            if not r["seeds"]:
                continue
            cells = [", ".join(f"{v:.2f}" for v in r[f]["per_seed"])
                     for f in ("error_mean", "seconds_per_epoch", "ms_batched", "ms_single")]
            lines.append(f"| {kind} | {mine} / {lib} | " + " | ".join(cells)
                         + f" | {r['parameters']['median']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--kinds", nargs="+", default=["lognormal", "threshold"],
                    choices=["lognormal", "threshold"])
    ap.add_argument("--models", nargs="+", default=["ours", "neuralop", "neuralop_matched"],
                    choices=MODELS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--n-train", type=int, default=128)
    ap.add_argument("--n-test", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--grid", type=int, default=32)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--modes", type=int, default=8)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--learning-rate", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--infer-batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--full", action="store_true",
                    help="the heat-surrogate workflow's training: 256 fields, 50 epochs")
    ap.add_argument("--quick", action="store_true", help="tiny run, to try the pipeline")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.full:
        args.n_train, args.epochs = 256, 50
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.seeds = 32, 16, 2, [0]
        args.kinds, args.repeats = ["lognormal"], 2
    if any(m not in OURS for m in args.models) and not NEURALOP_PYTHON.exists():
        print(f"no {NEURALOP_PYTHON}: bash scripts/install-neuralop.sh", file=sys.stderr)
        return 2
    cfg = {"grid": args.grid, "width": args.width, "modes": args.modes, "layers": args.layers,
           "padding": max(1, args.grid // 8), "epochs": args.epochs,
           "batch_size": args.batch_size, "learning_rate": args.learning_rate,
           "threads": args.threads, "infer_batch": args.infer_batch, "repeats": args.repeats}
    runs: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in args.kinds:
            np.savez(folder / f"{kind}.npz", **dataset(kind, args.n_train, args.n_test,
                                                       args.grid))
        for i, seed in enumerate(args.seeds):
            for kind in args.kinds:
                # alternate the order, so that a drift in the machine's load is shared
                order = args.models if i % 2 == 0 else args.models[::-1]
                for model in order:
                    print(f"training {model} on {kind}, seed {seed} ...", file=sys.stderr,
                          flush=True)
                    runs.append(launch({"model": model, "kind": kind, "seed": seed,
                                        "config": cfg, "data": str(folder / f"{kind}.npz"),
                                        "export": i == 0 and kind == args.kinds[0]}, folder))
    print(f"FNO: ours vs neuraloperator {next((r['neuralop'] for r in runs if 'neuralop' in r), '-')}"
          f" (torch {runs[0]['torch']}), s = {args.grid}, {args.n_train} training fields, "
          f"{args.n_test} test fields, {args.epochs} epochs, width {args.width}, modes "
          f"{args.modes}, {args.layers} layers, {args.threads} thread(s)\n")
    print(table(runs, args.kinds, args.models))
    exports = {r["model"]: r["onnx"] for r in runs if "onnx" in r}
    if exports:
        print("\nONNX export: " + "; ".join(f"{m} {v}" for m, v in exports.items()))
    record = {"benchmark": "fno_library", "settings": {**cfg, "n_train": args.n_train,
                                                       "n_test": args.n_test,
                                                       "seeds": args.seeds},
              "seconds": round(time.perf_counter() - start, 1), "runs": runs,
              "ratios": {k: {f"{a}/{b}": ratios(runs, k, b, a) for a, b in pairs(args.models)}
                         for k in args.kinds},
              "onnx": exports}
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
