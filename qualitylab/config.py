"""Paths of the cache root and the weights directory; validated configs read from YAML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

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


def store_dir() -> Path:
    """The feature store every run shares unless told otherwise: ``$QUALITYLAB_HOME/store``."""
    return home_dir() / "store"


def demo_dir() -> Path:
    """Where ``qualitylab demo`` puts the demo dataset (``data/``) and its features."""
    return home_dir() / "demo"


def read_yaml_model(path: str | Path, model: type[Model], what: str) -> Model:
    """The ``model`` described by the YAML file at ``path``; an empty file gives the
    defaults.

    Raises ValueError naming the file for invalid YAML, a document that is not a mapping,
    or invalid fields (each listed with its location); FileNotFoundError when absent.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of {what} fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise ValueError(f"{path}: invalid {what}\n{problems}") from error
