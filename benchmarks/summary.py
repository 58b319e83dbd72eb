"""Every benchmark, one table: each figure with its target beside it, met or missed.

Runs each benchmark script of this folder as its own process (one at a time: the
machine may have two cores), keeps its JSON line, and prints the table, then
all JSON lines (`--json FILE` also writes them to a file). `--skip NAME` leaves
benchmarks out (the surrogate one solves up to s = 256: minutes; fno_library trains
FNOs and needs .envs/neuralop: scripts/install-neuralop.sh; fno_paper, the FNO
paper's Darcy preset, solves 1200 fields at 421^2 once and trains: an hour); `--quick` runs
smaller sizes with fewer repeats to try the pipeline, not to quote.

    python benchmarks/summary.py [--skip surrogate] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script args, quick args)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "plan_scale": ([], ["--sizes", "10000", "100000", "--repeats", "1", "--big", "200000"]),
    "status_scale": ([], ["--tasks", "20000", "--repeats", "1"]),
    "run_overhead": ([], ["--tasks", "1000", "--repeats", "1"]),
    "throughput": ([], ["--tasks", "1000", "--repeats", "1"]),
    "chain_latency": ([], ["--hops", "50", "--repeats", "1"]),
    "resume": ([], ["--tasks", "1000", "--repeats", "1"]),
    "kernels": ([], ["--n", "1000", "--repeats", "3"]),
    "halo_exchange": ([], ["--exchanges", "200", "--repeats", "3"]),
    "placement": ([], ["--seconds", "0.3"]),
    "small_run": ([], ["--repeats", "1"]),
    "files": (["--tasks", "1000"], ["--tasks", "100", "--repeats", "1"]),
    "bundles": (["--repeats", "2"], ["--tasks", "2000", "--repeats", "1"]),
    # 10^6 bundled no-op tasks, the driver killed halfway and resumed (~10 min)
    "bundles_million": (["--million", "--kinds", "--executors", "htex"],
                        ["--million", "20000", "--kinds", "--executors", "htex"]),
    "surrogate": ([], ["--quick"]),
    "fno_library": ([], ["--quick"]),
    "fno_paper": ([], ["--train", "50", "--test", "20", "--epochs", "2"]),
}


SCRIPTS = {"bundles_million": "bundles"}  # entries that run another entry's script


def run(name: str, quick: bool) -> tuple[dict | None, float, str]:
    args = BENCHMARKS[name][1 if quick else 0]
    t0 = time.perf_counter()
    script = HERE / f"{SCRIPTS.get(name, name)}.py"
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                         text=True)
    dt = time.perf_counter() - t0
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return None, dt, (out.stderr or out.stdout)[-800:]
    return json.loads(lines[-1]), dt, ""


Row = tuple[str, str, str, bool | None]  # figure, value, target, met


def _get(d: dict, *path: str):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _row(label: str, value, fmt: str, target: str, ok: Callable[[float], bool]) -> Row:
    if value is None:
        return (label, "n/a", target, None)
    return (label, fmt.format(value), target, bool(ok(value)))


def rows_plan_scale(r: dict) -> list[Row]:
    sizes = sorted(int(k) for k in r if k.isdigit())
    out = [_row(f"plan {n:,} tasks: orch / naive time", _get(r, str(n), "ratio"), "{:.3g}x",
                "<= 3x", lambda v: v <= 3) for n in sizes]
    out += [(f"plan {n:,} tasks: orch time, peak RSS",
             f"{r[str(n)]['orch_s']:.2f} s, {r[str(n)]['orch_peak_mb']} MB", "< 2 GB",
             r[str(n)]["orch_peak_mb"] < 2048) for n in sizes]
    cli = r.get("cli")
    if isinstance(cli, dict):
        out.append((f"`orch plan` (text) of a {cli['tasks']:,}-point sweep: time, peak RSS",
                    f"{cli['s']:.2f} s, {cli['peak_mb']} MB ({cli['lines']} lines)",
                    "<= 60 s, <= 2 GB", cli["s"] <= 60 and cli["peak_mb"] <= 2048))
    if "growth" in r:
        out.append(_row(f"plan growth {sizes[0]:,} -> {sizes[-1]:,} (1 = linear)", r["growth"],
                        "{:.2f}", "<= 1.2 (near-linear)", lambda v: v <= 1.2))
    return out


def rows_status_scale(r: dict) -> list[Row]:
    n = r["tasks"]
    return [
        (f"`orch status` of a {n:,}-task run (index warm) / naive json read of its journal",
         f"{r['status_warm_ratio']:.3g}x", "-", None),
        (f"`orch status` of a {n:,}-task run (index warm): time, peak RSS (/ goal)",
         f"{r['status_warm_s']:.2f} s ({r['status_warm_s'] / 2:.2f}x), "
         f"{r['status_warm_peak_mb']} MB ({r['status_warm_peak_mb'] / 1024:.2f}x)",
         "<= 2 s, <= 1 GB", r["status_warm_s"] <= 2 and r["status_warm_peak_mb"] <= 1024),
        (f"`orch status` of a {n:,}-task run, first (no index) / naive json read",
         f"{r['status_cold_ratio']:.3g}x ({r['status_cold_s']:.1f} s, "
         f"{r['status_cold_peak_mb']} MB)", "-", None),
        (f"`orch report` of a {n:,}-task run: time (/ naive json read; / goal), page size",
         f"{r['report_s']:.1f} s ({r['report_ratio']:.3g}x; {r['report_s'] / 30:.2f}x), "
         f"{r['report_kb']} kB, {r['report_peak_mb']} MB", "<= 30 s", r["report_s"] <= 30),
    ]


def rows_run_overhead(r: dict) -> list[Row]:
    out = []
    for kind in ("htex", "threads"):
        k = r.get(kind)
        if k:
            out.append((f"{r['tasks']:,} no-op tasks, {kind}: orch / Parsl wall time",
                        f"{k['ratio']:.3f}x ({k['orch_s']} s vs {k['parsl_s']} s)", "<= 1.05x",
                        k["ratio"] <= 1.05))
            if "ratio_same_log" in k:
                out.append((f"  the same / Parsl with its log at orch's WARNING ({kind})",
                            f"{k['ratio_same_log']:.3f}x ({k['orch_s']} s vs "
                            f"{k['parsl_quiet_s']} s)", "<= 1.05x", k["ratio_same_log"] <= 1.05))
    k = r.get("htex")
    if k:
        out.append((f"journal + cache on / off ({r['tasks']:,} tasks, htex; off = raw Parsl)",
                    f"{k['ratio']:.3f}x", "<= 1.15x", k["ratio"] <= 1.15))
    return out


def rows_throughput(r: dict) -> list[Row]:
    out = []
    for kind in ("htex", "threads"):
        k = r.get(kind)
        if k:
            out.append((f"throughput {r['tasks']:,} tasks, {kind}: orch / parsl-perf",
                        f"{k['ratio']:.3f}x ({k['orch_tasks_per_s']} vs "
                        f"{k['parsl_perf_tasks_per_s']} tasks/s)", ">= 0.9x", k["ratio"] >= 0.9))
    return out


def rows_chain(r: dict) -> list[Row]:
    out = []
    for kind in ("htex", "threads"):
        k = r.get(kind)
        if k:
            out.append((f"chain of {r['hops']}, {kind}: per hop orch / Parsl",
                        f"{k['ratio']:.3f}x ({k['orch_ms_per_hop']} vs {k['parsl_ms_per_hop']} ms)",
                        "<= 1.1x", k["ratio"] <= 1.1))
            if "ratio_same_log" in k:
                out.append((f"  the same / Parsl with its log at orch's WARNING ({kind})",
                            f"{k['ratio_same_log']:.3f}x ({k['orch_ms_per_hop']} vs "
                            f"{k['parsl_quiet_ms_per_hop']} ms)", "<= 1.1x",
                            k["ratio_same_log"] <= 1.1))
            out.append((f"chain of {r['hops']}, {kind}: orch per hop", f"{k['orch_ms_per_hop']} ms",
                        "<= 5 ms", k["orch_ms_per_hop"] <= 5))
    return out


def rows_resume(r: dict) -> list[Row]:
    return [(f"resume of a complete {r['tasks']:,}-task run / the run",
             f"{r['ratio']:.3f} ({r['resume_s']} s vs {r['run_s']} s)", "<= 0.1",
             r["ratio"] <= 0.1)]


def rows_kernels(r: dict) -> list[Row]:
    out = []
    for tool in ("numba", "sycl"):
        out.append(_row(f"Jacobi {tool}: stencil / copy kernel rate",
                        _get(r, tool, "ratio_to_copy"), "{:.3f}", ">= 0.8", lambda v: v >= 0.8))
    if "sycl_launch_overhead_us" in r:
        out.append(("SYCL launch overhead after JIT", f"{r['sycl_launch_overhead_us']} us", "-",
                    None))
    return out


def rows_halo(r: dict) -> list[Row]:
    out = [(f"halo exchange width {h['width']}: library / raw Sendrecv",
            f"{h['ratio']:.3f}x ({h['library_us']} vs {h['raw_us']} us)", "<= 1.1x",
            h["ratio"] <= 1.1) for h in r.get("halo", [])]
    j = r.get("jacobi") or {}
    many = [k for k in j if k.startswith("ms_per_iteration_") and not k.endswith("_1")]
    if many and "ms_per_iteration_1" in j:
        out.append((f"Jacobi {j.get('grid')}^2: ms/iteration 1 rank vs "
                    f"{many[0].rsplit('_', 1)[1]}", f"{j['ms_per_iteration_1']} vs {j[many[0]]}",
                    "-", None))
    return out


def rows_surrogate(r: dict) -> list[Row]:
    names = {"cg": "our CG", "direct": "SciPy direct", "amg": "pyamg"}
    out: list[Row] = []
    for k in r.get("sizes", []):
        ms = k["ms_per_sample"]
        solver, fno = k["fastest_solver"], k["fastest_fno"]
        out.append((f"surrogate s={k['s']}: fastest solver (at discretisation error) / FNO x4 "
                    "(untrained; best of torch, OpenVINO) per sample",
                    f"{k['speedup']:.2f}x ({names.get(solver, solver)} {ms[solver]:.3g} ms vs "
                    f"{fno.replace('_', ' ')} {ms[fno]:.3g} ms)"
                    + ("" if k["speedup"] > 1 else ": never"), "> 1x", k["speedup"] > 1))
        ovt = k.get("openvino_vs_torch")
        if ovt:
            out.append((f"surrogate s={k['s']}: OpenVINO / torch speed (batched, single)",
                        f"{ovt['batched']:.2f}x, {ovt['single']:.2f}x", ">= 1.5x",
                        min(ovt.values()) >= 1.5))
    return out


def rows_fno_library(r: dict) -> list[Row]:
    """Our FNO / neuraloperator's ("ours/neuralop": per field and pair of models): the
    test error per seed, then training and inference time (medians over the seeds)."""
    out: list[Row] = []
    grid = _get(r, "settings", "grid")
    for kind, per_pair in (r.get("ratios") or {}).items():
        errs = {(x["model"], x["seed"]): x["error_mean"] for x in r.get("runs", [])
                if x["kind"] == kind}
        for pair, q in per_pair.items():
            mine, lib = pair.split("/")
            both = [f"{errs[(mine, s)] * 100:.2f}/{errs[(lib, s)] * 100:.2f}%"
                    for s in q["seeds"] if (mine, s) in errs and (lib, s) in errs]
            out.append((f"FNO s={grid} {kind}: {mine} / {lib} test error, per seed",
                        ", ".join(f"{v:.2f}x" for v in q["error_mean"]["per_seed"])
                        + (f" ({', '.join(both)})" if both else ""), "-", None))
            out.append((f"  {mine} / {lib} time: per epoch, per sample batched, single",
                        ", ".join(f"{q[k]['median']:.2f}x" for k in (
                            "seconds_per_epoch", "ms_batched", "ms_single")), "-", None))
    return out


def rows_fno_paper(r: dict) -> list[Row]:
    t, d = r["test_error"], r["data"]
    setting = (f"N = {r['n_train']}, {r['epochs']} of the paper's 500 epochs"
               + ("" if r["full"] else ", reduced"))
    est = r["full_cost_estimate_seconds"]
    curve = ", ".join(f"{c['epoch']}: {100 * c['test']:.2f}%" for c in r["curve"][-4:])
    return [
        (f"FNO paper Darcy preset (s = 85 from 421, {setting}): test rel. L2 "
         f"(paper 1.08%)", f"{100 * t['mean']:.2f}% (95% CI {100 * t['ci95'][0]:.2f}-"
         f"{100 * t['ci95'][1]:.2f}%, {r['n_test']} fields)", "<= 1.5%", r["met"]),
        ("  learning curve (epoch: test error)", curve, "-", None),
        ("  data: per 421^2 solve, total", f"{d['solve_seconds_mean']:.2f} s, "
         f"{d['solve_seconds_total']:.0f} s for {d['solves']}", "-", None),
        ("  training: per epoch, total; parameters",
         f"{r['epoch_seconds']:.1f} s, {r['train_seconds']:.0f} s; {r['parameters']:,}", "-",
         None),
        ("  the full setting (1000 x 500 epochs) here, estimated",
         f"{est['data'] / 3600:.1f} h solves + {est['training'] / 3600:.1f} h training "
         f"({r['threads']} thread(s))", "-", None),
    ]


def rows_placement(r: dict) -> list[Row]:
    out = []
    for site in ("laptop", "slurm"):
        k = r.get(site) or {}
        if "error" in k or not k:
            out.append((f"mixed packing ({site})", "n/a: " + str(k.get("error", ""))[:60],
                        "-", None))
            continue
        out.append((f"mixed packing ({site}): peak cores / units in use",
                    f"{k['peak_cores']}/{k['cores']} cores, {k['peak_units']}/{k['units']} units",
                    "<= capacity", k["peak_cores"] <= k["cores"] and k["peak_units"] <= k["units"]))
        out.append((f"mixed packing ({site}): busy / allocated core-seconds",
                    f"{k['utilisation']:.3f} ({k['busy_core_s']} of {k['cores']} x "
                    f"{k['span_s']} s)", ">= 0.85", k["utilisation"] >= 0.85))
    return out


def rows_small_run(r: dict) -> list[Row]:
    out = [(f"hello-sweep {r['tasks']} tasks on the laptop: wall time",
            f"{r['orch_wall_s']} s (first result {r['orch_first_result_s']} s)", "<= 2 s",
            r["orch_wall_s"] <= 2)]
    if "ratio" in r:
        out.append(("  the same DAG: orch / Snakemake wall time",
                    f"{r['ratio']:.3f}x ({r['orch_wall_s']} s vs {r['snakemake_wall_s']} s)",
                    "<= 1x", r["ratio"] <= 1))
    return out


def rows_files(r: dict) -> list[Row]:
    out = []
    names = {"processes": "laptop", "htex": "HTEX", "threads": "threads"}
    smk = r.get("snakemake")
    for kind, label in names.items():
        k = r.get(f"orch_{kind}")
        if not k:
            continue
        if isinstance(smk, dict):
            out.append((f"files {r['tasks']:,} tasks (read 1, write 1), {label}: orch / "
                        "Snakemake", f"{k['ratio']:.3f}x ({k['wall_s']} s vs "
                        f"{smk['wall_s']} s)", "<= 0.5x", k["ratio"] <= 0.5))
        extra = (f" (+{k['overhead_ms_per_task']} ms over bare bash)"
                 if "overhead_ms_per_task" in k else "")
        out.append((f"  orch per task, {label}", f"{k['ms_per_task']} ms{extra}", "-", None))
    if isinstance(smk, dict):
        extra = (f" (+{smk['overhead_ms_per_task']} ms over bare bash)"
                 if "overhead_ms_per_task" in smk else "")
        out.append(("  Snakemake per task", f"{smk['ms_per_task']} ms{extra}", "-", None))
    elif smk:
        out.append(("files: orch / Snakemake", f"n/a: {smk}"[:70], "<= 0.5x", None))
    return out


def rows_bundles(r: dict) -> list[Row]:
    out = []
    n = f"{r['tasks']:,}"
    for what, label in (("python", "sub-ms Python"), ("shell", "`true` shell")):
        for kind in ("htex", "threads"):
            k = r.get(f"{what}_{kind}")
            if not k:
                continue
            out.append((f"{n} {label} tasks bundled, {kind}: speed-up vs raw Parsl (1 app/task)",
                        f"{k['speedup_vs_parsl']:.2f}x ({k['orch_s']} s vs {k['parsl_s']} s)",
                        ">= 2x", k["speedup_vs_parsl"] >= 2))
            out.append((f"  orch tasks/s ({kind}, whole command)", f"{k['orch_tasks_per_s']:,}",
                        "> 1,500 (RADICAL-Pilot)", k["orch_tasks_per_s"] > 1500))
            if "speedup_vs_xargs" in k:
                out.append((f"  speed-up vs xargs -P {r['workers']} sh -c ({kind})",
                            f"{k['speedup_vs_xargs']:.2f}x ({k['orch_s']} s vs {k['xargs_s']} s)",
                            ">= 1x", k["speedup_vs_xargs"] >= 1))
    m = r.get("million")
    if m:
        out.append((f"{m['tasks']:,} bundled no-op tasks (htex), driver killed, resumed: "
                    "points done twice", f"{m['done_twice']} ({m['done_before_kill']:,} done "
                    f"before the kill at {m['killed_after_s']} s; resume {m['resume_s']} s, "
                    f"driver peak {m.get('driver_peak_mb', '?')} MB)", "0, runs to the end",
                    m["done_twice"] == 0))
    return out


ROWS = {"plan_scale": rows_plan_scale, "status_scale": rows_status_scale, "run_overhead": rows_run_overhead,
        "throughput": rows_throughput, "chain_latency": rows_chain, "resume": rows_resume,
        "kernels": rows_kernels, "halo_exchange": rows_halo, "surrogate": rows_surrogate,
        "fno_library": rows_fno_library, "fno_paper": rows_fno_paper,
        "placement": rows_placement, "small_run": rows_small_run,
        "files": rows_files, "bundles": rows_bundles, "bundles_million": rows_bundles}


def table(rows: list[Row]) -> str:
    cells = [("figure", "value", "target", "")] + [
        (f, v, t, {True: "met", False: "MISSED", None: ""}[m]) for f, v, t, m in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = [" | ".join(c[i].ljust(widths[i]) for i in range(4)).rstrip() for c in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip", nargs="*", default=[], choices=list(BENCHMARKS))
    ap.add_argument("--only", nargs="*", choices=list(BENCHMARKS))
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 repeat (smoke test)")
    ap.add_argument("--json", type=Path, help="also write the JSON lines here")
    args = ap.parse_args()
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    rows: list[Row] = []
    records = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        record, seconds, error = run(name, args.quick)
        print(f"  {name}: {seconds:.0f} s" + (f" FAILED: {error}" if error else ""),
              file=sys.stderr, flush=True)
        if record is None:
            rows.append((name, "failed", "-", False))
            continue
        records.append(record)
        rows.extend(ROWS[name](record))
    print(f"benchmarks {time.strftime('%Y-%m-%d %H:%M %Z')}"
          f"{' (quick: sizes too small to quote)' if args.quick else ''}")
    print(table(rows))
    missed = [r[0] for r in rows if r[3] is False]
    print(f"{sum(r[3] is True for r in rows)} met, {len(missed)} missed")
    for record in records:
        print(json.dumps(record))
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
