"""Planning scale: validate + plan an N-point sweep vs a naive baseline, in one process run.

The baseline is what a hand-rolled script does: itertools expansion of the
same sweep into task dicts plus a topological sort of the task graph. Each
size runs in a fresh subprocess (so peak RSS is per measurement), interleaved
A/B, median of REPEATS. `--big N` adds one size measured BIG_REPEATS times (the naive
side at 10^7 holds ~5 GB), and for it the whole `orch plan` command as a user runs it
(text output, aggregated: stages, the first tasks of each, totals), wall time and peak
RSS. Prints one JSON line.

    python benchmarks/plan_scale.py [--sizes 100000 1000000] [--repeats 5]
        [--big 10000000] [--big-repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SPEC = """\
apiVersion: orchestrator/v1
name: scale
params:
  n: 1000
stages:
  work:
    python: m:f
    args: {i: "${sweep.i}", k: "${sweep.k}"}
    sweep:
      mode: zip
      values:
        i: {start: 0, stop: "${params.n}", step: 1}
        k: {start: 0.0, stop: 1.0, num: "${params.n}"}
  gather:
    python: m:g
    needs: [work]
"""

ORCH = textwrap.dedent("""
    import json, resource, sys, time
    t0 = time.perf_counter()
    from orchestrator.spec.load import load_spec
    from orchestrator.site.load import load_site
    from orchestrator.plan.build import build_plan
    plan = build_plan(load_spec(sys.argv[1], {"n": sys.argv[2]}), load_site("laptop"))
    assert plan.task_count == int(sys.argv[2]) + 1
    dt = time.perf_counter() - t0
    print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

NAIVE = textwrap.dedent("""
    import json, resource, sys, time, itertools
    from graphlib import TopologicalSorter
    t0 = time.perf_counter()
    import yaml
    spec = yaml.safe_load(open(sys.argv[1]))
    n = int(sys.argv[2])
    ks = [i / (n - 1) for i in range(n)]
    tasks = [{"id": f"work[{i}]", "args": {"i": i, "k": k}} for i, k in zip(range(n), ks)]
    graph = {t["id"]: () for t in tasks}
    graph["gather"] = tuple(t["id"] for t in tasks)
    order = list(TopologicalSorter(graph).static_order())
    assert len(order) == n + 1
    dt = time.perf_counter() - t0
    print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


CLI = textwrap.dedent("""
    import contextlib, io, json, os, resource, sys, time
    t0 = time.perf_counter()
    from orchestrator.cli.app import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["plan", sys.argv[1], "--site", "laptop", "--set", f"n={sys.argv[2]}",
                   "--runs", os.devnull])
    assert rc == 0 and "total" in out.getvalue(), out.getvalue()[-2000:]
    dt = time.perf_counter() - t0
    print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "lines": out.getvalue().count("\\n")}))
""")


def measure(code: str, spec: Path, n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(spec), str(n)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--big", type=int, default=10_000_000, help="0: none")
    ap.add_argument("--big-repeats", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "scale.yaml"
        spec.write_text(SPEC)
        results = {}
        plans = [(n, args.repeats) for n in args.sizes]
        if args.big:
            plans.append((args.big, args.big_repeats))
        for n, repeats in plans:
            orch, naive = [], []
            for _ in range(repeats):  # interleaved A/B
                orch.append(measure(ORCH, spec, n))
                naive.append(measure(NAIVE, spec, n))
            o = statistics.median(r["s"] for r in orch)
            b = statistics.median(r["s"] for r in naive)
            results[str(n)] = {
                "orch_s": round(o, 3), "naive_s": round(b, 3), "ratio": round(o / b, 4),
                "orch_peak_mb": round(max(r["rss_mb"] for r in orch)),
                "naive_peak_mb": round(max(r["rss_mb"] for r in naive)),
            }
        if args.big:
            cli = [measure(CLI, spec, args.big) for _ in range(args.big_repeats)]
            results["cli"] = {"tasks": args.big,
                              "s": round(statistics.median(r["s"] for r in cli), 3),
                              "peak_mb": round(max(r["rss_mb"] for r in cli)),
                              "lines": cli[0]["lines"]}
        sizes = sorted(args.sizes)
        if len(sizes) > 1:
            lo, hi = results[str(sizes[0])], results[str(sizes[-1])]
            results["growth"] = round(hi["orch_s"] / lo["orch_s"] / (sizes[-1] / sizes[0]), 2)
    print(json.dumps({"benchmark": "plan_scale", "repeats": args.repeats,
                      "big_repeats": args.big_repeats, **results}))


if __name__ == "__main__":
    main()
