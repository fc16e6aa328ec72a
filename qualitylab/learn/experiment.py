"""The thesis grid experiment as validated data, read from and written to YAML."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qualitylab.config import read_yaml_model
from qualitylab.features.aggregate import SET_TYPES
from qualitylab.learn.spaces import COMBINATIONS, TEXT_FRAME_MODELS
from qualitylab.learn.train import Task, TrainProtocol, nest_protocol

THESIS_TRAINING = TrainProtocol(threshold=5.5, tuning="thesis")


def _known(values: list[str], known: Sequence[str], what: str) -> list[str]:
    """``values`` when all are in ``known`` and none repeats; ValueError otherwise."""
    unknown = [value for value in values if value not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected some of {list(known)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} listed more than once: {values}")
    return values


class GridExperiment(BaseModel):
    """The settings of a thesis grid run; defaults are the thesis protocol.

    ``training`` is the training protocol of every (task, space); fields it leaves out
    keep the thesis' values (:data:`THESIS_TRAINING`: threshold 5.5 on the 1-10 scale,
    Optuna on one hold-out). Instances are immutable; ``with_overrides`` returns a validated copy (use it rather
    than ``model_copy(update=...)``, which does not validate).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "thesis_grid"
    target: str = "human_score"
    tasks: list[Task] = Field(
        default_factory=lambda: ["regression", "classification"], min_length=1
    )
    training: TrainProtocol = THESIS_TRAINING
    text_models: list[str] = Field(default_factory=lambda: list(TEXT_FRAME_MODELS))
    set_types: list[str] = Field(default_factory=lambda: list(SET_TYPES), min_length=1)
    combinations: list[str] = Field(default_factory=lambda: list(COMBINATIONS), min_length=1)
    optical_flow: Literal["auto", "raft", "flow"] = "auto"
    n_jobs: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _nest_training(cls, data: Any) -> Any:
        return nest_protocol(data, THESIS_TRAINING)

    @field_validator("tasks")
    @classmethod
    def _distinct_tasks(cls, value: list[str]) -> list[str]:
        return _known(value, ("regression", "classification"), "tasks")

    @field_validator("text_models")
    @classmethod
    def _known_text_models(cls, value: list[str]) -> list[str]:
        return _known(value, TEXT_FRAME_MODELS, "text models")

    @field_validator("set_types")
    @classmethod
    def _known_set_types(cls, value: list[str]) -> list[str]:
        return _known(value, SET_TYPES, "set types")

    @field_validator("combinations")
    @classmethod
    def _known_combinations(cls, value: list[str]) -> list[str]:
        return _known(value, COMBINATIONS, "combinations")

    def with_overrides(self, **changes: Any) -> GridExperiment:
        """A validated copy with the given fields replaced, training protocol fields
        (``trials``, ``threshold``, ...) included (None values are ignored, so unset CLI
        options can be passed through)."""
        changes = {key: value for key, value in changes.items() if value is not None}
        data = self.model_dump()
        training = {
            key: changes.pop(key) for key in list(changes) if key in TrainProtocol.model_fields
        }
        return GridExperiment.model_validate(
            {**data, **changes, "training": {**data["training"], **training}}
        )

    def to_yaml(self) -> str:
        """The experiment as YAML, fields in declaration order."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def load_experiment(path: str | Path) -> GridExperiment:
    """The experiment in a YAML file; an empty file gives the defaults.

    Raises ValueError naming the file for invalid YAML, a document that is not a mapping,
    or invalid fields (each listed with its location); FileNotFoundError when absent.
    """
    return read_yaml_model(path, GridExperiment, "experiment")


def save_experiment(experiment: GridExperiment, path: str | Path) -> Path:
    """Write ``experiment`` as YAML to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(experiment.to_yaml(), encoding="utf-8")
    return path
