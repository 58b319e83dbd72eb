"""Property-based tests (hypothesis). HYPOTHESIS_EXAMPLES=5000 for a slow, thorough run.

Inputs include raw control characters, merge keys, non-finite and huge numbers: every
one of them must end as a located user error, never a crash.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import site
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import SpecError, UserError
from orchestrator.plan.build import build_plan
from orchestrator.spec.load import load_spec
from orchestrator.spec.yamlio import load_yaml_bytes

SITES = ["laptop", "local-slurm", "gpu-cluster", "xpu-cluster"]

# ---------------------------------------------------------------- (a) the YAML loader

TOKENS = [
    "a", "b", "key", "stages", ":", ": ", "- ", "\n", "  ", "    ", "[", "]", "{", "}", ",",
    "&x ", "*x", "&y ", "*y", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!map ",
    "!!seq ", "!!binary ", "!custom ", "!!python/object:os.system ", "!<tag:x> ", "? ", "|",
    "|-", ">", "'", '"', "#", "---", "...", "%YAML 1.2\n", "%TAG ! tag:x:\n", "1", "0x1F",
    "0o7", "1e3", ".inf", ".nan", "~", "yes", "\t", "\x00", "é", "\\", "${params.n}", "\r\n",
    "\ufeff", "\x85", "\u2028",
]


BYTES = st.lists(st.integers(0, 255), max_size=400).map(bytes)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cn"))
               | st.sampled_from("\t\n\r\x00\x01\x1b\x7f\x9b\ufffe"), max_size=300)


@given(BYTES)
def test_random_bytes_only_raise_spec_errors(data):
    try:
        load_yaml_bytes(data, "fuzz.yaml")
    except SpecError as exc:
        assert exc.diagnostics
        assert all(d.loc is not None and d.loc.line >= 1 and d.loc.col >= 1
                   for d in exc.diagnostics)


@given(TEXT)
def test_random_text_only_raises_spec_errors(text):
    try:
        load_yaml_bytes(text.encode("utf-8"), "fuzz.yaml")
    except SpecError as exc:
        assert exc.diagnostics


@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_yaml_token_soup_only_raises_spec_errors(text):
    try:
        load_yaml_bytes(text.encode(), "fuzz.yaml")
    except SpecError as exc:
        assert all(d.loc is not None and d.loc.line >= 1 for d in exc.diagnostics)


# ---------------------------------------------------------------- (b) mutated specs

BASE: dict[str, Any] = {
    "apiVersion": "orchestrator/v1",
    "name": "fuzz",
    "params": {
        "n": {"type": "int", "default": 3, "min": 1, "max": 1000},
        "scale": 0.5,
        "flag": False,
    },
    "stages": {
        "prep": {"shell": "echo ${params.scale}", "outputs": ["data.txt"],
                 "env": {"MODE": "fast"}},
        "work": {
            "python": "m:work",
            "needs": ["prep"],
            "sweep": {"mode": "product", "values": {
                "i": {"start": 0, "stop": "${params.n}", "step": 1}, "c": ["a", "b"]}},
            "args": {"i": "${sweep.i}", "c": "${sweep.c}", "flag": "${params.flag}"},
            "resources": {"device": "gpu", "gpus": 1, "cores": 1, "memory": "1GiB",
                          "walltime": "10m"},
            "retries": 1,
        },
        "sample": {
            "python": "m:sample",
            "sweep": {"sample": {"method": "lhs", "n": 4, "seed": 1, "space": {
                "x": [0, 1], "y": {"low": 0.01, "high": 1, "log": True}}}},
            "resources": {"device": "xpu"},
        },
        "gather": {"python": "m:gather", "needs": ["work", "sample"]},
    },
    "loops": {"al": {"stages": ["gather"], "max_iterations": 3,
                     "until": {"stage": "gather", "metric": "err", "op": "<", "value": 0.1}}},
}

INTERESTING = [
    "${params.n}", "${params.nope}", "${sweep.i}", "${sweep.zz}", "${params.n + 1}", "$${x}",
    "../up", "/abs/path", "~/home", "gpu", "xpu", "cpu", "gpx", "10m", "99:99:99", "1-00:00:00",
    "4GiB", "lots", "m:f", "not a callable", "", " ", "prep", "work", "gather", "lhs", "sobol",
    "zip", "product", "<", "orchestrator/v1", "-1", "0", "1e-3", "yes", "null",
]
SCALARS = (st.none() | st.booleans() | st.integers(-1000, 1000)
           | st.floats(allow_nan=False, allow_infinity=False, width=32)
           | st.text(max_size=12) | st.sampled_from(INTERESTING))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(min_size=1, max_size=8) | st.sampled_from(["start", "stop", "step", "num",
                                                           "values", "device", "gpus"]),
        inner, max_size=3),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def parent_of(doc: Any, path: tuple) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def typo(word: str, data: st.DataObject) -> str:
    word = str(word)
    kind = data.draw(st.sampled_from(["drop", "swap", "insert", "replace"]))
    i = data.draw(st.integers(0, max(0, len(word) - 1)))
    ch = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "swap" and len(word) > 1 and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "insert":
        return word[:i] + ch + word[i:]
    return word[:i] + ch + word[i + 1:]


def mutate_data(doc: dict, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(paths(doc)))
    parent, key = parent_of(doc, path), path[-1]
    op = data.draw(st.sampled_from(["delete", "rename", "replace", "replace"]))
    if op == "delete":
        del parent[key]
    elif op == "rename" and isinstance(parent, dict):
        new = typo(key, data)
        value = parent.pop(key)
        if new not in parent:
            parent[new] = value
    else:
        parent[key] = data.draw(VALUES)


def mutate_text(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True)
    op = data.draw(st.sampled_from(["duplicate", "delete", "truncate", "indent"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "delete":
        del lines[i]
    elif op == "indent":
        lines[i] = "  " + lines[i]
    else:
        cut = data.draw(st.integers(0, len(text)))
        return text[:cut]
    return "".join(lines)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_diagnostics(exc: UserError, text: str) -> None:
    assert exc.diagnostics
    n_lines = text.count("\n") + 1
    for d in exc.diagnostics:
        if d.path.startswith("--set"):
            continue
        assert d.loc is not None, d.format()
        assert d.loc.file.endswith("wf.yaml"), d.format()
        assert 1 <= d.loc.line <= n_lines + 1, (d.format(), n_lines)
        assert d.loc.col >= 1, d.format()
        assert d.severity == "error"
        assert d.message


@given(data=st.data())
def test_mutated_specs_raise_only_located_user_errors(fuzz_dir, data):
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        if paths(doc):
            mutate_data(doc, data)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True,
                          default_flow_style=data.draw(st.sampled_from([False, None])))
    if data.draw(st.booleans()):
        text = mutate_text(text, data)
    sets = data.draw(st.dictionaries(
        st.sampled_from(["n", "scale", "flag", "nn"]),
        st.sampled_from(["1", "2", "abc", "true", "-5", "0.25", "", "1_0"]), max_size=2))
    path = fuzz_dir / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = load_spec(path, sets)
        build_plan(spec, site(data.draw(st.sampled_from(SITES))))
    except UserError as exc:
        check_diagnostics(exc, text)


def test_the_unmutated_base_plans_everywhere(fuzz_dir):
    path = fuzz_dir / "base.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    for name in ("local-slurm", "gpu-cluster", "xpu-cluster"):
        plan = build_plan(load_spec(path), site(name))
        assert plan.task_count == 1 + 6 + 4 + 1


# ---------------------------------------------------------------- (c) sweeps plan to the right count


@st.composite
def sweeps(draw) -> tuple[dict, int, dict[str, list]]:
    """A valid sweep, its expected task count, and the exact values of its list/int variables."""
    mode = draw(st.sampled_from(["product", "zip"]))
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3,
                          unique=True))
    zip_len = draw(st.integers(1, 5))
    values: dict[str, Any] = {}
    exact: dict[str, list] = {}
    lengths = []
    for name in names:
        n = zip_len if mode == "zip" else draw(st.integers(1, 5))
        kind = draw(st.sampled_from(["list", "int_range", "float_range", "num"]))
        start = draw(st.integers(-5, 5))
        if kind == "list":
            words = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), max_size=4)
            items = draw(st.lists(st.integers(-100, 100) | words, min_size=n, max_size=n))
            values[name] = items
            exact[name] = items
        elif kind == "int_range":
            step = draw(st.integers(1, 3)) * draw(st.sampled_from([1, -1]))
            values[name] = {"start": start, "stop": start + step * n, "step": step}
            exact[name] = list(range(start, start + step * n, step))
        elif kind == "float_range":
            step = draw(st.sampled_from([0.1, 0.25, 0.5, 1.5, -0.3]))
            values[name] = {"start": float(start), "stop": start + step * (n - 0.5), "step": step}
        else:
            stop = draw(st.integers(-10, 10) | st.floats(-10, 10))
            values[name] = {"start": start, "stop": stop, "num": n}
        lengths.append(n)
    count = zip_len if mode == "zip" else math.prod(lengths)
    sweep: dict[str, Any] = {"mode": mode, "values": values}
    if draw(st.booleans()):
        n_samples = draw(st.integers(1, 4))
        sweep["sample"] = {"method": draw(st.sampled_from(["lhs", "sobol", "random"])),
                           "n": n_samples, "space": {"x": [0, 1]}}
        count *= n_samples
    return sweep, count, exact


@given(sweeps())
def test_valid_sweeps_plan_to_the_right_number_of_tasks(fuzz_dir, case):
    sweep, count, exact = case
    text = ("apiVersion: orchestrator/v1\nname: sweeps\nstages:\n  s:\n    python: m:f\n"
            f"    sweep: {json.dumps(sweep, ensure_ascii=False)}\n  after:\n    python: m:g\n    needs: [s]\n")
    path = fuzz_dir / "sweep.yaml"
    path.write_text(text)
    plan = build_plan(load_spec(path), site("laptop"))
    tasks = plan.stages["s"].tasks
    assert len(tasks) == count
    assert plan.task_count == count + 1
    assert [t.id for t in tasks] == [f"s[{i}]" for i in range(count)]
    assert len(plan.task_needs(plan.stages["after"].tasks[0])) == count
    for name, vals in exact.items():
        seen = [t.point[name] for t in tasks]
        assert set(map(repr, seen)) == set(map(repr, vals))
        if sweep["mode"] == "zip" and "sample" not in sweep:
            assert seen == vals
    if "sample" in sweep:
        assert all(0 <= t.point["x"] <= 1 for t in tasks)
        assert plan.stages["s"].seed is not None
