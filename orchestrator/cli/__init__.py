"""The `orch` command line: thin commands behind one error boundary."""
