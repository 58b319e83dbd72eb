"""Per-stage software environments: the site model, the located error for a name the site
lacks, the plan's text/JSON/scripts, and the bash wrapper the worker runs (quoting)."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import assert_clean_failure, orch, spec_text, write
from pydantic import ValidationError

from orchestrator.backends.environments import module_lines, python_command, wrap
from orchestrator.site.environments import Environment
from orchestrator.site.models import Site

SITE = """\
apiVersion: orchestrator/v1
kind: site
name: envlab
scheduler: slurm
pools:
  cpu:
    device: cpu
    partition: cpu
    cores_per_node: 8
    worker_init: "echo init"
environments:
  deepmd:
    modules: [deepmd/2.2, lammps/2025]
    module_use: [/opt/modulefiles]
  venv:
    prefix: /opt/venvs/ml
  box:
    container: {image: "localhost/orch-test:1", options: ["--security-opt=label=disable"]}
    env: {GREETING: hi}
"""


def _site(**environments) -> Site:
    return Site.model_validate({"apiVersion": "orchestrator/v1", "name": "s",
                                "scheduler": "local", "pools": {"cpu": {"device": "cpu"}},
                                "environments": environments})


# ---------------------------------------------------------------- site model


def test_site_environments_validate():
    site = _site(ml={"prefix": "/opt/ml", "env": {"A": "1"}},
                 lmp={"modules": ["lammps/2025"], "module_use": ["/x"]},
                 box={"container": {"image": "localhost/x:1", "engine": "apptainer"}})
    assert site.environments["box"].container.engine == "apptainer"
    assert Environment(container={"image": "i"}).container.engine == "podman"


@pytest.mark.parametrize("name,body,message", [
    ("bad-name", {"env": {"A": "1"}}, "must be an identifier"),
    ("e", {}, "at least one of"),
    ("e", {"prefix": "relative/venv"}, "absolute path"),
    ("e", {"prefix": "/a\nb"}, "one non-empty line"),
    ("e", {"modules": ["lammps\nrm -rf /"]}, "is not a module name"),
    ("e", {"modules": ["$(x)"]}, "is not a module name"),
    ("e", {"modules": ["m"], "module_use": ["rel"]}, "absolute path"),
    ("e", {"module_use": ["/x"], "env": {"A": "1"}}, "need modules"),
    ("e", {"env": {"1A": "x"}}, "not an environment variable name"),
    ("e", {"container": {"image": "-v/:/host"}}, "must not start with '-'"),
    ("e", {"container": {"image": "i", "engine": "docker"}}, "podman"),
    ("e", {"container": {"image": "i", "options": ["a\nb"]}}, "one non-empty line"),
    ("e", {"prefix": "/x", "conda": "y"}, "Extra inputs"),
])
def test_site_environment_errors(name, body, message):
    with pytest.raises(ValidationError, match=message):
        _site(**{name: body})


def test_relative_prefix_is_relative_to_the_site_file(tmp_path):
    from orchestrator.site.load import load_site

    (tmp_path / "sites").mkdir()
    site = SITE + ("  rel:\n    prefix: ../.envs/sci\n"
                   "  here:\n    prefix: ./venv\n  abs:\n    prefix: /opt/x\n")
    write(tmp_path / "sites" / "s.yaml", site)
    envs = load_site(tmp_path / "sites" / "s.yaml").site.environments
    assert envs["rel"].prefix == str(tmp_path / ".envs" / "sci")
    assert envs["here"].prefix == str(tmp_path / "sites" / "venv")
    assert envs["abs"].prefix == "/opt/x"


# ---------------------------------------------------------------- spec and plan


def _stages(env: str = "deepmd", extra: str = "") -> str:
    return spec_text(f"md:\n  shell: lmp -in in.lammps\n  environment: {env}\n"
                     "train:\n  python: m:f\n  environment: venv\n" + extra)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "site.yaml", SITE)
    return tmp_path


def test_undefined_environment_is_located_with_a_hint(lab):
    write(lab / "wf.yaml", _stages(env="deepm"))
    for command in ("validate", "plan"):
        res = orch(command, "wf.yaml", "--site", "site.yaml")
        assert_clean_failure(res, 1)
        assert ("wf.yaml:6:18: error: stages.md.environment: site 'envlab' defines no "
                "environment 'deepm'") in res.stderr
        assert "did you mean 'deepmd'?" in res.stderr


def test_undefined_environment_without_a_close_name_lists_them(lab):
    write(lab / "wf.yaml", _stages(env="zzz"))
    res = orch("validate", "wf.yaml", "--site", "site.yaml")
    assert_clean_failure(res, 1)
    assert "environments: deepmd, venv, box" in res.stderr


def test_environment_name_must_be_an_identifier(lab):
    write(lab / "wf.yaml", _stages(env="'a b'"))
    assert_clean_failure(orch("validate", "wf.yaml"), 1)


def test_container_with_ranks_is_a_located_error(lab):
    write(lab / "wf.yaml", spec_text("""
        mpi:
          shell: echo
          environment: box
          resources: {ranks: 2}
    """))
    res = orch("plan", "wf.yaml", "--site", "site.yaml")
    assert_clean_failure(res, 1)
    assert "stages.mpi.environment: a container environment cannot run a multi-rank" \
        in res.stderr


def test_plan_text_and_json_show_environments(lab):
    write(lab / "wf.yaml", _stages(extra="plain:\n  shell: echo\n"))
    res = orch("plan", "wf.yaml", "--site", "site.yaml")
    assert res.rc == 0, res.stderr
    assert "environment deepmd (modules deepmd/2.2 lammps/2025): md" in res.stdout
    assert "environment venv (prefix /opt/venvs/ml): train" in res.stdout
    assert "environment plain" not in res.stdout
    res = orch("plan", "wf.yaml", "--site", "site.yaml", "--format", "json")
    doc = json.loads(res.stdout)
    assert [s["environment"] for s in doc["stages"]] == ["deepmd", "venv", None]
    assert set(doc["environments"]) == {"deepmd", "venv"}  # the used ones
    assert doc["environments"]["deepmd"]["name"] == "deepmd"
    assert doc["environments"]["deepmd"]["module_use"] == ["/opt/modulefiles"]
    assert doc["environments"]["venv"]["prefix"] == "/opt/venvs/ml"


def test_a_local_site_warns_of_a_prefix_that_is_not_there(lab):
    local = ("apiVersion: orchestrator/v1\nkind: site\nname: here\nscheduler: local\n"
             "pools:\n  cpu:\n    device: cpu\n    cores_per_node: 2\n"
             "environments:\n  venv:\n    description: made by scripts/install-x.sh\n"
             f"    prefix: {lab / 'venv'}\n")
    write(lab / "local.yaml", local)
    write(lab / "wf.yaml", spec_text("train:\n  python: m:f\n  environment: venv\n"))
    res = orch("plan", "wf.yaml", "--site", "local.yaml", "--format", "json")
    assert res.rc == 0, res.stderr
    warning = (f"environment 'venv': prefix {lab / 'venv'} does not exist on this machine "
               "(made by scripts/install-x.sh); its tasks fail until it does")
    assert warning in json.loads(res.stdout)["warnings"]
    (lab / "venv").mkdir()
    res = orch("plan", "wf.yaml", "--site", "local.yaml", "--format", "json")
    assert not any("does not exist" in w for w in json.loads(res.stdout)["warnings"])
    # a cluster's prefixes live on its nodes: the laptop planning for it does not look
    res = orch("plan", "wf.yaml", "--site", "site.yaml", "--format", "json")
    assert not any("does not exist" in w for w in json.loads(res.stdout)["warnings"])


def test_scripts_load_the_pools_modules(lab):
    write(lab / "wf.yaml", _stages())
    res = orch("plan", "wf.yaml", "--site", "site.yaml", "--scripts", "scripts")
    assert res.rc == 0, res.stderr
    text = (lab / "scripts" / "cpu.sbatch").read_text()
    init, modules = text.index("echo init"), text.index("module load deepmd/2.2")
    assert init < modules < text.index("module load lammps/2025")
    assert "module use /opt/modulefiles" in text


def test_no_environment_keeps_task_keys():
    """Stages without `environment` dump as before the field existed (keys hash the dump)."""
    from orchestrator.spec.models import Stage

    assert "environment" not in Stage(shell="x").model_dump(mode="json")
    assert Stage(shell="x", environment="e").model_dump(mode="json")["environment"] == "e"


# ---------------------------------------------------------------- the wrapper script

HOSTILE = "a b $(touch PWNED) `touch PWNED2` \"q' ; touch PWNED3"


def _bash(script: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=30)


def test_wrapper_quotes_hostile_values(tmp_path):
    prefix = tmp_path / HOSTILE.replace("/", "_")
    (prefix / "bin").mkdir(parents=True)
    env = {"name": "h", "prefix": str(prefix), "env": {"HOSTILE": HOSTILE}}
    script = wrap('printf "%s\\n" "$HOSTILE" "${PATH%%:*}"', env, str(tmp_path), str(tmp_path),
                  python_path=str(tmp_path / "lib $(x)"))
    proc = _bash(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [HOSTILE, str(prefix / "bin")]
    assert not list(tmp_path.glob("PWNED*"))


def test_container_command_quotes_everything():
    env = {"name": "c", "container": {"image": "localhost/x:1", "engine": "podman",
                                      "options": ["--label=a b"]},
           "env": {"V": HOSTILE}}
    script = wrap("echo $V", env, "/run dir/tasks/t", "/run dir")
    last = script.splitlines()[-1]
    assert last.startswith("exec podman run --rm --network=none -v '/run dir:/run dir' "
                           "-w '/run dir/tasks/t' ")
    assert "'--env=V=a b $(touch PWNED)" in last and "'--label=a b'" in last
    assert last.endswith("localhost/x:1 /bin/sh -c 'echo $V'")
    app = wrap("true", {"name": "a", "container": {"image": "/sif/x.sif",
                                                   "engine": "apptainer"},
                        "env": {"V": "x y"}}, "/r/t", "/r")
    assert "export APPTAINERENV_V='x y'" in app
    assert app.splitlines()[-1] == ("exec apptainer exec --bind /r:/r --pwd /r/t /sif/x.sif "
                                    "/bin/sh -c true")


def test_container_paths_that_cannot_be_bound():
    from orchestrator.backends.environments import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match="contains ':'"):
        wrap("true", {"container": {"image": "i"}}, "/a:b/t", "/a:b")


def test_missing_module_command_fails_clearly(tmp_path):
    env = {"name": "lm", "modules": ["x/1"], "module_init": str(tmp_path / "no-such-init")}
    proc = _bash(wrap("echo ran", env, str(tmp_path), str(tmp_path)), tmp_path)
    assert proc.returncode == 1 and "ran" not in proc.stdout
    assert "orch: environment lm: sourcing" in proc.stderr
    fake = write(tmp_path / "init.sh", "true\n")  # defines no `module`
    env["module_init"] = str(fake)
    proc = _bash("unset -f module; " + wrap("echo ran", env, str(tmp_path), str(tmp_path)),
                 tmp_path)
    assert proc.returncode == 1 and "ran" not in proc.stdout
    assert "orch: environment lm: no `module` command" in proc.stderr


def test_failed_module_load_stops_the_task(tmp_path):
    init = write(tmp_path / "init.sh", 'module() { [ "$1" != load ] || [ "$2" = good ]; }\n')
    env = {"name": "lm", "modules": ["good", "bad/1"], "module_init": str(init)}
    proc = _bash(wrap("echo ran", env, str(tmp_path), str(tmp_path)), tmp_path)
    assert proc.returncode == 1 and "ran" not in proc.stdout
    assert "orch: environment lm: module load bad/1 failed" in proc.stderr
    lenient = "\n".join(module_lines(env, strict=False)) + "\necho ran"
    assert "ran" in _bash(lenient, tmp_path).stdout  # batch scripts warn and go on


def test_python_command_uses_the_prefix_interpreter():
    assert python_command({"prefix": "/o p"}, "p.json") == \
        "'/o p/bin/python' -m orchestrator.backends.env_entry p.json"
    assert python_command({"modules": ["py"]}, "p.json", "mpiexec -n 2",
                          "orchestrator.backends.mpi_entry") == \
        "mpiexec -n 2 python3 -m orchestrator.backends.mpi_entry p.json"


def test_a_missing_prefix_fails_the_task_saying_so(tmp_path):
    env = {"name": "sci", "prefix": str(tmp_path / "not-installed")}
    script = wrap("echo ran", env, str(tmp_path), str(tmp_path))
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert p.returncode == 1 and "ran" not in p.stdout
    assert f"environment sci: prefix {tmp_path / 'not-installed'} does not exist" in p.stderr
    (tmp_path / "not-installed" / "bin").mkdir(parents=True)
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "ran"
