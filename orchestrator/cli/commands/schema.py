"""`orch schema [workflow|site] [--site] [--output FILE]`: the JSON Schema of the workflow
or site format, for editors (docs/editors.md; built by spec/json_schema.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "schema"
HELP = ("print (or write) the JSON Schema of the workflow or site format, for editor "
        "completion and checking")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=["workflow", "site"], default=None,
                   help="which format (default workflow)")
    p.add_argument("--site", dest="site", action="store_true",
                   help="the site config format (the same as `orch schema site`)")
    p.add_argument("-o", "--output", metavar="FILE", type=Path, default=None,
                   help="write the schema to FILE instead of printing it")


def run(args: argparse.Namespace) -> int:
    from orchestrator.errors import UsageError, UserError
    from orchestrator.spec.json_schema import site_schema, workflow_schema

    if args.site and args.kind == "workflow":
        raise UsageError("give either `workflow` or --site, not both")
    site = args.site or args.kind == "site"
    text = json.dumps(site_schema() if site else workflow_schema(), indent=2) + "\n"
    if args.output is None:
        print(text, end="")
        return 0
    from orchestrator.state.atomic import atomic_write_text

    try:
        atomic_write_text(args.output, text)
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write the schema ({exc.strerror or exc})") from None
    print(f"schema: {args.output} ({'site' if site else 'workflow'} format)")
    return 0
