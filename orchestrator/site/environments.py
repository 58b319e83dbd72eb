"""Site-defined software environments: what a name a stage gives (`environment: deepmd`)
means on this site. A Python prefix, module lines, a container image and variables, in any
combination; the worker turns one into a bash wrapper (backends/environments.py).

Every value here ends up in a shell script, shell-quoted; the checks below reject what
quoting cannot make sensible (newlines, NULs, relative paths)."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODULE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+@:,=/-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _line(value: str, what: str) -> str:
    if not value or "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"{what} must be one non-empty line: {value!r}")
    return value


def _abs_path(value: str, what: str) -> str:
    _line(value, what)
    if not value.startswith("/"):
        raise ValueError(f"{what} must be an absolute path: {value!r}")
    return value


class Container(_Model):
    """The task runs inside `image`, the run directory bound at the same path."""

    image: str = Field(description="podman: an image reference (localhost/x:1); "
                       "apptainer: a .sif path or docker:// reference.")
    engine: Literal["podman", "apptainer"] = "podman"
    options: list[str] = Field(default_factory=list, description=(
        "Extra arguments to `podman run` / `apptainer exec`, one argument each "
        "(e.g. --device=nvidia.com/gpu=all, --nv)."))

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        _line(v, "container.image")
        if v.startswith("-"):
            raise ValueError(f"container.image must not start with '-': {v!r}")
        return v

    @field_validator("options")
    @classmethod
    def _options(cls, v: list[str]) -> list[str]:
        for opt in v:
            _line(opt, "each container option")
        return v


class Environment(_Model):
    """A named software environment; any combination of prefix, modules, container, env."""

    description: str = ""
    prefix: str | None = Field(None, description=(
        "A venv or conda prefix: its bin/ goes first on PATH, its python runs python stages. "
        "Absolute, or ./ or ../ relative to the site file's directory."))
    modules: list[str] = Field(default_factory=list, description="`module load` each, in order.")
    module_use: list[str] = Field(default_factory=list, description="`module use` each first.")
    module_init: str | None = Field(None, description=(
        "Shell file that defines `module` (default: Lmod's or Environment Modules' init)."))
    container: Container | None = None
    env: dict[str, str] = Field(default_factory=dict, description="Variables exported.")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is None:
            return None
        _line(v, "prefix")
        if v.startswith(("./", "../")):
            return v                    # made absolute by site.load (the site file's dir)
        if not v.startswith("/"):
            raise ValueError(f"prefix must be an absolute path, or start with ./ or ../ "
                             f"(relative to the site file): {v!r}")
        return v

    @field_validator("module_init")
    @classmethod
    def _paths(cls, v: str | None, info) -> str | None:
        return None if v is None else _abs_path(v, info.field_name)

    def relative_to(self, base: str) -> Environment:
        """This environment with a ./ or ../ prefix made absolute against `base`."""
        if not (self.prefix and self.prefix.startswith(("./", "../"))):
            return self
        return self.model_copy(update={"prefix": os.path.normpath(os.path.join(base,
                                                                               self.prefix))})
    @field_validator("module_use")
    @classmethod
    def _uses(cls, v: list[str]) -> list[str]:
        return [_abs_path(p, "module_use entries") for p in v]

    @field_validator("modules")
    @classmethod
    def _modules(cls, v: list[str]) -> list[str]:
        for name in v:
            if not MODULE_RE.match(name):
                raise ValueError(f"{name!r} is not a module name (letters, digits and "
                                 "_ . + @ : , = / -)")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not IDENT_RE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if "\0" in value:
                raise ValueError(f"env.{name} contains a NUL byte")
        return v

    @model_validator(mode="after")
    def _something(self) -> Environment:
        if not (self.prefix or self.modules or self.container or self.env):
            raise ValueError("an environment needs at least one of prefix, modules, "
                             "container or env")
        if (self.module_use or self.module_init) and not self.modules:
            raise ValueError("module_use and module_init need modules to load")
        return self

    def summary(self) -> str:
        """One short line for `orch plan`."""
        parts = []
        if self.prefix:
            parts.append(f"prefix {self.prefix}")
        if self.modules:
            parts.append("modules " + " ".join(self.modules))
        if self.container:
            parts.append(f"{self.container.engine} {self.container.image}")
        if self.env:
            parts.append("env " + " ".join(sorted(self.env)))
        return "; ".join(parts)


def check_names(environments: dict[str, Environment]) -> None:
    for name in environments:
        if not IDENT_RE.match(name):
            raise ValueError(f"environment name {name!r} must be an identifier "
                             "(a letter or _, then letters, digits, _)")
