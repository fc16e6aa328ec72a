"""The thesis grid's result tables: one per task and set type, models × combinations.

Results come as a long DataFrame with columns ``task, set_type, text_model, combination,
metric, mean, std``; ``text_model`` is ``none`` for the temporal-only spaces, which are
computed once (set type ``agg``) and shown in every set-type table. Each table reports the
task's primary metric: MAE for regression (lower is better), accuracy for classification.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from qualitylab.features.aggregate import SET_TYPES
from qualitylab.learn.spaces import COMBINATIONS, NO_TEXT_MODEL, TEXT_FRAME_MODELS

PRIMARY_METRICS: dict[str, str] = {"regression": "mae", "classification": "accuracy"}
METRIC_LABELS: dict[str, str] = {
    "regression": "MAE (lower is better)",
    "classification": "accuracy (higher is better)",
}
MISSING = "–"
RESULT_COLUMNS: tuple[str, ...] = (
    "task",
    "set_type",
    "text_model",
    "combination",
    "metric",
    "mean",
    "std",
)


def format_cell(mean: float, std: float) -> str:
    """``"mean ± std"`` with 3 decimals; the mean alone when std is NaN; ``–`` when the
    mean is NaN."""
    if math.isnan(mean):
        return MISSING
    if math.isnan(std):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def _row_order(models: pd.Series) -> list[str]:
    """Text models in ``TEXT_FRAME_MODELS`` order, other models as first seen, ``none`` last."""
    present = list(dict.fromkeys(models))
    known = [model for model in TEXT_FRAME_MODELS if model in present]
    others = [
        model for model in present if model not in TEXT_FRAME_MODELS and model != NO_TEXT_MODEL
    ]
    return known + others + ([NO_TEXT_MODEL] if NO_TEXT_MODEL in present else [])


def _primary(results: pd.DataFrame, task: str) -> pd.DataFrame:
    """The task's rows of its primary metric (matched case-insensitively)."""
    rows = results[results["task"] == task]
    return rows[rows["metric"].str.lower() == PRIMARY_METRICS[task]]


def _table(rows: pd.DataFrame, set_type: str, models: list[str]) -> pd.DataFrame:
    """One set type's table of formatted cells; ``none`` rows come from set type agg."""
    is_none = rows["text_model"] == NO_TEXT_MODEL
    wanted = rows[
        (~is_none & (rows["set_type"] == set_type)) | (is_none & (rows["set_type"] == "agg"))
    ]
    cells = {
        (row.text_model, row.combination): format_cell(float(row.mean), float(row.std))
        for row in wanted.itertuples(index=False)
    }
    return pd.DataFrame(
        [[cells.get((model, combo), MISSING) for combo in COMBINATIONS] for model in models],
        index=pd.Index(models, name="model"),
        columns=list(COMBINATIONS),
    )


def thesis_tables(results: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """One table per (task, set type) present in ``results``, tasks and set types in
    canonical order.

    Index: the text models with any result for the task (``TEXT_FRAME_MODELS`` order,
    ``none`` last); columns: ``COMBINATIONS``; cells ``"mean ± std"`` or ``–``. Raises
    ValueError for missing columns, unknown tasks, or two results for one cell.
    """
    missing = [column for column in RESULT_COLUMNS if column not in results.columns]
    if missing:
        raise ValueError(f"results lack the columns {missing}")
    unknown = sorted(set(results["task"]) - set(PRIMARY_METRICS))
    if unknown:
        raise ValueError(f"unknown tasks {unknown}; expected {list(PRIMARY_METRICS)}")
    tables: dict[tuple[str, str], pd.DataFrame] = {}
    for task in PRIMARY_METRICS:
        rows = _primary(results, task)
        if rows.empty:
            continue
        cell = ["set_type", "text_model", "combination"]
        if rows.duplicated(cell).any():
            raise ValueError(
                f"{task}: more than one result for a cell:\n{rows[rows.duplicated(cell, keep=False)]}"
            )
        with_text = set(rows.loc[rows["text_model"] != NO_TEXT_MODEL, "set_type"])
        set_types = [name for name in SET_TYPES if name in with_text] or ["agg"]
        models = _row_order(rows["text_model"])
        for set_type in set_types:
            tables[(task, set_type)] = _table(rows, set_type, models)
    return tables


def table_title(task: str, set_type: str) -> str:
    """The title of a table: task, metric and set type."""
    return f"{task.capitalize()}: {METRIC_LABELS[task]}, {set_type} feature set"


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """A GitHub Markdown table under a ``# title`` line, the index as first column."""
    header = [table.index.name or "", *map(str, table.columns)]
    lines = [f"# {title}", "", _md_row(header), _md_row(["---"] * len(header))]
    lines += [
        _md_row([str(index), *map(str, row)]) for index, row in zip(table.index, table.values)
    ]
    if NO_TEXT_MODEL in table.index:
        lines += [
            "",
            f"`{NO_TEXT_MODEL}`: temporal features only (the same spaces in every set-type table).",
        ]
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_thesis_tables(results: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write each thesis table as ``<task>_<set_type>.md`` and ``.csv`` in ``out_dir``
    (created); returns the paths written, Markdown then CSV per table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for (task, set_type), table in thesis_tables(results).items():
        stem = out_dir / f"{task}_{set_type}"
        markdown, csv = stem.with_suffix(".md"), stem.with_suffix(".csv")
        markdown.write_text(to_markdown(table, table_title(task, set_type)), encoding="utf-8")
        table.to_csv(csv, index_label="model", encoding="utf-8")
        paths += [markdown, csv]
    return paths
