"""Small HTML pieces shared by the report's modules: sections, tables, state badges, times,
sizes.

Cells handed to `table` are already-escaped HTML; everything else goes through `esc`.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrator.report.svg import STATE_COLOURS, esc


def section(anchor: str, title: str, inner: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{inner}</section>\n'


def badge(state: str) -> str:
    return (f'<span class="badge" style="background:{STATE_COLOURS.get(state, "#888")}">'
            f"{esc(state)}</span>")


def table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
          total: list[str] | None = None) -> str:
    """`rows` are already-escaped HTML cells."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head) if any(head) else ""
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    if total:
        body += '<tr class="total">' + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(total)) + "</tr>"
    thead = f"<thead><tr>{th}</tr></thead>" if th else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def size_text(n: object) -> str:
    """Bytes for people: 812 B, 94.6 kB, 3.1 MB."""
    if isinstance(n, bool) or not isinstance(n, int | float):
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def clock(ts: Any) -> str:
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return "-"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))
    except (OverflowError, OSError, ValueError):
        return "-"
