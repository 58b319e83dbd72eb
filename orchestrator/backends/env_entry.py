"""Entry point of a python stage that runs in a site environment (a venv or conda prefix,
modules, a container): `INTERPRETER -m orchestrator.backends.env_entry PAYLOAD`, started
by the worker through the environment's wrapper (backends/environments.py).

That interpreter is not orch's: it sees only this package (PYTHONPATH holds a link to it),
so this module and what it imports use the standard library only. It calls the stage's
function like the worker would and writes the return value for the worker to pick up,
as `mpi_entry` does for multi-rank stages (whose helpers it shares)."""

from __future__ import annotations

import sys

from orchestrator.backends.mpi_entry import call_stage, load_payload, write_result


def main(payload_path: str) -> int:
    payload = load_payload(payload_path)
    write_result(payload_path, call_stage(payload, 0, 1), 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
