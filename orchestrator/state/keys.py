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
from functools import lru_cache
from pathlib import Path
from typing import Any


def digest(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def task_key(stage_def: dict[str, Any], inputs: dict[str, Any], upstream_keys: list[str],
             code_hash: str, iteration: int | None = None) -> str:
    return digest({"stage": stage_def, "inputs": inputs, "upstream": upstream_keys,
                   "code": code_hash, "iteration": iteration})[:32]


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


def code_hash(target: str, kind: str, base_dir: Path) -> str:
    """Hash of the code a stage runs: for python stages the module's source file and,
    when it lives next to the spec, every .py file there (helpers it imports)."""
    if kind != "python":
        return digest({"shell": target})
    module = target.split(":", 1)[0]
    path = module_file(module, base_dir)
    if path is None:
        return digest({"unresolved": target})
    files = [path]
    try:
        if path.resolve().is_relative_to(base_dir.resolve()):
            files = sorted(p for p in base_dir.rglob("*.py") if "__pycache__" not in p.parts)
    except OSError:
        pass
    return digest([(str(p.relative_to(base_dir)) if p.is_relative_to(base_dir) else str(p),
                    file_hash(p)) for p in files])
