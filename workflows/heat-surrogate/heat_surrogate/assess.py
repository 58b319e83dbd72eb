"""evaluate and couple: is the surrogate accurate, is it faster than the best classical
solver at the accuracy that matters, when does it pay off, and what happens when it is
used in place of the solver with a trust check.

Four disjoint sets of fields (fields.STREAMS, a test checks that no field is in two):
the training set and the validation set (the last n_test samples, watched during
training) come from dataset; `evaluate` draws a fresh calibration split (fits the
conformal factor of the trust estimate and the residual limit) and a fresh test split
(reports the error with a confidence interval, the out-of-sample coverage and the false
accepts of the trust check). Nothing fitted or chosen looks at the test split.

Solvers: SciPy's direct solver, PyAMG and our CG, each stopped at the accuracy that
matters (solvers.accuracy: the discretisation error against a 5x finer grid), timed in
this process beside the surrogate (batched and one sample at a time); the speedup,
break-even and coupled time are against the fastest of them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from heat_surrogate.stages import features, one, task_dir
from orchestrator.library import fields
from orchestrator.library.solvers import accuracy as acc
from orchestrator.library.solvers import darcy as solver_mod
from orchestrator.library.surrogates import uncertainty as unc

EVALUATION = "evaluation.json"
COUPLING = "coupling.json"
COUPLED = "coupled.npz"
SUMMARY = "summary.txt"
QUERIES = "queries.npz"
RULE_FIELDS = 4  # calibration fields the solvers' stopping rule is fitted on
TIMED_FIELDS = 8  # test fields each solver is timed on


def load_members(results: dict[str, list[Any]] | None, threads: int = 0) -> list[Any]:
    from orchestrator.library.surrogates import train as tr

    tr.set_threads(threads)
    members = sorted((results or {}).get("train") or [], key=lambda r: r["member"])
    if not members:
        raise RuntimeError("no trained members in results['train']")
    return [tr.load(m["model"]) for m in members]


def timed_predict(members: list[Any], x: np.ndarray, repeats: int = 3) -> tuple[float, float]:
    """(seconds per sample batched, seconds per sample one at a time): median of
    `repeats` after a warm-up, so that a busy machine inflates them less."""
    from orchestrator.library.surrogates import train as tr

    tr.predict(members, x[:2])
    batched, single = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        tr.predict(members, x)
        batched.append((time.perf_counter() - t) / len(x))
        t = time.perf_counter()
        for i in range(min(len(x), 8)):
            tr.predict(members, x[i:i + 1])
        single.append((time.perf_counter() - t) / min(len(x), 8))
    return float(np.median(batched)), float(np.median(single))


def residuals(raw: np.ndarray, u: np.ndarray, kind: str) -> np.ndarray:
    """Relative residual ||f - A u|| / ||f|| of each predicted solution: how far it is
    from satisfying the discrete equations (one operator application)."""
    out = []
    for field, sol in zip(raw, u, strict=True):
        k, f = solver_mod.problem(field, kind)
        out.append(solver_mod.relative_residual(sol, k, f))
    return np.array(out)


def break_even(fixed_seconds: float, solve: float, infer: float) -> float | None:
    """N* = (data + training seconds) / (solve - inference seconds per sample); None when
    the surrogate is not faster per sample (it never pays off)."""
    return fixed_seconds / (solve - infer) if solve > infer else None


def split_fields(name: str, n: int, grid: int, field: str, correlation_length: float,
                 contrast: float, seed: int) -> np.ndarray:
    """n fresh fields of split `name` (`calibration` or `test`): their own stream."""
    return fields.sample_fields(field, int(n), int(grid), float(correlation_length),
                                float(contrast), int(seed), fields.STREAMS[name])


def exact(raw: np.ndarray, kind: str) -> np.ndarray:
    """The exact discrete solutions (SciPy's direct solver), what the surrogate learns."""
    return np.stack([solver_mod.solve_linear(x, kind, "direct").u for x in raw])


def _stats(err: np.ndarray) -> dict[str, Any]:
    p90 = lambda v: float(np.quantile(v, 0.9))  # noqa: E731
    return {"n": len(err), "mean": float(err.mean()),
            "mean_ci95": unc.mean_interval(err), "median": float(np.median(err)),
            "p90": p90(err), "p90_ci95": unc.bootstrap_interval(err, p90),
            "max": float(err.max())}


def evaluate(coverage: float = 0.9, threads: int = 0, grid: int = 32,
             field: str = "lognormal", correlation_length: float = 0.1,
             contrast: float = 10.0, seed: int = 0, n_calibration: int = 256,
             n_fresh_test: int = 256, trust_threshold: float = 0.05,
             residual_margin: float = 1.25, trust_coverage: float = 0.995,
             results: dict[str, list[Any]] | None = None,
             context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Test-set error with intervals, the solvers at the discretisation error against
    the surrogate, break-even, the conformal trust estimate and its out-of-sample
    coverage and false accepts."""
    from orchestrator.library.surrogates import train as tr

    info = one(results, "dataset")
    kind = info["kind"]
    members = load_members(results, threads)
    with np.load(info["dataset"]) as data:
        x_val, y_val = data["x_test"], data["y_test"]
    args = (int(grid), field, correlation_length, contrast, seed)
    raw_cal = split_fields("calibration", n_calibration, *args)
    raw_test = split_fields("test", n_fresh_test, *args)
    y_cal, y_test = exact(raw_cal, kind), exact(raw_test, kind)
    preds_cal = tr.predict(members, features(raw_cal, kind))
    preds_test = tr.predict(members, features(raw_test, kind))
    mean_val, _ = unc.ensemble_stats(tr.predict(members, x_val))
    mean_cal, spread_cal = unc.ensemble_stats(preds_cal)
    mean_test, spread_test = unc.ensemble_stats(preds_test)
    err_val = unc.relative_l2(mean_val, y_val)
    err_cal = unc.relative_l2(mean_cal, y_cal)
    err_test = unc.relative_l2(mean_test, y_test)

    # trust estimate: conformal on the calibration split, judged on the test split
    # (`coverage` for the reported interval, `trust_coverage` for the routing factor)
    factor = unc.conformal_factor(spread_cal, err_cal, coverage)
    trust_factor = unc.conformal_factor(spread_cal, err_cal, trust_coverage)
    res_cal = residuals(raw_cal, mean_cal, kind)
    res_test = residuals(raw_test, mean_test, kind)
    limit = unc.residual_limit(float(res_cal.max()), float(residual_margin))
    routing = unc.route(spread_test, trust_factor, float(trust_threshold), res_test, limit)
    covered = int((err_test <= factor * spread_test).sum())
    trust_covered = int((err_test <= trust_factor * spread_test).sum())
    false_accepts = int((routing.accepted & (err_test > trust_threshold)).sum())

    # the classical solvers at the discretisation error, timed here beside the surrogate
    ref = acc.reference(raw_cal[:RULE_FIELDS], kind)
    rule = acc.stop_rule(raw_cal[:RULE_FIELDS], kind, ref)
    timed = raw_test[:TIMED_FIELDS]
    solve_here = acc.time_methods(timed, kind, rule)
    infer, latency = timed_predict(members, features(timed, kind))
    best, best_s = acc.fastest(solve_here)
    truth_err = [acc.relative_l2(m, t) for m, t in
                 zip(unc.ensemble_stats(preds_cal[:RULE_FIELDS])[0], ref.truth, strict=True)]
    train_seconds = float(sum(r["seconds"] for r in results["train"]))
    data_seconds = float(info["data_seconds"])
    out = {
        "n_train": info["n_train"], "n_validation": info["n_test"],
        "n_calibration": len(raw_cal), "n_test": len(raw_test), "grid": info["grid"],
        "kind": kind, "members": len(members),
        "error": _stats(err_test), "validation_error": _stats(err_val),
        "calibration_error_mean": float(err_cal.mean()),
        "member_error_mean": [float(unc.relative_l2(preds_test[:, m], y_test).mean())
                              for m in range(preds_test.shape[1])],
        "discretisation": {"error_mean": float(ref.discretisation.mean()),
                           "finer_by": acc.FACTOR, "fields": RULE_FIELDS,
                           "surrogate_error_vs_fine_mean": float(np.mean(truth_err))},
        "stop_rule": rule.to_json(),
        "seconds": {"solve_here": solve_here, "fastest": best_s,
                    "inference": infer, "inference_single": latency,
                    "data": data_seconds, "train": train_seconds,
                    "data_solver": info["solver"],
                    "data_solve_mean": info["solve_seconds_mean"]},
        "fastest": best,
        "speedup": best_s / infer, "speedup_single": best_s / latency,
        "speedup_vs": {name: t / infer for name, t in solve_here.items()},
        "break_even": break_even(data_seconds + train_seconds, best_s, infer),
        "spread": {"mean": float(spread_test.mean()),
                   "rank_correlation_with_error": unc.rank_correlation(spread_test, err_test)},
        "calibration": {"method": "split conformal", "coverage": coverage, "factor": factor,
                        "fitted_on": "calibration", "n": len(raw_cal),
                        "test_coverage": covered / len(raw_test),
                        "test_coverage_ci95": unc.binomial_interval(covered, len(raw_test))},
        "residual": {"limit": limit, "calibration_max": float(res_cal.max()),
                     "test_max": float(res_test.max()),
                     "rank_correlation_with_error": unc.rank_correlation(res_test, err_test)},
        "trust": {"kind": "in-distribution indicator", "threshold": float(trust_threshold),
                  "coverage": float(trust_coverage), "factor": trust_factor,
                  "test_coverage": trust_covered / len(raw_test),
                  "accepted": int(routing.accepted.sum()), "queries": len(raw_test),
                  "false_accepts": false_accepts,
                  "false_accept_rate_ci95": unc.binomial_interval(false_accepts,
                                                                  len(raw_test)),
                  "above_threshold": int((err_test > trust_threshold).sum())},
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


def draw_queries(n_queries: int, grid: int, field: str = "lognormal",
                 correlation_length: float = 0.1, contrast: float = 10.0,
                 shifted_queries: int = 0, query_contrast: float = 30.0, seed: int = 0,
                 context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """The queries couple answers (`queries`), written for the surrogate-infer step:
    queries.npz holds their features (`inputs`, what infer predicts from) and the raw
    fields (`fields`, what the solver and the residual check need)."""
    raw = queries(n_queries, shifted_queries, grid, field, correlation_length, contrast,
                  query_contrast, seed)
    path = task_dir(context) / QUERIES
    np.savez(path, inputs=features(raw, field), fields=raw)
    return {"queries": str(path), "n": len(raw), "grid": int(grid), "kind": field,
            "shifted": min(int(shifted_queries), len(raw))}


def couple(trust_threshold: float, predictions: str, queries: str, field: str = "lognormal",
           shifted_queries: int = 0, query_contrast: float = 30.0,
           residual_margin: float = 1.25, results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Answer the queries: the surrogate's answer (the members' predictions from the
    infer stage: OpenVINO on a cpu pool, torch on a gpu pool) where the conformal
    estimate factor * spread is within trust_threshold and its residual within the limit
    fitted on the calibration split (residual_margin 0: no residual check), the fastest
    solver of evaluate (at its stopping rule) elsewhere. Every accepted answer is then
    checked against a direct solve (not counted in the coupled time) to report the error
    actually delivered."""
    ev, inf = one(results, "evaluate"), one(results, "infer")
    with np.load(queries) as data:
        raw = np.asarray(data["fields"])
    with np.load(predictions) as data:
        members = np.asarray(data["members"])
    if len(members) != len(raw):
        raise RuntimeError(f"{predictions} answers {len(members)} queries, {queries} "
                           f"holds {len(raw)}")
    threshold = float(trust_threshold)
    rule = acc.StopRule(ev["stop_rule"]["tolerance"], {}, 1.0, 0.0, 0)
    best = ev["fastest"]
    start = time.perf_counter()
    mean, spread = unc.ensemble_stats(members)
    residual = residuals(raw, mean, field)
    limit = unc.residual_limit(ev["residual"]["calibration_max"], float(residual_margin))
    routing = unc.route(spread, ev["trust"]["factor"], threshold, residual, limit)
    answers = mean.copy()
    for i in routing.routed:
        answers[i] = acc.solve_at(raw[i], field, rule, best).u
    route_seconds = time.perf_counter() - start
    per_sample = inf.get("seconds_per_sample")  # None: infer ran with timing_repeats 0
    inference_seconds = None if per_sample is None else float(per_sample) * len(raw)
    truth = exact(raw, field)
    err = unc.relative_l2(answers, truth)
    surrogate_err = unc.relative_l2(mean, truth)
    split = len(raw) - min(int(shifted_queries), len(raw))
    groups = {name: _group(err[sl], routing.accepted[sl], surrogate_err[sl], threshold)
              for name, sl in (("in_distribution", slice(0, split)),
                               ("shifted", slice(split, None)))}
    inference = {key: inf.get(key) for key in ("backend", "asked", "device",
                                                "seconds_per_sample", "seconds_single")}
    out = dict(routing.to_json(), **_group(err, routing.accepted, surrogate_err, threshold),
               **groups, routed_fraction=float((~routing.accepted).mean()),
               query_contrast=float(query_contrast), solver=best, inference=inference,
               seconds={"coupled": route_seconds + (inference_seconds or 0.0),
                        "inference": inference_seconds, "check_and_solve": route_seconds,
                        "solver_only": float(ev["seconds"]["fastest"]) * len(raw)})
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


def _inference(ev: dict[str, Any], co: dict[str, Any]) -> str:
    """The couple's inference (the infer stage): its runtime, and its time per sample
    beside the torch time evaluate measured on the same threads."""
    inf = co["inference"]
    where = inf["device"] if inf["backend"] == "openvino" else f"torch on {inf['device']}"
    text = f"{where} (infer stage, backend {inf['asked']})"
    if inf["seconds_per_sample"] is None:
        return text + ": not timed"
    torch_s = ev["seconds"]["inference"]
    return (text + f": {_ms(inf['seconds_per_sample'])} per sample batched, "
            f"{_ms(inf['seconds_single'])} one at a time; "
            f"{torch_s / inf['seconds_per_sample']:.2f}x torch batched in evaluate")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def _ci(pair: Any) -> str:
    return f"{pair[0]:.2%}-{pair[1]:.2%}"


def summary(ev: dict[str, Any], co: dict[str, Any]) -> str:
    """The evaluation table `make demo` prints: every claim against the fastest
    classical solver at the discretisation error, statistics on the fresh test split."""
    s = ev["seconds"]
    n_star = ev["break_even"]
    err, cal, trust = ev["error"], ev["calibration"], ev["trust"]
    tol = ev["stop_rule"]["tolerance"]
    faster = ev["speedup"] >= 1
    rows = [
        ("problem", f"{ev['kind']} {ev['grid']}x{ev['grid']}: {ev['n_train']} train, "
                    f"{ev['n_validation']} validation, {ev['n_calibration']} calibration, "
                    f"{ev['n_test']} test samples (disjoint)"),
        ("discretisation", f"error {ev['discretisation']['error_mean']:.3%} against a "
                           f"{ev['discretisation']['finer_by']}x finer grid; solvers stop "
                           "there: " + ", ".join(
                               f"{k} {'exact' if v is None else f'tol {v:g}'}"
                               for k, v in tol.items())),
        ("solvers here", ", ".join(f"{k} {_ms(v)}" for k, v in s["solve_here"].items())
         + f" per sample (fastest: {ev['fastest']})"),
        ("surrogate", f"FNO ensemble of {ev['members']} on {ev['device']}: "
                      f"{_ms(s['inference'])} per sample batched, "
                      f"{_ms(s['inference_single'])} one at a time"),
        (f"vs {ev['fastest']}", f"{ev['speedup']:.2f}x batched, {ev['speedup_single']:.2f}x "
                                "one at a time" + ("" if faster else
                                                   f" (the surrogate is slower than "
                                                   f"{ev['fastest']})")),
        ("test error", f"rel. L2 mean {err['mean']:.2%} (95% CI {_ci(err['mean_ci95'])}), "
                       f"p90 {err['p90']:.2%} ({_ci(err['p90_ci95'])}), max {err['max']:.2%} "
                       f"on {err['n']} fresh fields"),
        ("validation", f"mean {ev['validation_error']['mean']:.2%} (the {ev['n_validation']} "
                       "watched in training)"),
        ("cost to build", f"data {s['data']:.1f} s ({s['data_solver']}) + training "
                          f"{s['train']:.1f} s"),
        ("break-even N*", f"{n_star:.0f} queries" if n_star is not None else
         f"never (not faster than {ev['fastest']} per sample)"),
        ("trust estimate", f"{cal['factor']:.2f} x spread, split conformal on "
                           f"{cal['n']} calibration fields for {cal['coverage']:.0%}; "
                           f"test coverage {cal['test_coverage']:.1%} "
                           f"(95% CI {_ci(cal['test_coverage_ci95'])})"),
        ("trust check", f"an in-distribution indicator, not a guarantee: accept when "
                        f"{trust['factor']:.2f} x spread (conformal "
                        f"{trust['coverage']:.1%}, test coverage "
                        f"{trust['test_coverage']:.1%}) <= {trust['threshold']:.2%} and "
                        "residual <= "
                        + ("off" if ev["residual"]["limit"] is None else
                           f"{ev['residual']['limit']:.3g}")
                        + f"; on the test fields {trust['accepted']} of {trust['queries']} "
                        f"accepted, {trust['false_accepts']} of them above the threshold "
                        f"(false-accept rate 95% CI {_ci(trust['false_accept_rate_ci95'])})"),
        ("inference", _inference(ev, co)),
        ("coupled", f"{co['accepted']} of {co['queries']} answered by the surrogate, "
                    f"{co['routed']} routed to {co['solver']}"
                    + ("" if co["residual_limit"] is None else
                       f" ({co['routed_by_residual']} by the residual check)")),
        ("  in-distribution", _routed(co["in_distribution"])),
        (f"  contrast {co['query_contrast']:g}", _routed(co["shifted"])),
        ("accepted error", "-" if co["accepted_error"]["mean"] is None else
         f"mean {co['accepted_error']['mean']:.2%}, max {co['accepted_error']['max']:.2%}"),
        ("coupled time", f"{co['seconds']['coupled']:.3f} s vs "
                         f"{co['seconds']['solver_only']:.3f} s with {co['solver']} only"
                         + ("" if co["seconds"]["inference"] is not None else
                            " (inference not timed: timing_repeats 0)")),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["heat-surrogate: evaluation", *(f"  {k:<{width}}  {v}" for k, v in rows)]
    return "\n".join(lines) + "\n"


def print_summary(run_dir: str | Path) -> str:
    """The table of a finished run (reads couple's summary.txt)."""
    path = Path(run_dir) / "tasks" / "couple" / SUMMARY
    return path.read_text()
