"""Task completions, recorded off Parsl's callback thread.

Parsl calls a future's done-callbacks in the order they were added, and the driver's
comes before those of the tasks that wait on it: journaling inside the callback held up
every dependent's launch (the chain latency). The callback now only queues the
completion; one thread records them in groups, in order.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

GROUP_DELAY = 0.001  # after waking: let Parsl's launch threads run first, then take a group


class Completer:
    """Calls `record(*item)` for every queued item, in order, on its own thread."""

    def __init__(self, record: Callable[..., None]):
        self._record = record
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.error: BaseException | None = None  # the first failure to record, for the driver
        self._thread = threading.Thread(target=self._forever, name="orch-completions",
                                        daemon=True)
        self._thread.start()

    def put(self, *item: Any) -> None:
        self._queue.put(item)

    def sync(self) -> None:
        """Return once everything queued so far is recorded."""
        reached = threading.Event()
        self._queue.put(reached)
        while not reached.wait(0.25):
            if not self._thread.is_alive():
                return

    def stop(self, timeout: float = 30.0) -> None:
        """Record what is still queued, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _forever(self) -> None:
        stop = False
        while not stop:
            group = [self._queue.get()]
            time.sleep(GROUP_DELAY)  # releases the GIL to the threads launching dependents
            with contextlib.suppress(queue.Empty):
                while True:
                    group.append(self._queue.get_nowait())
            for item in group:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    item.set()
                else:
                    self._one(item)

    def _one(self, item: tuple) -> None:
        try:
            self._record(*item)
        except BaseException as exc:  # kept for the driver: a dead thread would hang it
            self.error = self.error or exc
            print(f"orch: could not record a task's completion: {exc!r}", file=sys.stderr)
