"""assess (inside the loop) and evaluate (after it): how good the forecasts are, what they
cost against the solver, and which new initial fields the loop should simulate.

assess flags candidates whose forecast is untrustworthy by two indicators that need no
solver: the spread of a perturbed-initial-condition ensemble at the horizon (relative to
the forecast's norm; FourCastNet's ensemble forecasts) and the drift of the forecast's
energy spectrum from the training trajectories' spectrum at the same lead time (mean
|log E_forecast(k) / E_train(k)| over the resolved wavenumbers).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ns_forecast import figures, model
from ns_forecast.stages import solve
from orchestrator.library.solvers import navier_stokes as ns
from orchestrator.library.stage_io import first, one, task_dir

EVALUATION = "evaluation.json"
SUMMARY = "summary.txt"


def spectrum_drift(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Mean |log(E_pred(k) / E_ref(k))| over 1 <= k <= N/3 of vorticity fields (..., N, N)
    against reference spectra (..., N/2 + 1) (or fields)."""
    n = pred.shape[-1]
    e_ref = ns.energy_spectrum(ref) if ref.shape[-1] == n and ref.ndim >= 2 and \
        ref.shape[-2:] == pred.shape[-2:] else ref
    e_pred = ns.energy_spectrum(pred)
    k = slice(1, n // 3 + 1)
    tiny = 1e-30
    return np.abs(np.log((e_pred[..., k] + tiny) / (e_ref[..., k] + tiny))).mean(axis=-1)


def ensemble_spread(stepper: model.Stepper, w0: np.ndarray, steps: int, members: int,
                    noise: float, seed: int) -> np.ndarray:
    """Per field: std over a perturbed-IC ensemble at the horizon / the mean's norm."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt((w0 ** 2).mean(axis=(-2, -1), keepdims=True))
    runs = np.stack([stepper.rollout(w0 + noise * scale * rng.standard_normal(w0.shape),
                                     steps)[-1] for _ in range(members)])
    mean = runs.mean(axis=0)
    spread = np.sqrt(((runs - mean) ** 2).mean(axis=0).sum(axis=(-2, -1)))
    return spread / np.sqrt((mean ** 2).sum(axis=(-2, -1)))


def assess(steps: int, spread_threshold: float, drift_threshold: float, max_add: int,
           members: int = 4, noise: float = 0.01, threads: int = 0, seed: int = 0,
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Held-out error per lead time (the loop's condition: horizon_error) and the
    candidates to simulate next (selected: at most max_add, worst first)."""
    trained = first(results, "train", "assess")
    ds, info = one(results, "dataset"), one(results, "sample")
    stepper = model.load(trained["model"], int(threads))
    with np.load(ds["dataset"]) as data:
        test, train = data["test"], data["train"]
    pred = stepper.rollout(test[:, 0], int(steps))
    err = ns.relative_l2(pred.transpose(1, 0, 2, 3), test).mean(axis=0)
    with np.load(info["candidates"]) as data:
        cand = data["fields"]
    free = np.array([i for i in range(len(cand)) if i not in set(trained["used"])], dtype=int)
    selected: list[int] = []
    spread = drift = np.zeros(0)
    if len(free):
        climate = ns.energy_spectrum(train[:, -1]).mean(axis=0)
        horizon = stepper.rollout(cand[free], int(steps))[-1]
        drift = spectrum_drift(horizon, climate)
        spread = ensemble_spread(stepper, cand[free], int(steps), int(members), float(noise),
                                 int(seed) + int(trained["iteration"]))
        score = np.maximum(spread / spread_threshold, drift / drift_threshold)
        order = np.argsort(-score)
        selected = [int(free[i]) for i in order[:int(max_add)] if score[i] > 1.0]
    return {"horizon_error": float(err[-1]), "errors": [float(e) for e in err],
            "selected": selected, "flagged": len(selected), "candidates_left": len(free),
            "spread_max": float(spread.max()) if len(spread) else 0.0,
            "drift_max": float(drift.max()) if len(drift) else 0.0,
            "iteration": trained["iteration"]}


def _best_of(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def solver_ladder(w0: np.ndarray, grid: int, solver_dt: float, model_dt: float, steps: int,
                  fine: np.ndarray) -> list[dict[str, Any]]:
    """Every coarser solver configuration (grid, grid/2, grid/4 >= 8; time steps up to
    model_dt): seconds per forecast and rel. L2 error per lead against the finer solve."""
    rows = []
    grids = [g for g in (grid, grid // 2, grid // 4) if g >= 8]
    for g in grids:
        for m in (1, 2, 4, 5, 10, 20, 25, 50, 100, 200):
            dt = model_dt / m
            if dt < solver_dt * (1 - 1e-9):
                continue
            start = time.perf_counter()
            try:
                with np.errstate(all="ignore"):
                    traj = solve(ns.resample(w0, g), g, dt, model_dt, steps)
            except FloatingPointError:
                continue
            seconds = (time.perf_counter() - start) / len(w0)
            err = ns.relative_l2(ns.resample(traj.states, grid), fine).mean(axis=1)
            if not np.all(np.isfinite(err)):
                continue
            rows.append({"grid": g, "dt": dt, "seconds": seconds,
                         "errors": [float(e) for e in err]})
    return rows


def evaluate(steps: int, solver_dt: float, model_dt: float, target: float,
             threads: int = 0, repeats: int = 3,
             results: dict[str, list[Any]] | None = None,
             context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """The claim, measured in one run on the held-out trajectories: errors per lead time,
    spectrum drift, seconds per forecast of the surrogate and of the solver at the same
    grid, the solver's own error against a finer solve (2x grid, dt/2), and the speedup
    over the cheapest solver configuration that is as accurate as the surrogate."""
    trained = first(results, "train", "evaluate")
    checked = first(results, "assess", "evaluate")
    ds, info = one(results, "dataset"), one(results, "sample")
    resolved = (results or {}).get("resolve") or []
    stepper = model.load(trained["model"], int(threads))
    grid = int(info["grid"])
    with np.load(ds["dataset"]) as data:
        test = data["test"]
    w0 = test[:, 0]
    n = len(w0)
    steps = int(steps)
    t_sur, pred = _best_of(lambda: stepper.rollout(w0, steps), int(repeats))
    t_one, _ = _best_of(lambda: stepper.rollout(w0[:1], steps), int(repeats))
    t_sol, _ = _best_of(lambda: solve(w0, grid, solver_dt, model_dt, steps), 1)
    finer = solve(ns.resample(w0, 2 * grid), 2 * grid, solver_dt / 2, model_dt, steps)
    fine = ns.resample(finer.states, grid)  # (frames, n, N, N)
    pred_f = pred  # (frames, n, N, N)
    sur_err = ns.relative_l2(pred_f, fine).mean(axis=1)
    sur_err_data = ns.relative_l2(pred_f, test.transpose(1, 0, 2, 3)).mean(axis=1)
    sol_err = ns.relative_l2(test.transpose(1, 0, 2, 3), fine).mean(axis=1)
    drift = spectrum_drift(pred_f, fine).mean(axis=1)
    ladder = solver_ladder(w0, grid, solver_dt, model_dt, steps, fine)
    per_sur = t_sur / n
    same = [r["seconds"] for r in ladder
            if r["grid"] == grid and abs(r["dt"] - solver_dt) < 1e-12 * max(1.0, solver_dt)]
    per_sol = min([t_sol / n, *same])  # the same configuration timed twice: the better one
    as_good = [r for r in ladder if r["errors"][-1] <= sur_err[-1]]
    equal = min(as_good, key=lambda r: r["seconds"]) if as_good else None
    history = resolved[0]["history"] if resolved else [
        {"iteration": trained["iteration"], "trajectories": trained["trajectories"],
         "horizon_error": checked["horizon_error"], "added": 0}]
    out = {
        "grid": grid, "steps": steps, "model_dt": model_dt, "horizon": steps * model_dt,
        "n_test": n, "surrogate_errors": [float(e) for e in sur_err],
        "surrogate_errors_vs_data": [float(e) for e in sur_err_data],
        "solver_errors": [float(e) for e in sol_err],
        "spectrum_drift": [float(d) for d in drift],
        "surrogate_seconds": per_sur, "surrogate_seconds_alone": t_one,
        "solver_seconds": per_sol, "solver_dt": solver_dt,
        "speedup_same_grid": per_sol / per_sur,
        "equal_accuracy": equal,
        "speedup_equal_accuracy": equal["seconds"] / per_sur if equal else None,
        "ladder": ladder, "iterations": len(history), "history": history,
        "target": target, "met_target": bool(checked["horizon_error"] < target),
        "training_seconds": trained["seconds"], "trajectories": trained["trajectories"],
        "parameters": trained["parameters"], "threads": int(threads),
    }
    dest = task_dir(context)
    tmp = dest / (EVALUATION + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(dest / EVALUATION)
    text = summary(out)
    (dest / SUMMARY).write_text(text)
    figures.error_vs_lead(dest / figures.ERRORS, out)
    figures.forecast(dest / figures.FORECAST, fine[:, 0], pred_f[:, 0], model_dt)
    return {k: v for k, v in out.items() if k not in ("ladder",)} | {
        "horizon_error": float(sur_err[-1]), "solver_horizon_error": float(sol_err[-1])}


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def summary(e: dict[str, Any]) -> str:
    """The table `make demo-forecast` prints."""
    lines = [
        "ns-forecast: evaluation",
        f"  problem          2-D Navier-Stokes on the torus, nu=1e-3, {e['grid']}x{e['grid']}, "
        f"{e['steps']} model steps of {e['model_dt']:g} (horizon t={e['horizon']:g}), "
        f"{e['n_test']} held-out trajectories",
        f"  surrogate        FNO ({e['parameters']:,} parameters) trained on "
        f"{e['trajectories']} trajectories in {e['training_seconds']:.0f} s (last iteration)",
        "  rel. L2 error against a finer solve (2x grid, dt/2), per lead time:",
        "    lead     surrogate   solver (same grid)   spectrum drift",
    ]
    for k in range(1, e["steps"] + 1):
        lines.append(f"    {k * e['model_dt']:<8g} {_pct(e['surrogate_errors'][k]):>9}   "
                     f"{_pct(e['solver_errors'][k]):>18}   {e['spectrum_drift'][k]:>14.3f}")
    lines += [
        f"  time per forecast  surrogate {1e3 * e['surrogate_seconds']:.2f} ms (batch of "
        f"{e['n_test']}), {1e3 * e['surrogate_seconds_alone']:.2f} ms alone; solver "
        f"{1e3 * e['solver_seconds']:.1f} ms (dt={e['solver_dt']:g}, same grid)",
        f"  speedup, same grid and step   {e['speedup_same_grid']:.1f}x (solver error at the "
        f"horizon {_pct(e['solver_errors'][-1])}, surrogate {_pct(e['surrogate_errors'][-1])})",
    ]
    eq = e["equal_accuracy"]
    if eq:
        lines.append(f"  speedup at equal accuracy     {e['speedup_equal_accuracy']:.1f}x (the "
                     f"cheapest solver as accurate: {eq['grid']}x{eq['grid']}, dt={eq['dt']:g}, "
                     f"{1e3 * eq['seconds']:.1f} ms, error {_pct(eq['errors'][-1])})")
    else:
        lines.append("  speedup at equal accuracy     none: no solver configuration tried is as "
                     "inaccurate as the surrogate")
    lines.append(f"  loop             {e['iterations']} iteration(s); held-out error at the "
                 f"horizon (target {_pct(e['target'])}):")
    for h in e["history"]:
        lines.append(f"    iteration {h['iteration']}: {h['trajectories']} training "
                     f"trajectories, error {_pct(h['horizon_error'])}, {h['added']} added")
    goal = (e["speedup_equal_accuracy"] or 0) >= 100 and e["surrogate_errors"][-1] <= 0.05 \
        and e["steps"] >= 10
    lines.append(f"  goal (>= 100x at <= 5% over >= 10 steps): {'met' if goal else 'missed'}")
    return "\n".join(lines) + "\n"
