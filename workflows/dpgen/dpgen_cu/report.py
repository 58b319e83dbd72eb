"""report: DP-GEN's per-iteration table and plot (accurate / candidate / failed fractions
of the explored frames), the ensemble's test errors, reference calls spent (init, test
set and labels) and seconds per stage; whether the loop stopped by its criterion."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dpgen_cu import compare, select_frames
from orchestrator.library.atomistic import selection
from orchestrator.library.stage_io import task_dir

REPORT = "report.json"
SUMMARY = "summary.txt"
PLOT = "dpgen.png"


def table(history: list[dict[str, Any]], base_calls: int) -> list[str]:
    lines = [f"{'iter':>4} {'T (K)':>11} {'frames':>6} {'accur.':>7} {'cand.':>7} "
             f"{'failed':>7} {'label':>5} {'train':>5} {'E meV/at':>8} {'F eV/Å':>7} {'F rel':>6} "
             f"{'ref calls':>9} {'train s':>7} {'MD s':>6} {'label s':>7}"]
    calls = base_calls
    for h in history:
        calls += int(h.get("labelled", 0))
        temps = "/".join(f"{t:g}" for t in h["temperatures"])
        lines.append(
            f"{h['iteration']:>4} {temps:>11} {h['frames']:>6} {h['accurate_fraction']:>7.1%} "
            f"{h['candidate_fraction']:>7.1%} {h['failed_fraction']:>7.1%} "
            f"{h.get('labelled', 0):>5} {h['train_frames']:>5} "
            f"{h['test_energy_rmse_mev']:>8.2f} {h['test_force_rmse']:>7.4f} "
            f"{h['test_force_rmse'] / max(h['test_force_rms'], 1e-12):>6.1%} {calls:>9} "
            f"{h.get('train_seconds', 0):>7.1f} {h.get('md_seconds', 0):>6.1f} "
            f"{h.get('label_seconds', 0):>7.1f}")
    return lines


def plot(history: list[dict[str, Any]], path: Path, threshold: float | None = None
         ) -> Path | None:
    """DP-GEN's standard plot: stacked fractions per iteration, and the test force RMSE."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    its = [h["iteration"] for h in history]
    acc = [h["accurate_fraction"] for h in history]
    cand = [h["candidate_fraction"] for h in history]
    fail = [h["failed_fraction"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.bar(its, acc, color="#4c9a2a", label="accurate")
    a1.bar(its, cand, bottom=acc, color="#e0a100", label="candidate")
    a1.bar(its, fail, bottom=[a + c for a, c in zip(acc, cand, strict=True)],
           color="#c0392b", label="failed")
    if threshold is not None:
        a1.axhline(threshold, color="#222", linestyle="--", linewidth=1,
                   label=f"converged at {threshold:.0%}")
    a1.set(xlabel="iteration", ylabel="fraction of explored frames", ylim=(0, 1),
           xticks=its)
    a1.legend(fontsize=8, loc="lower right")
    a2.plot(its, [h["test_force_rmse"] for h in history], "o-")
    a2.set(xlabel="iteration", ylabel="test force RMSE (eV/Å)", xticks=its)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def report(converge_accurate: float, max_iterations: int,
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    results = results or {}
    sel = (results.get("select") or [None])[0]
    init = (results.get("init_data") or [None])[0]
    test = (results.get("testset") or [None])[0]
    if sel is None or init is None or test is None:
        raise RuntimeError("report needs select's, init's and testset's results")
    history = select_frames.with_labels(sel["history"], results.get("label") or [])
    last = history[-1]
    ok = selection.converged(last["accurate_fraction"], float(converge_accurate))
    base = int(init["reference_calls"]) + int(test["reference_calls"])
    lines = table(history, base)
    verdict = (f"converged: accurate fraction {last['accurate_fraction']:.1%} >= "
               f"{float(converge_accurate):.0%} after {len(history)} iteration(s)" if ok else
               f"not converged: stopped at max_iterations={max_iterations} with accurate "
               f"fraction {last['accurate_fraction']:.1%} < {float(converge_accurate):.0%}")
    labels = sum(int(h.get("labelled", 0)) for h in history)
    ref_seconds = (float(init["reference_seconds"]) + float(test["reference_seconds"])
                   + sum(float(h.get("label_seconds", 0)) for h in history))
    lines += [verdict, f"reference calls: {init['reference_calls']} init + "
              f"{test['reference_calls']} test set + {labels} labels "
              f"({ref_seconds:.1f} s of reference compute)"]
    baselines = results.get("baseline") or []
    comparison = compare.summarise(baselines) if baselines else {}
    if comparison:
        lines += ["", f"comparison at the same budget (init + test set + {labels} labels; "
                  "one model per seed, the same training for each):",
                  *compare.table(comparison, base + labels)]
    text = "\n".join(lines)
    print(text, flush=True)
    out = task_dir(context)
    picture = plot(history, out / PLOT, float(converge_accurate))
    body = {"converged": ok, "iterations": len(history), "history": history,
            "final_models": last["models"], "data_files": sel["data_files"],
            "reference_calls": {"init": init["reference_calls"],
                                "test": test["reference_calls"],
                                "labels": sum(int(h.get("labelled", 0)) for h in history)},
            "converge_accurate": float(converge_accurate), "comparison": comparison,
            "baselines": baselines, "reference_seconds": ref_seconds,
            "plot": str(picture) if picture else None}
    tmp = out / (REPORT + ".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    tmp.replace(out / REPORT)
    (out / SUMMARY).write_text(text + "\n")
    return {"converged": ok, "iterations": len(history),
            "accurate_fraction": last["accurate_fraction"],
            "final_test_force_rmse": last["test_force_rmse"],
            "final_test_energy_rmse_mev": last["test_energy_rmse_mev"],
            "first_test_force_rmse": history[0]["test_force_rmse"],
            "comparison": {k: v["force_rmse_mean"] for k, v in comparison.items()},
            "report": str(out / REPORT), "seconds": time.perf_counter() - start}
