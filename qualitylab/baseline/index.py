"""The Webench2 quality index: a hand-weighted score in [0, 1] from a feature table.

This is the baseline the learned predictor replaces. It reads aggregated columns of a
feature table (one row per video) and combines nine components of three families::

    component        family       column (M = the text–frame model)    weight
    ---------------  -----------  -----------------------------------  ------
    clip_mean        clipscore    M.prompt_sim.mean                      0.30
    clip_min         clipscore    M.prompt_sim.min                       0.05
    clip_max         clipscore    M.prompt_sim.max                       0.05
    clip_variance    clipscore    M.prompt_sim.std (squared)             0.05
    imagereward      imagereward  imagereward.reward.mean                0.25
    static           technical    technical.static.mean                  0.10
    dark             technical    technical.dark.mean                    0.05
    overexposed      technical    technical.overexposed.mean             0.05
    brightness_jump  technical    technical.brightness_jump.mean         0.10

Normalisation of each component to ``n`` in [0, 1] (higher is always better):

- CLIPScore mean, min, max: the cosine ``c`` mapped linearly from ``clipscore_range``
  (default [0.15, 0.40]) to [0, 1] and clipped: ``n = clip((c - lo) / (hi - lo), 0, 1)``.
- CLIPScore variance over frames, ``v = std²`` (std with ddof=0, as aggregated), is a
  penalty: ``n = 1 - clip(v / clipscore_variance_max, 0, 1)`` (default maximum 0.0025,
  i.e. a std of 0.05 or more scores 0).
- ImageReward mean ``r``: mapped from ``imagereward_range`` (default [-2, 2]) and clipped.
- Technical checks: ``.mean`` of a 0/1 flag is the share ``s`` of frames (dark,
  over-exposed) or neighbouring pairs (static, brightness jump) flagged;
  ``n = 1 - clip(s, 0, 1)``.

The index of a row is the weighted mean of its components (``FORMULA``)::

    quality_index = Σ_c w_c · n_c / Σ_c w_c

over the components ``c`` that are *used* (weight > 0 and column in the table) and
*defined* for that row (not NaN). So:

- a component whose column is missing from the table is left out for every row and its
  weight is spread over the others (the weights are renormalised); the result lists the
  missing components and families;
- a NaN component of one row (e.g. a video whose extractor failed) leaves that row's index
  computed from its remaining components; a row with every used component NaN gets a NaN
  index;
- when no component's column is present at all, ``quality_index`` raises ValueError naming
  the columns it looked for.

The text–frame model supplying CLIPScore is ``QualityIndexConfig.text_model``; when it is
None (the default) it is ``clip_b32`` when present, else the first text–frame model of the
registry (``clip_b32, clip_l14, siglip_so400m, siglip_l16, jina_clip_v2, hps_v2``) with a
``prompt_sim`` column in the table. A model named explicitly is used as it is, even when
its columns are absent (then the clipscore family is reported missing).

The default weights and ranges are this project's documented choices for the baseline (a
cosine of 0.15 is an unrelated image for CLIP B/32, 0.40 a very close match; ImageReward is
roughly standard-normal over generated images), not values fitted to human ratings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qualitylab.features.names import parse_column, signal_name
from qualitylab.features.registry import REGISTRY

Family = Literal["clipscore", "imagereward", "technical"]
FAMILIES: tuple[str, ...] = ("clipscore", "imagereward", "technical")
TEXT_FRAME_MODELS: tuple[str, ...] = tuple(
    spec.name
    for spec in REGISTRY.values()
    if spec.kind == "prompt_frame" and any(s.name == "prompt_sim" for s in spec.signals)
)
DEFAULT_TEXT_MODEL = "clip_b32"
COMPONENT_PREFIX = "qi_"
DEGENERATE_NOTE = (
    "Only the technical checks are present (no CLIPScore, no ImageReward): the index is then "
    "near 1 for almost every video and is not a quality baseline."
)
FORMULA = (
    "quality_index = sum_c w_c * n_c / sum_c w_c over the components c that are used "
    "(weight > 0, column present) and not NaN for the row; n_c in [0, 1], higher is better"
)


@dataclass(frozen=True)
class Component:
    """One term of the index: its family, the column it reads, and how it is normalised."""

    name: str
    family: Family
    column: str  # ``{model}`` stands for the text–frame model
    normalisation: Literal["clipscore", "variance", "imagereward", "share"]
    description: str


COMPONENTS: tuple[Component, ...] = (
    Component(
        "clip_mean",
        "clipscore",
        "{model}.prompt_sim.mean",
        "clipscore",
        "mean prompt–frame cosine",
    ),
    Component(
        "clip_min", "clipscore", "{model}.prompt_sim.min", "clipscore", "worst frame's cosine"
    ),
    Component(
        "clip_max", "clipscore", "{model}.prompt_sim.max", "clipscore", "best frame's cosine"
    ),
    Component(
        "clip_variance",
        "clipscore",
        "{model}.prompt_sim.std",
        "variance",
        "variance of the cosine over frames (penalised)",
    ),
    Component(
        "imagereward",
        "imagereward",
        "imagereward.reward.mean",
        "imagereward",
        "mean ImageReward",
    ),
    Component("static", "technical", "technical.static.mean", "share", "share of static pairs"),
    Component("dark", "technical", "technical.dark.mean", "share", "share of dark frames"),
    Component(
        "overexposed",
        "technical",
        "technical.overexposed.mean",
        "share",
        "share of over-exposed frames",
    ),
    Component(
        "brightness_jump",
        "technical",
        "technical.brightness_jump.mean",
        "share",
        "share of pairs with a brightness jump",
    ),
)
_BY_NAME = {component.name: component for component in COMPONENTS}


class ComponentWeights(BaseModel):
    """The weight of each component (≥ 0, at least one positive; need not sum to 1, the
    index divides by the sum of the weights used). A weight of 0 switches a component off."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    clip_mean: float = Field(0.30, ge=0)
    clip_min: float = Field(0.05, ge=0)
    clip_max: float = Field(0.05, ge=0)
    clip_variance: float = Field(0.05, ge=0)
    imagereward: float = Field(0.25, ge=0)
    static: float = Field(0.10, ge=0)
    dark: float = Field(0.05, ge=0)
    overexposed: float = Field(0.05, ge=0)
    brightness_jump: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _some_positive(self) -> ComponentWeights:
        if not any(value > 0 for value in self.model_dump().values()):
            raise ValueError("at least one component weight must be positive")
        return self


def _check_range(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not low < high:
        raise ValueError(f"a range needs low < high, got [{low}, {high}]")
    return value


class QualityIndexConfig(BaseModel):
    """Settings of the quality index: weights, normalisation ranges, and the text–frame
    model supplying CLIPScore (None: ``clip_b32`` when present, else the first present).

    Immutable and validated; round-trips through YAML (``to_yaml``/``from_yaml``) and JSON
    (``model_dump_json``/``model_validate_json``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    text_model: str | None = None
    weights: ComponentWeights = Field(default_factory=ComponentWeights)
    clipscore_range: tuple[float, float] = (0.15, 0.40)
    clipscore_variance_max: float = Field(0.0025, gt=0)
    imagereward_range: tuple[float, float] = (-2.0, 2.0)

    @field_validator("text_model")
    @classmethod
    def _known_text_model(cls, value: str | None) -> str | None:
        if value is not None and value not in TEXT_FRAME_MODELS:
            raise ValueError(
                f"unknown text–frame model {value!r}; expected one of {list(TEXT_FRAME_MODELS)}"
            )
        return value

    @field_validator("clipscore_range", "imagereward_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _check_range(value)

    def to_yaml(self) -> str:
        """The config as YAML, fields in declaration order."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str) -> QualityIndexConfig:
        """The config in a YAML (or JSON) document; an empty document gives the defaults."""
        data = yaml.safe_load(text)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping of settings, got {type(data).__name__}")
        return cls.model_validate(data)


def load_index_config(path: str | Path) -> QualityIndexConfig:
    """The config in a YAML or JSON file; ValueError (naming the file) when invalid."""
    path = Path(path)
    try:
        return QualityIndexConfig.from_yaml(path.read_text(encoding="utf-8"))
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: invalid quality-index config: {error}") from error


def save_index_config(config: QualityIndexConfig, path: str | Path) -> Path:
    """Write ``config`` to ``path``: JSON for a ``.json`` suffix, YAML otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        text = json.dumps(config.model_dump(mode="json"), indent=2) + "\n"
    else:
        text = config.to_yaml()
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class QualityIndexResult:
    """The index of every row and how it was made.

    ``table`` has the input's index, its ``id``, ``video`` and ``prompt`` columns when
    present, ``quality_index`` in [0, 1] (NaN when every used component is NaN for the row)
    and one normalised column ``qi_<component>`` per used component. ``weights`` are the
    used components' weights renormalised to sum to 1; ``columns`` the column each used
    component read.
    """

    table: pd.DataFrame
    config: QualityIndexConfig
    text_model: str | None
    components: tuple[str, ...]
    missing_components: tuple[str, ...]
    families: tuple[str, ...]
    missing_families: tuple[str, ...]
    weights: dict[str, float]
    columns: dict[str, str]
    rows_incomplete: int
    formula: str = FORMULA
    component_descriptions: dict[str, str] = field(
        default_factory=lambda: {c.name: c.description for c in COMPONENTS}
    )

    @property
    def quality_index(self) -> pd.Series:
        """The per-row index, aligned with the input table."""
        return self.table["quality_index"]

    @property
    def degenerate(self) -> bool:
        """True when only the technical checks are present: they are 1 for every video
        without static, dark or over-exposed frames (almost all of them; mean 0.994 over the
        157 videos of a real rated set), so the index then says little about quality and is
        no baseline for a learned predictor."""
        return self.families == ("technical",)

    def describe(self) -> list[str]:
        """Lines for a report: the formula, each used component with its column and
        weight, and what was missing."""
        lines = [f"Quality index (Webench2 baseline): {self.formula}."]
        if self.text_model:
            lines.append(f"CLIPScore from {self.text_model}.")
        for name in self.components:
            lines.append(
                f"- {name} ({self.component_descriptions[name]}): {self.columns[name]}, "
                f"weight {self.weights[name]:.3f}"
            )
        if self.missing_components:
            lines.append(
                "Missing components (weights renormalised over the others): "
                + ", ".join(self.missing_components)
            )
        if self.missing_families:
            lines.append("Missing families: " + ", ".join(self.missing_families))
        if self.degenerate:
            lines.append(DEGENERATE_NOTE)
        if self.rows_incomplete:
            lines.append(
                f"{self.rows_incomplete} rows have a NaN component; their index uses the rest."
            )
        return lines


def quality_index(
    table: pd.DataFrame, config: QualityIndexConfig | None = None
) -> QualityIndexResult:
    """The Webench2 quality index of every row of a feature table (see the module
    docstring for the components, normalisation, weights and NaN handling).

    Raises ValueError naming the columns looked for when no component is in the table.
    """
    config = config or QualityIndexConfig()
    text_model = _text_model(table.columns, config.text_model)
    weights = config.weights.model_dump()
    used: dict[str, str] = {}
    missing: list[str] = []
    looked_for: list[str] = []
    for component in COMPONENTS:
        if weights[component.name] <= 0:
            continue
        column = _column(component, text_model)
        looked_for.append(column)
        if column in table.columns:
            used[component.name] = column
        else:
            missing.append(component.name)
    if not used:
        raise ValueError(
            "no quality-index component in the table: looked for the columns "
            + ", ".join(looked_for)
        )
    normalised = {
        f"{COMPONENT_PREFIX}{name}": _normalise(_BY_NAME[name], _numeric(table, column), config)
        for name, column in used.items()
    }
    values = np.column_stack(list(normalised.values()))
    weight = np.array([weights[name] for name in used])
    defined = ~np.isnan(values)
    total = defined @ weight
    summed = np.nan_to_num(values) @ weight
    index = np.divide(summed, total, out=np.full(len(table), np.nan), where=total > 0)
    described = table[[c for c in ("id", "video", "prompt") if c in table.columns]]
    out = described.assign(quality_index=np.clip(index, 0.0, 1.0), **normalised)
    used_families = tuple(f for f in FAMILIES if any(_BY_NAME[n].family == f for n in used))
    weighted_families = {_BY_NAME[n].family for n in weights if weights[n] > 0}
    return QualityIndexResult(
        table=out,
        config=config,
        text_model=text_model if "clipscore" in used_families else None,
        components=tuple(used),
        missing_components=tuple(missing),
        families=used_families,
        missing_families=tuple(
            f for f in FAMILIES if f in weighted_families and f not in used_families
        ),
        weights={name: float(w / weight.sum()) for name, w in zip(used, weight)},
        columns=used,
        rows_incomplete=int((~defined).any(axis=1).sum()),
    )


def _text_model(columns: pd.Index, configured: str | None) -> str:
    """The configured model, else clip_b32 when it has a column, else the first text–frame
    model with a ``prompt_sim`` column, else clip_b32 (whose columns are then missing)."""
    if configured is not None:
        return configured
    signals = {name.signal_name for name in map(parse_column, columns) if name is not None}
    present = [m for m in TEXT_FRAME_MODELS if signal_name(m, "prompt_sim") in signals]
    if DEFAULT_TEXT_MODEL in present or not present:
        return DEFAULT_TEXT_MODEL
    return present[0]


def _column(component: Component, text_model: str) -> str:
    return component.column.format(model=text_model)


def _numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    """The column as float64; ValueError naming it when it is not numeric."""
    try:
        return pd.to_numeric(table[column], errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"column {column!r} is not numeric: {error}") from error


def _normalise(component: Component, values: np.ndarray, config: QualityIndexConfig) -> np.ndarray:
    """``values`` mapped to [0, 1], higher is better; NaN stays NaN."""
    if component.normalisation == "clipscore":
        return _linear(values, config.clipscore_range)
    if component.normalisation == "imagereward":
        return _linear(values, config.imagereward_range)
    if component.normalisation == "variance":
        return 1.0 - np.clip(values**2 / config.clipscore_variance_max, 0.0, 1.0)
    return 1.0 - np.clip(values, 0.0, 1.0)


def _linear(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    low, high = bounds
    return np.clip((values - low) / (high - low), 0.0, 1.0)
