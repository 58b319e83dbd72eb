"""Shared pieces of the run benchmarks: the no-op workflow, the raw-Parsl configuration that
mirrors what `orch run` builds for a local pool, and interleaved timing of commands.

The raw side must run on the *same* executor as `orch`: `parsl_config` repeats the
settings of `orchestrator/backends/parsl/executors.py` for a local site (address,
workers, heartbeats, poll period, one block, strategy "simple", Parsl's default
logging to run_dir/parsl.log). Kept in one place so every benchmark compares alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

NOOP_SPEC = """\
apiVersion: orchestrator/v1
name: noop
params:
  n: 100
stages:
  noop:
    python: noop:noop
    args: {i: "${sweep.i}"}
    sweep: {values: {i: {start: 0, stop: "${params.n}", step: 1}}}
"""

NOOP_PY = "def noop(i):\n    return {'i': i}\n"

THREADS_SITE = """\
apiVersion: orchestrator/v1
kind: site
name: threads
description: the laptop's cpu pool on Parsl's ThreadPoolExecutor
scheduler: local
pools:
  cpu:
    device: cpu
    cores_per_node: auto
    executor: threads
"""

EXECUTORS = ("htex", "threads")

# Snakemake, for the benchmarks that compare with it: its own virtualenv, pinned as in
# ../shared/peers (setup.sh), installed on first use.
SNAKEMAKE_VERSION = "9.27.1"
SNAKEMAKE_VENV = Path(os.environ.get("SNAKEMAKE_VENV",
                                     Path.home() / ".cache/orch-bench/snakemake"))


def parsl_config(kind: str, workers: int, run_dir: str):
    """The Parsl Config `orch run` would build for the laptop's cpu pool."""
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor, ThreadPoolExecutor
    from parsl.providers import LocalProvider

    if kind == "threads":
        executor = ThreadPoolExecutor(label="cpu", max_threads=workers)
    else:
        executor = HighThroughputExecutor(
            label="cpu", address="127.0.0.1", loopback_address="127.0.0.1",
            max_workers_per_node=workers, cores_per_worker=1, heartbeat_period=2,
            heartbeat_threshold=10, poll_period=10,
            worker_logdir_root=f"{run_dir}/workers",
            provider=LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1))
    return Config(executors=[executor], run_dir=run_dir, strategy="simple",
                  strategy_period=0.5, usage_tracking=0, initialize_logging=True)


RAW_LOG_ENV = "BENCH_RAW_PARSL_LOG"
QUIET_RAW = {RAW_LOG_ENV: "warning"}  # raw Parsl with its log at orch's default level


def load(kind: str, workers: int, run_dir: str):
    """`parsl.load` of `parsl_config`; its logger at BENCH_RAW_PARSL_LOG's level when set
    (Parsl's default is DEBUG; `orch run` keeps WARNING: backends/parsl/log_level.py), so
    that raw Parsl can be measured as a user gets it and with the log orch keeps."""
    import logging

    import parsl

    dfk = parsl.load(parsl_config(kind, workers, run_dir))
    level = os.environ.get(RAW_LOG_ENV)
    if level:
        logging.getLogger("parsl").setLevel(getattr(logging, level.upper()))
    return dfk


def workers() -> int:
    from orchestrator.backends.parsl.executors import workers_per_node
    from orchestrator.site.load import load_site

    return workers_per_node(load_site("laptop").site.pools["cpu"])


def prepare(tmp: Path) -> None:
    """The no-op workflow and the threads site in `tmp`."""
    (tmp / "noop.yaml").write_text(NOOP_SPEC)
    (tmp / "noop.py").write_text(NOOP_PY)
    (tmp / "threads.yaml").write_text(THREADS_SITE)


def site_for(kind: str) -> str:
    """The site whose cpu pool runs on `kind` (the raw side uses the same executor)."""
    if kind == "threads":
        return "threads.yaml"
    return str(HERE.parent / "tests/fixtures/sites/laptop-htex.yaml")


def env() -> dict[str, str]:
    """This interpreter's scripts first on PATH (HTEX starts `interchange.py` by name), and
    this directory importable (raw scripts import `common`)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    py = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PATH": path, "PYTHONPATH": py}


def run(cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall time and stdout of a command that must succeed."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                         env={**env(), **(extra_env or {})})
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} failed ({out.returncode}): {out.stderr[-3000:]}")
    return dt, out.stdout


def orch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator", "run", *args]


def journal(run_dir: Path) -> list[dict]:
    from orchestrator.state.journal import read_journal

    return list(read_journal(run_dir / "journal.jsonl"))


def task_phase(run_dir: Path) -> tuple[int, float]:
    """Tasks done and seconds from the first submission to the last completion (what
    parsl-perf times), from the run's journal."""
    events = journal(run_dir)
    first = min(e["ts"] for e in events if e["ev"] == "task_submitted")
    done = [e for e in events if e["ev"] == "task_done"]
    return len(done), max(e["ts"] for e in done) - first


def snakemake() -> Path | None:
    """The pinned Snakemake's executable, installed into SNAKEMAKE_VENV (default
    ~/.cache/orch-bench/snakemake) on first use; None when that fails (no network)."""
    exe = SNAKEMAKE_VENV / "bin" / "snakemake"
    if exe.exists():
        return exe
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SNAKEMAKE_VENV)], check=True)
        subprocess.run([str(SNAKEMAKE_VENV / "bin/pip"), "install", "--quiet",
                        f"snakemake=={SNAKEMAKE_VERSION}"], check=True, timeout=900)
    except (subprocess.SubprocessError, OSError):
        return None
    return exe if exe.exists() else None


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)
