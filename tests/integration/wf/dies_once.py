"""A task whose worker process dies the first time it runs (os._exit), then succeeds."""

import os
from pathlib import Path


def work(marker, context=None):
    flag = Path(marker)
    if not flag.exists():
        flag.write_text("died once")
        os._exit(9)
    return {"ok": True, "pid": os.getpid()}
