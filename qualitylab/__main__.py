"""``python -m qualitylab``: the same command line as ``qualitylab``."""

from qualitylab.cli import app

app(prog_name="qualitylab")
