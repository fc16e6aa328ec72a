"""Feature spaces: which columns of a feature table a predictor is trained on.

A feature column is named ``<family>.<signal>.<aggregation>`` (aggregated set) or
``<family>.<signal>.fNNN`` (non-aggregated set), see :mod:`qualitylab.features.names`;
the family is the extractor's name. Every other column (``id``, ``video``, ``prompt``, targets,
metadata) is descriptive and never a feature.

The thesis grid (``thesis_spaces``) crosses each text–frame model's features of one set
type (agg, nonagg, combined) with a subset of the *aggregated* temporal families:
L = ``lpips``, S = ``ssim``, OF = optical flow (``raft`` in the thesis, or the offline
``flow`` family). ONLY means no temporal family.

A table may also hold only classical features, and temporal features alone are a useful
baseline, so the grid has an extra ``none`` row ("temporal only") whenever at least one
temporal family is present: the temporal combinations without a text–frame model. The set
type only applies to text–frame features, so these spaces are the same in every set type;
they are generated once, with set type ``agg`` and named ``none/agg/<combination>``, and the
grid tables (``qualitylab.learn.grid_tables``) show them in every set-type table. Their
ONLY space is empty and always skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qualitylab.features.aggregate import KNOWN_AGGREGATIONS, SET_TYPES
from qualitylab.features.names import parse_column
from qualitylab.features.registry import family_members

TEXT_FRAME_MODELS: tuple[str, ...] = family_members("text-frame")
COMBINATIONS: tuple[str, ...] = ("ONLY", "L", "S", "OF", "L_S", "L_OF", "S_OF", "L_S_OF")
OPTICAL_FLOW_CHOICES: tuple[str, ...] = ("auto", "raft", "flow")
NO_TEXT_MODEL = "none"
ONLY = "ONLY"

_TEMPORAL_LETTERS: dict[str, str] = {"L": "lpips", "S": "ssim"}  # OF depends on optical_flow
_LETTER_OF_FAMILY: dict[str, str] = {"lpips": "L", "ssim": "S", "raft": "OF", "flow": "OF"}


@dataclass(frozen=True)
class FeatureSpace:
    """A named set of feature columns.

    ``text_model`` is None for a space without a text–frame model; ``combination`` is one
    of ``COMBINATIONS`` (or ``custom`` for a space from ``parse_space`` that fits none).
    """

    name: str
    text_model: str | None
    set_type: str
    combination: str
    columns: tuple[str, ...]


def _feature_kind(column: str) -> tuple[str, str] | None:
    """(family, "agg" or "nonagg") of a feature column; None for a descriptive column."""
    name = parse_column(column)
    if name is None:
        return None
    if name.position is not None:
        return name.extractor, "nonagg"
    return (name.extractor, "agg") if name.part in KNOWN_AGGREGATIONS else None


def feature_columns(columns: Iterable[str]) -> list[str]:
    """The feature columns among ``columns``, in table order."""
    return [column for column in columns if _feature_kind(column) is not None]


def families(columns: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """Each family's feature columns by set type, families and columns in table order.

    Keys of the inner mapping are ``agg``, ``nonagg`` and ``combined`` (possibly empty
    lists); ``combined`` is all of the family's feature columns in table order.
    """
    out: dict[str, dict[str, list[str]]] = {}
    for column in columns:
        kind = _feature_kind(column)
        if kind is None:
            continue
        family, set_type = kind
        sets = out.setdefault(family, {name: [] for name in SET_TYPES})
        sets[set_type].append(column)
        sets["combined"].append(column)
    return out


def _check_choices(values: Iterable[str], known: Sequence[str], what: str) -> None:
    unknown = [value for value in values if value not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected some of {list(known)}")


def resolve_optical_flow(present: Iterable[str], optical_flow: str = "auto") -> str:
    """The family standing for OF: ``raft`` or ``flow`` as asked, or for ``auto`` raft when
    it is among the ``present`` families, else flow when it is, else raft."""
    _check_choices([optical_flow], OPTICAL_FLOW_CHOICES, "optical_flow")
    if optical_flow != "auto":
        return optical_flow
    present = set(present)
    return "flow" if "flow" in present and "raft" not in present else "raft"


def _temporal_families(combination: str, optical_flow_family: str) -> list[tuple[str, str]]:
    """(letter, family) of each temporal family in a combination, in its order."""
    if combination == ONLY:
        return []
    letters = {**_TEMPORAL_LETTERS, "OF": optical_flow_family}
    return [(letter, letters[letter]) for letter in combination.split("_")]


def _build_space(
    found: dict[str, dict[str, list[str]]],
    text_model: str | None,
    set_type: str,
    combination: str,
    optical_flow_family: str,
) -> FeatureSpace | str:
    """The space, or the reason it cannot be built from the ``found`` families."""
    reasons: list[str] = []
    columns: list[str] = []
    if text_model is not None:
        if text_model not in found:
            reasons.append(f"{text_model} not in the table")
        elif not found[text_model][set_type]:
            reasons.append(f"{text_model} has no {set_type} columns")
        else:
            columns += found[text_model][set_type]
    for letter, family in _temporal_families(combination, optical_flow_family):
        if family not in found:
            reasons.append(f"{family} ({letter}) not in the table")
        elif not found[family]["agg"]:
            reasons.append(f"{family} ({letter}) has no agg columns")
        else:
            columns += found[family]["agg"]
    if reasons:
        return "; ".join(reasons)
    name = f"{text_model or NO_TEXT_MODEL}/{set_type}/{combination}"
    return FeatureSpace(name, text_model, set_type, combination, tuple(columns))


def thesis_spaces(
    columns: Iterable[str],
    text_models: Sequence[str] = TEXT_FRAME_MODELS,
    set_types: Sequence[str] = SET_TYPES,
    combinations: Sequence[str] = COMBINATIONS,
    optical_flow: str = "auto",
) -> tuple[list[FeatureSpace], list[tuple[str, str]]]:
    """The thesis grid's feature spaces over a table's ``columns``.

    Returns the runnable spaces and the skipped ones as (space name, reason), both ordered
    by text model, set type and combination, with the ``none`` (temporal only) row last
    when at least one of L, S, OF is present.
    """
    _check_choices(set_types, SET_TYPES, "set types")
    _check_choices(combinations, COMBINATIONS, "combinations")
    found = families(columns)
    of_family = resolve_optical_flow(found, optical_flow)
    cells = [(model, set_type) for model in text_models for set_type in set_types]
    if any(family in found for family in (*_TEMPORAL_LETTERS.values(), of_family)):
        cells.append((None, "agg"))
    spaces: list[FeatureSpace] = []
    skipped: list[tuple[str, str]] = []
    for text_model, set_type in cells:
        for combination in combinations:
            name = f"{text_model or NO_TEXT_MODEL}/{set_type}/{combination}"
            if text_model is None and combination == ONLY:
                skipped.append((name, "temporal only: ONLY has no features"))
                continue
            space = _build_space(found, text_model, set_type, combination, of_family)
            if isinstance(space, str):
                skipped.append((name, space))
            else:
                spaces.append(space)
    return spaces, skipped


def _parse_item(item: str, found: dict[str, dict[str, list[str]]]) -> tuple[str, str]:
    """(family, set type) of one ``family`` or ``family:set`` item of a space spec."""
    family, _, set_type = (part.strip() for part in item.partition(":"))
    set_type = set_type or "agg"
    if family not in found:
        raise ValueError(f"unknown feature family {family!r}; the table has {list(found)}")
    if set_type not in SET_TYPES:
        raise ValueError(f"unknown set type {set_type!r} in {item!r}; expected one of {SET_TYPES}")
    if not found[family][set_type]:
        raise ValueError(f"{family} has no {set_type} columns in the table")
    return family, set_type


def _label(items: list[tuple[str, str]]) -> tuple[str | None, str, str]:
    """(text model, set type, combination) of a parsed spec: its thesis-grid cell when it
    is at most one text–frame model plus distinct aggregated temporal families, else the
    combination is ``custom``."""
    text = [item for item in items if item[0] in TEXT_FRAME_MODELS]
    text_model, set_type = text[0] if len(text) == 1 else (None, "agg")
    letters = [
        _LETTER_OF_FAMILY.get(family) if kind == "agg" else None
        for family, kind in items
        if family not in TEXT_FRAME_MODELS
    ]
    in_grid = len(text) <= 1 and None not in letters and len(set(letters)) == len(letters)
    if not in_grid:
        return text_model, set_type, "custom"
    combination = "_".join(x for x in ("L", "S", "OF") if x in letters)
    return text_model, set_type, combination or ONLY


def parse_space(spec: str, columns: Iterable[str]) -> FeatureSpace:
    """The feature space named by ``spec`` (``qualitylab train --space``).

    ``spec`` is ``all`` (every family present, aggregated) or a comma-separated list of
    ``family`` or ``family:set`` items (set = agg, nonagg or combined; default agg). The
    space's name is the spec normalised (``family:set`` items joined by commas, or
    ``all``). Raises ValueError for an empty spec, an unknown family, an unknown set type,
    a family without columns of that set, or a family listed twice.
    """
    found = families(columns)
    raw = [item.strip() for item in spec.split(",") if item.strip()]
    if not raw:
        raise ValueError("empty feature space spec")
    if raw == ["all"]:
        items = [(family, "agg") for family, sets in found.items() if sets["agg"]]
        if not items:
            raise ValueError("the table has no aggregated feature columns")
        name = "all"
    else:
        items = [_parse_item(item, found) for item in raw]
        repeated = sorted({f for f, _ in items if [g for g, _ in items].count(f) > 1})
        if repeated:
            raise ValueError(f"feature families listed more than once: {repeated}")
        name = ",".join(f"{family}:{set_type}" for family, set_type in items)
    text_model, set_type, combination = _label(items)
    space_columns = tuple(col for family, kind in items for col in found[family][kind])
    return FeatureSpace(name, text_model, set_type, combination, space_columns)
