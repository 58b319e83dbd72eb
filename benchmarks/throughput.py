"""Throughput: `orch run` tasks/s against Parsl's own `parsl-perf` on the same executor.

parsl-perf (the console script of the installed Parsl) runs one iteration of N
no-op tasks (`--iterate N`) on a config file holding `common.parsl_config`, and
reports tasks/s from its first submission to its last completion, the DFK
already loaded. The orch figure is timed the same way, from its journal: first
`task_submitted` to last `task_done` (planning, Parsl start-up and shutdown
excluded on both sides); the whole-command rate is reported beside it. Each side a
fresh process, interleaved, median of REPEATS, once per executor. Prints one JSON
line.

    python benchmarks/throughput.py [--tasks 5000] [--repeats 5] [--executors htex threads]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import common

CONFIG = """\
from common import parsl_config
config = parsl_config({kind!r}, {workers}, {run_dir!r})
"""


def parsl_perf() -> list[str]:
    exe = Path(sys.executable).parent / "parsl-perf"
    if exe.exists() or shutil.which("parsl-perf"):
        return [str(exe) if exe.exists() else "parsl-perf"]
    return [sys.executable, "-m", "parsl.benchmark.perf"]


def measure(kind: str, tasks: int, repeats: int, workers: int, tmp: Path) -> dict:
    orch, orch_cmd_rate, perf = [], [], []
    for k in range(repeats):
        def run_orch(k=k):
            run_dir = tmp / f"orch-{kind}-{k}"
            wall, _ = common.run(common.orch_cmd(
                "noop.yaml", "--site", common.site_for(kind), "--set", f"n={tasks}", "-q",
                "--run-dir", str(run_dir)), tmp)
            done, seconds = common.task_phase(run_dir)
            assert done == tasks, f"{done} of {tasks} tasks done"
            orch.append(tasks / seconds)
            orch_cmd_rate.append(tasks / wall)

        def run_perf(k=k):
            cfg = tmp / f"perf_{kind}_{k}.py"
            cfg.write_text(CONFIG.format(kind=kind, workers=workers,
                                         run_dir=str(tmp / f"perf-{kind}-{k}")))
            _, out = common.run([*parsl_perf(), "--config", str(cfg), "--iterate", str(tasks),
                                 "--time", "1"], tmp)
            rates = re.findall(r"Tasks per second: ([0-9.]+)", out)
            assert rates, out[-2000:]
            perf.append(float(rates[-1]))

        for f in ((run_orch, run_perf) if k % 2 == 0 else (run_perf, run_orch)):
            f()
    o, p = common.median(orch), common.median(perf)
    return {"orch_tasks_per_s": round(o, 1), "parsl_perf_tasks_per_s": round(p, 1),
            "ratio": round(o / p, 3),
            "orch_whole_command_tasks_per_s": round(common.median(orch_cmd_rate), 1),
            "orch_all": [round(x, 1) for x in orch], "parsl_perf_all": [round(x, 1) for x in perf]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--executors", nargs="+", choices=common.EXECUTORS,
                    default=list(common.EXECUTORS))
    args = ap.parse_args()
    workers = common.workers()
    out = {"benchmark": "throughput", "tasks": args.tasks, "workers": workers,
           "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common.prepare(tmp)
        for kind in args.executors:
            out[kind] = measure(kind, args.tasks, args.repeats, workers, tmp)
    common.emit(out)


if __name__ == "__main__":
    main()
