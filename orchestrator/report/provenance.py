"""The report's Provenance section: how the run was made (run.json, parameters, seeds,
spec sources, task keys), the lineage of its files (lineage.py), package versions and the
resolved spec. Everything printed is escaped. No Parsl here.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata

from orchestrator.report.context import ReportContext
from orchestrator.report.keys_columns import stage_keys
from orchestrator.report.lineage import lineage
from orchestrator.report.parts import clock, table
from orchestrator.report.svg import esc

MAX_KEYS = 500
MAX_SPEC_CHARS = 256_000
PACKAGES = ("orchestrator", "parsl", "numpy", "pydantic")


def provenance(ctx: ReportContext) -> str:
    parts = [_run_facts(ctx), _params_and_seeds(ctx), _sources(ctx), _code_keys(ctx),
             lineage(ctx.plan, ctx.st, ctx.results, ctx.table), _packages(), _spec_text(ctx)]
    return "".join(parts)


def _run_facts(ctx: ReportContext) -> str:
    meta = ctx.meta
    rows = [[esc(k), f"<code>{esc(meta.get(k))}</code>"] for k in ("workflow", "site")
            if meta.get(k)]
    sets = meta.get("sets") or {}
    if sets:
        rows.append(["--set", esc(", ".join(f"{k}={v}" for k, v in sets.items()))])
    for i, a in enumerate(meta.get("attempts") or [], start=1):
        if isinstance(a, dict):
            argv = " ".join(str(x) for x in a.get("argv") or [])
            rows.append([f"attempt {i}", f"{esc(clock(a.get('started')))}: "
                         f"<code>orch {esc(argv)}</code>"])
    return "<h3>Run</h3>" + (table(["", ""], rows) if rows else "<p>no run.json</p>")


def _params_and_seeds(ctx: ReportContext) -> str:
    params = ctx.plan.get("params") or ctx.spec.get("params") or {}
    rows = [[esc(k), f"<code>{esc(json.dumps(v))}</code>"] for k, v in params.items()]
    out = "<h3>Parameters</h3>" + (table(["param", "value"], rows) if rows else "<p>none</p>")
    seeds = [[esc(s.get("name")), esc(s.get("sampler") or "-"), esc(s.get("seed"))]
             for s in ctx.plan.get("stages") or [] if isinstance(s, dict)
             and s.get("seed") is not None]
    return out + "<h3>Seeds</h3>" + (table(["stage", "sampler", "seed"], seeds) if seeds else
                                     "<p>No stage samples its sweep.</p>")


def _sources(ctx: ReportContext) -> str:
    """Every file that went into the spec, with its SHA-256 (and, where recorded, the
    template name and version it was included as), and files a resume found changed."""
    rows = []
    for s in ctx.spec.get("sources") or ctx.plan.get("sources") or []:
        if isinstance(s, dict):
            origin = "-"
            if s.get("source"):  # from a template source (orch-templates.yaml)
                origin = (f"{esc(s['source'])}@{esc(s.get('ref') or '-')} "
                          f"<code>{esc(str(s.get('commit'))[:12])}</code> "
                          f"({esc(s.get('url') or '')})")
            rows.append([f"<code>{esc(s.get('path'))}</code>", esc(s.get("template") or "-"),
                         esc(s.get("version") or "-"), origin,
                         f"<code>{esc(s.get('sha256'))}</code>"])
    out = "<h3>Sources</h3>" + (table(["file", "template", "version", "source", "sha256"], rows)
                                if rows else "<p>none recorded</p>")
    changed = [[esc(clock(n.get("ts"))), f"<code>{esc(c.get('path'))}</code>",
                esc(f"{c.get('old_version') or '-'} → {c.get('version') or '-'}"),
                f"<code>{esc(str(c.get('old_sha256'))[:12])} → {esc(str(c.get('sha256'))[:12])}"
                "</code>"]
               for n in ctx.notes if n.get("ev") == "sources_changed"
               for c in n.get("sources") or [] if isinstance(c, dict)]
    if changed:
        out += ("<p>Changed when the run was resumed (tasks whose definition changed ran "
                "again):</p>" + table(["resumed", "file", "version", "sha256"], changed))
    return out


def _code_keys(ctx: ReportContext) -> str:
    targets = {s.get("name"): s.get("target") for s in ctx.plan.get("stages") or []
               if isinstance(s, dict)}
    rows, detail, keyed = [], [], 0
    for stage in ctx.stage_names:
        if ctx.table is not None:  # 10^6 keys: sorted and hashed on the columns
            n, digest, keys = stage_keys(ctx.table, stage, MAX_KEYS - len(detail))
        else:
            keys = [(t.id, ctx.extras[t.id].key) for t in ctx.by_stage[stage]
                    if t.id in ctx.extras and ctx.extras[t.id].key]
            digest = hashlib.sha256("\n".join(sorted(k for _, k in keys)).encode()).hexdigest()
            n = len(keys)
        rows.append([esc(stage), f"<code>{esc(targets.get(stage) or '-')}</code>",
                     f"{n:,}", f"<code>{digest[:16]}</code>" if n else "-"])
        detail += keys
        keyed += n
    shown = "".join(f"<tr><td>{esc(tid)}</td><td><code>{esc(k)}</code></td></tr>"
                    for tid, k in detail[:MAX_KEYS])
    more = (f'<p class="note">{keyed - MAX_KEYS:,} more not shown.</p>'
            if keyed > MAX_KEYS else "")
    return ("<h3>Code and input hashes</h3><p class=\"note\">A task's key hashes its stage "
            "definition, resolved inputs, upstream keys and the code it runs; the digest is "
            "the SHA-256 of a stage's sorted keys (equal digests: same code and inputs).</p>"
            + table(["stage", "target", "keyed tasks", "digest"], rows, {2})
            + f"<details><summary>task keys</summary><table>{shown}</table>{more}</details>")


def _packages() -> str:
    rows = [[esc(n), esc(v or "not installed")] for n, v in package_versions()]
    return ("<h3>Package versions</h3><p class=\"note\">Read with importlib.metadata where and "
            "when this report was generated; the run's workers may have used others.</p>"
            + table(["package", "version"], rows))


def _spec_text(ctx: ReportContext) -> str:
    if not ctx.spec:
        return "<h3>Resolved spec</h3><p>no spec.json</p>"
    text = json.dumps(ctx.spec.get("workflow", ctx.spec), indent=2, default=str)
    cut = ""
    if len(text) > MAX_SPEC_CHARS:
        text, cut = text[:MAX_SPEC_CHARS], f" (first {MAX_SPEC_CHARS:,} characters)"
    return (f"<h3>Resolved spec</h3><details><summary>spec.json{esc(cut)}</summary>"
            f"<pre>{esc(text)}</pre></details>")


def package_versions() -> list[tuple[str, str | None]]:
    """Versions installed where the report is generated (read now, not at run time)."""
    out: list[tuple[str, str | None]] = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return out
