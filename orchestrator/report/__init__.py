"""Human-facing output: terminal tables (Rich), `orch status` text and JSON, and the HTML
report of `orch report` (html.py and the section modules it lists)."""
