"""A small run on the laptop, as a user runs it: hello-sweep with 8 no-op tasks plus its
fan-in, whole-command wall time and time to the first task's result, against the same DAG
in Snakemake (8 shell jobs + a gather rule, `--cores 2`: its quickest form) in the same run,
interleaved, median.

Snakemake is installed on first use into its own virtualenv (`common.snakemake`:
SNAKEMAKE_VENV, default ~/.cache/orch-bench/snakemake; pinned as in ../shared/peers);
without network the Snakemake side is reported as missing.

    python benchmarks/small_run.py [--tasks 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = """\
N = int(config.get("ntasks", 8))

rule all:
    input: "gather.txt"

rule work:
    output: "out/{i}.txt"
    shell: "echo $(( {wildcards.i} * {wildcards.i} )) > {output}"

rule gather:
    input: expand("out/{i}.txt", i=range(N))
    output: "gather.txt"
    shell: "cat {input} | awk '{{s += $1}} END {{print s}}' > {output}"
"""
# Shell rules: Snakemake's fastest form here. The same DAG with `run:` (Python) rules took
# 11.3 s (each such job starts a Snakemake subprocess that parses the workflow again).


def orch_once(tmp: Path, k: int, tasks: int) -> tuple[float, float]:
    run_dir = tmp / f"orch-{k}"
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "orchestrator", "run",
                    str(REPO / "workflows/hello-sweep/workflow.yaml"), "--site", "laptop",
                    "--set", f"n={tasks}", "--set", "seconds=0", "-q", "--run-dir",
                    str(run_dir)], check=True, capture_output=True)
    wall = time.time() - t0
    sys.path.insert(0, str(REPO))
    from orchestrator.state.results import results_by_task

    first = min(r["ended"] for r in results_by_task(run_dir).values())
    return wall, first - t0


def snakemake_once(exe: Path, tmp: Path, k: int, tasks: int) -> tuple[float, float]:
    work = tmp / f"smk-{k}"
    work.mkdir()
    (work / "Snakefile").write_text(SNAKEFILE)
    t0 = time.time()
    subprocess.run([str(exe), "--cores", "2", "--quiet", "--config", f"ntasks={tasks}"],
                   cwd=work, check=True, capture_output=True)
    wall = time.time() - t0
    first = min(p.stat().st_mtime for p in (work / "out").iterdir())
    return wall, first - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    exe = common.snakemake()
    orch, smk = [], []
    with tempfile.TemporaryDirectory(prefix="orch-bench-small-") as tmp:
        for k in range(args.repeats):
            sides = [lambda k=k: orch.append(orch_once(Path(tmp), k, args.tasks))]
            if exe is not None:
                sides.append(lambda k=k: smk.append(snakemake_once(exe, Path(tmp), k,
                                                                   args.tasks)))
            for side in (sides if k % 2 == 0 else sides[::-1]):
                side()
    med = statistics.median
    out = {"benchmark": "small_run", "tasks": args.tasks, "repeats": args.repeats,
           "orch_wall_s": round(med(w for w, _ in orch), 2),
           "orch_first_result_s": round(med(f for _, f in orch), 2),
           "orch_all_s": [round(w, 2) for w, _ in orch]}
    if smk:
        out.update(snakemake_wall_s=round(med(w for w, _ in smk), 2),
                   snakemake_first_result_s=round(med(f for _, f in smk), 2),
                   ratio=round(out["orch_wall_s"] / med(w for w, _ in smk), 3))
    else:
        out["snakemake"] = f"not installed ({common.SNAKEMAKE_VENV})"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
