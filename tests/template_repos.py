"""Local git repositories standing in for labs' template libraries (no network)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "Lab", "GIT_AUTHOR_EMAIL": "lab@example.org",
           "GIT_COMMITTER_NAME": "Lab", "GIT_COMMITTER_EMAIL": "lab@example.org",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, check=True)
    return proc.stdout.strip()


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def make_repo(root: Path, files: dict[str, str], tag: str | None = None) -> Path:
    """A new repository at `root` holding `files`, committed (and tagged)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    return commit(root, files, "first", tag)


def commit(repo: Path, files: dict[str, str], message: str = "change",
           tag: str | None = None) -> Path:
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    if tag:
        git(repo, "tag", tag)
    return repo


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


GREET_V1 = """
apiVersion: orchestrator/v1
name: greet
description: Template. Write a greeting.
version: "1.0"
requires: [cpu]
params:
  who: {type: str, default: world, help: Who to greet.}
stages:
  hello:
    shell: "echo hello ${params.who} > hello.txt"
    outputs: [hello.txt]
"""

GREET_V2 = GREET_V1.replace("echo hello", "echo bonjour").replace('"1.0"', '"2.0"')
