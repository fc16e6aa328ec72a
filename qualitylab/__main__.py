"""``python -m qualitylab``: the same command line as ``qualitylab``."""

from qualitylab.cli import run

run()
