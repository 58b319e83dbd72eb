"""evaluate and couple: is the surrogate accurate, is it fast, when does it pay off, and
what happens when it is used in place of the solver with a trust check.

Times are per sample. The solver's are measured in the simulate tasks (one solve per
task, on its worker) and, for a like-for-like check, re-measured here in the evaluate
process for both solvers on a few held-out samples. The surrogate's is the ensemble's
(every member runs: that is what couple pays), batched over the held-out set, and also
for one sample at a time (latency).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from heat_surrogate.stages import features, one, task_dir
from orchestrator.library import fields
from orchestrator.library.solvers import darcy as solver_mod
from orchestrator.library.surrogates import uncertainty as unc

EVALUATION = "evaluation.json"
COUPLING = "coupling.json"
COUPLED = "coupled.npz"
SUMMARY = "summary.txt"
TIMED_SOLVES = 3  # held-out samples re-solved here with each solver


def load_members(results: dict[str, list[Any]] | None, threads: int = 0) -> list[Any]:
    from orchestrator.library.surrogates import train as tr

    tr.set_threads(threads)
    members = sorted((results or {}).get("train") or [], key=lambda r: r["member"])
    if not members:
        raise RuntimeError("no trained members in results['train']")
    return [tr.load(m["model"]) for m in members]


def timed_predict(members: list[Any], x: np.ndarray, repeats: int = 3) -> tuple[np.ndarray, float,
                                                                                 float]:
    """(predictions, seconds per sample batched, seconds for one sample alone): best of
    `repeats` (after a warm-up), so that a busy machine inflates them less."""
    from orchestrator.library.surrogates import train as tr

    preds = tr.predict(members, x)
    batched = single = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        tr.predict(members, x)
        batched = min(batched, (time.perf_counter() - t) / len(x))
        t = time.perf_counter()
        tr.predict(members, x[:1])
        single = min(single, time.perf_counter() - t)
    return preds, batched, single


def solver_times(raw: np.ndarray, kind: str, tolerance: float) -> dict[str, float]:
    """Seconds per solve of each solver on the first few held-out samples, here."""
    out = {}
    for name in solver_mod.SOLVERS:
        solver_mod.warm_up(kind, name)
        times = [solver_mod.solve(x, kind, name, tolerance).seconds for x in raw[:TIMED_SOLVES]]
        out[name] = float(np.median(times))
    return out


def residuals(raw: np.ndarray, u: np.ndarray, kind: str) -> np.ndarray:
    """Relative residual ||f - A u|| / ||f|| of each predicted solution: how far it is
    from satisfying the discrete equations (one operator application; the solver stops
    at 1e-6, a good surrogate's answer sits near 0.4 on the default problem)."""
    out = []
    for field, sol in zip(raw, u, strict=True):
        k, f = solver_mod.problem(field, kind)
        out.append(solver_mod.relative_residual(sol, k, f))
    return np.array(out)


def break_even(fixed_seconds: float, solve: float, infer: float) -> float | None:
    """N* = (data + training seconds) / (solve - inference seconds per sample); None when
    the surrogate is not faster per sample (it never pays off)."""
    return fixed_seconds / (solve - infer) if solve > infer else None


def evaluate(tolerance: float = 1e-6, coverage: float = 0.9, threads: int = 0,
             results: dict[str, list[Any]] | None = None,
             context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Held-out error, times, break-even count, and the calibration of the spread."""
    info = one(results, "dataset")
    members = load_members(results, threads)
    with np.load(info["dataset"]) as data:
        x, y, raw = data["x_test"], data["y_test"], data["raw_test"]
        solve_test = float(data["seconds_test"].mean())
    preds, infer, latency = timed_predict(members, x)
    mean, spread = unc.ensemble_stats(preds)
    err = unc.relative_l2(mean, y)
    res = residuals(raw, mean, info["kind"])
    member_err = [float(unc.relative_l2(preds[:, m], y).mean()) for m in range(preds.shape[1])]
    train_seconds = float(sum(r["seconds"] for r in results["train"]))
    local = solver_times(raw, info["kind"], float(tolerance))
    solve = info["solve_seconds_mean"]
    out = {
        "n_train": info["n_train"], "n_test": info["n_test"], "grid": info["grid"],
        "kind": info["kind"], "solver": info["solver"], "backend": info["backend"],
        "members": len(members),
        "error": {"mean": float(err.mean()), "median": float(np.median(err)),
                  "p90": float(np.quantile(err, 0.9)), "max": float(err.max())},
        "member_error_mean": member_err,
        "seconds": {"solve": solve, "solve_test": solve_test,
                    "solve_here": local, "inference": infer, "inference_single": latency,
                    "data": info["data_seconds"], "train": train_seconds},
        "speedup": solve / infer, "speedup_single": solve / latency,
        "speedup_vs": {name: t / infer for name, t in local.items()},
        "break_even": break_even(info["data_seconds"] + train_seconds, solve, infer),
        "spread": {"mean": float(spread.mean()), "max": float(spread.max()),
                   "rank_correlation_with_error": unc.rank_correlation(spread, err)},
        "calibration": {"coverage": coverage,
                        "factor": unc.calibrate(spread, err, coverage)},
        "residual": {"mean": float(res.mean()), "p90": float(np.quantile(res, 0.9)),
                     "max": float(res.max()),
                     "rank_correlation_with_error": unc.rank_correlation(res, err)},
        "device": str(members[0].device), "train_device": results["train"][0]["device"],
    }
    (task_dir(context) / EVALUATION).write_text(json.dumps(out, indent=1))
    return out


def queries(n_queries: int, shifted: int, grid: int, field: str, correlation_length: float,
            contrast: float, query_contrast: float, seed: int) -> np.ndarray:
    """n_queries fresh fields: the first n_queries - shifted from the training
    distribution, the last `shifted` with `query_contrast` instead of `contrast` (inputs
    the surrogate was not trained for, which the trust check should send to the solver)."""
    shifted = min(int(shifted), int(n_queries))
    same = fields.sample_fields(field, int(n_queries) - shifted, int(grid),
                                float(correlation_length), float(contrast), int(seed),
                                fields.STREAMS["query"])
    other = fields.sample_fields(field, shifted, int(grid), float(correlation_length),
                                 float(query_contrast), int(seed), fields.STREAMS["shifted"])
    return np.concatenate([same, other])


def _group(err: np.ndarray, accepted: np.ndarray, surrogate_err: np.ndarray,
           threshold: float) -> dict[str, Any]:
    acc = err[accepted]
    return {"queries": len(err), "accepted": int(accepted.sum()),
            "routed": int((~accepted).sum()),
            "accepted_error": {"mean": float(acc.mean()) if acc.size else None,
                               "max": float(acc.max()) if acc.size else None},
            "accepted_within_threshold": float((acc <= threshold).mean()) if acc.size else None,
            "surrogate_error_mean": float(surrogate_err.mean()) if err.size else None}


def couple(n_queries: int, trust_threshold: float, grid: int, field: str = "lognormal",
           correlation_length: float = 0.1, contrast: float = 10.0, shifted_queries: int = 0,
           query_contrast: float = 30.0, solver: str = "cg", tolerance: float = 1e-6,
           residual_margin: float = 1.25, seed: int = 0, threads: int = 0,
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Answer n_queries fresh fields: the surrogate where factor * spread is within
    trust_threshold and its residual within residual_margin x the largest held-out
    residual (0: no residual check), the solver elsewhere. Every accepted answer is then
    checked against a solve (not counted in the coupled time) to report the error
    actually delivered."""
    from orchestrator.library.surrogates import train as tr

    ev = one(results, "evaluate")
    members = load_members(results, threads)
    raw = queries(n_queries, shifted_queries, grid, field, correlation_length, contrast,
                  query_contrast, seed)
    threshold = float(trust_threshold)
    start = time.perf_counter()
    mean, spread = unc.ensemble_stats(tr.predict(members, features(raw, field)))
    residual = residuals(raw, mean, field)
    limit = unc.residual_limit(ev["residual"]["max"], float(residual_margin))
    routing = unc.route(spread, ev["calibration"]["factor"], threshold, residual, limit)
    answers = mean.copy()
    for i in routing.routed:
        answers[i] = solver_mod.solve(raw[i], field, solver, float(tolerance)).u
    coupled_seconds = time.perf_counter() - start
    truth = answers.copy()  # routed answers are solves already
    for i in np.flatnonzero(routing.accepted):
        truth[i] = solver_mod.solve(raw[i], field, "cg", float(tolerance)).u
    err = unc.relative_l2(answers, truth)
    surrogate_err = unc.relative_l2(mean, truth)
    split = len(raw) - min(int(shifted_queries), len(raw))
    groups = {name: _group(err[sl], routing.accepted[sl], surrogate_err[sl], threshold)
              for name, sl in (("in_distribution", slice(0, split)),
                               ("shifted", slice(split, None)))}
    out = dict(routing.to_json(), **_group(err, routing.accepted, surrogate_err, threshold),
               **groups, routed_fraction=float((~routing.accepted).mean()),
               query_contrast=float(query_contrast),
               seconds={"coupled": coupled_seconds,
                        "solver_only": float(ev["seconds"]["solve"]) * len(raw)})
    out_dir = task_dir(context)
    np.savez(out_dir / COUPLED, answers=answers, accepted=routing.accepted,
             estimate=routing.estimate, residual=residual, fields=raw)
    (out_dir / COUPLING).write_text(json.dumps(out, indent=1))
    text = summary(ev, out)
    (out_dir / SUMMARY).write_text(text)
    print(text)
    return out


def _routed(group: dict[str, Any]) -> str:
    if not group["queries"]:
        return "none asked"
    err = group["accepted_error"]["max"]
    return (f"{group['routed']} of {group['queries']} routed"
            + (f", accepted max error {err:.2%}" if err is not None else ""))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def summary(ev: dict[str, Any], co: dict[str, Any]) -> str:
    """The evaluation table `make demo` prints."""
    s = ev["seconds"]
    n_star = ev["break_even"]
    rows = [
        ("problem", f"{ev['kind']} {ev['grid']}x{ev['grid']}, {ev['n_train']} train / "
                    f"{ev['n_test']} held-out samples"),
        ("solver", f"{ev['solver']} ({ev['backend']}): {_ms(s['solve'])} per sample"),
        ("solvers here", ", ".join(f"{k} {_ms(v)}" for k, v in s["solve_here"].items())),
        ("surrogate", f"FNO ensemble of {ev['members']} on {ev['device']}: "
                      f"{_ms(s['inference'])} per sample batched, "
                      f"{_ms(s['inference_single'])} alone"),
        ("speedup", f"{ev['speedup']:.1f}x batched, {ev['speedup_single']:.1f}x alone; vs "
                    + ", ".join(f"{k} {v:.1f}x" for k, v in ev["speedup_vs"].items())),
        ("rel. L2 error", f"mean {ev['error']['mean']:.2%}, p90 {ev['error']['p90']:.2%}, "
                          f"max {ev['error']['max']:.2%}"),
        ("cost to build", f"data {s['data']:.1f} s + training {s['train']:.1f} s"),
        ("break-even N*", f"{n_star:.0f} queries" if n_star is not None else "never"),
        ("trust check", f"estimate = {ev['calibration']['factor']:.2f} x spread "
                        f"(covers {ev['calibration']['coverage']:.0%} of held-out errors), "
                        f"threshold {co['threshold']:.2%}"),
        ("residual check", "off" if co["residual_limit"] is None else
         f"relative residual <= {co['residual_limit']:.3g} (held-out max "
         f"{ev['residual']['max']:.3g})"),
        ("coupled", f"{co['accepted']} of {co['queries']} answered by the surrogate, "
                    f"{co['routed']} routed to the solver"
                    + ("" if co["residual_limit"] is None else
                       f" ({co['routed_by_residual']} by the residual check)")),
        ("  in-distribution", _routed(co["in_distribution"])),
        (f"  contrast {co['query_contrast']:g}", _routed(co["shifted"])),
        ("accepted error", "-" if co["accepted_error"]["mean"] is None else
         f"mean {co['accepted_error']['mean']:.2%}, max {co['accepted_error']['max']:.2%}"),
        ("coupled time", f"{co['seconds']['coupled']:.2f} s vs "
                         f"{co['seconds']['solver_only']:.2f} s solver only"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["heat-surrogate: evaluation", *(f"  {k:<{width}}  {v}" for k, v in rows)]
    return "\n".join(lines) + "\n"


def print_summary(run_dir: str | Path) -> str:
    """The table of a finished run (reads couple's summary.txt)."""
    path = Path(run_dir) / "tasks" / "couple" / SUMMARY
    return path.read_text()
