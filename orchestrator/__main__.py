"""`python -m orchestrator` runs the `orch` command line."""

from orchestrator.cli.app import main

raise SystemExit(main())
