"""Fetching template sources into the cache, and hashing template content.

The cache is `$ORCH_CACHE/templates` (else `$XDG_CACHE_HOME/orch/templates`, else
`~/.cache/orch/templates`):

    git/<slug>-<key>/mirror.git       a bare mirror of the repository
    git/<slug>-<key>/trees/<commit>/  the files of one commit (`git archive`)
    dir/<slug>-<key>/<sha256>/        a copy of a directory source at that content hash

`key` is the sha256 of the source's location. Git runs with argument lists (never a
shell), refs are validated before they reach it, archives are unpacked with tarfile's
`data` filter (no absolute paths, no `..`, no links out) and copies take regular files
only, so nothing from a source lands outside its cache directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.spec.sources import check_ref, is_hex, is_url

GIT_TIMEOUT = 600
SKIP_DIRS = {".git", "__pycache__", ".hg", ".svn"}


class FetchError(UserError):
    """A source cannot be fetched, or a ref does not resolve."""


def cache_root() -> Path:
    base = os.environ.get("ORCH_CACHE")
    if base:
        return Path(base).expanduser().resolve() / "templates"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (root / "orch" / "templates").resolve()


def _slot(kind: str, location: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", location.rstrip("/").rsplit("/", 1)[-1])[:40]
    key = hashlib.sha256(location.encode()).hexdigest()[:16]
    return cache_root() / kind / f"{slug.strip('-.') or 'source'}-{key}"


# ---- git ------------------------------------------------------------------------------------
def _run(args: list[str], cwd: Path | None) -> bytes:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    cmd = ["git", "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=" + os.devnull,
           *args]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT, env=env,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise FetchError("git is not installed (it is needed for template sources)") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"git {args[0]} took over {GIT_TIMEOUT} s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise FetchError(f"git {args[0]} failed: {err[-1] if err else proc.returncode}")
    return proc.stdout


def git(args: list[str], cwd: Path | None = None) -> str:
    """Run git with an argument list (no shell); its error output becomes a FetchError."""
    return _run(args, cwd).decode(errors="replace")


def is_git_repo(path: Path) -> bool:
    """A working tree's top or a bare repository (not a folder inside a repository)."""
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


class GitMirror:
    """The cache's bare mirror of one repository."""

    def __init__(self, location: str):
        self.location = location
        self.dir = _slot("git", location)
        self.repo = self.dir / "mirror.git"

    def ensure(self, refresh: bool = False) -> None:
        """Clone on first use; fetch when `refresh` (moved tags come along: it mirrors)."""
        if not (self.repo / "HEAD").is_file():
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.dir))
            try:
                if self.location.startswith("-"):
                    raise FetchError(f"{self.location!r}: a source must not start with '-'")
                git(["clone", "--mirror", "--quiet", "--", self.location, str(tmp / "m")])
                with contextlib.suppress(OSError):  # another process cloned it meanwhile
                    os.rename(tmp / "m", self.repo)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        elif refresh:
            git(["fetch", "--quiet", "--prune", "--force", "origin"], cwd=self.repo)

    def resolve(self, ref: str) -> str:
        """The commit of tag `ref`, or of commit (prefix) `ref`; fetch once if unknown.
        Branches are refused: a pin must not move by itself."""
        problem = check_ref(ref)
        if problem:
            raise FetchError(f"{ref!r}: {problem}")
        self.ensure()
        for attempt in (0, 1):
            found = self._lookup(ref)
            if found:
                return found
            if attempt == 0:
                self.ensure(refresh=True)
        branch = self._rev(f"refs/heads/{ref}")
        if branch:
            raise FetchError(f"{ref!r} is a branch of {self.location}; pin a tag or a commit "
                             "(a branch moves)")
        raise FetchError(f"{self.location} has no tag or commit {ref!r}"
                         + (f" (tags: {', '.join(self.tags()[:8])})" if self.tags() else ""))

    def _lookup(self, ref: str) -> str | None:
        found = self._rev(f"refs/tags/{ref}")
        if found:
            return found
        if is_hex(ref):
            found = self._rev(ref)
            if found and found.startswith(ref):
                return found
        return None

    def _rev(self, name: str) -> str | None:
        try:
            out = git(["rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], cwd=self.repo)
        except FetchError:
            return None
        out = out.strip()
        return out if is_hex(out) and len(out) >= 40 else None

    def tags(self) -> list[str]:
        """Tags, highest version first (`git tag --sort=-v:refname`)."""
        out = git(["for-each-ref", "--sort=-v:refname", "--format=%(refname:strip=2)",
                   "refs/tags"], cwd=self.repo)
        return [t for t in out.split() if not check_ref(t)]

    def tree(self, commit: str, fresh: bool = False) -> Path:
        """The files of `commit`, unpacked once into the cache (again when `fresh`)."""
        dest = self.dir / "trees" / commit
        if dest.is_dir() and not fresh:
            return dest
        self.ensure()
        data = _run(["archive", "--format=tar", commit], cwd=self.repo)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=dest.parent))
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp, filter=_safe_member)
            _read_only(tmp)
            _replace_dir(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest


def _safe_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's `data` filter, skipping (not failing on) what it refuses: a link that
    leads out of the tree, an absolute path, a device file. Such a member never lands in
    the cache; a template that needs it is then not found."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def _read_only(root: Path) -> None:
    """Files of the cache are not for editing (the lock would catch it): no write bits."""
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


def _replace_dir(new: Path, dest: Path) -> None:
    """Move `new` to `dest`, replacing what is there (renames, so readers never see half)."""
    old = None
    if dest.exists():
        old = dest.with_name(f".old-{dest.name}-{os.getpid()}")
        os.rename(dest, old)
    try:
        os.rename(new, dest)
    except OSError:
        if old is not None and not dest.exists():
            os.rename(old, dest)
            old = None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# ---- plain directories ----------------------------------------------------------------------
def content_files(root: Path, below: Path | None = None) -> dict[str, str]:
    """{relative path: sha256} of every file under `below` (default: `root`), relative to
    `root`; caches and VCS folders skipped. A link is hashed as its target text."""
    base = below or root
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in filenames:
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = hashlib.sha256(b"link:" + os.readlink(path).encode()).hexdigest()
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digest(files: dict[str, str]) -> str:
    """One sha256 for a set of files: over `path NUL sha256 LF`, sorted by path."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode())
    return h.hexdigest()


class DirSnapshot:
    """Copies of a plain directory source, one per content hash."""

    def __init__(self, location: str):
        self.location = location
        self.source = Path(location)
        self.dir = _slot("dir", location)

    def current(self) -> tuple[str, Path]:
        """Hash the directory as it is now and keep a copy of it under that hash."""
        if is_url(self.location) or not self.source.is_dir():
            raise FetchError(f"{self.location}: not a directory")
        links = [p for p in self.source.rglob("*") if p.is_symlink()
                 and not (set(p.relative_to(self.source).parts) & SKIP_DIRS)]
        if links:
            raise FetchError(f"{links[0]}: a directory source may not hold symbolic links "
                             "(they could lead out of it); copy the file instead")
        files = content_files(self.source)
        h = digest(files)
        dest = self.dir / h
        if not dest.is_dir():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{h[:12]}-", dir=dest.parent))
            try:
                for rel in files:
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.source / rel, target)
                _read_only(tmp)
                _replace_dir(tmp, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return h, dest

    def tree(self, content_hash: str) -> Path:
        """The copy pinned at `content_hash`; made now if the directory still has it."""
        dest = self.dir / content_hash
        if dest.is_dir():
            return dest
        h, dest = self.current()
        if h != content_hash:
            raise FetchError(f"{self.location} changed since it was pinned (content sha256 "
                             f"{h[:12]}, pinned {content_hash[:12]}) and the cache has no copy "
                             "of the pinned content")
        return dest


def inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False
