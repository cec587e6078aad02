"""`python -m syncd`: the `syncd` command."""

from syncd.cli import main

raise SystemExit(main())
