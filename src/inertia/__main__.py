"""``python -m inertia``: the same command line as ``inertia``."""

from inertia.cli import main

raise SystemExit(main())
