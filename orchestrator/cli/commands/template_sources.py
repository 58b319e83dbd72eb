"""`orch templates add NAME SOURCE [--ref REF]` and `orch templates update [NAME]`: the
pinned template sources of a project (orch-templates.yaml) and its workflows' lock files
(spec/pins.py; docs/templates.md#template-sources)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ADD_HELP = "record a template source (git repository or directory), pinned to a tag or commit"
UPDATE_HELP = ("move sources' pins (to the newest tag, or --ref) and rewrite the workflows' "
               "references and lock files")


def add_parsers(sub) -> None:
    add = sub.add_parser("add", help=ADD_HELP, description=ADD_HELP + ", in orch-templates.yaml "
                         "of the project directory; its templates are then `NAME:TEMPLATE`")
    add.add_argument("name", metavar="NAME", help="what workflows call the source (labA in "
                     "`include: labA:relax@v1`)")
    add.add_argument("source", metavar="SOURCE", help="a git repository (path or URL) or a "
                     "plain directory")
    add.add_argument("--ref", metavar="TAG|COMMIT", help="the tag or commit to pin (default: "
                     "the newest tag); a directory is pinned to its content hash")
    add.add_argument("--path", dest="subdir", default="", metavar="FOLDER",
                     help="the folder inside the source that holds the templates (default: "
                          "its top)")
    _project(add)
    add.add_argument("--force", action="store_true", help="replace a source of the same name")
    add.add_argument("--format", choices=["text", "json"], default="text")
    up = sub.add_parser("update", help=UPDATE_HELP, description=UPDATE_HELP + "; all or "
                        "nothing: if a workflow does not load with the new version, no file "
                        "changes")
    up.add_argument("names", metavar="NAME", nargs="*", help="sources to update (default: all)")
    up.add_argument("--ref", metavar="TAG|COMMIT", help="move the pin to this tag or commit "
                    "(one NAME)")
    up.add_argument("--dry-run", action="store_true", help="say what would change; write "
                    "nothing")
    _project(up)
    up.add_argument("--format", choices=["text", "json"], default="text")


def _project(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", dest="project", type=Path, default=Path("."), metavar="DIR",
                   help="the project directory: where the workflows and orch-templates.yaml "
                        "are (default: the current directory)")


def run_add(args: argparse.Namespace) -> int:
    from orchestrator.spec.pins import add_source
    from orchestrator.spec.sources import PROJECT_FILE

    src, names = add_source(args.project, args.name, args.source, args.ref, args.subdir,
                            args.force)
    if args.format == "json":
        print(json.dumps({"ok": True, "source": src.to_json(), "templates": names}, indent=2))
        return 0
    pin = f"{src.version} (commit {src.commit[:12]})" if src.kind == "git" else \
        f"content sha256 {src.commit[:12]}"
    print(f"added source {src.name!r} to {args.project / PROJECT_FILE}: {src.url} at {pin}")
    print(f"templates: {', '.join(f'{src.name}:{n}' for n in names)}")
    print(f"use one: include: [{src.name}:{names[0]}]  (or {src.name}:{names[0]}@{src.version})")
    return 0


def run_update(args: argparse.Namespace) -> int:
    from orchestrator.spec.pins import update_sources

    moves, workflows = update_sources(args.project, args.names or None, args.ref, args.dry_run)
    if args.format == "json":
        print(json.dumps({"ok": True, "dry_run": args.dry_run,
                          "sources": [m.to_json() for m in moves],
                          "workflows": [w.to_json() for w in workflows]}, indent=2))
        return 0
    would = "would move" if args.dry_run else "moved"
    for m in moves:
        if m.moved:
            print(f"{m.name}: {would} {m.old_version} ({m.old_commit[:12]}) -> {m.version} "
                  f"({m.commit[:12]})")
        else:
            print(f"{m.name}: {m.version} ({m.commit[:12]}) stays"
                  + (f": {m.note}" if m.note else ""))
    for w in workflows:
        for r in w.rewritten:
            print(f"  {r['at']}: {r['old']} -> {r['new']}"
                  + (" (would rewrite)" if args.dry_run else ""))
        for k in w.kept:
            print(f"  {k['at']}: {k['reference']} {k['note']}")
        for t in w.templates:
            print(f"  {w.lock.name}: {_template_change(t)}")
    if not workflows:
        print("no workflow here has a lock file yet (each gets one when it is first loaded)")
    elif not args.dry_run:
        changed = [w.lock.name for w in workflows if w.lock_changed]
        same = [w.lock.name for w in workflows if not w.lock_changed]
        print("; ".join(([f"rewrote {', '.join(changed)}"] if changed else [])
                        + ([f"{', '.join(same)} unchanged"] if same else [])))
    return 0


def _template_change(t: dict) -> str:
    name = t["reference"]
    if t["old_reference"] and t["old_reference"] != name:
        name += f" (was {t['old_reference']})"
    if t["old_commit"] is None:
        return f"{name}: newly locked at {t['version']} ({t['commit'][:12]})"
    what = [f"{len(t[k])} file(s) {k}: {', '.join(t[k][:3])}" for k in ("changed", "added",
                                                                           "removed") if t[k]]
    if t["old_commit"] == t["commit"] and not what:
        return f"{name}: unchanged ({t['version']})"
    return (f"{name}: {t['old_version']} -> {t['version']}: "
            + ("; ".join(what) if what else "content unchanged"))
