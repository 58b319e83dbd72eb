"""Arguments and loading steps shared by several commands."""

from __future__ import annotations

import argparse

from orchestrator.site.load import LoadedSite, load_site
from orchestrator.spec.load import LoadedSpec, load_spec, parse_sets


def add_workflow_args(p: argparse.ArgumentParser, site_required: bool = False) -> None:
    p.add_argument("workflow", metavar="WORKFLOW", help="workflow spec (YAML)")
    p.add_argument("--site", metavar="SITE", required=site_required,
                   help="site config: a path or a shipped name (laptop, local-slurm, ...)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a workflow param (repeatable)")


def load_both(args: argparse.Namespace, need_site: bool) -> tuple[LoadedSpec, LoadedSite | None]:
    """Load the spec and (if asked) the site, reporting both files' errors together."""
    from orchestrator.errors import UserError

    diags = []
    spec = site = None
    try:
        spec = load_spec(args.workflow, parse_sets(args.sets))
    except UserError as exc:
        diags += exc.diagnostics
    if need_site or args.site:
        try:
            site = load_site(args.site)
        except UserError as exc:
            diags += exc.diagnostics
    if diags:
        raise UserError(diags)
    assert spec is not None
    import sys

    for note in spec.notes:
        print(f"note: {note}", file=sys.stderr)
    return spec, site
