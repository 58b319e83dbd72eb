"""Walltime and memory units, as specs and site configs write them."""

from __future__ import annotations

import pytest
from conftest import spec_text

from orchestrator.errors import SpecError
from orchestrator.spec.load import load_spec
from orchestrator.units import format_memory, format_walltime, parse_memory, parse_walltime


@pytest.mark.parametrize(("value", "seconds"), [
    ("90s", 90), ("30m", 1800), ("30min", 1800), ("2h", 7200), ("1d", 86400), ("1.5h", 5400),
    (" 10m ", 600), ("01:30:00", 5400), ("00:00:30", 30), ("10:30", 630), ("90", 5400),
    ("1-00:00:00", 86400), ("2-12", 2 * 86400 + 12 * 3600), ("1-2:30", 86400 + 2 * 3600 + 1800),
    ("48:00:00", 48 * 3600), (30, 1800), (0.5, 30), (1, 60),
])
def test_parse_walltime(value, seconds):
    assert parse_walltime(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "0", "00:00:00", "0m", -1, 0, True, "1h30",
                                   "1:2:3:4", "-5m", "1e3s"])
def test_bad_walltimes(value):
    with pytest.raises(ValueError):
        parse_walltime(value)


@pytest.mark.parametrize(("seconds", "text"), [
    (30, "00:00:30"), (3600, "01:00:00"), (5400, "01:30:00"), (86399, "23:59:59"),
    (86400, "1-00:00:00"), (90061, "1-01:01:01"),
])
def test_format_walltime(seconds, text):
    assert format_walltime(seconds) == text
    assert parse_walltime(text) == seconds


@pytest.mark.parametrize(("value", "nbytes"), [
    ("512MB", 512 * 10**6), ("4GiB", 4 * 2**30), ("16G", 16 * 2**30), ("1.5GiB", 3 * 2**29),
    ("4gib", 4 * 2**30), ("100", 100), ("100B", 100), ("2K", 2048), ("1TB", 10**12),
    ("1 GiB", 2**30), (1024, 1024), (0, 0),
    ("64Gi", 64 * 2**30), ("2ki", 2048),  # the regex accepted these; they raised KeyError
])
def test_parse_memory(value, nbytes):
    assert parse_memory(value) == nbytes


@pytest.mark.parametrize("value", ["lots", "", "4XB", "-1G", -1, True, "1e3G", "G"])
def test_bad_memory(value):
    with pytest.raises(ValueError):
        parse_memory(value)


@pytest.mark.parametrize(("nbytes", "text"), [
    (100, "100B"), (2048, "2KiB"), (4 * 2**30, "4GiB"), (3 * 2**29, "1.5GiB"), (2**40, "1TiB"),
])
def test_format_memory(nbytes, text):
    assert format_memory(nbytes) == text
    assert parse_memory(text) == nbytes


@pytest.mark.parametrize(("func", "text"), [
    (parse_memory, "9" * 400 + "GB"),
    (parse_walltime, "9" * 400 + "s"),
])
def test_huge_units_raise_value_error(func, text):
    with pytest.raises(ValueError):
        func(text)


@pytest.mark.parametrize("line", [f"memory: {'9' * 400}GB", f"walltime: '{'9' * 400}s'"])
def test_huge_units_in_a_spec_are_spec_errors(spec_file, line):
    path = spec_file(spec_text(f"a:\n  shell: echo\n  resources:\n    {line}\n"))
    with pytest.raises(SpecError):
        load_spec(path)


def test_infinite_walltime_in_a_spec_is_a_spec_error(spec_file):
    path = spec_file(spec_text("a:\n  shell: echo\n  resources:\n    walltime: .inf\n"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert {d.path for d in info.value.diagnostics} == {"stages.a.resources.walltime"}
