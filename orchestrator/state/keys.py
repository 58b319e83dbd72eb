"""Task keys for caching and resume: what a task computes, not what it is called.

A key hashes the stage definition, the task's resolved inputs, the keys of the
tasks it consumes (so a change upstream invalidates everything downstream) and
the content of the code it runs. Code is hashed from source files, without
importing user modules in the driver.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any


def digest(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


_HEX = re.compile(r"[0-9a-f]*")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def task_key(stage_def: dict[str, Any] | str, inputs: dict[str, Any], upstream_keys: list[str],
             code_hash: str, iteration: int | None = None) -> str:
    """`digest` of {code, inputs, iteration, stage, upstream}, composed from parts so that a
    stage definition canonicalised once (`canonical_stage`) is not re-encoded per task; the
    bytes hashed are exactly those of `digest` on the whole dict."""
    stage = stage_def if isinstance(stage_def, str) else _canonical(stage_def)
    hexes = all(_HEX.fullmatch(k) for k in (code_hash, *upstream_keys))
    code = f'"{code_hash}"' if hexes else _canonical(code_hash)  # hex needs no escaping
    upstream = ("[" + ",".join(f'"{k}"' for k in upstream_keys) + "]" if hexes
                else _canonical(upstream_keys))
    it = "null" if iteration is None else _canonical(iteration)
    text = (f'{{"code":{code},"inputs":{_canonical(inputs)},"iteration":{it},'
            f'"stage":{stage},"upstream":{upstream}}}')
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def canonical_stage(stage_def: dict[str, Any]) -> str:
    """A stage definition in the form `task_key` hashes; compute once per stage."""
    return _canonical(stage_def)


@lru_cache(maxsize=256)
def _file_hash(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_hash(path: Path) -> str:
    st = path.stat()
    return _file_hash(path.resolve(), st.st_mtime_ns, st.st_size)


def module_file(module: str, base_dir: Path) -> Path | None:
    """The source file of `module`, looked up next to the spec first, then installed."""
    rel = Path(*module.split("."))
    for cand in (base_dir / f"{rel}.py", base_dir / rel / "__init__.py"):
        if cand.is_file():
            return cand
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    if module == top or not spec.submodule_search_locations:
        return Path(spec.origin)
    root = Path(next(iter(spec.submodule_search_locations)))
    sub = Path(*module.split(".")[1:])
    for cand in (root / f"{sub}.py", root / sub / "__init__.py"):
        if cand.is_file():
            return cand
    return None


_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages"}


def _sources(base_dir: Path) -> list[Path]:
    """.py files under `base_dir`, without descending into run directories (they hold one
    folder per task: walking them made start-up grow with every earlier run), hidden
    folders or virtual environments."""
    out = []
    for root, dirs, files in os.walk(base_dir):
        if root != str(base_dir) and ("run.json" in files or "pyvenv.cfg" in files):
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        out.extend(Path(root, f) for f in files if f.endswith(".py"))
    return out


def code_hash(target: str, kind: str, base_dir: Path,
              memo: dict[Any, str] | None = None) -> str:
    """Hash of the code a stage runs: for python stages the module's source file and,
    when it lives next to the spec, every .py file there (helpers it imports). `memo`
    (one per run) keeps the folder's hash, the same for every stage whose module is there."""
    if kind != "python":
        return digest({"shell": target})
    module = target.split(":", 1)[0]
    path = module_file(module, base_dir)
    if path is None:
        return digest({"unresolved": target})
    try:
        inside = path.resolve().is_relative_to(base_dir.resolve())
    except OSError:
        inside = False
    if not inside:
        return _files_digest([path], base_dir)
    if memo is not None and ("dir", base_dir) in memo:
        return memo[("dir", base_dir)]
    try:
        files = sorted(_sources(base_dir))
    except OSError:
        files = [path]
    value = _files_digest(files, base_dir)
    if memo is not None:
        memo[("dir", base_dir)] = value
    return value


def code_files(target: str, kind: str, base_dir: Path) -> list[Path]:
    """The files `code_hash` covers for a stage (none for shell stages or unresolved
    modules): the module's file, and every .py file next to the spec when it lives there."""
    if kind != "python":
        return []
    path = module_file(target.split(":", 1)[0], base_dir)
    if path is None:
        return []
    try:
        if not path.resolve().is_relative_to(base_dir.resolve()):
            return [path]
        return sorted(_sources(base_dir))
    except OSError:
        return [path]


def _files_digest(files: list[Path], base_dir: Path) -> str:
    return digest([(str(p.relative_to(base_dir)) if p.is_relative_to(base_dir) else str(p),
                    file_hash(p)) for p in files])
