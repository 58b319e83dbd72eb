"""Files through a sweep (issue 15): N tasks that each write one file, and N tasks that each
read the file of the matching upstream task and write one, as `orch run` and as the same
DAG in Snakemake, on this machine, in the same run.

orch: stage `make` (`echo i > a.txt`, outputs {a: a.txt}) and stage `use` (`tr 0-9 a-j <
${stages.make.outputs.a} > b.txt`), both swept over i = 0..N-1, so each `use` task gets
the file of the `make` task at its own i, staged into its task directory. Snakemake: rule
`make` (output make/{i}/a.txt), rule `use` (input make/{i}/a.txt, output use/{i}/b.txt),
rule `all`; shell rules, its fastest form (see SNAKEMAKE_FLAGS for the flags and why).
The floor: the same 2N bash commands, two at a time, from a minimal Python loop (no DAG,
no records); `overhead_ms_per_task` = (wall - floor) / 2N.

Each side is a fresh process, whole-command wall time (start-up included), the order of
the sides rotated between repeats, median. Every run's outputs are checked: all N a.txt
and b.txt exist with the right contents. Prints one JSON line.

    python benchmarks/files.py [--tasks 1000] [--repeats 3] [--executors processes htex]
    python benchmarks/files.py --dry [--keep DIR]   # write the specs, plan both, run nothing

`--form direct` runs the orch side without references: `use` reads
`../make[i]/a.txt` by hand and `needs: [make]` is then a stage-level fan-in (every
`use` task waits for all of `make`); for comparison with the form before issue 15.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

REPO = common.HERE.parent

_DAG = """\
apiVersion: orchestrator/v1
name: files-bench
params: {{n: {n}}}
stages:
  make:
    sweep: {{values: {{i: {{start: 0, stop: "${{params.n}}", step: 1}}}}}}
    shell: "echo ${{sweep.i}} > a.txt"
    outputs: OUT_A
  use:
    needs: [make]
    sweep: {{values: {{i: {{start: 0, stop: "${{params.n}}", step: 1}}}}}}
    shell: "tr 0-9 a-j < READ > b.txt"
    outputs: OUT_B
"""
# The staged form reads the upstream file by reference; the direct form is the same DAG
# before references: a hand-written path into the upstream task's directory.
SPEC = (_DAG.replace("OUT_A", "{{a: a.txt}}").replace("OUT_B", "{{b: b.txt}}")
        .replace("READ", "${{stages.make.outputs.a}}"))
SPEC_DIRECT = (_DAG.replace("OUT_A", "[a.txt]").replace("OUT_B", "[b.txt]")
               .replace("READ", "../make[${{sweep.i}}]/a.txt"))

SNAKEFILE = """\
N = int(config.get("ntasks", 1000))

rule all:
    input: expand("use/{i}/b.txt", i=range(N))

rule make:
    output: "make/{i}/a.txt"
    shell: "echo {wildcards.i} > {output}"

rule use:
    input: "make/{i}/a.txt"
    output: "use/{i}/b.txt"
    shell: "tr 0-9 a-j < {input} > {output}"
"""

# Snakemake as a user who wants speed runs it, `--cores 2` (this machine). One run each at
# N = 1,000 on this machine (docs/benchmarks.md): `--quiet` 82 s, + `--nolock` and
# `--max-jobs-per-timespan` 82 s, + `--scheduler greedy` 27 s, + `--drop-metadata` 19 s.
#   --quiet        no per-job log lines on the terminal (P2 of ../shared/peers runs it so);
#   --nolock       no lock files for the working directory (one run at a time here);
#   --max-jobs-per-timespan 10000/1s   the default 100/1s also throttles local jobs;
#   --scheduler greedy   the default ILP job selection is solved every scheduling round;
#   --drop-metadata      no .snakemake/metadata record per output file (costs Snakemake
#                  its params/code rerun triggers and its report; its mtime trigger stays).
SNAKEMAKE_FLAGS = ["--cores", "2", "--quiet", "--nolock", "--max-jobs-per-timespan", "10000/1s",
                   "--scheduler", "greedy", "--drop-metadata"]

FLOOR = """\
import os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
n = int(sys.argv[1])
def sh(cmd, cwd):
    os.makedirs(cwd, exist_ok=True)
    subprocess.run(["bash", "-c", cmd], cwd=cwd, check=True)
with ThreadPoolExecutor(2) as pool:
    list(pool.map(lambda i: sh(f"echo {i} > a.txt", f"make/{i}"), range(n)))
    list(pool.map(lambda i: sh(f"tr 0-9 a-j < ../../make/{i}/a.txt > b.txt", f"use/{i}"),
                  range(n)))
"""

SITES = {"processes": str(REPO / "site-configs/laptop.yaml"),
         "htex": str(REPO / "tests/fixtures/sites/laptop-htex.yaml"),
         "threads": "threads.yaml"}

CODE = str.maketrans("0123456789", "abcdefghij")


def check(n: int, a_of, b_of) -> None:
    """Every a.txt says i, every b.txt says i in letters; else the run does not count."""
    for i in range(n):
        a, b = Path(a_of(i)), Path(b_of(i))
        if a.read_text() != f"{i}\n" or b.read_text() != f"{i}\n".translate(CODE):
            raise SystemExit(f"wrong output at i={i}: {a} / {b}")


def orch_side(kind: str, tmp: Path, n: int, k: int) -> dict:
    from orchestrator.state.results import results_by_task
    from orchestrator.state.rundir import task_dirname

    run_dir = tmp / f"orch-{kind}-{k}"
    wall, _ = common.run(common.orch_cmd("wf.yaml", "--site", SITES[kind], "-q", "--run-dir",
                                         str(run_dir)), tmp)
    tasks = run_dir / "tasks"
    check(n, lambda i: tasks / task_dirname(f"make[{i}]") / "a.txt",
          lambda i: tasks / task_dirname(f"use[{i}]") / "b.txt")
    records = results_by_task(run_dir)
    if len(records) != 2 * n:
        raise SystemExit(f"{run_dir}: {len(records)} result records, expected {2 * n}")
    _, phase = common.task_phase(run_dir)
    staged = [p for p in (tasks / task_dirname("use[0]")).rglob("*") if p.name == "a.txt"]
    return {"wall": wall, "task_phase": phase,
            "staged": "link" if staged and staged[0].is_symlink() else
                      "copy" if staged else "none",
            "task_run": sum(r["ended"] - r["started"] for r in records.values())}


def snakemake_side(exe: Path, tmp: Path, n: int, k: int) -> dict:
    work = tmp / f"smk-{k}"
    work.mkdir()
    (work / "Snakefile").write_text(SNAKEFILE)
    wall, _ = common.run([str(exe), *SNAKEMAKE_FLAGS, "--config", f"ntasks={n}"], work)
    check(n, lambda i: work / f"make/{i}/a.txt", lambda i: work / f"use/{i}/b.txt")
    return {"wall": wall}


def floor_side(tmp: Path, n: int, k: int) -> dict:
    work = tmp / f"floor-{k}"
    work.mkdir()
    wall, _ = common.run([sys.executable, str(tmp / "floor.py"), str(n)], work)
    check(n, lambda i: work / f"make/{i}/a.txt", lambda i: work / f"use/{i}/b.txt")
    return {"wall": wall}


def prepare(tmp: Path, n: int, form: str) -> None:
    (tmp / "wf.yaml").write_text((SPEC if form == "staged" else SPEC_DIRECT).format(n=n))
    (tmp / "Snakefile").write_text(SNAKEFILE)
    (tmp / "floor.py").write_text(FLOOR)
    (tmp / "threads.yaml").write_text(common.THREADS_SITE)


def dry(tmp: Path, n: int, kinds: list[str], exe: Path | None) -> dict:
    """Plan both sides without running a task: the spec must plan to 2N tasks, the Snakefile
    must dry-run."""
    out: dict = {"benchmark": "files", "dry": True, "tasks": 2 * n}
    for kind in kinds:
        proc = subprocess.run([sys.executable, "-m", "orchestrator", "plan", "wf.yaml", "--site",
                               SITES[kind], "--format", "json"], cwd=tmp, capture_output=True,
                              text=True, env=common.env())
        if proc.returncode != 0:
            out[f"orch_{kind}"] = {"error": proc.stderr.strip()[-1500:]}
            continue
        plan = json.loads(proc.stdout)
        out[f"orch_{kind}"] = {"planned_tasks": plan["summary"]["tasks"],
                               "needs_per_use_task": len(plan["tasks"][-1]["needs"])}
    if exe is None:
        out["snakemake"] = f"not installed ({common.SNAKEMAKE_VENV})"
    else:
        proc = subprocess.run([str(exe), "-n", "--cores", "2", "--config", f"ntasks={n}"],
                              cwd=tmp, capture_output=True, text=True)
        jobs = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith("total")]
        out["snakemake"] = ({"jobs": int(jobs[0][1]) if jobs else None}
                            if proc.returncode == 0 else {"error": proc.stderr[-1500:]})
    out["commands"] = {
        "orch": "orch run wf.yaml --site SITE -q --run-dir DIR",
        "snakemake": " ".join(["snakemake", *SNAKEMAKE_FLAGS, "--config", f"ntasks={n}"]),
        "floor": f"python floor.py {n}"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000, help="points per stage (2N tasks)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--executors", nargs="+", choices=list(SITES),
                    default=["processes", "htex"])
    ap.add_argument("--form", choices=["staged", "direct"], default="staged")
    ap.add_argument("--no-floor", action="store_true", help="skip the bare-bash floor")
    ap.add_argument("--dry", action="store_true", help="write and plan both sides, run nothing")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args()
    n = args.tasks
    exe = common.snakemake()
    with tempfile.TemporaryDirectory(prefix="orch-bench-files-") as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        if any(tmp.iterdir()):
            raise SystemExit(f"--keep {tmp}: not empty (each run needs fresh run directories)")
        tmp = tmp.resolve()
        prepare(tmp, n, args.form)
        if args.dry:
            out = dry(tmp, n, args.executors, exe)
            common.emit(out)
            if any(isinstance(v, dict) and "error" in v for v in out.values()):
                raise SystemExit(1)
            return
        sides = {f"orch_{kind}": (lambda k, kind=kind: orch_side(kind, tmp, n, k))
                 for kind in args.executors}
        if exe is not None:
            sides["snakemake"] = lambda k: snakemake_side(exe, tmp, n, k)
        if not args.no_floor:
            sides["floor"] = lambda k: floor_side(tmp, n, k)
        names = list(sides)
        runs: dict[str, list[dict]] = {name: [] for name in names}
        t0 = time.time()
        for k in range(args.repeats):
            for name in names[k % len(names):] + names[:k % len(names)]:  # rotate who goes first
                print(f"  files: repeat {k}, {name} ...", file=sys.stderr, flush=True)
                runs[name].append(sides[name](k))
        out = summarise(runs, n, args, exe)
        out["seconds"] = round(time.time() - t0, 1)
    common.emit(out)


def summarise(runs: dict[str, list[dict]], n: int, args, exe: Path | None) -> dict:
    med = common.median
    tasks = 2 * n
    out: dict = {"benchmark": "files", "tasks": tasks, "points": n, "repeats": args.repeats,
                 "form": args.form, "snakemake_flags": " ".join(SNAKEMAKE_FLAGS)}
    if exe is None:
        out["snakemake"] = f"not installed ({common.SNAKEMAKE_VENV})"
    walls = {name: med(r["wall"] for r in rs) for name, rs in runs.items()}
    floor = walls.get("floor")
    for name, rs in runs.items():
        w = walls[name]
        d = {"wall_s": round(w, 2), "ms_per_task": round(w / tasks * 1e3, 2),
             "all_s": [round(r["wall"], 2) for r in rs]}
        if floor is not None and name != "floor":
            d["overhead_ms_per_task"] = round((w - floor) / tasks * 1e3, 2)
        if "task_phase" in rs[0]:
            d["task_phase_s"] = round(med(r["task_phase"] for r in rs), 2)
            d["task_run_s"] = round(med(r["task_run"] for r in rs), 2)
            d["staged"] = rs[0]["staged"]
        if "snakemake" in walls and name.startswith("orch_"):
            d["ratio"] = round(w / walls["snakemake"], 3)
        out[name] = d
    return out


if __name__ == "__main__":
    main()
