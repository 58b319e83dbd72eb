"""Template sources: `orch templates add|update`, `SOURCE:NAME@VERSION` references, the
cache and the lock file (docs/templates.md#template-sources). Local git repositories in
tmp dirs stand in for labs; the cache is in tmp (ORCH_CACHE)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_clean_failure, orch, write
from template_repos import GREET_V1, GREET_V2, commit, git, head, make_repo

from orchestrator.errors import SpecError
from orchestrator.spec.load import load_spec
from orchestrator.spec.sources import SourceRef, parse_reference
from orchestrator.spec.templates import discover

WORKFLOW = """
apiVersion: orchestrator/v1
name: study
include:
  - {ref}
stages:
  hello: {{}}
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("ORCH_CACHE", str(path))
    return path / "templates"


@pytest.fixture
def lab_a(tmp_path, cache):
    """Lab A's repository: `greet` (single file) and `relax` (a directory template with
    a helper module), tagged v1."""
    return make_repo(tmp_path / "labA", {
        "greet.yaml": GREET_V1,
        "relax/template.yaml": GREET_V1.replace("name: greet", "name: relax"),
        "relax/helpers.py": "X = 1\n",
        "README.md": "lab A's templates\n",
    }, tag="v1")


@pytest.fixture
def project(tmp_path, lab_a, monkeypatch):
    """Lab B's project directory (the cwd) with lab A added at v1."""
    proj = tmp_path / "labB"
    proj.mkdir()
    monkeypatch.chdir(proj)
    res = orch("templates", "add", "labA", "../labA", "--ref", "v1")
    assert res.rc == 0, res.stderr
    return proj


def workflow(proj: Path, ref: str, name: str = "workflow.yaml") -> Path:
    return write(proj / name, WORKFLOW.format(ref=ref))


def lock_of(proj: Path, name: str = "workflow.lock.yaml") -> dict:
    import yaml

    return yaml.safe_load((proj / name).read_text())


# ---- references -----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "ref"), [
    ("labA:greet", SourceRef("labA", "greet")),
    ("labA:greet@v1", SourceRef("labA", "greet", "v1")),
    ("lab_a-2:relax.md@release/2.0", SourceRef("lab_a-2", "relax.md", "release/2.0")),
    ("solver-sweep", None), ("template.yaml", None), ("sub/a.yaml", None),
])
def test_references(text, ref):
    assert parse_reference(text) == ref


@pytest.mark.parametrize(("text", "message"), [
    ("labA:../etc/passwd", "template name '../etc/passwd'"),
    ("labA:greet@--upload-pack=evil", "version '--upload-pack=evil'"),
    ("labA:greet@v1..v2", "version 'v1..v2': not a valid git tag"),
    ("labA:", "template name ''"),
])
def test_malformed_references_are_located_errors(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    workflow(tmp_path, json.dumps(text))
    res = orch("validate", "workflow.yaml")
    assert_clean_failure(res, 1)
    assert res.stderr.startswith("workflow.yaml:4:5: error: include[0]: ")
    assert "is not SOURCE:NAME[@VERSION]" in res.stderr and message in res.stderr


# ---- add ------------------------------------------------------------------------------------
def test_add_pins_newest_tag_and_lists_templates(tmp_path, lab_a, monkeypatch):
    commit(lab_a, {"greet.yaml": GREET_V2}, tag="v2")
    commit(lab_a, {"README.md": "untagged work\n"})
    monkeypatch.chdir(tmp_path)
    res = orch("templates", "add", "labA", "labA", "--dir", "proj", "--format", "json")
    assert res.rc == 0, res.stderr
    doc = res.json()
    assert doc["source"] == {"name": "labA", "url": "../labA", "kind": "git", "ref": "v2",
                             "commit": git(lab_a, "rev-parse", "v2"), "path": ""}
    assert doc["templates"] == ["greet", "relax"]
    text = (tmp_path / "proj" / "orch-templates.yaml").read_text()
    assert 'url: "../labA"' in text and 'ref: "v2"' in text


@pytest.mark.parametrize(("args", "message"), [
    (["--ref", "main"], "'main' is a branch of"),
    (["--ref", "v9"], "has no tag or commit 'v9' (tags: v1)"),
    (["--ref=-x"], "--ref '-x': a tag or commit is letters"),
    (["--path", "../up"], "--path '../up': a relative folder"),
    (["--path", "nothing"], "has no templates (NAME.yaml or NAME/template.yaml)"),
])
def test_add_refuses(tmp_path, lab_a, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    res = orch("templates", "add", "labA", str(lab_a), *args)
    assert_clean_failure(res, 1)
    assert message in res.stderr
    assert not (tmp_path / "orch-templates.yaml").exists()


def test_add_needs_a_tag_or_ref_and_a_new_name(tmp_path, cache, monkeypatch):
    repo = make_repo(tmp_path / "untagged", {"greet.yaml": GREET_V1})
    monkeypatch.chdir(tmp_path)
    res = orch("templates", "add", "u", str(repo))
    assert_clean_failure(res, 1)
    assert "has no tags: pin a commit with --ref COMMIT" in res.stderr
    assert orch("templates", "add", "u", str(repo), "--ref", head(repo)[:10]).rc == 0
    again = orch("templates", "add", "u", str(repo), "--ref", head(repo))
    assert_clean_failure(again, 1)
    assert "already has a source 'u'" in again.stderr and "--force" in again.stderr
    assert orch("templates", "add", "u", str(repo), "--ref", head(repo), "--force").rc == 0


def test_project_file_errors_are_located(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "orch-templates.yaml", """
        sources:
          labA:
            url: ../labA
            kind: svn
            ref: v1
            commit: 0123456789abcdef0123456789abcdef01234567
          labB:
            url: ../labB
            knd: git
    """)
    workflow(tmp_path, "labA:greet")
    res = orch("validate", "workflow.yaml")
    assert_clean_failure(res, 1)
    assert "orch-templates.yaml:4:11: error: sources.labA.kind: one of git, dir" in res.stderr
    assert ("orch-templates.yaml:9:5: error: sources.labB.knd: unknown key 'knd' (did you "
            "mean 'kind'?)") in res.stderr


def test_unknown_source_and_template_hint(project):
    workflow(project, "labB:greet@v1")
    res = orch("validate", "workflow.yaml")
    assert_clean_failure(res, 1)
    assert ("workflow.yaml:4:5: error: include[0]: orch-templates.yaml names no source 'labB' "
            "(did you mean 'labA'?)") in res.stderr
    workflow(project, "labA:gret@v1")
    res = orch("validate", "workflow.yaml")
    assert "source labA (../labA, v1) has no template 'gret' (did you mean 'greet'?)" in res.stderr


def test_no_project_file_says_how_to_add_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    workflow(tmp_path, "labA:greet")
    res = orch("validate", "workflow.yaml")
    assert_clean_failure(res, 1)
    assert "no template source 'labA': there is no orch-templates.yaml" in res.stderr
    assert "orch templates add labA REPOSITORY --ref TAG" in res.stderr


# ---- the lock -------------------------------------------------------------------------------
def test_first_load_locks_every_file_of_the_template(project, lab_a):
    workflow(project, "labA:relax@v1")
    res = orch("validate", "workflow.yaml")
    assert res.rc == 0, res.stderr
    assert f"note: locked labA:relax@v1 (v1, commit {head(lab_a)[:12]}) in workflow.lock.yaml" \
        in res.stderr
    spec = load_spec("workflow.yaml")
    entry = lock_of(project)["templates"]["labA:relax@v1"]
    commit_v1 = head(lab_a)
    assert entry["source"] == "labA" and entry["ref"] == "v1" and entry["commit"] == commit_v1
    assert entry["template"] == "relax" and entry["path"] == "relax/template.yaml"
    assert set(entry["files"]) == {"relax/template.yaml", "relax/helpers.py"}
    src = next(s for s in spec.sources if s.template == "relax")
    assert (src.source, src.ref, src.commit) == ("labA", "v1", commit_v1)
    assert src.url == str(lab_a)
    # loading again changes nothing
    before = (project / "workflow.lock.yaml").read_text()
    assert load_spec("workflow.yaml").notes == ()
    assert (project / "workflow.lock.yaml").read_text() == before


def test_a_moved_tag_changes_nothing_until_update(project, lab_a):
    workflow(project, "labA:greet@v1")
    first = load_spec("workflow.yaml")
    old = head(lab_a)
    commit(lab_a, {"greet.yaml": GREET_V2})
    git(lab_a, "tag", "-f", "v1")  # lab A moves the tag
    from orchestrator.spec.fetch import GitMirror

    GitMirror(str(lab_a)).ensure(refresh=True)  # even with the moved tag in the cache
    spec = load_spec("workflow.yaml")
    assert next(s for s in spec.sources if s.template == "greet").commit == old
    assert spec.sources == first.sources
    assert lock_of(project)["templates"]["labA:greet@v1"]["commit"] == old


def test_edited_cache_is_a_located_error(project, cache):
    workflow(project, "labA:relax@v1")
    load_spec("workflow.yaml")
    helper = next(cache.glob("git/*/trees/*/relax/helpers.py"))
    helper.chmod(0o644)
    helper.write_text("X = 2  # edited by hand\n")
    res = orch("validate", "workflow.yaml")
    assert_clean_failure(res, 1)
    assert res.stderr.startswith("workflow.yaml:4:5: error: include[0]: labA:relax@v1: the "
                                 "template's content differs from workflow.lock.yaml (v1, "
                                 "commit ")
    assert "relax/helpers.py changed" in res.stderr
    assert "`orch templates update labA`" in res.stderr
    # a new file in a directory template is a difference too
    helper.write_text("X = 1\n")
    assert orch("validate", "workflow.yaml").rc == 0
    new = helper.with_name("extra.py")
    new.write_text("")
    res = orch("validate", "workflow.yaml")
    assert "relax/extra.py is new" in res.stderr


def test_cache_files_are_read_only(project, cache):
    workflow(project, "labA:greet")
    load_spec("workflow.yaml")
    f = next(cache.glob("git/*/trees/*/greet.yaml"))
    assert f.stat().st_mode & 0o222 == 0


def test_project_pin_edited_by_hand_does_not_match_the_lock(project, lab_a):
    workflow(project, "labA:greet")  # follows the project's pin
    load_spec("workflow.yaml")
    commit(lab_a, {"greet.yaml": GREET_V2}, tag="v2")
    text = (project / "orch-templates.yaml").read_text()
    (project / "orch-templates.yaml").write_text(
        text.replace('"v1"', '"v2"').replace(git(lab_a, "rev-parse", "v1"), head(lab_a)))
    res = orch("validate", "workflow.yaml")
    assert_clean_failure(res, 1)
    assert "labA:greet: workflow.lock.yaml has it at v1" in res.stderr
    assert "orch-templates.yaml pins labA at v2" in res.stderr


def test_an_included_file_of_the_source_is_locked(tmp_path, cache, monkeypatch):
    repo = make_repo(tmp_path / "lib", {
        "base.yaml": "params:\n  who: {type: str, default: base}\n",
        "greet.yaml": "extends: base.yaml\n" + GREET_V1.replace(
            "params:\n  who: {type: str, default: world, help: Who to greet.}\n", ""),
    }, tag="v1")
    monkeypatch.chdir(tmp_path)
    assert orch("templates", "add", "lib", str(repo)).rc == 0
    workflow(tmp_path, "lib:greet")
    spec = load_spec("workflow.yaml")
    assert spec.params == {"who": "base"}
    assert set(lock_of(tmp_path)["templates"]["lib:greet"]["files"]) == {"greet.yaml",
                                                                        "base.yaml"}
    base = next(cache.glob("git/*/trees/*/base.yaml"))
    base.chmod(0o644)
    base.write_text("params:\n  who: {type: str, default: evil}\n")
    with pytest.raises(SpecError, match=r"base\.yaml changed"):
        load_spec("workflow.yaml")


def test_directory_source(tmp_path, cache, monkeypatch):
    lib = tmp_path / "shared-lib"
    write(lib / "greet.yaml", GREET_V1)
    monkeypatch.chdir(tmp_path)
    res = orch("templates", "add", "shared", str(lib), "--format", "json")
    assert res.rc == 0, res.stderr
    pinned = res.json()["source"]
    assert pinned["kind"] == "dir" and pinned["ref"] is None and len(pinned["commit"]) == 64
    workflow(tmp_path, "shared:greet")
    assert load_spec("workflow.yaml").params == {"who": "world"}
    write(lib / "greet.yaml", GREET_V2)  # the directory changes: the pinned copy is used
    spec = load_spec("workflow.yaml")
    assert next(s for s in spec.sources if s.template == "greet").version == "1.0"
    res = orch("templates", "update", "shared")
    assert res.rc == 0, res.stderr
    assert "shared: moved" in res.stdout and "greet.yaml" in res.stdout
    assert next(s for s in load_spec("workflow.yaml").sources
                if s.template == "greet").version == "2.0"
    refused = orch("templates", "add", "other", str(lib), "--ref", "v1")
    assert_clean_failure(refused, 1)
    assert "plain directory, pinned to its content hash" in refused.stderr


# ---- update ---------------------------------------------------------------------------------
def test_update_moves_the_pin_rewrites_references_and_the_lock(project, lab_a):
    workflow(project, "labA:greet@v1")
    workflow(project, "labA:greet", name="follows.yaml")
    load_spec("workflow.yaml")
    load_spec("follows.yaml")
    commit(lab_a, {"greet.yaml": GREET_V2}, tag="v2")
    assert load_spec("workflow.yaml").params == {"who": "world"}  # still v1
    files = {p: p.read_text() for p in project.iterdir() if p.is_file()}
    dry = orch("templates", "update", "--dry-run")
    assert dry.rc == 0, dry.stderr
    assert "labA: would move v1" in dry.stdout and "-> v2" in dry.stdout
    assert "workflow.yaml:4:5: labA:greet@v1 -> labA:greet@v2 (would rewrite)" in dry.stdout
    assert {p: p.read_text() for p in project.iterdir() if p.is_file()} == files
    res = orch("templates", "update", "--format", "json")
    assert res.rc == 0, res.stderr
    doc = res.json()
    assert doc["sources"][0]["old_version"] == "v1" and doc["sources"][0]["version"] == "v2"
    by_wf = {Path(w["workflow"]).name: w for w in doc["workflows"]}
    assert by_wf["workflow.yaml"]["rewritten"][0]["new"] == "labA:greet@v2"
    change = by_wf["follows.yaml"]["templates"][0]
    assert change["reference"] == "labA:greet" and change["changed"] == ["greet.yaml"]
    assert "labA:greet@v2" in (project / "workflow.yaml").read_text()
    assert set(lock_of(project)["templates"]) == {"labA:greet@v2"}
    assert lock_of(project, "follows.lock.yaml")["templates"]["labA:greet"]["ref"] == "v2"
    for wf in ("workflow.yaml", "follows.yaml"):
        src = next(s for s in load_spec(wf).sources if s.template == "greet")
        assert (src.version, src.ref, src.commit) == ("2.0", "v2", head(lab_a))
    again = orch("templates", "update", "labA")
    assert again.rc == 0 and "labA: v2" in again.stdout and "stays: the newest tag" in again.stdout


def test_update_is_all_or_nothing(project, lab_a):
    workflow(project, "labA:greet@v1")
    load_spec("workflow.yaml")
    git(lab_a, "rm", "-q", "greet.yaml")
    commit(lab_a, {}, tag="v2")
    files = {p: p.read_text() for p in project.iterdir() if p.is_file()}
    res = orch("templates", "update", "labA")
    assert_clean_failure(res, 1)
    assert "labA:greet@v2: source labA" in res.stderr and "has no template 'greet'" in res.stderr
    assert "orch templates update changed nothing" in res.stderr
    assert {p: p.read_text() for p in project.iterdir() if p.is_file()} == files


def test_update_heals_an_edited_cache_and_keeps_other_versions(project, lab_a, cache):
    workflow(project, "labA:greet@v1")
    load_spec("workflow.yaml")
    f = next(cache.glob("git/*/trees/*/greet.yaml"))
    f.chmod(0o644)
    f.write_text(f.read_text().replace("hello", "HELLO"))
    with pytest.raises(SpecError):
        load_spec("workflow.yaml")
    res = orch("templates", "update", "labA")
    assert res.rc == 0, res.stderr
    assert "labA:greet@v1: unchanged (v1)" in res.stdout
    assert load_spec("workflow.yaml").params == {"who": "world"}


def test_update_refuses_bad_arguments(project):
    res = orch("templates", "update", "labX")
    assert_clean_failure(res, 1)
    assert "names no source 'labX' (did you mean 'labA'?)" in res.stderr
    write(project / "orch-templates.yaml", (project / "orch-templates.yaml").read_text()
          + "  labB:\n    url: x\n    kind: dir\n    commit: " + "ab" * 32 + "\n")
    res = orch("templates", "update", "--ref", "v2")
    assert_clean_failure(res, 1)
    assert "--ref moves one source" in res.stderr


# ---- plan and provenance --------------------------------------------------------------------
def test_plan_shows_template_versions(project, lab_a):
    workflow(project, "labA:greet@v1")
    text = orch("plan", "workflow.yaml", "--site", "laptop")
    assert text.rc == 0, text.stderr
    assert f"templates greet 1.0 from labA@v1 (commit {head(lab_a)[:12]})" in text.stdout
    doc = orch("plan", "workflow.yaml", "--site", "laptop", "--format", "json").json()
    src = next(s for s in doc["sources"] if s["template"] == "greet")
    assert src == {"path": src["path"], "sha256": src["sha256"], "version": "1.0",
                   "template": "greet", "source": "labA", "url": str(lab_a), "ref": "v1",
                   "commit": head(lab_a)}
    own = next(s for s in doc["sources"] if s["path"] == "workflow.yaml")
    assert own["source"] is None and own["commit"] is None


def test_show_schema_and_test_take_a_source_reference(project):
    doc = orch("templates", "show", "labA:greet@v1", "--format", "json").json()
    assert doc["source"]["source"] == "labA" and doc["source"]["ref"] == "v1"
    schema = orch("templates", "schema", "labA:greet").json()
    assert schema["properties"]["who"] == {"type": "string", "description": "Who to greet.",
                                           "default": "world"}
    assert not list(project.glob("*.lock.yaml"))  # looking writes no lock


def test_search_path_ignores_project_files(tmp_path, monkeypatch):
    write(tmp_path / "tally.yaml", GREET_V1)
    write(tmp_path / "workflow.lock.yaml", "lockVersion: 1\ntemplates: {}\n")
    write(tmp_path / "orch-templates.yaml", "sources: {}\n")
    assert [t.name for t in discover([tmp_path])] == ["tally"]


def test_nothing_from_a_source_escapes_the_cache(tmp_path, cache, monkeypatch):
    repo = make_repo(tmp_path / "hostile", {"greet.yaml": GREET_V1}, tag="v1")
    secret = tmp_path / "secret.yaml"
    secret.write_text(GREET_V1.replace("name: greet", "name: secret"))
    (repo / "abs.yaml").symlink_to(secret)
    (repo / "rel.yaml").symlink_to("../secret.yaml")
    (repo / "up").symlink_to("..")
    (repo / "inner.yaml").symlink_to("greet.yaml")
    commit(repo, {}, tag="v2")
    monkeypatch.chdir(tmp_path)
    res = orch("templates", "add", "h", str(repo), "--ref", "v2")
    assert res.rc == 0, res.stderr
    (tree,) = cache.glob("git/*/trees/*")
    for p in tree.rglob("*"):
        assert p.resolve().is_relative_to(tree.resolve()), p
    assert not (tree / "abs.yaml").exists() and not (tree / "rel.yaml").exists()
    for name in ("abs", "rel", "inner"):
        workflow(tmp_path, f"h:{name}")
        res = orch("validate", "workflow.yaml")
        assert_clean_failure(res, 1)
        assert f"has no template '{name}'" in res.stderr
    workflow(tmp_path, "h:greet")
    assert orch("validate", "workflow.yaml").rc == 0


def test_directory_source_with_a_link_is_refused(tmp_path, cache, monkeypatch):
    lib = tmp_path / "lib"
    write(lib / "greet.yaml", GREET_V1)
    (lib / "passwd.yaml").symlink_to("/etc/passwd")
    monkeypatch.chdir(tmp_path)
    res = orch("templates", "add", "lib", str(lib))
    assert_clean_failure(res, 1)
    assert "passwd.yaml: a directory source may not hold symbolic links" in res.stderr
    assert not (tmp_path / "orch-templates.yaml").exists()


def test_update_rewrites_several_references_on_one_line(project, lab_a):
    write(project / "workflow.yaml", """
        apiVersion: orchestrator/v1
        name: study
        include: [labA:greet@v1, "labA:relax@v1"]
        stages:
          hello: {}
    """)
    load_spec("workflow.yaml")
    commit(lab_a, {"README.md": "v10\n"}, tag="v10")
    res = orch("templates", "update", "labA")
    assert res.rc == 0, res.stderr
    assert 'include: [labA:greet@v10, "labA:relax@v10"]' in (project / "workflow.yaml").read_text()
    assert set(lock_of(project)["templates"]) == {"labA:greet@v10", "labA:relax@v10"}
