"""Parsl's worker pool (`process_worker_pool.py`), started with one repair.

An HTEX worker waiting for a task holds the reader lock of its pool's task queue while it
polls (`multiprocessing.Queue.get` with a timeout). A worker killed then (kill -9, the OOM
killer) dies holding that lock: Parsl's watchdog starts a new worker, but no worker of the
pool ever receives a task again and the run hangs with idle workers. Here, when the
watchdog restarts a dead worker, a reader lock that no live worker could still hold is
given back. Everything else is Parsl's own script, run as `process_worker_pool.py` runs;
executors.py starts this module in its place (`LAUNCH_CMD`).
"""

from __future__ import annotations

import ast
from pathlib import Path

from parsl.executors.high_throughput import executor as htex
from parsl.executors.high_throughput import process_worker_pool as pool

PARSL_SCRIPT = "process_worker_pool.py"
LAUNCH_CMD = htex.DEFAULT_LAUNCH_CMD.replace(
    PARSL_SCRIPT, "python -m orchestrator.backends.parsl.process_worker_pool", 1)


def free_stuck_lock(lock, wait: float) -> bool:
    """Give `lock` back when nobody released it within `wait` seconds (its holder died).
    True when it was stuck."""
    if lock.acquire(timeout=wait):
        lock.release()
        return False
    lock.release()
    return True


_start_worker = pool.Manager._start_worker


def _restart_worker(self, worker_id: int):
    """Parsl's `_start_worker`; on a restart, first free the task queue's reader lock if the
    dead worker held it. A live worker holds it for one poll (`heartbeat_period` seconds)."""
    started = self.__dict__.setdefault("_orch_started", set())
    if worker_id in started and \
            free_stuck_lock(self.pending_task_queue._rlock, 3 * self.heartbeat_period + 1):
        pool.logger.warning("Worker %s died holding the task queue's reader lock; released it",
                            worker_id)
    started.add(worker_id)
    return _start_worker(self, worker_id)


def _main_block(path: str) -> ast.Module:
    """The body of the script's `if __name__ == "__main__":` block."""
    tree = ast.parse(Path(path).read_text(), path)
    for node in reversed(tree.body):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return ast.Module(body=node.body, type_ignores=[])
    raise RuntimeError(f"{path} has no __main__ block")


def main() -> None:
    pool.Manager._start_worker = _restart_worker
    code = compile(_main_block(pool.__file__), pool.__file__, "exec")
    exec(code, vars(pool))  # Parsl's own start-up code, in its own module  # noqa: S102


if __name__ == "__main__":
    main()
