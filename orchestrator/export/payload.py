"""Which files an RO-Crate export copies, and where each file is in the crate.

A copied file keeps its path relative to the run directory (`tasks/train[0]/model.pt`),
so the crate's `@id` is that path, percent-encoded. A file that is not copied (larger than
the limit, `--no-data`, missing, or changed since the run recorded its SHA-256) is
referenced by its absolute `file://` URI, where it lies in the run directory. Every copy is
hashed as it is written and checked against the SHA-256 the run recorded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SMALL, ALL, NONE = "small", "all", "none"
"""Data policies: copy files up to the size limit (default), every file, none."""
DEFAULT_MAX_COPY = 1 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Placed:
    """A file as the crate describes it."""

    id: str
    rel: str
    """Its path relative to the run directory (or the crate), unencoded."""
    copied: bool
    size: int | None
    sha256: str | None
    note: str | None = None


def crate_id(rel: str) -> str:
    return quote(rel, safe="/")


class Payload:
    """Copies files into the crate's staging folder by the data policy."""

    def __init__(self, staging: Path, policy: str = SMALL, max_copy: int = DEFAULT_MAX_COPY):
        self.staging = staging
        self.policy = policy
        self.max_copy = max_copy
        self.copied = 0
        self.copied_bytes = 0
        self.referenced = 0
        self._placed: dict[str, Placed] = {}

    def data(self, src: Path, rel: str, sha256: str | None = None,
             size: int | None = None) -> Placed:
        """A file the run wrote (a task output, a log, the journal): copied by the policy."""
        return self._place(src, rel, sha256, size, essential=False)

    def record(self, src: Path, rel: str, sha256: str | None = None) -> Placed:
        """A file that says how the run was made (spec, site config, run.json): always
        copied when it is there and unchanged."""
        return self._place(src, rel, sha256, None, essential=True)

    def placed(self, rel: str) -> Placed | None:
        """What became of the file at `rel` (run-relative), if it was placed."""
        return self._placed.get(rel)

    def _place(self, src: Path, rel: str, sha256: str | None, size: int | None,
               essential: bool) -> Placed:
        if rel in self._placed:
            return self._placed[rel]
        try:
            st = src.stat()
        except OSError:
            return self._keep(rel, self._ref(src, rel, sha256, size, "not found when exported"))
        size = st.st_size
        why = None if essential else self._why_not(size)
        if why is None:
            placed = self._copy(src, rel, sha256, size)
        else:
            placed = self._ref(src, rel, sha256, size, why)
        return self._keep(rel, placed)

    def _why_not(self, size: int) -> str | None:
        if self.policy == NONE:
            return "not copied (--no-data)"
        if self.policy == SMALL and size > self.max_copy:
            return f"not copied: {size:,} bytes, over the {self.max_copy:,}-byte limit"
        return None

    def _copy(self, src: Path, rel: str, sha256: str | None, size: int) -> Placed:
        dest = self.staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                h.update(chunk)
                fout.write(chunk)
        got = h.hexdigest()
        if sha256 and got != sha256:
            dest.unlink()
            return self._ref(src, rel, sha256, size,
                             f"changed since the run recorded it (SHA-256 now {got}); not copied")
        self.copied += 1
        self.copied_bytes += size
        return Placed(crate_id(rel), rel, True, size, got)

    def _ref(self, src: Path, rel: str, sha256: str | None, size: int | None,
             note: str) -> Placed:
        self.referenced += 1
        return Placed(Path(os.path.abspath(src)).as_uri(), rel, False, size, sha256, note)

    def _keep(self, rel: str, placed: Placed) -> Placed:
        self._placed[rel] = placed
        return placed
