"""`python -m bpsrm` runs the command line."""

from .cli import console

console()
