"""YAML loading: YAML 1.2 core scalars, merge keys, positions, hostile input."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
from conftest import cli_env

from orchestrator.errors import Loc, SpecError
from orchestrator.spec.yamlio import (
    MAX_DEPTH,
    YDict,
    YList,
    load_yaml_bytes,
    load_yaml_file,
    load_yaml_text,
    resolve_plain,
)


def load(text: str):
    return load_yaml_text(textwrap.dedent(text), "t.yaml")


def messages(exc: pytest.ExceptionInfo) -> list[str]:
    return [d.format() for d in exc.value.diagnostics]


# ---------------------------------------------------------------- YAML 1.2 core scalars


@pytest.mark.parametrize(("text", "value"), [
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"), ("Yes", "Yes"),
    ("true", True), ("True", True), ("FALSE", False),
    ("01:00:00", "01:00:00"), ("1:30", "1:30"), ("00:10:00", "00:10:00"),
    ("1e-3", 1e-3), ("1.5", 1.5), (".5", 0.5), ("-2.5e+2", -250.0), ("1.", 1.0),
    ("42", 42), ("-7", -7), ("+3", 3), ("010", 10), ("0o17", 15), ("0x1F", 31), ("1_000", 1000),
    ("~", None), ("null", None), ("Null", None), ("", None),
    ("0b101", "0b101"), ("1e", "1e"), ("-", "-"), ("nan", "nan"), ("inf", "inf"),
    ("orchestrator/v1", "orchestrator/v1"), ("4GiB", "4GiB"), ("10m", "10m"),
])
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text, value):
    got = resolve_plain(text)
    assert got == value
    assert type(got) is type(value)


def test_special_floats():
    assert resolve_plain(".inf") == math.inf
    assert resolve_plain("-.inf") == -math.inf
    assert math.isnan(resolve_plain(".nan"))


def test_scalars_in_a_document_keep_their_types():
    doc = load("""
        a: yes
        b: 1e-3
        c: 01:00:00
        d: "1"
        e: '2'
        f: !!str 3
        g: !!int "4"
        h: !!float 5
        i: |
          block
        j: 0.0001
        k: no
    """)
    assert doc == {"a": "yes", "b": 0.001, "c": "01:00:00", "d": "1", "e": "2", "f": "3",
                   "g": 4, "h": 5.0, "i": "block\n", "j": 0.0001, "k": "no"}
    assert isinstance(doc["b"], float)
    assert isinstance(doc["g"], int)


@pytest.mark.parametrize(("text", "message"), [
    ("a: !!int abc\n", "t.yaml:1:4: error: 'abc' is not a valid int"),
    ("a: !!float x\n", "t.yaml:1:4: error: 'x' is not a valid float"),
    ("a: !!bool yes\n", "t.yaml:1:4: error: 'yes' is not a valid bool"),
])
def test_explicit_core_tags_are_checked(text, message):
    with pytest.raises(SpecError) as info:
        load_yaml_text(text, "t.yaml")
    assert messages(info) == [message]


def test_utf8_bom_and_non_ascii_text():
    doc = load_yaml_bytes("\ufeffname: café ☕\n".encode(), "t.yaml")
    assert doc == {"name": "café ☕"}


def test_empty_document_is_an_empty_mapping_at_1_1():
    doc = load_yaml_text("# only a comment\n", "t.yaml")
    assert isinstance(doc, YDict) and doc == {}
    assert doc.loc == Loc("t.yaml", 1, 1)


# ---------------------------------------------------------------- merge keys


def test_merge_keys_merge_and_explicit_keys_win():
    doc = load("""
        base: &base
          cores: 2
          memory: 1GiB
        extra: &extra
          walltime: 5m
          cores: 8
        one:
          <<: *base
          cores: 4
        many:
          <<: [*base, *extra]
    """)
    assert doc["one"] == {"cores": 4, "memory": "1GiB"}
    # the first mapping in a merge list wins over later ones
    assert doc["many"] == {"cores": 2, "memory": "1GiB", "walltime": "5m"}
    # merged keys keep the position where they were written
    assert doc["one"].key_locs["memory"] == Loc("t.yaml", 4, 3)
    assert doc["one"].key_locs["cores"] == Loc("t.yaml", 10, 3)
    assert doc["many"].value_locs["walltime"] == Loc("t.yaml", 6, 13)


def test_quoted_merge_key_is_an_ordinary_key():
    assert load('a: {"<<": 1}\n') == {"a": {"<<": 1}}


def test_merge_keys_in_a_valid_spec(spec_file):
    from orchestrator.spec.load import load_spec

    path = spec_file("""\
apiVersion: orchestrator/v1
name: merged
stages:
  a: &a
    shell: echo a
    resources:
      cores: 2
      walltime: 5m
  b:
    <<: *a
    shell: echo b
""")
    wf = load_spec(path).workflow
    assert wf.stages["b"].shell == "echo b"
    assert wf.stages["b"].resources.cores == 2
    assert wf.stages["b"].resources.walltime == "5m"


# ---------------------------------------------------------------- positions


def test_positions_of_keys_values_and_items():
    doc = load("""
        apiVersion: orchestrator/v1
        stages:
          work:
            needs: [a, "b"]
            args: {x: 1, y: [2, 3]}
            outputs:
              - one.txt
              -   two.txt
    """)
    assert doc.key_locs["apiVersion"] == Loc("t.yaml", 2, 1)
    assert doc.value_locs["apiVersion"] == Loc("t.yaml", 2, 13)
    stages = doc["stages"]
    assert doc.value_locs["stages"] == Loc("t.yaml", 4, 3)
    assert stages.key_locs["work"] == Loc("t.yaml", 4, 3)
    work = stages["work"]
    assert work.key_locs["needs"] == Loc("t.yaml", 5, 5)
    assert work.value_locs["needs"] == Loc("t.yaml", 5, 12)
    assert isinstance(work["needs"], YList)
    assert work["needs"].item_locs == [Loc("t.yaml", 5, 13), Loc("t.yaml", 5, 16)]
    args = work["args"]
    assert args.key_locs["y"] == Loc("t.yaml", 6, 18)
    assert args["y"].item_locs == [Loc("t.yaml", 6, 22), Loc("t.yaml", 6, 25)]
    assert work["outputs"].item_locs == [Loc("t.yaml", 8, 9), Loc("t.yaml", 9, 11)]


def test_locate_in_a_loaded_spec(spec_file):
    from orchestrator.spec.load import load_spec

    path = spec_file("""\
apiVersion: orchestrator/v1
name: pos
stages:
  train:
    python: m:f
    resources:
      device: gpu
      gpus: 2
""")
    spec = load_spec(path)
    assert spec.locate("stages", "train", "resources", "gpus") == Loc("wf.yaml", 8, 13)
    assert spec.locate("stages", "train", "resources", "gpus", key=True) == Loc("wf.yaml", 8, 7)
    # a key that is not written: the nearest enclosing value
    assert spec.locate("stages", "train", "resources", "walltime") == Loc("wf.yaml", 7, 7)


# ---------------------------------------------------------------- hostile input


def test_nesting_limit():
    ok = "x: " + "[" * (MAX_DEPTH - 5) + "]" * (MAX_DEPTH - 5) + "\n"
    assert isinstance(load_yaml_text(ok, "t.yaml")["x"], list)
    deep = "x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(SpecError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        load_yaml_text(deep, "t.yaml")
    deep_block = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * 105 + "v\n"
    with pytest.raises(SpecError, match="nesting deeper"):
        load_yaml_text(deep_block, "t.yaml")


def test_recursive_alias_is_refused():
    with pytest.raises(SpecError) as info:
        load_yaml_text("a: &x [1, *x]\n", "t.yaml")
    assert messages(info) == ["t.yaml:1:4: error: recursive alias"]


def test_shared_alias_is_fine():
    doc = load_yaml_text("a: &x {k: 1}\nb: [*x, *x]\n", "t.yaml")
    assert doc["b"] == [{"k": 1}, {"k": 1}]


def test_undefined_alias_is_a_yaml_error():
    with pytest.raises(SpecError) as info:
        load_yaml_text("a: *nope\n", "t.yaml")
    assert messages(info) == ["t.yaml:1:4: error: invalid YAML: found undefined alias 'nope'"]


def test_tab_indentation_is_a_located_yaml_error():
    with pytest.raises(SpecError) as info:
        load_yaml_text("a:\n\tb: 1\n", "t.yaml")
    (msg,) = messages(info)
    assert msg.startswith("t.yaml:2:1: error: invalid YAML: ")


def test_two_documents_are_refused_at_the_second():
    with pytest.raises(SpecError) as info:
        load_yaml_text("a: 1\n---\nb: 2\n", "t.yaml")
    assert info.value.diagnostics[0].loc == Loc("t.yaml", 2, 1)


def test_two_documents_message_is_readable():
    with pytest.raises(SpecError) as info:
        load_yaml_text("a: 1\n---\nb: 2\n", "t.yaml")
    message = info.value.diagnostics[0].message
    assert "single document" in message
    assert not message.startswith("invalid YAML: but")


def test_missing_file():
    with pytest.raises(SpecError, match="cannot read file"):
        load_yaml_file("/nonexistent/dir/x.yaml", "x.yaml")


def test_python_tags_never_execute(tmp_path):
    marker = tmp_path / "pwned"
    text = (f"a: !!python/object/apply:os.system ['touch {marker}']\n"
            f"b: !!python/object/new:pathlib.Path ['{marker}']\n")
    with pytest.raises(SpecError) as info:
        load_yaml_text(text, "t.yaml")
    assert len(info.value.diagnostics) == 2
    assert not marker.exists()


# ---------------------------------------------------------------- known bugs


def test_self_referential_merge_is_an_error():
    with pytest.raises(SpecError):
        load_yaml_text("a: &x {b: 1, <<: *x}\n", "t.yaml")


def test_merge_key_bomb_fails_fast(tmp_path):
    lines = ["a: &a {}"]
    prev = "a"
    for name in "bcdefghijk":
        lines.append(f"{name}: &{name} {{<<: [" + ", ".join([f"*{prev}"] * 9) + "]}")
        prev = name
    code = ("import sys\nfrom orchestrator.spec.yamlio import load_yaml_bytes\n"
            "from orchestrator.errors import SpecError\n"
            "try:\n    load_yaml_bytes(sys.stdin.buffer.read(), 'bomb.yaml')\n"
            "except SpecError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], input="\n".join(lines).encode(),
                          capture_output=True, timeout=2, env=cli_env(tmp_path))
    assert b"alias bomb" in proc.stdout


def test_deep_nesting_through_aliases_is_an_error():
    lines, prev = [], None
    for k in range(15):
        inner = f"*a{prev}" if prev is not None else "1"
        lines.append(f"a{k}: &a{k} " + "[" * 90 + inner + "]" * 90)
        prev = k
    with pytest.raises(SpecError):
        load_yaml_text("\n".join(lines) + "\n", "t.yaml")


def test_huge_integer_is_a_spec_error_not_a_crash():
    with pytest.raises(SpecError):
        load_yaml_bytes(b"x: " + b"9" * 5000 + b"\n", "t.yaml")


def test_columns_count_characters_after_non_ascii_text():
    with pytest.raises(SpecError) as info:
        load_yaml_bytes("x: é\x00\n".encode(), "t.yaml")
    assert info.value.diagnostics[0].loc == Loc("t.yaml", 1, 5)
    with pytest.raises(SpecError) as info:
        load_yaml_bytes("x: é".encode() + b"\xff\n", "t.yaml")
    assert info.value.diagnostics[0].loc == Loc("t.yaml", 1, 5)


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\x9b", "\ufffe"])
def test_control_characters_are_a_spec_error(char):
    with pytest.raises(SpecError) as info:
        load_yaml_bytes(f"name: a{char}b\n".encode(), "t.yaml")
    assert info.value.diagnostics[0].loc == Loc("t.yaml", 1, 8)
