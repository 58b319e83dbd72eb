"""Execution backends. Only `backends.parsl` imports Parsl."""
