"""Entry point of a python stage that runs in a site environment (a venv or conda prefix,
modules, a container): `INTERPRETER -m orchestrator.backends.env_entry PAYLOAD`, started
by the worker through the environment's wrapper (backends/environments.py).

That interpreter is not orch's: it sees only this package (PYTHONPATH holds a link to it),
so this module and what it imports use the standard library only. It calls the stage's
function like the worker would and writes the return value for the worker to pick up,
as `mpi_entry` does for multi-rank stages (whose helpers it shares)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from orchestrator.backends.mpi_entry import call_stage, load_payload, write_result


def write_error(payload_path: str, exc: BaseException) -> None:
    """The exception's type and message, for the worker to report as the task's error
    (the traceback is already in the task's stderr)."""
    tmp = Path(payload_path).with_suffix(".error.tmp")
    tmp.write_text(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
    os.replace(tmp, Path(payload_path).with_suffix(".error.json"))


def main(payload_path: str) -> int:
    payload = load_payload(payload_path)
    try:
        value = call_stage(payload, 0, 1)
    except Exception as exc:   # printed by call_target; said once, as the task's error
        write_error(payload_path, exc)
        return 1
    write_result(payload_path, value, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
