"""Human-facing output: terminal tables (Rich) and, later, HTML reports."""
