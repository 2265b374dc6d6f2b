"""`python -m bpsrm` runs the command line."""

from .cli import main

raise SystemExit(main())
