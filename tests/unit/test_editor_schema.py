"""`orch schema` as an editor uses it: check-jsonschema (the CLI of the python-jsonschema
validator, draft-07 as yaml-language-server reads it) with the emitted schemas accepts every
shipped workflow, template and site config as written (placeholders, shorthands, files
that extend a template), and rejects a broken one with a message naming the bad key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, orch
from needs import require

WORKFLOWS = sorted(REPO.glob("workflows/*/workflow.yaml"))
TEMPLATES = sorted(REPO.glob("workflows/templates/**/*.yaml"))
SITES = sorted(REPO.glob("site-configs/*.yaml"))


@pytest.fixture(scope="module")
def schemas(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("schemas")
    paths = {"workflow": out / "workflow.schema.json", "site": out / "site.schema.json"}
    assert orch("schema", "--output", paths["workflow"]).rc == 0
    assert orch("schema", "--site", "--output", paths["site"]).rc == 0
    return paths


def check(schema: Path, *files: Path) -> subprocess.CompletedProcess:
    try:
        import check_jsonschema  # noqa: F401
    except ImportError:
        require("check-jsonschema is not installed (pip install -e '.[dev]')")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                           str(schema), "-o", "json", *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def errors(p: subprocess.CompletedProcess) -> list[str]:
    doc = json.loads(p.stdout)
    return [f"{Path(e['filename']).name} {e['path']}: {e['message']}"
            for e in doc.get("errors", [])] + [str(e) for e in doc.get("parse_errors", [])]


def test_there_is_something_to_check():
    assert len(WORKFLOWS) >= 5 and len(TEMPLATES) >= 5 and len(SITES) >= 3


def test_schemas_are_draft_07(schemas):
    p = subprocess.run([sys.executable, "-m", "check_jsonschema", "--check-metaschema",
                        *map(str, schemas.values())], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_shipped_workflows_and_templates_pass(schemas):
    p = check(schemas["workflow"], *WORKFLOWS, *TEMPLATES)
    assert p.returncode == 0, errors(p)


def test_shipped_site_configs_pass(schemas):
    p = check(schemas["site"], *SITES)
    assert p.returncode == 0, errors(p)


def test_placeholders_where_the_spec_takes_them(schemas, tmp_path):
    """Typed fields take a whole-string ${params.NAME}; `orch validate` agrees."""
    wf = tmp_path / "placeholders.yaml"
    wf.write_text(
        "apiVersion: orchestrator/v1\nname: placeholders\n"
        "params:\n  n: 4\n  ranks: {type: int, default: 2}\n  dev: cpu\n  limit: 0.5\n"
        "  retry: {type: bool, default: true}\n"
        "stages:\n  a:\n    shell: 'echo ${sweep.i}'\n"
        "    sweep: {values: {i: {start: 0, stop: '${params.n}', step: 1}}}\n"
        "    resources: {device: '${params.dev}', cores: '${params.ranks}', "
        "fallback: '${params.retry}'}\n"
        "    retries: '${params.n}'\n"
        "  b:\n    python: m:f\n    needs: [a]\n"
        "    sweep: {sample: {n: '${params.n}', space: {x: [0, 1]}}}\n"
        "loops:\n  l:\n    stages: [b]\n    max_iterations: '${params.n}'\n"
        "    until: {stage: b, metric: err, op: '<', value: '${params.limit}'}\n")
    p = check(schemas["workflow"], wf)
    assert p.returncode == 0, errors(p)
    assert orch("validate", wf).rc == 0


def test_a_misspelt_key_is_named(schemas, tmp_path):
    text = (REPO / "workflows/hello-sweep/workflow.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("    resources:\n      device: cpu\n      cores: 1",
                                   "    resorces:\n      device: cpu\n      cores: 1", 1))
    p = check(schemas["workflow"], broken)
    assert p.returncode == 1
    assert errors(p) == ["broken.yaml $.stages.work: Additional properties are not allowed "
                         "('resorces' was unexpected)"]
    assert orch("validate", broken).rc == 1  # the spec agrees


def test_a_wrong_type_and_a_missing_key_are_named(schemas, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: orchestrator/v1\nname: x\nstages:\n  a:\n"
                      "    shell: 'true'\n    retries: lots\n"
                      "loops:\n  l: {stages: [a]}\n")
    found = "\n".join(errors(check(schemas["workflow"], broken)))
    assert "$.stages.a.retries" in found and "'lots'" in found
    assert "$.loops.l: 'max_iterations' is a required property" in found


def test_a_file_that_extends_a_template_may_be_partial(schemas, tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("apiVersion: orchestrator/v1\nname: child\n"
                     "extends: {path: executable-sweep, params: {n_cases: 2}}\n"
                     "stages:\n  solve:\n    retries: 3\n"
                     "loops: {}\n")
    p = check(schemas["workflow"], child)
    assert p.returncode == 0, errors(p)
    child.write_text(child.read_text().replace("retries: 3", "retires: 3"))
    assert "('retires' was unexpected)" in "\n".join(errors(check(schemas["workflow"], child)))


def test_a_broken_site_config_is_named(schemas, tmp_path):
    text = (REPO / "site-configs/laptop.yaml").read_text()
    broken = tmp_path / "site.yaml"
    broken.write_text(text.replace("\nscheduler: local", "\nschedular: local", 1))
    found = "\n".join(errors(check(schemas["site"], broken)))
    assert "('schedular' was unexpected)" in found


def test_schema_output_and_site_flag(tmp_path):
    res = orch("schema", "--site", "-o", tmp_path / "s.json")
    assert res.rc == 0 and "s.json" in res.stdout
    assert json.loads((tmp_path / "s.json").read_text())["title"] == "orchestrator site"
    assert json.loads(orch("schema", "--site").stdout)["title"] == "orchestrator site"
    assert orch("schema", "workflow", "--site").rc == 2
    res = orch("schema", "-o", tmp_path / "missing" / "w.json")
    assert res.rc == 1 and "cannot write the schema" in res.stderr
