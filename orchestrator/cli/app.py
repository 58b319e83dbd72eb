"""`orch` entry point: argument parsing and the one exception boundary.

Exit codes: 0 ok, 1 spec/user error, 2 usage, 3 tasks failed, 70 internal bug.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback

from orchestrator import __version__
from orchestrator.cli.commands import devices as devices_cmd
from orchestrator.cli.commands import export as export_cmd
from orchestrator.cli.commands import logs as logs_cmd
from orchestrator.cli.commands import plan as plan_cmd
from orchestrator.cli.commands import report as report_cmd
from orchestrator.cli.commands import run as run_cmd
from orchestrator.cli.commands import schema as schema_cmd
from orchestrator.cli.commands import site as site_cmd
from orchestrator.cli.commands import status as status_cmd
from orchestrator.cli.commands import submit as submit_cmd
from orchestrator.cli.commands import templates as templates_cmd
from orchestrator.cli.commands import validate as validate_cmd
from orchestrator.errors import OrchestratorError, UsageError, UserError

EXIT_OK, EXIT_USER, EXIT_USAGE, EXIT_FAILED, EXIT_BUG = 0, 1, 2, 3, 70
COMMANDS = (validate_cmd, plan_cmd, run_cmd, submit_cmd, status_cmd, logs_cmd, report_cmd, export_cmd,
            schema_cmd, devices_cmd, templates_cmd, templates_cmd.new_command, site_cmd)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 itself; keep the message short
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="orch", description="Heterogeneous HPC workflows for AI-for-Science.")
    parser.add_argument("--version", action="version", version=f"orch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.NAME, help=cmd.HELP, description=cmd.HELP)
        cmd.add_arguments(p)
        p.set_defaults(handler=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        from orchestrator.report.console import print_diagnostics

        if getattr(args, "format", None) == "json":
            import json

            print(json.dumps({"ok": False,
                              "diagnostics": [d.to_json() for d in exc.diagnostics]}, indent=2))
        print_diagnostics(exc.diagnostics)
        return EXIT_USER
    except UsageError as exc:
        print(f"orch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("orch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `orch plan ... | head` is fine; keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OrchestratorError as exc:
        print(f"orch: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except Exception as exc:  # the bug boundary
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    text = "".join(traceback.format_exception(exc))
    if os.environ.get("ORCH_DEBUG"):
        print(text, file=sys.stderr)
    else:
        fd, path = tempfile.mkstemp(prefix="orch-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        print(f"orch: internal error: {type(exc).__name__}: {exc}\n"
              f"This is a bug in orchestrator. The traceback is in {path}; "
              "please attach it to a bug report (ORCH_DEBUG=1 prints it).", file=sys.stderr)
    return EXIT_BUG


if __name__ == "__main__":
    raise SystemExit(main())
