"""`orch schema [workflow|site]`: JSON Schema of the spec formats, for editors."""

from __future__ import annotations

import argparse
import json

NAME = "schema"
HELP = "print the JSON Schema of the workflow or site format (for editor completion)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=["workflow", "site"], default="workflow")


def run(args: argparse.Namespace) -> int:
    if args.kind == "site":
        from orchestrator.site.models import Site as model
    else:
        from orchestrator.spec.models import Workflow as model
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"orchestrator {args.kind}"
    print(json.dumps(schema, indent=2))
    return 0
