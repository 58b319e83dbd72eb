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
import multiprocessing
import os
import threading
from concurrent.futures.process import BrokenProcessPool

from parsl.executors import ThreadPoolExecutor
from parsl.executors.execute_task import execute_task
from parsl.serialize import pack_apply_message

PRELOAD = ["orchestrator.backends.parsl.worker", "parsl.executors.execute_task"]


class ProcessPoolExecutor(ThreadPoolExecutor):
    """Tasks in `max_workers` local worker processes (forkserver, runtime preloaded)."""

    def __init__(self, label: str, max_workers: int, env: dict[str, str] | None = None):
        super().__init__(label=label, max_threads=max_workers)
        self.env = dict(env or {})  # set before the forkserver starts (LD_LIBRARY_PATH...)
        self._lock = threading.Lock()

    def start(self) -> None:
        self.executor = self._pool()

    def _pool(self) -> cf.ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            from multiprocessing import forkserver

            forkserver.ensure_running()  # started now, with this environment
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return cf.ProcessPoolExecutor(max_workers=self.max_threads, mp_context=ctx)

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
        from multiprocessing import forkserver, resource_tracker

        # the forkserver and multiprocessing's resource tracker (which ignores SIGTERM) would
        # live until the driver exits, and the driver's reaper would wait for them
        for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
            stop = getattr(helper, "_stop", None)  # CPython 3.8+
            if stop is not None:
                stop()

    def monitor_resources(self) -> bool:
        return False
