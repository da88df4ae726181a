"""`python -m carewatch` runs the console script."""

from carewatch.cli import run

run()
