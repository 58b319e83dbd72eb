"""Workflow specs: safe YAML with positions, pydantic models, cross-stage checks."""
