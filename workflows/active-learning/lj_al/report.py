"""report: the per-iteration table (candidates, labelled, max deviation, test force
error), whether the loop stopped by its condition, and the final ensemble."""

from __future__ import annotations

import json
from typing import Any

from lj_al import system
from orchestrator.library.stage_io import first

REPORT = "report.json"
SUMMARY = "summary.txt"


def report(converge_fraction: float, max_iterations: int,
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    sel = first(results, "select", "report")
    labels = (results or {}).get("label") or []
    history = sel["history"]
    last = history[-1]
    converged = last["uncertain_fraction"] < float(converge_fraction)
    lines = [f"{'iter':>4} {'frames':>7} {'accurate':>8} {'candid.':>7} {'failed':>6} "
             f"{'labelled':>8} {'train':>6} {'max devi':>9} {'test F RMSE':>11} {'rel':>6}"]
    for h in history:
        devi = "-" if h["max_deviation"] is None else f"{h['max_deviation']:.3f}"
        lines.append(f"{h['iteration']:>4} {h['frames']:>7} {h['accurate']:>8} "
                     f"{h['candidates']:>7} {h['failed']:>6} {h['selected']:>8} "
                     f"{h['train_frames']:>6} {devi:>9} {h['test_force_rmse']:>11.4f} "
                     f"{h['test_force_rel']:>6.2%}")
    verdict = (f"converged: uncertain fraction {last['uncertain_fraction']:.3f} < "
               f"{converge_fraction} after {len(history)} iteration(s)" if converged else
               f"stopped at max_iterations={max_iterations}: uncertain fraction "
               f"{last['uncertain_fraction']:.3f} >= {converge_fraction}")
    lines.append(verdict)
    text = "\n".join(lines)
    print(text, flush=True)
    out = system.task_dir(context)
    body = {"converged": converged, "iterations": len(history), "history": history,
            "final_models": sel["models"], "data_files": sel["data_files"],
            "labelled_last": sum(r["labelled"] for r in labels),
            "converge_fraction": float(converge_fraction)}
    (out / REPORT).write_text(json.dumps(body, indent=1))
    (out / SUMMARY).write_text(text + "\n")
    return {**{k: body[k] for k in ("converged", "iterations", "converge_fraction")},
            "final_test_force_rmse": last["test_force_rmse"],
            "final_test_force_rel": last["test_force_rel"],
            "first_test_force_rmse": history[0]["test_force_rmse"],
            "uncertain_fraction": last["uncertain_fraction"], "report": str(out / REPORT)}
