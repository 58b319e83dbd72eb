"""Hold off SIGTERM while a finished task's record is written.

When the driver dies (even by kill -9), its watchdog (reaper.py) stops the worker tree:
SIGTERM, then SIGKILL after a grace. A worker stopped between the end of a task's
function and the append of its record to the results file would leave a task that ran
but is not known to have run, and `--resume` would run it again. Inside `guarded()` a
SIGTERM is only noted and acted on (the default action: the process ends) once the record
is written, so the window shrinks to the function's last instructions. Installed only in
a worker process's main thread and only over the default action (a handler Parsl or the
user set stays in charge); elsewhere `guarded()` does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

_depth = 0
_pending = False
_installed = False


def _on_term(signum: int, frame: Any) -> None:
    global _pending
    if _depth:
        _pending = True
        return
    _die()


def _die() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install() -> bool:
    global _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_term)
    _installed = True
    return True


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Run the body with SIGTERM deferred to its end (where this process may defer it)."""
    global _depth, _pending
    if not _install():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending:
            _pending = False
            _die()
