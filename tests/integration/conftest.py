"""Helpers for integration tests: run `orch` for real (Parsl HTEX on the laptop site)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

WF = Path(__file__).parent / "wf"
REPO = Path(__file__).resolve().parents[2]


def orch(*args: str, timeout: float = 180, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def journal(run_dir: Path) -> list[dict]:
    from orchestrator.state.journal import read_journal

    return list(read_journal(run_dir / "journal.jsonl"))


def results(run_dir: Path) -> dict[str, object]:
    """What each task returned, from the workers' result files (journal or not)."""
    from orchestrator.state.results import results_by_task

    return {task: rec["result"] for task, rec in results_by_task(run_dir).items()}


def live_engine_processes(marker: str) -> list[str]:
    """Non-zombie processes whose command line mentions `marker` (a run directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
            env = (entry / "environ").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue
        if marker in cmd or f"ORCH_RUN_TAG={marker}" in env:
            found.append(f"{entry.name}: {cmd[:120]}")
    return found


def wait_no_processes(marker: str, timeout: float = 10.0) -> list[str]:
    deadline = time.time() + timeout
    left = live_engine_processes(marker)
    while left and time.time() < deadline:
        time.sleep(0.2)
        left = live_engine_processes(marker)
    return left


@pytest.fixture
def wf() -> Path:
    return WF
