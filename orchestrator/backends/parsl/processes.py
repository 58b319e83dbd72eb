"""A Parsl executor on a local process pool: worker processes forked from a forkserver
that has already imported the task runtime, for laptop runs that start in a fraction of
the time of a HighThroughputExecutor (no interchange, no manager, no spawned interpreters
importing Parsl), with the same isolation: every task runs in a worker process.

Parsl's own ThreadPoolExecutor with a `concurrent.futures.ProcessPoolExecutor` underneath.
A worker that dies (a task calling `os._exit`, the OOM killer) breaks the pool: the tasks
it held fail with BrokenProcessPool, which the driver retries as a lost worker, and the
next submission starts a new pool.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import threading
from concurrent.futures.process import BrokenProcessPool

from parsl.executors import ThreadPoolExecutor
from parsl.executors.execute_task import execute_task
from parsl.serialize import pack_apply_message

PRELOAD = ["orchestrator.backends.worker", "parsl.executors.execute_task"]


class ProcessPoolExecutor(ThreadPoolExecutor):
    """Tasks in `max_workers` local worker processes (forkserver, runtime preloaded)."""

    def __init__(self, label: str, max_workers: int, env: dict[str, str] | None = None):
        super().__init__(label=label, max_threads=max_workers)
        self.env = dict(env or {})  # set before the forkserver starts (LD_LIBRARY_PATH...)
        self._lock = threading.Lock()

    def start(self) -> None:
        self.executor = self._pool()

    def _pool(self) -> cf.ProcessPoolExecutor:
        from multiprocessing import forkserver, resource_tracker

        from orchestrator.backends.reaper import TAG_VAR

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        # multiprocessing's resource tracker ignores SIGTERM and exits with this process:
        # untagged, the run's reaper does not wait for it
        tag = os.environ.pop(TAG_VAR, None)
        try:
            resource_tracker.ensure_running()
        finally:
            if tag is not None:
                os.environ[TAG_VAR] = tag
        from orchestrator.backends.task_io import task_env

        with task_env(self.env):
            forkserver.ensure_running()  # started now, with this environment
        pool = cf.ProcessPoolExecutor(max_workers=self.max_threads, mp_context=ctx)
        launch = getattr(pool, "_launch_processes", None)
        if launch is not None:  # every worker now, not one per submit (nor during shutdown)
            with pool._shutdown_lock:
                launch()
        return pool

    def submit(self, func, resource_specification, *args, **kwargs):
        """Ship the task as HTEX does (Parsl's serializer: the app wrapper is not picklable
        by reference) and run it with Parsl's own `execute_task` in a worker."""
        bufs = pack_apply_message(func, args, kwargs)
        with self._lock:
            try:
                return self.executor.submit(execute_task, bufs)
            except BrokenProcessPool:  # a worker died: a fresh pool for what follows
                self.executor = self._pool()
                return self.executor.submit(execute_task, bufs)

    def shutdown(self, block: bool = True) -> None:
        """Stop the workers, running tasks included (a cancelled run must not wait for
        them; `orch run --resume` runs them again)."""
        pool = self.executor
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.terminate()
        pool.shutdown(wait=block, cancel_futures=True)
        from multiprocessing import forkserver

        server = forkserver._forkserver
        pid = getattr(server, "_forkserver_pid", None)
        if pid:  # else it lives until the driver exits, and the run's reaper waits for it
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # a graceful stop can wait on a spawning worker
            stop = getattr(server, "_stop", None)  # CPython 3.8+: reaps it, resets its state
            if stop is not None:
                stop()

    def monitor_resources(self) -> bool:
        return False
