"""Parsl's own log level: option, environment, default, and a bad value (exit code 2)."""

from __future__ import annotations

import logging

import pytest

from orchestrator.backends.parsl import log_level
from orchestrator.errors import UsageError


def test_option_beats_environment_beats_default(monkeypatch):
    monkeypatch.delenv(log_level.ENV, raising=False)
    assert log_level.chosen() == "warning"
    monkeypatch.setenv(log_level.ENV, "Info")
    assert log_level.chosen() == "info"
    assert log_level.chosen("debug") == "debug"


def test_a_bad_level_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(log_level.ENV, "loud")
    with pytest.raises(UsageError, match="ORCH_PARSL_LOG='loud'"):
        log_level.chosen()


def test_apply_sets_parsl_logger_and_its_children():
    parsl_logger = logging.getLogger("parsl")
    before = parsl_logger.level
    try:
        log_level.apply("warning")
        dfk = logging.getLogger("parsl.dataflow.dflow")
        assert not dfk.isEnabledFor(logging.INFO) and dfk.isEnabledFor(logging.WARNING)
        log_level.apply("debug")
        assert dfk.isEnabledFor(logging.DEBUG)
    finally:
        parsl_logger.setLevel(before)
