"""Parsl executors that start a task only when its node share is free (admission.py).

A thin layer over Parsl's own executors: `submit` offers the task to an `Admission`; a task
that fits is submitted at once, in the DataFlowKernel's thread as usual, and one that does
not is submitted later by a starter thread, as soon as a finished task frees its share. The
future the DataFlowKernel holds completes when the real one does. A task's shape travels
in its resource specification under `orch` and is removed before Parsl's executor sees it.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

from parsl.executors import HighThroughputExecutor, MPIExecutor, ThreadPoolExecutor

from orchestrator.backends.admission import Admission, Shape
from orchestrator.backends.parsl.processes import ProcessPoolExecutor

SHAPE_KEY = "orch"


class Starter:
    """One thread per run that submits admitted tasks outside the DataFlowKernel's launch
    path, holding its submitter lock as the DataFlowKernel does."""

    def __init__(self) -> None:
        self.lock: Any = threading.Lock()  # replaced by dfk.submitter_lock once loaded
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="orch-starter", daemon=True)
        self._thread.start()

    def put(self, ready: list) -> None:
        for item in ready:
            self._queue.put(item)

    def stop(self) -> None:
        self._queue.put(None)

    def _loop(self) -> None:
        while (got := self._queue.get()) is not None:
            node, item = got
            with self.lock:
                item.start(node, item.cpus)


class _Gated:
    """Mixin: route `submit` through the admission of this executor's scope."""

    admission: Admission | None = None
    starter: Starter | None = None
    mode = "ledger"  # admission.placement_modes
    closed = False  # shutting down: nothing more starts

    def shutdown(self, *args, **kwargs):
        """No admitted task starts once shutdown begins (the starter thread would race the
        executor's own shutdown)."""
        if self.starter is not None:
            with self.starter.lock:
                self.closed = True
        return super().shutdown(*args, **kwargs)

    def submit(self, func, resource_specification, *args, **kwargs):
        spec = dict(resource_specification or {})
        raw = spec.pop(SHAPE_KEY, None)
        if raw is None or self.admission is None or self.starter is None:
            return super().submit(func, spec, *args, **kwargs)
        if self.mode == "pinned":  # Parsl pinned the workers: the task takes its share
            kw = {**kwargs, "parsl_resource_specification": {"pinned": True}}
            return super().submit(func, spec, *args, **kw)
        shape = Shape(raw[0], tuple(raw[1]), raw[2])
        outer: Future = Future()

        def start(node: int, cpus: tuple[int, ...]) -> None:
            if self.closed:  # left pending, as an executor that stopped leaves its tasks
                return
            kw = kwargs
            if cpus:  # an exact admission chose the CPUs: the worker binds to them
                kw = {**kwargs, "parsl_resource_specification": {**spec, "cpus": list(cpus)}}
            try:
                inner = super(_Gated, self).submit(func, spec, *args, **kw)
            except BaseException as exc:  # handed to the DataFlowKernel, as Parsl does
                self.starter.put(self.admission.done(shape, node, cpus))
                outer.set_exception(exc)
                return
            inner.add_done_callback(lambda f: self._finished(f, outer, shape, node, cpus))

        ready = self.admission.offer(shape, start)
        for node, item in ready:  # this thread holds the submitter lock: start inline
            item.start(node, item.cpus)
        return outer

    def _finished(self, inner: Future, outer: Future, shape: Shape, node: int,
                  cpus: tuple[int, ...]) -> None:
        self.starter.put(self.admission.done(shape, node, cpus))
        if self.closed:
            return  # stopped by shutdown: not a task failure (the run was interrupted)
        if inner.cancelled():
            outer.cancel()
        elif inner.exception() is not None:
            outer.set_exception(inner.exception())
        else:
            outer.set_result(inner.result())


class GatedHighThroughputExecutor(_Gated, HighThroughputExecutor):
    """HighThroughputExecutor whose tasks start when their node share is free."""


class GatedThreadPoolExecutor(_Gated, ThreadPoolExecutor):
    """ThreadPoolExecutor (tasks in the driver) with the same admission."""


class GatedMPIExecutor(_Gated, MPIExecutor):
    """Parsl's MPI mode, its multi-rank tasks admitted like the rest (a local site)."""


class GatedProcessPoolExecutor(_Gated, ProcessPoolExecutor):
    """The local process pool (processes.py) with the same admission."""
