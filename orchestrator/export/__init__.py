"""Exports of a run directory for other tools: `orch export RUN --ro-crate DIR` writes a
Workflow Run RO-Crate (ro_crate.py). Reads the run directory only; never imports Parsl."""
