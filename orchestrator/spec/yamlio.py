"""Safe YAML loading that keeps source positions and refuses hostile input.

PyYAML's loaders silently keep the last of duplicate keys, resolve `yes`/`no`
and `01:00:00` to bools and sexagesimal ints (YAML 1.1), and expand alias
bombs without limit. We compose nodes with PyYAML's pure-Python composer
(which gives marks) and construct plain values ourselves with the YAML 1.2
core schema, so every container remembers where each key and value came from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import Diagnostic, Loc, SpecError

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 500_000
MAX_DEPTH = 100

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?(?:[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_IMPLICIT_SCALAR = "!orch/implicit-scalar"
_IMPLICIT = {
    yaml.ScalarNode: _IMPLICIT_SCALAR,
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}
_IMPLICIT_TAGS = {_IMPLICIT_SCALAR}
_CORE_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class YDict(dict):
    """A dict that remembers the positions of its keys and values."""

    __slots__ = ("key_locs", "loc", "value_locs")

    def __init__(self, loc: Loc | None = None):
        super().__init__()
        self.loc = loc
        self.key_locs: dict[str, Loc] = {}
        self.value_locs: dict[str, Loc] = {}


class YList(list):
    """A list that remembers the position of each item."""

    __slots__ = ("item_locs", "loc")

    def __init__(self, loc: Loc | None = None):
        super().__init__()
        self.loc = loc
        self.item_locs: list[Loc] = []


class _Loader(yaml.SafeLoader):
    """Composer with a nesting-depth cap (PyYAML's composer is recursive)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def resolve(self, kind, value, implicit):  # PyYAML hook
        """Mark implied tags; plain scalars are resolved later by the core schema."""
        return _IMPLICIT[kind]

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.MarkedYAMLError(
                    problem=f"nesting deeper than {MAX_DEPTH} levels", problem_mark=mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml_file(path: Path | str, display: str | None = None) -> Any:
    """Load one YAML file into YDict/YList/scalars, or raise SpecError."""
    path = Path(path)
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            _fail(name, 1, 1, f"file is {size / 1e6:.1f} MB; specs are limited to "
                  f"{MAX_FILE_BYTES // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError([Diagnostic(Loc(name, 1, 1), "", f"cannot read file: {exc.strerror}")]) from None
    return load_yaml_bytes(data, name)


def load_yaml_bytes(data: bytes, name: str) -> Any:
    """Decode, scan and construct one YAML document with positions."""
    if len(data) > MAX_FILE_BYTES:
        _fail(name, 1, 1, f"document is {len(data) / 1e6:.1f} MB; specs are limited to "
              f"{MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data[: exc.start])
        _fail(name, line, col, f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x})")
    nul = text.find("\x00")
    if nul >= 0:
        line, col = _char_line_col(text, nul)
        _fail(name, line, col, "NUL byte in file")
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str) -> Any:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line, col = _char_line_col(text, exc.position)
        _fail(name, line, col, f"invalid YAML: unacceptable character #x{exc.character:04x}"
              if isinstance(exc.character, int) else f"invalid YAML: {exc.reason}")
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or "invalid YAML"
        if exc.context:
            message = f"{exc.context}: {message}"
        _fail(name, (mark.line + 1) if mark else 1, (mark.column + 1) if mark else 1,
              f"invalid YAML: {message}")
    except yaml.reader.ReaderError as exc:
        line, col = _char_line_col(text, exc.position)
        _fail(name, line, col, f"invalid YAML: {exc.reason}")
    except yaml.YAMLError as exc:
        _fail(name, 1, 1, f"invalid YAML: {exc}")
    finally:
        loader.dispose()
    if node is None:
        return YDict(Loc(name, 1, 1))
    return _Builder(name).build(node)


class _Builder:
    """Turns composed nodes into YDict/YList/scalars, enforcing limits."""

    def __init__(self, name: str):
        self.name = name
        self.nodes = 0
        self.errors: list[Diagnostic] = []

    def build(self, node: yaml.Node) -> Any:
        memo: dict[int, int] = {}
        if _expanded_size(node, memo, set()) > MAX_NODES:
            where = node.start_mark
            if isinstance(node, yaml.MappingNode):  # point at the entry that blows up
                total = 1
                for _, value in node.value:
                    total += 1 + _expanded_size(value, memo, set())
                    if total > MAX_NODES:
                        where = value.start_mark
                        break
            _fail(self.name, where.line + 1, where.column + 1,
                  f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        value = self._node(node)
        if self.errors:
            raise SpecError(self.errors)
        return value

    def _loc(self, mark) -> Loc:
        return Loc(self.name, mark.line + 1, mark.column + 1)

    def _node(self, node: yaml.Node, active: frozenset = frozenset()) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            _fail(self.name, node.start_mark.line + 1, node.start_mark.column + 1,
                  f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if len(active) > MAX_DEPTH:
            _fail(self.name, node.start_mark.line + 1, node.start_mark.column + 1,
                  f"nesting deeper than {MAX_DEPTH} levels (through aliases)")
        if node.tag not in _CORE_TAGS and node.tag not in _IMPLICIT_TAGS:
            self.errors.append(Diagnostic(self._loc(node.start_mark), "",
                                          f"tag {node.tag!r} is not allowed (only plain YAML data)"))
            return None
        if id(node) in active:
            _fail(self.name, node.start_mark.line + 1, node.start_mark.column + 1,
                  "recursive alias")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, active | {id(node)})
        if isinstance(node, yaml.SequenceNode):
            out = YList(self._loc(node.start_mark))
            for item in node.value:
                out.append(self._node(item, active | {id(node)}))
                out.item_locs.append(self._loc(item.start_mark))
            return out
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, active: frozenset) -> YDict:
        out = YDict(self._loc(node.start_mark))
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append(Diagnostic(self._loc(key_node.start_mark), "",
                                              "mapping keys must be plain strings"))
                continue
            key = key_node.value
            if key == "<<" and key_node.style is None:
                merged.extend(_merge_sources(value_node))
                continue
            if key in out:
                first = out.key_locs[key]
                self.errors.append(Diagnostic(
                    self._loc(key_node.start_mark), "", f"duplicate key {key!r}",
                    hint=f"first defined at line {first.line}"))
                continue
            out[key] = self._node(value_node, active)
            out.key_locs[key] = self._loc(key_node.start_mark)
            out.value_locs[key] = self._loc(value_node.start_mark)
        for source in merged:
            if not isinstance(source, yaml.MappingNode):
                self.errors.append(Diagnostic(self._loc(source.start_mark), "",
                                              "'<<' merges only mappings"))
                continue
            sub = self._node(source, active)
            if not isinstance(sub, YDict):
                continue
            for key, value in sub.items():
                if key not in out:
                    out[key] = value
                    out.key_locs[key] = sub.key_locs[key]
                    out.value_locs[key] = sub.value_locs[key]
        return out

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        text = node.value
        tag = node.tag
        if any("\ud800" <= c <= "\udfff" for c in text):
            self.errors.append(Diagnostic(self._loc(node.start_mark), "",
                                          "invalid unicode: lone surrogate escape"))
            return ""
        if tag == "tag:yaml.org,2002:str" or (tag == _IMPLICIT_SCALAR and node.style is not None):
            return text
        try:
            if tag == "tag:yaml.org,2002:int":
                return int(text, 0)
            if tag == "tag:yaml.org,2002:float":
                return float(text)
        except ValueError:
            self.errors.append(Diagnostic(self._loc(node.start_mark), "",
                                          f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}"))
            return text
        if tag == "tag:yaml.org,2002:bool":
            if text in _BOOL:
                return _BOOL[text]
            self.errors.append(Diagnostic(self._loc(node.start_mark), "",
                                          f"{text!r} is not a valid bool"))
            return text
        if tag == "tag:yaml.org,2002:null":
            return None
        try:
            return resolve_plain(text)
        except ValueError:
            self.errors.append(Diagnostic(self._loc(node.start_mark), "",
                                          f"number too large ({len(text)} digits)"))
            return None


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """How many nodes the document has once every alias is expanded, counted on the
    composed graph (each distinct node once), so a billion laughs costs microseconds.
    Recursive aliases count as 1 here; the builder reports them."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active or len(active) > MAX_DEPTH:
        return 1
    active.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, active) + _expanded_size(v, memo, active)
            if total > MAX_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded_size(item, memo, active)
            if total > MAX_NODES:
                break
    active.discard(key)
    memo[key] = total
    return total


def resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema for plain scalars (no `yes`, no sexagesimal)."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        body = text.replace("_", "")
        if body.lstrip("+-")[:2] in ("0o", "0x"):
            return int(body, 0)
        return int(body, 10)
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


def _merge_sources(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [node]


def _line_col(prefix: bytes) -> tuple[int, int]:
    """Line and column (in characters, like every other diagnostic) after `prefix`."""
    text = prefix.decode("utf-8", errors="replace")
    return _char_line_col(text, len(text))


def _char_line_col(text: str, position: int) -> tuple[int, int]:
    prefix = text[:position]
    line = prefix.count("\n") + 1
    col = len(prefix) - (prefix.rfind("\n") + 1) + 1
    return line, col


def _fail(name: str, line: int, col: int, message: str) -> None:
    raise SpecError([Diagnostic(Loc(name, line, col), "", message)])
