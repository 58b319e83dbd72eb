"""Scenario 2, fuzzing: hypothesis-generated and mutated workflow specs and site configs go
through the in-process pipeline (spec load, site load, plan); nothing but a UserError may
come out, and every diagnostic it carries is located (FILE:LINE:COL inside the inputs).

The corpus is every shipped workflow, template, test workflow and site config. The default
run tries a few hundred examples; `make test-reliability` runs >= 10,000 per target."""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import UserError
from orchestrator.plan.build import build_plan
from orchestrator.site.load import load_site
from orchestrator.spec.load import load_spec

from .conftest import REPO, WF

SMALL = int(os.environ.get("FUZZ_EXAMPLES", "150"))
LARGE = int(os.environ.get("FUZZ_EXAMPLES_SLOW", "10000"))

SPEC_DIRS = [REPO / "workflows" / "hello-sweep", REPO / "workflows" / "heat-mpi",
             REPO / "workflows" / "heat-surrogate", REPO / "workflows" / "active-learning",
             REPO / "workflows" / "templates", REPO / "tests" / "integration" / "wf", WF,
             REPO / "tests" / "fixtures" / "workflows"]
SITE_FILES = sorted((REPO / "site-configs").glob("*.yaml")) + sorted(
    (REPO / "tests" / "fixtures" / "sites").glob("*.yaml"))
SITES = ["laptop", "local-slurm", "gpu-cluster", "xpu-cluster"]

TOKENS = ["a", "key", ":", ": ", "- ", "\n", "  ", "[", "]", "{", "}", ",", "&x ", "*x", "<<: *x",
          "!!str ", "!!python/object/apply:os.system ", "!custom ", "? ", "|", ">", "'", '"',
          "#", "---", "...", "%TAG ! tag:x:\n", "1", "0x1F", "1e999", ".inf", ".nan", "~",
          "yes", "\t", "\x00", "é", "\\", "${params.n}", "${sweep.i}", "${params.", "$${x}",
          "\r\n", "\ufeff", "\x85", "\u2028", "../", "/etc/passwd", "$(id)", "`id`", ";",
          "-1", "99999999999999999999", "10m", "1GiB", "needs: [", "stages:", "include: [",
          "extends: ", "sweep:", "loops:", "until:", "resources:", "pool: ", "device: gpu"]
HOSTILE_VALUES = ["", " ", "../escape", "/abs/path", "~/x", "a\nb", "$(touch x)", "`id`", "; rm",
                  "${params.n}", "${params.nope}", "${sweep.i}", "${sweep.", "x" * 300, "-rf",
                  "*", "\x00", "é", "1e999", "-1", "0", "null", "true", "10m", "1-00:00:00",
                  "99:99:99", "4GiB", "lots", "m:f", "gpu", "xpu", "cpu", "auto", "slurm",
                  "local", "mpiexec", "srun"]
SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10)
           | st.sampled_from(HOSTILE_VALUES))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(min_size=1, max_size=8) | st.sampled_from(
        ["start", "stop", "step", "num", "values", "device", "gpus", "cores", "memory", "ranks",
         "pool", "walltime", "python", "shell", "needs", "args", "env", "outputs", "sweep"]),
    inner, max_size=3), max_leaves=8)


def _corpus_specs() -> list[Path]:
    out = []
    for d in SPEC_DIRS:
        out += sorted(p for p in d.glob("*.yaml"))
    return out


# ---------------------------------------------------------------- mutations


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate_data(doc: Any, data) -> Any:
    paths = _paths(doc)
    if not paths:
        return data.draw(VALUES)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        op = data.draw(st.sampled_from(["delete", "rename", "replace", "replace", "dup"]))
        if op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            new = data.draw(st.sampled_from([str(key)[:-1] or "x", f"{key}_", str(key).upper(),
                                             f"x-{key}", str(key) + "s"]))
            value = parent.pop(key)
            parent.setdefault(new, value)
        elif op == "dup" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[key] = data.draw(VALUES)
    return doc


def _mutate_text(text: str, data) -> str:
    for _ in range(data.draw(st.integers(1, 3))):
        lines = text.splitlines(keepends=True) or [""]
        op = data.draw(st.sampled_from(["dup", "delete", "indent", "dedent", "swap", "truncate",
                                        "token", "byte"]))
        i = data.draw(st.integers(0, len(lines) - 1))
        if op == "dup":
            lines.insert(i, lines[i])
        elif op == "delete":
            del lines[i]
        elif op == "indent":
            lines[i] = "  " + lines[i]
        elif op == "dedent":
            lines[i] = lines[i][2:] if lines[i].startswith("  ") else lines[i].lstrip()
        elif op == "swap" and len(lines) > 1:
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            return text[: data.draw(st.integers(0, len(text)))]
        else:
            pos = data.draw(st.integers(0, len(lines[i])))
            ins = (data.draw(st.sampled_from(TOKENS)) if op == "token"
                   else chr(data.draw(st.integers(0, 0x2FF))))
            lines[i] = lines[i][:pos] + ins + lines[i][pos:]
        text = "".join(lines)
    return text


def _mutated(original: str, data) -> str:
    how = data.draw(st.sampled_from(["data", "text", "both"]))
    text = original
    if how in ("data", "both"):
        try:
            doc = yaml.safe_load(original)
        except yaml.YAMLError:
            doc = None
        if doc is not None:
            text = yaml.safe_dump(_mutate_data(doc, data), sort_keys=False, allow_unicode=True,
                                  default_flow_style=data.draw(st.sampled_from([False, None])))
    if how in ("text", "both"):
        text = _mutate_text(text, data)
    return text


# ---------------------------------------------------------------- checks


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _yaml_lines(text: str) -> int:
    """Lines as PyYAML's marks count them: CR LF, CR, LF, NEL, LS and PS each end one."""
    return len(_LINE_BREAK.findall(text)) + 1


def _check_located(exc: UserError, files: dict[str, int]) -> int:
    """Every diagnostic names an input file and a line/column inside it."""
    assert exc.diagnostics, f"{type(exc).__name__} without diagnostics: {exc}"
    for d in exc.diagnostics:
        if d.path.startswith("--set"):
            continue
        assert d.loc is not None, f"unlocated: {d.format()}"
        assert d.loc.line >= 1 and d.loc.col >= 1, d.format()
        name = Path(d.loc.file).name
        if name in files:
            assert d.loc.line <= files[name] + 1, (d.format(), files[name])
        assert d.message and d.severity == "error", d.format()
    return len(exc.diagnostics)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    """Copies of the corpus directories (mutated specs are written beside them, so includes,
    extends and python modules resolve as they would)."""
    root = tmp_path_factory.mktemp("fuzz")
    for d in SPEC_DIRS:
        shutil.copytree(d, root / f"{d.parent.name}-{d.name}", ignore=shutil.ignore_patterns(
            "__pycache__", "*.pt", "runs"))
    return root


def _run(n: int, body) -> None:
    settings(max_examples=n, deadline=None, database=None, derandomize=False,
             suppress_health_check=list(HealthCheck))(given(data=st.data())(body))()


def _figure(figure, what: str, n: int, stats: Counter) -> None:
    figure(f"{stats['examples']} {what} examples (target {n}): {stats['ok']} accepted, "
           f"{stats['errors']} located user errors ({stats['diagnostics']} diagnostics, all "
           f"with FILE:LINE:COL), 0 uncaught exceptions", **dict(stats), target=n)


def _fuzz_specs(fuzz_root: Path, n: int, figure) -> None:
    specs = [p for p in fuzz_root.rglob("*.yaml") if "_parts" not in p.parts
             and p.name != "fuzz.yaml"]
    texts = {p: p.read_text(encoding="utf-8") for p in specs}
    stats: Counter = Counter()

    def body(data):
        src = data.draw(st.sampled_from(sorted(texts)))
        text = _mutated(texts[src], data)
        path = src.parent / "fuzz.yaml"
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        sets = data.draw(st.dictionaries(st.sampled_from(["n", "seconds", "grid", "x", "nope"]),
                                         st.sampled_from(["1", "0", "-3", "abc", "", "1e9",
                                                          "$(id)", "${params.n}"]),
                                         max_size=2))
        stats["examples"] += 1
        try:
            spec = load_spec(path, sets)
            build_plan(spec, load_site(data.draw(st.sampled_from(SITES))))
            stats["ok"] += 1
        except UserError as exc:
            files = {"fuzz.yaml": _yaml_lines(text)}
            stats["diagnostics"] += _check_located(exc, files)
            stats["errors"] += 1

    _run(n, body)
    _figure(figure, "mutated spec", n, stats)


def _fuzz_sites(fuzz_root: Path, n: int, figure) -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in SITE_FILES}
    spec = load_spec(REPO / "workflows" / "hello-sweep" / "workflow.yaml")
    stats: Counter = Counter()
    path = fuzz_root / "site.yaml"

    def body(data):
        src = data.draw(st.sampled_from(sorted(texts)))
        text = _mutated(texts[src], data)
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        stats["examples"] += 1
        try:
            build_plan(spec, load_site(path))
            stats["ok"] += 1
        except UserError as exc:
            stats["diagnostics"] += _check_located(exc, {"site.yaml": _yaml_lines(text)})
            stats["errors"] += 1

    _run(n, body)
    _figure(figure, "mutated site config", n, stats)


# A grammar of specs built from the vocabulary (not from the corpus): stages, sweeps, loops
NAMES = st.sampled_from(["a", "b", "c", "train", "x-y", "1st", "", "stages", "a" * 70])


@st.composite
def generated_specs(draw) -> dict:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    stages = {}
    for name in names:
        stage: dict[str, Any] = {}
        kind = draw(st.sampled_from(["python", "shell", "both", "neither"]))
        if kind in ("python", "both"):
            stage["python"] = draw(st.sampled_from(["m:f", "m.f", "m:", ":f", "a.b:c.d"]))
        if kind in ("shell", "both"):
            stage["shell"] = draw(st.sampled_from(["echo ${params.n}", "echo ${sweep.i}", "x",
                                                   "echo $${HOME}", "echo ${params.",
                                                   "echo ${sweep.i} ${sweep.j}"]))
        for key in draw(st.lists(st.sampled_from(["needs", "sweep", "args", "env", "outputs",
                                                  "resources", "retries", "loop"]),
                                 max_size=4, unique=True)):
            if key == "needs":
                stage[key] = draw(st.lists(NAMES, max_size=3))
            elif key == "sweep":
                stage[key] = draw(VALUES) if draw(st.booleans()) else draw(st.sampled_from([
                    {"values": {"i": [1, 2, 3]}},
                    {"values": {"i": {"start": 0, "stop": "${params.n}", "step": 1}}},
                    {"mode": "zip", "values": {"i": [1, 2], "j": [1]}},
                    {"sample": {"method": "lhs", "n": 3, "space": {"x": [0, 1]}}},
                    {"sample": {"method": "sobol", "n": 0, "space": {"x": [1, 0]}}},
                    {"values": {"i": {"start": 0, "stop": 10**9, "step": 1}}},
                ]))
            elif key == "resources":
                stage[key] = draw(st.dictionaries(st.sampled_from(
                    ["cores", "gpus", "memory", "walltime", "device", "nodes", "ranks",
                     "pool"]), SCALARS, max_size=3))
            else:
                stage[key] = draw(VALUES)
        stages[name] = stage
    doc: dict[str, Any] = {"apiVersion": draw(st.sampled_from(["orchestrator/v1", "v2"])),
                           "name": draw(NAMES), "stages": stages}
    if draw(st.booleans()):
        doc["params"] = draw(st.dictionaries(st.sampled_from(["n", "x", "s"]), VALUES,
                                             max_size=3))
    if draw(st.booleans()):
        doc["loops"] = {"l": {"stages": draw(st.lists(NAMES, max_size=2)),
                              "max_iterations": draw(st.integers(-1, 5)),
                              "until": draw(VALUES)}}
    return doc


def _fuzz_generated(fuzz_root: Path, n: int, figure) -> None:
    stats: Counter = Counter()
    path = fuzz_root / "generated.yaml"

    def body(data):
        doc = data.draw(generated_specs())
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        path.write_text(text, encoding="utf-8")
        stats["examples"] += 1
        try:
            build_plan(load_spec(path), load_site(data.draw(st.sampled_from(SITES))))
            stats["ok"] += 1
        except UserError as exc:
            stats["diagnostics"] += _check_located(exc, {"generated.yaml": _yaml_lines(text)})
            stats["errors"] += 1

    _run(n, body)
    _figure(figure, "generated spec", n, stats)


TARGETS = {"mutated_specs": _fuzz_specs, "mutated_sites": _fuzz_sites,
           "generated_specs": _fuzz_generated}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_small(fuzz_root, figure, target):
    TARGETS[target](fuzz_root, SMALL, figure)


@pytest.mark.slow_reliability
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_10k(fuzz_root, figure, target):
    TARGETS[target](fuzz_root, LARGE, figure)
