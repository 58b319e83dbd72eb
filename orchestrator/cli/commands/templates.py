"""`orch templates list|show|schema|new|add|update|test` (and `orch new`): the shareable
template library.

Templates live in `workflows/templates/` and on `ORCH_TEMPLATE_PATH`, or come from the
pinned sources of a project (`add`, `update`: template_sources.py); see
docs/templates.md. `new` writes a starter workflow that includes a template with the
user's values, and checks that it validates; `test` runs a template's example
(template_test.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

NAME = "templates"
HELP = ("list, show, test and instantiate workflow templates; pin template sources "
        "(workflows/templates, ORCH_TEMPLATE_PATH, orch-templates.yaml)")
NEW_HELP = "write a starter workflow from a template, with your param values, and validate it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    ls = sub.add_parser("list", help="every template on the search path",
                        description="every template on the search path")
    _format(ls)
    show = sub.add_parser("show", help="a template's params and stages",
                          description="a template's params (types, defaults, help) and stages")
    show.add_argument("name", metavar="NAME", help="a template name, or SOURCE:NAME[@VERSION]")
    _format(show)
    schema = sub.add_parser("schema", help="a template's params as JSON Schema",
                            description="a template's params as JSON Schema (draft 2020-12), "
                                        "like nf-core's nextflow_schema.json")
    schema.add_argument("name", metavar="NAME", help="a template name, or SOURCE:NAME[@VERSION]")
    new = sub.add_parser("new", help=NEW_HELP, description=NEW_HELP)
    add_new_arguments(new)
    from orchestrator.cli.commands import template_sources, template_test

    template_sources.add_parsers(sub)
    template_test.add_parser(sub)


def _format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json"], default="text")


def add_new_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the template (`orch templates list`)")
    p.add_argument("-o", "--output", metavar="PATH", default=None,
                   help="the workflow file to write (default NAME/workflow.yaml; a directory, "
                        "or a path ending in /, gets workflow.yaml inside it)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="a value for one of the template's params (repeatable); checked "
                        "against its type and bounds")
    p.add_argument("--name", dest="workflow_name", metavar="WORKFLOW",
                   help="the new workflow's name (default: from the output path)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    _format(p)


def run(args: argparse.Namespace) -> int:
    from orchestrator.cli.commands import template_sources, template_test

    return {"list": _list, "show": _show, "schema": _schema, "new": run_new,
            "add": template_sources.run_add, "update": template_sources.run_update,
            "test": template_test.run}[args.action](args)


def _list(args: argparse.Namespace) -> int:
    from orchestrator.spec.templates import discover

    templates = discover()
    if args.format == "json":
        print(json.dumps({"ok": True, "templates": [t.summary() for t in templates]}, indent=2))
        return 0
    if not templates:
        print("no templates on the search path (ORCH_TEMPLATE_PATH, then workflows/templates)")
        return 0
    from rich.markup import escape
    from rich.table import Table

    from orchestrator.report.console import console

    table = Table(show_lines=False)
    table.add_column("name", no_wrap=True)
    for col in ("version", "requires", "params", "description"):
        table.add_column(col, overflow="fold")
    for t in templates:
        desc = f"[red]{escape(t.error)}[/red]" if t.error else escape(t.description)
        table.add_row(escape(t.name), escape(t.version or "-"), escape(", ".join(t.requires)),
                      escape(", ".join(t.params)), desc)
    console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    from orchestrator.spec.templates import describe, find

    doc = describe(find(args.name))
    if args.format == "json":
        print(json.dumps({"ok": True, **doc}, indent=2, default=str))
        return 0
    _print_show(doc)
    return 0


def _schema(args: argparse.Namespace) -> int:
    from orchestrator.spec.templates import find, params_schema

    print(json.dumps(params_schema(find(args.name)), indent=2))
    return 0


def _print_show(doc: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from orchestrator.report.console import console

    con = console()
    envs = f"; environments: {', '.join(doc['environments'])}" if doc["environments"] else ""
    con.print(f"[bold]{escape(doc['name'])}[/bold] {escape(doc['version'] or '')}  "
              f"requires: {escape(', '.join(doc['requires']) or '-')}{escape(envs)}")
    con.print(escape(doc["description"] or ""))
    con.print(f"file: {doc['path']}\nsha256: {doc['sha256']}", markup=False)
    if doc.get("source"):
        src = doc["source"]
        con.print(f"source: {src['source']} {src['url']} at {src['ref'] or '-'} "
                  f"(commit {src['commit']})", markup=False)
    con.print(f"example: {doc['example'] or '(none)'}", markup=False)
    params = Table(title="params", title_justify="left")
    for col in ("name", "type", "default", "bounds", "help"):
        params.add_column(col, overflow="fold")
    for p in doc["params"]:
        bounds = [f"min {p['min']:g}" if p["min"] is not None else "",
                  f"max {p['max']:g}" if p["max"] is not None else "",
                  f"choices {', '.join(map(str, p['choices']))}" if p["choices"] else ""]
        default = "(required)" if p["required"] else json.dumps(p["default"])
        params.add_row(escape(p["name"]), p["type"], escape(default),
                       escape(" ".join(b for b in bounds if b)), escape(p["help"]))
    con.print(params)
    stages = Table(title="stages", title_justify="left")
    for col in ("name", "runs", "needs", "device", "sweep", "loop"):
        stages.add_column(col, overflow="fold")
    for s in doc["stages"]:
        stages.add_row(escape(s["name"]), escape(f"{s['kind']}: {s['target']}"),
                       escape(", ".join(s["needs"]) or "-"), s["device"],
                       escape(", ".join(s["sweep"] or []) or "-"), escape(s["loop"] or "-"))
    con.print(stages)
    con.print(f"start a workflow from it: orch templates new {doc['name']} --set NAME=VALUE",
              markup=False)


def run_new(args: argparse.Namespace) -> int:
    from orchestrator.errors import UserError
    from orchestrator.spec import templates as tpl
    from orchestrator.spec.load import parse_sets

    info = tpl.find(args.name)
    out = Path(args.output if args.output is not None else info.name + "/")
    if out.is_dir() or str(args.output or "/").endswith(("/", os.sep)):
        out = out / "workflow.yaml"
    if out.exists() and not args.force:
        raise UserError(f"{out}: exists; choose another -o PATH or pass --force")
    values, spec = tpl.typed_values(info, parse_sets(args.sets))
    text = tpl.starter(info, spec, values,
                       args.workflow_name or tpl.default_name(info.name, out))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror or exc})") from None
    loaded = tpl.check_starter(out)
    if args.format == "json":
        print(json.dumps({"ok": True, "workflow": str(out), "name": loaded.workflow.name,
                          "template": info.name, "version": info.version,
                          "sha256": info.sha256, "params": values}, indent=2))
    else:
        print(f"wrote {out}: workflow {loaded.workflow.name!r} from template {info.name!r}"
              + (f" {info.version}" if info.version else "") + "; it validates",
              file=sys.stdout)
        print(f"next: point its stages at your code, then `orch plan {out} --site laptop`")
    return 0


new_command = SimpleNamespace(NAME="new", HELP=NEW_HELP + " (same as `orch templates new`)",
                              add_arguments=add_new_arguments, run=run_new)
"""`orch new`: registered in cli/app.py's COMMANDS next to this module."""
