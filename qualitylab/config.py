"""Paths of the cache root and the weights directory."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "QUALITYLAB_HOME"


def home_dir() -> Path:
    """The cache root: ``$QUALITYLAB_HOME``, or ``~/.cache/qualitylab`` when unset."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "qualitylab"


def weights_dir() -> Path:
    """Where local copies of pretrained weights live, one sub-directory per model key."""
    return home_dir() / "weights"


def demo_dir() -> Path:
    """Where ``qualitylab demo`` puts the demo dataset (``data/``) and its features."""
    return home_dir() / "demo"
