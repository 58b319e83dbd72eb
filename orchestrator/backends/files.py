"""Files between stages, on the worker: upstream outputs staged into a task's directory
before it starts, its declared outputs checked and hashed after it ends. No Parsl.

Hashes are what make a resume re-run exactly the tasks downstream of a changed file:
a producer records (sha256, size, mtime_ns) of each output; a consumer records the
sha256 of each file it read; a file whose size and mtime still match its record is
not read again (`current_hash`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import Any


class FileProblem(RuntimeError):
    """A missing input or output, or an output that leaves the task directory."""


def content_hash(path: str) -> list:
    """[sha256, size, mtime_ns] of a file, or of a directory's files (names and contents)."""
    st = os.stat(path)
    if not os.path.isdir(path):
        with open(path, "rb") as f:
            return [hashlib.file_digest(f, "sha256").hexdigest(), st.st_size, st.st_mtime_ns]
    h = hashlib.sha256()
    size, newest = 0, st.st_mtime_ns
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            sha, n, mtime = content_hash(full)
            h.update(f"{os.path.relpath(full, path)}\0{sha}\n".encode())
            size, newest = size + n, max(newest, mtime)
    return [h.hexdigest(), size, newest]


def current_hash(path: str, recorded: list | None) -> str | None:
    """The file's sha256: the recorded one while size and mtime match, else read again;
    None when it is gone."""
    try:
        if recorded and not os.path.isdir(path):
            st = os.stat(path)
            if [st.st_size, st.st_mtime_ns] == list(recorded[1:3]):
                return recorded[0]
        return content_hash(path)[0]
    except OSError:
        return None


def stage_in(entries: list[list[str]], task_dir: str, mode: str,
             producers: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Link (or copy) each upstream file to its staged path; returns staged path -> sha256
    of what the task reads. `producers`: task id -> that task's record."""
    read: dict[str, str] = {}
    for src, staged, producer, rel in entries:
        dest = os.path.join(task_dir, staged)
        recorded = (producers.get(producer, {}).get("files") or {}).get(rel)
        sha = current_hash(src, recorded)
        if sha is None:
            raise FileProblem(f"input {staged}: {producer} has no {rel!r} ({src})")
        _place(src, dest, mode)
        read[staged] = sha
    return read


def _place(src: str, dest: str, mode: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):  # an earlier attempt's
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        else:
            os.unlink(dest)
    if mode == "copy":
        if os.path.isdir(src):
            shutil.copytree(src, dest, symlinks=True)
        else:
            shutil.copy2(src, dest)
    else:
        os.symlink(src, dest)


def check_outputs(outputs: list[str], task_dir: str) -> dict[str, list]:
    """Each declared output exists inside the task directory: output -> content_hash.
    A missing output, or one that is a link to outside the directory, fails the task."""
    root = os.path.realpath(task_dir)
    missing, outside, files = [], [], {}
    for rel in outputs:
        full = os.path.join(task_dir, rel)
        real = os.path.realpath(full)
        if not os.path.exists(full):
            missing.append(rel + (" (a broken link)" if os.path.lexists(full) else ""))
        elif real != root and not real.startswith(root + os.sep):
            outside.append(f"{rel} -> {real}")
        else:
            files[rel] = content_hash(full)
    if missing:
        raise FileProblem(f"declared outputs missing: {', '.join(missing)} (in {task_dir})")
    if outside:
        raise FileProblem("declared outputs must be files in the task directory; these link "
                          f"outside it: {', '.join(outside)}")
    return files
