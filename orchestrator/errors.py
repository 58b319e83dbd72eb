"""One root for every error the orchestrator raises on purpose.

`UserError` (and subclasses) mean the user can fix it: the CLI prints the
diagnostics and exits 1. Anything else reaching the CLI boundary is a bug
(exit 70).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Loc:
    """A place in a source file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One located message: `FILE:LINE:COL: error: key.path: message`."""

    loc: Loc | None
    path: str
    message: str
    severity: str = "error"
    hint: str | None = None

    def format(self) -> str:
        where = str(self.loc) if self.loc else "<input>"
        text = f"{where}: {self.severity}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_json(self) -> dict:
        return {
            "file": self.loc.file if self.loc else None,
            "line": self.loc.line if self.loc else None,
            "col": self.loc.col if self.loc else None,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


class OrchestratorError(Exception):
    """Root of all deliberate errors."""


class UserError(OrchestratorError):
    """Something the user wrote or asked for is wrong; carries diagnostics."""

    exit_code = 1

    def __init__(self, diagnostics: list[Diagnostic] | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(None, "", diagnostics)]
        self.diagnostics = sorted(diagnostics, key=_sort_key)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class SpecError(UserError):
    """The workflow spec (or a file it includes) is invalid."""


class SiteError(UserError):
    """The site config is invalid."""


class PlanError(UserError):
    """The spec is valid but cannot be planned on this site."""


class UsageError(OrchestratorError):
    """Bad command-line usage (exit 2)."""

    exit_code = 2


@dataclass
class DiagnosticSink:
    """Collects diagnostics so that every error in a file is reported at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, loc: Loc | None, path: str, message: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(loc, path, message, "error", hint))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, cls: type[UserError] = UserError) -> None:
        if self.items:
            raise cls(_dedupe(self.items))


def _sort_key(d: Diagnostic) -> tuple:
    if d.loc is None:
        return ("", 0, 0, d.path)
    return (d.loc.file, d.loc.line, d.loc.col, d.path)


def _dedupe(items: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[str] = set()
    out = []
    for d in items:
        key = d.format()
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
