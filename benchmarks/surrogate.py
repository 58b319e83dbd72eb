"""Surrogate against the fastest classical solver at equal accuracy, per sample, s = 32-256.

The heat-surrogate Darcy problem at the demo's settings (lognormal k, correlation length
0.1, contrast 10, -div(k grad u) = 1 on the unit square, s x s interior points), on each
grid size s:

- the classical baselines, our CG, SciPy's sparse direct solver and PyAMG, each stopped
  at the discretisation error by `solvers.accuracy`'s rule (the loosest tolerance whose
  algebraic error is within the discretisation error against a 5x finer solve, on the
  first `--rule-fields` fields; the direct solver is exact);
- the FNO ensemble (4 members at the workflow's model settings: width 16, 8 modes,
  4 layers, padding s/8) with torch, batched (`train.predict`'s cache-sized chunks) and
  one sample at a time, and the same ensemble exported to ONNX
  (`surrogates.export`, the surrogate-infer step's export) run by OpenVINO on the CPU
  (`surrogates.openvino_runtime`, in the `openvino` environment's interpreter: a
  subprocess, that venv has no torch), batched and one at a time.

The ensemble's weights are untrained (random): inference time does not depend on them,
so this benchmark times the surrogate, it does not measure its error (`make demo` does,
on a trained ensemble). Everything runs on one thread (solvers, torch, OpenVINO).
Each of `--rounds` rounds times every side one after the other (solvers: one pass over
the fields after a warm-up solve; FNO: the best of `--repeats` timed calls after a
warm-up, surrogate_infer.timed; OpenVINO in a fresh process per round), so that a load
change on a shared machine hits all sides; times are medians over the rounds, ratios
medians of the per-round ratios.

Prints the table (markdown) and then one JSON line. Speedup = fastest solver / best FNO
time per sample ("never" when the FNO is slower); OpenVINO vs torch = torch / OpenVINO
per sample (goal >= 1.5x, issue 17).

    python benchmarks/surrogate.py [--sizes 32 64 128 256] [--quick] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OPENVINO_PYTHON = REPO / ".envs" / "openvino" / "bin" / "python"
KIND, CORRELATION, CONTRAST, SEED = "lognormal", 0.1, 10.0, 0
MEMBERS, WIDTH, MODES, LAYERS = 4, 16, 8, 4
SIZES = (32, 64, 128, 256)
SOLVER_NAMES = {"cg": "our CG", "direct": "SciPy direct", "amg": "pyamg"}
FNO_KEYS = ("torch_batched", "torch_single", "openvino_batched", "openvino_single")

OV_SIDE = textwrap.dedent("""
    import json, statistics, sys
    import numpy as np
    from orchestrator.library.surrogates import openvino_runtime as ovr
    from orchestrator.library.steps.surrogate_infer import timed
    onnx, queries, threads, rounds, repeats, out = sys.argv[1:7]
    x = np.load(queries)
    runner = ovr.Runner(onnx, int(threads))
    np.save(out, runner(x[:2]))
    got = {"seconds_per_sample": [], "seconds_single": []}
    for _ in range(int(rounds)):
        for k, v in timed(runner, x, int(repeats)).items():
            got[k].append(v)
    print(json.dumps({k: statistics.median(v) for k, v in got.items()}
                     | {"version": ovr.version()}))
""")


def samples_for(size: int) -> int:
    """Fields per size: enough for a stable per-sample time, few at large s (a solve
    there is ~0.2-0.5 s on one core)."""
    return {32: 32, 64: 16, 128: 8}.get(size, 4)


def save_members(folder: Path, grid: int) -> list[Path]:
    """MEMBERS randomly initialised FNOs at the workflow's model settings for `grid`,
    saved as fno-train saves them (normaliser included)."""
    import torch

    from orchestrator.library.surrogates import train as tr
    from orchestrator.library.surrogates.fno import build_fno

    rng = np.random.default_rng(grid)
    paths = []
    for m in range(MEMBERS):
        torch.manual_seed(m)
        model = build_fno(modes=MODES, width=WIDTH, layers=LAYERS, padding=max(1, grid // 8))
        norm = {"x_mean": 1.2, "x_std": 0.6,
                "y_mean": (rng.random((grid, grid)) * 0.05).astype(np.float32),
                "y_std": (rng.random((grid, grid)) * 0.01 + 0.01).astype(np.float32)}
        paths.append(folder / f"s{grid}_m{m}.pt")
        tr.save({"state_dict": model.state_dict(), "config": model.config,
                 "normaliser": norm}, paths[-1])
    return paths


def time_solvers(raw: np.ndarray, rule, rounds: int) -> dict[str, float]:
    from orchestrator.library.solvers import accuracy as acc

    return acc.time_methods(raw, KIND, rule, repeats=rounds)


def time_torch(members: list[Path], x: np.ndarray, rounds: int, repeats: int) -> dict:
    from orchestrator.library.steps.surrogate_infer import timed
    from orchestrator.library.surrogates import train as tr

    nets = [tr.load(p) for p in members]
    got: dict[str, list[float]] = {"seconds_per_sample": [], "seconds_single": []}
    for _ in range(rounds):
        for k, v in timed(lambda q: tr.predict(nets, q), x, repeats).items():
            got[k].append(v)
    return {"batched": statistics.median(got["seconds_per_sample"]),
            "single": statistics.median(got["seconds_single"]),
            "reference": tr.predict(nets, x[:2])}


def export(members: list[Path], folder: Path, grid: int) -> tuple[Path, float]:
    from orchestrator.library.surrogates import export as ex

    onnx = folder / f"ensemble_s{grid}.onnx"
    return onnx, ex.export_onnx(members, onnx)["seconds"]


def time_openvino(onnx: Path, x: np.ndarray, folder: Path, threads: int,
                  repeats: int) -> dict:
    """One round on the OpenVINO side (its own process: compile, warm up, time)."""
    queries, out = folder / "q.npy", folder / "ov.npy"
    np.save(queries, x.astype(np.float32))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run([str(OPENVINO_PYTHON), "-c", OV_SIDE, str(onnx), str(queries),
                           str(threads), "1", str(repeats), str(out)],
                          capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"OpenVINO side failed: {proc.stderr[-1500:]}")
    o = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"batched": o["seconds_per_sample"], "single": o["seconds_single"],
            "version": o["version"], "output": np.load(out)}


def measure_size(size: int, folder: Path, args: argparse.Namespace, openvino: bool) -> dict:
    """Rounds interleave the sides (solvers, torch, OpenVINO), so that a load change on
    the shared machine hits all of them; figures are medians over the rounds, ratios the
    medians of the per-round ratios."""
    from orchestrator.library import fields
    from orchestrator.library.solvers import accuracy as acc

    n = args.samples or samples_for(size)
    raw = fields.sample_fields(KIND, n, size, CORRELATION, CONTRAST, SEED,
                               fields.STREAMS["test"], start=20_000)
    rule_fields = raw[:min(n, args.rule_fields if size <= 64 else max(1, args.rule_fields // 2))]
    t0 = time.perf_counter()
    ref = acc.reference(rule_fields, KIND)
    rule = acc.stop_rule(rule_fields, KIND, ref)
    rule_seconds = time.perf_counter() - t0
    x = fields.features(raw, KIND)
    members = save_members(folder, size)
    row: dict = {"s": size, "samples": n, "rule_fields": len(rule_fields),
                 "stop_rule": rule.to_json(), "rule_seconds": round(rule_seconds, 2)}
    if openvino:
        onnx, row["export_seconds"] = export(members, folder, size)
    rounds: list[dict[str, float]] = []
    for _ in range(args.rounds):
        got = dict(time_solvers(raw, rule, 1))
        torch_t = time_torch(members, x, 1, args.repeats)
        got |= {"torch_batched": torch_t["batched"], "torch_single": torch_t["single"]}
        if openvino:
            ov = time_openvino(onnx, x, folder, args.threads, args.repeats)
            got |= {"openvino_batched": ov["batched"], "openvino_single": ov["single"]}
            row["openvino_version"] = ov["version"]
            row["openvino_max_relative_difference"] = float(
                np.abs(ov["output"] - torch_t["reference"]).max()
                / np.abs(torch_t["reference"]).max())
        rounds.append(got)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    solvers = [k for k in SOLVER_NAMES if k in med]
    fno = [k for k in FNO_KEYS if k in med]
    best_solver = min(solvers, key=med.__getitem__)
    best_fno = min(fno, key=med.__getitem__)
    row |= {"ms_per_sample": {k: v * 1e3 for k, v in med.items()},
            "fastest_solver": best_solver, "fastest_fno": best_fno,
            "speedup": statistics.median(r[best_solver] / min(r[k] for k in fno)
                                         for r in rounds),
            "speedup_rounds": [r[best_solver] / min(r[k] for k in fno) for r in rounds]}
    if openvino:
        row["openvino_vs_torch"] = {
            m: statistics.median(r[f"torch_{m}"] / r[f"openvino_{m}"] for r in rounds)
            for m in ("batched", "single")}
    return row


def _fmt(ms: float | None) -> str:
    if ms is None:
        return "n/a"
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def table(rows: list[dict]) -> str:
    head = ("| s | our CG | SciPy direct | pyamg | FNO x4 torch batched | torch one at a time "
            "| OpenVINO batched | OpenVINO one at a time | FNO speedup vs fastest solver "
            "| OpenVINO/torch batched | OpenVINO/torch single |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ms = r["ms_per_sample"]
        fastest = min((k for k in SOLVER_NAMES), key=ms.__getitem__)
        cells = [f"**{_fmt(ms[k])}**" if k == fastest else _fmt(ms[k]) for k in SOLVER_NAMES]
        cells += [_fmt(ms.get(k)) for k in FNO_KEYS]
        sp = r["speedup"]
        cells.append(f"{sp:.2f}x" if sp > 1 else f"never ({sp:.2f}x)")
        ovt = r.get("openvino_vs_torch") or {}
        cells += [f"{ovt[k]:.2f}x" if k in ovt else "n/a" for k in ("batched", "single")]
        lines.append(f"| {r['s']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--quick", action="store_true", help="s = 32 only, 1 round (a smoke run)")
    ap.add_argument("--samples", type=int, help="fields per size (default: 32 at s=32 .. 4)")
    ap.add_argument("--rule-fields", type=int, default=4,
                    help="fields the stopping rule is fitted on (half of it at s >= 128)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.rounds, args.repeats, args.rule_fields = [32], 1, 2, 2
        args.samples = args.samples or 8
    try:
        import torch
    except ImportError as exc:
        print(f"torch is not installed ({exc}): pip install 'orchestrator[torch]'",
              file=sys.stderr)
        return 2
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    openvino = OPENVINO_PYTHON.exists()
    if not openvino:
        print(f"no {OPENVINO_PYTHON} (bash scripts/install-openvino.sh): OpenVINO columns "
              "are n/a", file=sys.stderr)
    out: dict = {"benchmark": "surrogate", "threads": args.threads, "torch": torch.__version__,
                 "weights": "untrained (timing only)", "field": KIND,
                 "model": {"members": MEMBERS, "width": WIDTH, "modes": MODES,
                           "layers": LAYERS, "padding": "s // 8"},
                 "rounds": args.rounds, "repeats": args.repeats}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            rows.append(measure_size(size, Path(tmp), args, openvino))
            print(f"s={size} done", file=sys.stderr, flush=True)
    out["sizes"] = rows
    print(table(rows))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
