"""``python -m cogstar.cli``: the ``cogstar`` command."""

from cogstar.cli import main

raise SystemExit(main())
