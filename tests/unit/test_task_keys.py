"""Task keys are composed from parts for speed but must hash exactly what `digest` of the
whole dict hashes: a changed key would make `--resume` re-run finished work."""

from __future__ import annotations

import pytest

from orchestrator.state.keys import canonical_stage, digest, task_key


@pytest.mark.parametrize("stage, inputs, upstream, code, iteration", [
    ({"a": 1, "b": [1, 2]}, {"x": "y", "n": None, "f": 1.5}, ["0123abcd", "ffee"], "abc123", None),
    ({}, {}, [], "c", 3),
    ({"q": '"'}, {"u": "é", "nested": [{"z": 1, "a": 2}]}, ['k"x'], "Z!", 2),
    ({"python": "m:f"}, {"args": {"i": 7}}, ["ab" * 16] * 3, "f" * 64, 0),
])
def test_composed_key_equals_digest_of_the_whole(stage, inputs, upstream, code, iteration):
    whole = digest({"stage": stage, "inputs": inputs, "upstream": upstream, "code": code,
                    "iteration": iteration})[:32]
    assert task_key(stage, inputs, upstream, code, iteration) == whole
    assert task_key(canonical_stage(stage), inputs, upstream, code, iteration) == whole
