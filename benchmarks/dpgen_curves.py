"""Learning curves of a finished workflows/dpgen run: labels and reference calls each way
of choosing frames needs to reach a target test force RMSE.

The run's `baseline[strategy, seed]` tasks trained one model each at the full budget (N
labels). This trains the same model (same input, steps and seed) on the prefixes that
match the loop's iterations, N_1 < N_2 < ... < N: for `loop` init + the frames labelled
in iterations <= k, for `uniform` and `md` init + the first N_k of their saved frames
(saved in random order, so a prefix is a smaller sample of the same kind). No new
reference calls: every frame was labelled by the run. Then, per strategy, the smallest
budget whose mean RMSE over seeds is at or below the target (default: the `loop`
models' mean at the full budget), in labels and in reference calls (init + test set +
labels; `md` also needs `every` calls per frame to drive its MD with the reference).

    .envs/dpgen/bin/python benchmarks/dpgen_curves.py RUN_DIR [--target 0.04] [--jobs 2]

Prints a table and one JSON line. Runs in the dpgen environment (it trains with `dp`);
started with another Python it re-runs itself with .envs/dpgen/bin/python.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_PYTHON = REPO / ".envs" / "dpgen" / "bin" / "python"


def _reexec() -> None:
    try:
        import deepmd  # noqa: F401
    except ImportError:
        if not ENV_PYTHON.exists():
            sys.exit(f"dpgen_curves: {ENV_PYTHON} is missing (bash scripts/install-dpgen.sh)")
        os.execv(str(ENV_PYTHON), [str(ENV_PYTHON), __file__, *sys.argv[1:]])


def _records(run_dir: Path) -> dict[str, dict]:
    out = {}
    for f in sorted((run_dir / "results").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "task" in rec:
                out[rec["task"]] = rec
    return out


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _reexec()
    sys.path[:0] = [str(REPO), str(REPO / "workflows" / "dpgen")]
    from dpgen_cu import evaluate, reference

    from orchestrator.library.atomistic import deepmd
    from orchestrator.library.atomistic import frames as fr

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--target", type=float, default=None,
                    help="test force RMSE to reach, eV/Å (default: the loop's at full budget)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--every", type=int, default=25, help="MD steps per md frame")
    args = ap.parse_args()
    run_dir = args.run_dir.resolve()
    os.environ["PATH"] = f"{ENV_PYTHON.parent}:{os.environ.get('PATH', '')}"
    recs = _records(run_dir)
    report = json.loads((run_dir / "tasks" / "report" / "report.json").read_text())
    history = report["history"]
    budgets = [sum(int(h.get("labelled", 0)) for h in history[:k + 1])
               for k in range(len(history))]
    calls0 = report["reference_calls"]["init"] + report["reference_calls"]["test"]
    test = fr.load(recs["testset"]["result"]["test_file"])
    n_init = int(recs["init_data"]["result"]["frames"])
    base = {t: r["result"] for t, r in recs.items() if t.startswith("baseline[")}
    work_root = run_dir / "curves"
    jobs = []   # (strategy, seed, budget, frames, input.json dict, directory)
    for tid, res in sorted(base.items()):
        bdir = run_dir / "tasks" / tid
        cfg = json.loads((bdir / "input.json").read_text())
        if res["strategy"] == "loop":
            pool = fr.load_many(report["data_files"])
        else:
            pool = fr.load_many([recs["init_data"]["result"]["data_file"],
                                 str(bdir / "labels.npz")])
        symbols = pool.pop("symbols", [reference.ELEMENT] * pool["positions"].shape[1])
        for n in budgets[:-1]:
            frames = {**{k: v[:n_init + n] for k, v in pool.items()}, "symbols": symbols}
            jobs.append((res["strategy"], res["seed"], n, frames, cfg,
                         work_root / f"{tid}-{n}"))

    def fit(job):
        strategy, seed, n, frames, cfg, d = job
        d.mkdir(parents=True, exist_ok=True)
        data = fr.write_deepmd(d / "data", frames)
        cfg = {**cfg, "training": {**cfg["training"],
                                   "training_data": {"systems": [str(data)],
                                                     "batch_size": "auto"}}}
        deepmd.train_and_freeze(d, cfg, 1)
        return strategy, seed, n, evaluate.errors([str(d / deepmd.MODEL)], test)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool_:
        rows = list(pool_.map(fit, jobs))
    rows += [(r["strategy"], r["seed"], budgets[-1], r) for r in base.values()]
    curve: dict[str, dict[int, list[float]]] = {}
    for strategy, _seed, n, errs in rows:
        curve.setdefault(strategy, {}).setdefault(n, []).append(errs["test_force_rmse"])
    mean = {s: {n: sum(v) / len(v) for n, v in sorted(c.items())} for s, c in curve.items()}
    target = args.target if args.target is not None else mean["loop"][budgets[-1]]
    reach = {}
    for s, m in mean.items():
        n = next((n for n, v in m.items() if v <= target + 1e-12), None)
        drive = n * args.every if (n is not None and s == "md") else 0
        reach[s] = {"labels": n, "reference_calls": None if n is None else calls0 + n,
                    "md_drive_calls": drive}
    head = "strategy  " + " ".join(f"{n:>9}" for n in budgets) + "   labels to reach"
    print(f"test force RMSE (eV/Å, mean over seeds) by labels; target {target:.4f}")
    print(head)
    for s, m in mean.items():
        r = reach[s]
        got = ("not reached" if r["labels"] is None else
               f"{r['labels']} ({r['reference_calls']} reference calls"
               + (f" + {r['md_drive_calls']} to drive the MD" if r["md_drive_calls"] else "")
               + ")")
        print(f"{s:<9} " + " ".join(f"{m.get(n, float('nan')):>9.4f}" for n in budgets)
              + f"   {got}")
    print(json.dumps({"benchmark": "dpgen_curves", "budgets": budgets, "target": target,
                      "mean_force_rmse": mean, "reach": reach, "trainings": len(jobs),
                      "seconds": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
