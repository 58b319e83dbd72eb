"""Every bad spec in tests/fixtures/bad-specs/ gives exactly its expected diagnostics.

Each fixture starts with comment lines:

    # what it shows
    # site: NAME-OR-PATH     (optional: also plan it on this site; errors are then PlanErrors)
    # xfail: BUG: ...        (optional: a known orchestrator bug; the expectation is the fix)
    # expect: LINE:COL: error: key.path: message (hint)
    # expect: _parts/other.yaml:LINE:COL: error: ...   (a diagnostic in another file)

The expected lines are compared exactly and in order, both from `load_spec` (and
`build_plan`) in-process and from `python -m orchestrator validate FILE` (stderr, exit 1).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BAD_SPECS, CLIResult, assert_clean_failure, cli_env, formatted, run_cli

from orchestrator.errors import PlanError, SpecError, UserError
from orchestrator.plan.build import build_plan
from orchestrator.site.load import load_site
from orchestrator.spec.load import load_spec
from orchestrator.spec.yamlio import MAX_FILE_BYTES, load_yaml_bytes

_POS = re.compile(r"^\d+:\d+: ")


@dataclass(frozen=True)
class BadSpec:
    path: Path
    expected: tuple[str, ...]
    site: str | None
    xfail: str | None

    @property
    def name(self) -> str:
        return self.path.name


def _parse(path: Path) -> BadSpec:
    expected, site, xfail = [], None, None
    for raw in path.read_bytes().splitlines():
        if not raw.startswith(b"#"):
            break
        line = raw.decode("utf-8")
        if line.startswith("# expect: "):
            rest = line[len("# expect: "):]
            expected.append(f"{path.name}:{rest}" if _POS.match(rest) else rest)
        elif line.startswith("# site: "):
            site = line[len("# site: "):].strip()
        elif line.startswith("# xfail: "):
            xfail = line[len("# xfail: "):].strip()
    return BadSpec(path, tuple(expected), site, xfail)


BAD = [_parse(p) for p in sorted(BAD_SPECS.glob("*.yaml"))]


def _params() -> list:
    return [pytest.param(b, id=b.path.stem,
                         marks=[pytest.mark.xfail(strict=True, reason=b.xfail)] if b.xfail else [])
            for b in BAD]


def test_fixtures_are_well_formed():
    assert len(BAD) >= 40
    for b in BAD:
        assert b.expected, f"{b.name} has no '# expect:' line"


def _cli_args(b: BadSpec) -> list[str]:
    args = ["validate", b.name]
    if b.site:
        args += ["--site", b.site]
    return args


@pytest.fixture(scope="module")
def cli_results(request, tmp_path_factory) -> dict[str, CLIResult]:
    """The CLI runs are independent subprocesses: run the selected ones at once, a few at a time."""
    wanted = [item.callspec.params["bad"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_bad_spec_cli"]
    env = cli_env(tmp_path_factory.mktemp("cli"))

    def one(spec: BadSpec) -> CLIResult:
        proc = subprocess.run([sys.executable, "-m", "orchestrator", *_cli_args(spec)],
                              cwd=BAD_SPECS, capture_output=True, text=True, timeout=120, env=env)
        return CLIResult(proc.returncode, proc.stdout, proc.stderr)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip([w.name for w in wanted], pool.map(one, wanted), strict=True))


@pytest.mark.parametrize("bad", _params())
def test_bad_spec_in_process(bad: BadSpec, monkeypatch):
    monkeypatch.chdir(BAD_SPECS)
    with pytest.raises(UserError) as info:
        spec = load_spec(bad.name)
        assert bad.site, "load_spec accepted a bad spec"
        build_plan(spec, load_site(bad.site))
    assert formatted(info.value) == list(bad.expected)
    assert isinstance(info.value, PlanError if bad.site else SpecError)


@pytest.mark.parametrize("bad", _params())
def test_bad_spec_cli(bad: BadSpec, cli_results):
    res = cli_results[bad.name]
    assert_clean_failure(res, 1)
    assert res.diag_lines == list(bad.expected)
    if len(bad.expected) > 1:
        assert res.stderr.rstrip().endswith(f"{len(bad.expected)} errors")


def test_many_errors_are_reported_at_once_sorted_by_line(monkeypatch):
    monkeypatch.chdir(BAD_SPECS)
    with pytest.raises(SpecError) as info:
        load_spec("many-errors.yaml")
    diags = info.value.diagnostics
    assert len(diags) >= 5
    assert len({d.message.split(":")[0] for d in diags}) >= 5  # different kinds of error
    positions = [(d.loc.line, d.loc.col) for d in diags]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


def test_alias_bomb_fails_fast():
    data = (BAD_SPECS / "yaml-alias-bomb.yaml").read_bytes()
    t0 = time.process_time()
    with pytest.raises(SpecError, match="alias bomb"):
        load_yaml_bytes(data, "bomb.yaml")
    assert time.process_time() - t0 < 2.0


def test_file_too_big(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"apiVersion: orchestrator/v1\nname: big\n# " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(SpecError) as info:
        load_spec("big.yaml")
    assert formatted(info.value) == ["big.yaml:1:1: error: file is 4.2 MB; specs are limited to 4 MiB"]
    res = run_cli("validate", "big.yaml", cwd=tmp_path)
    assert_clean_failure(res)
    assert res.diag_lines == formatted(info.value)
    with pytest.raises(SpecError, match="limited to 4 MiB"):
        load_yaml_bytes(big.read_bytes(), "big.yaml")


def test_file_size_limit_is_inclusive(tmp_path, monkeypatch):
    import orchestrator.spec.yamlio as yamlio

    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 1000)
    head = b"apiVersion: orchestrator/v1\nname: ok\nstages:\n  a:\n    shell: echo\n# "
    path = tmp_path / "ok.yaml"
    path.write_bytes(head + b"x" * (1000 - len(head) - 1) + b"\n")
    assert path.stat().st_size == 1000
    assert load_spec(path).workflow.name == "ok"
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(SpecError, match=r"file is 0\.0 MB"):
        load_spec(path)


def test_nonexistent_and_unreadable_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="no such file"):
        load_spec("missing.yaml")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(SpecError):
        load_spec("dir.yaml")
