"""Status and report at scale: `orch status` and `orch report` of a finished N-task run
against a naive reader of the same journal, in one process run.

The run is synthetic (tests/synthetic_run.py: run.json, plan.json and a journal written
by the journal module's own writer, the records the driver writes, some failures), so
no 10^6 tasks have to execute. The baseline is the least any reader of the journal
pays: `json.loads` of every line and a count of the task states (no CRC check, no
fold). Measured, each as its own process (wall time and peak RSS), interleaved, median
of REPEATS: the naive read; `orch status` cold (no journal index: it folds the whole
journal and writes the index); `orch status` warm (the index is there, as it is after
any status or report); `orch report` (warm). Prints one JSON line.

    python benchmarks/status_scale.py [--tasks 1000000] [--repeats 3] [--keep DIR]
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

NAIVE = textwrap.dedent("""
    import json, resource, sys, time
    t0 = time.perf_counter()
    counts, last = {}, {}
    with open(sys.argv[1] + "/journal.jsonl", "rb") as f:
        for line in f:
            rec = json.loads(line)
            if "task" in rec:
                last[rec["task"]] = rec["ev"]
    for ev in last.values():
        counts[ev] = counts.get(ev, 0) + 1
    dt = time.perf_counter() - t0
    print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

ORCH = textwrap.dedent("""
    import contextlib, io, json, os, resource, sys, time
    t0 = time.perf_counter()
    from orchestrator.cli.app import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main([sys.argv[2], sys.argv[1]] + sys.argv[3:])
    assert rc == 0, out.getvalue()[-2000:]
    dt = time.perf_counter() - t0
    print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "out": out.getvalue()[-3000:]}))
""")


def measure(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--failed", type=int, default=20)
    ap.add_argument("--keep", type=Path, help="make (or reuse) the synthetic run here")
    args = ap.parse_args()
    from synthetic_run import make_run

    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp) / "run"
        if not (run / ".synthetic").is_file() or not _has(run, args.tasks):
            make_run(run, args.tasks, args.failed)
        index = run / "journal.index"
        report = Path(tmp) / "report.html"
        sides: dict[str, list[dict]] = {"naive": [], "status_cold": [], "status_warm": [],
                                        "report": []}
        for _ in range(args.repeats):  # interleaved
            sides["naive"].append(measure(NAIVE, str(run)))
            index.unlink(missing_ok=True)
            sides["status_cold"].append(measure(ORCH, str(run), "status"))
            sides["status_warm"].append(measure(ORCH, str(run), "status"))
            sides["report"].append(measure(ORCH, str(run), "report", "-o", str(report)))
        size = report.stat().st_size
        text = sides["status_warm"][0]["out"]
    med = {k: statistics.median(r["s"] for r in v) for k, v in sides.items()}
    peak = {k: round(max(r["rss_mb"] for r in v)) for k, v in sides.items()}
    result = {"benchmark": "status_scale", "tasks": args.tasks, "repeats": args.repeats,
              **{f"{k}_s": round(v, 3) for k, v in med.items()},
              **{f"{k}_peak_mb": v for k, v in peak.items()},
              **{f"{k}_ratio": round(med[k] / med["naive"], 2)
                 for k in ("status_cold", "status_warm", "report")},
              "report_kb": round(size / 1024), "status_text_tail": text[-400:],
              "all_s": {k: [round(r["s"], 3) for r in v] for k, v in sides.items()}}
    print(json.dumps(result))


def _has(run: Path, tasks: int) -> bool:
    try:
        return json.loads((run / "run.json").read_text())["sets"]["n"] == str(tasks)
    except (OSError, ValueError, KeyError):
        return False


if __name__ == "__main__":
    main()
