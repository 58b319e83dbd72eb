"""Chain latency: a chain of HOPS no-op tasks, each waiting on the one before, through
`orch run` against raw Parsl (dependency passed as a future) on the same executor.

Per hop = (end of the last task - end of the first) / (HOPS - 1), from the worker's
own clock (orch: the journaled `ended`; raw: the task returns time.time()), so
start-up is excluded and what remains is dependency resolution, dispatch and the
task itself. Each side a fresh process, interleaved, median of REPEATS, once per
executor. Prints one JSON line.

    python benchmarks/chain_latency.py [--hops 200] [--repeats 5] [--executors htex threads]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import common

RAW = """\
import sys, parsl
from parsl.app.app import python_app
from common import load
kind, hops, workers, run_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
dfk = load(kind, workers, run_dir)
def hop(prev=None):
    import time
    return time.time()
app = python_app(hop, executors=["cpu"])
futs = [app()]
for _ in range(hops - 1):
    futs.append(app(futs[-1]))
ends = [f.result() for f in futs]
dfk.cleanup()
print((ends[-1] - ends[0]) / (hops - 1))
"""


def chain_spec(hops: int) -> str:
    lines = ["apiVersion: orchestrator/v1", "name: chain", "stages:"]
    for k in range(hops):
        lines += [f"  s{k}:", "    python: noop:hop"]
        if k:
            lines.append(f"    needs: [s{k - 1}]")
    return "\n".join(lines) + "\n"


def orch_per_hop(run_dir: Path, hops: int) -> float:
    ended = {e["task"]: e["ended"] for e in common.journal(run_dir) if e["ev"] == "task_done"}
    assert len(ended) == hops, f"{len(ended)} of {hops} tasks done"
    return (ended[f"s{hops - 1}"] - ended["s0"]) / (hops - 1)


def measure(kind: str, hops: int, repeats: int, workers: int, tmp: Path) -> dict:
    orch, raw, quiet = [], [], []  # quiet: raw Parsl with its log at orch's level (WARNING)
    for k in range(repeats):
        def run_orch(k=k):
            run_dir = tmp / f"orch-{kind}-{k}"
            common.run(common.orch_cmd("chain.yaml", "--site", common.site_for(kind), "-q",
                                       "--run-dir", str(run_dir)), tmp)
            orch.append(orch_per_hop(run_dir, hops))

        def run_raw(k=k, into=raw, extra=None, tag="raw"):
            _, out = common.run([sys.executable, "raw_chain.py", kind, str(hops), str(workers),
                                 f"{tag}-{kind}-{k}"], tmp, extra)
            into.append(float(out.strip().splitlines()[-1]))

        sides = [run_orch, run_raw,
                 lambda k=k: run_raw(k, quiet, common.QUIET_RAW, "quiet")]
        shift = k % len(sides)
        for f in sides[shift:] + sides[:shift]:  # rotate who goes first
            f()
    o, r, q = common.median(orch), common.median(raw), common.median(quiet)
    return {"orch_ms_per_hop": round(o * 1e3, 3), "parsl_ms_per_hop": round(r * 1e3, 3),
            "ratio": round(o / r, 3), "parsl_quiet_ms_per_hop": round(q * 1e3, 3),
            "ratio_same_log": round(o / q, 3),
            "parsl_quiet_all_ms": [round(x * 1e3, 3) for x in quiet],
            "orch_all_ms": [round(x * 1e3, 3) for x in orch],
            "parsl_all_ms": [round(x * 1e3, 3) for x in raw]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hops", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--executors", nargs="+", choices=common.EXECUTORS,
                    default=list(common.EXECUTORS))
    args = ap.parse_args()
    workers = common.workers()
    out = {"benchmark": "chain_latency", "hops": args.hops, "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common.prepare(tmp)
        with open(tmp / "noop.py", "a") as f:
            f.write("\n\ndef hop():\n    return 0\n")
        (tmp / "chain.yaml").write_text(chain_spec(args.hops))
        (tmp / "raw_chain.py").write_text(RAW)
        for kind in args.executors:
            out[kind] = measure(kind, args.hops, args.repeats, workers, tmp)
    common.emit(out)


if __name__ == "__main__":
    main()
