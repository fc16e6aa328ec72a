"""The files of an evaluation: ``evaluation.json`` (every number), ``evaluation.md`` (the
summary and within-group tables, the notes) and ``evaluation.png`` (Spearman and pairwise
accuracy with intervals per scorer, yardstick and rater, and Spearman within each group).

The tables are built from the JSON form, so a report can show a saved evaluation
without recomputing it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from qualitylab.atomic import write_text  # noqa: E402
from qualitylab.evaluate.evaluation import Evaluation  # noqa: E402
from qualitylab.learn.metrics import to_json_ready  # noqa: E402

JSON_FILE = "evaluation.json"
MARKDOWN_FILE = "evaluation.md"
PLOT_FILE = "evaluation.png"
COLUMNS = {
    "spearman": "Spearman",
    "pearson": "Pearson",
    "kendall": "Kendall",
    "pairwise_accuracy": "pairwise acc.",
    "mae": "MAE",
    "accuracy": "accuracy",
}
COLOURS = {"scorer": "#1f77b4", "yardstick": "#7f7f7f", "human": "#ff7f0e"}
DPI = 110


def write_evaluation(evaluation: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """Write evaluation.json, evaluation.md and evaluation.png into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = to_json_ready(evaluation.to_dict())
    paths = {
        "json": out_dir / JSON_FILE,
        "markdown": out_dir / MARKDOWN_FILE,
        "plot": out_dir / PLOT_FILE,
    }
    write_text(paths["json"], json.dumps(data, indent=2, allow_nan=False) + "\n")
    write_text(paths["markdown"], to_markdown(data))
    plot(data, paths["plot"])
    return paths


def read_evaluation(out_dir: str | Path) -> dict[str, Any]:
    """The JSON form of the evaluation saved in ``out_dir``; FileNotFoundError naming the
    file when there is none."""
    path = Path(out_dir) / JSON_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no evaluation here (write one with qualitylab evaluate)")
    return json.loads(path.read_text())


def summary_table(data: dict[str, Any]) -> pd.DataFrame:
    """One row per scorer, yardstick and rater: n, every metric as ``value [low, high]``
    and the system-level Spearman; ``-`` where a metric does not apply."""
    records = []
    for result in data["results"]:
        metrics = result["metrics"]
        record = {"role": result["role"], "scorer": result["name"], "n": str(result["n"])}
        for key, title in COLUMNS.items():
            record[title] = _estimate(metrics.get(key))
            if key == "pairwise_accuracy":
                record["pairs"] = str(result["pairs"]) if key in metrics else "-"
        system = result.get("system") or {}
        record["system Spearman"] = (
            f"{_number(system.get('spearman'))} ({system['groups']} groups)" if system else "-"
        )
        records.append(record)
    table = pd.DataFrame(records)
    used = [c for c in table.columns if c in ("role", "scorer", "n") or (table[c] != "-").any()]
    return table[used]


def within_table(data: dict[str, Any]) -> pd.DataFrame:
    """Spearman (with interval) inside each group: one row per result that has them, one
    column per group (its row count in the header)."""
    records, headers = [], {}
    for result in data["results"]:
        within = result.get("within") or {}
        if not within or set(result["metrics"]) <= {"mae", "accuracy"}:
            continue
        record = {"scorer": result["name"]}
        for label, values in within.items():
            headers[label] = f"{label} (n={values['n']})"
            record[headers[label]] = _estimate(values["spearman"])
        records.append(record)
    return pd.DataFrame(records)


def to_markdown(data: dict[str, Any]) -> str:
    """The evaluation as Markdown: what was evaluated, the summary table, the
    within-group table and the notes."""
    config = data["config"]
    clusters = data["clusters"]
    level = round(100 * config["confidence"])
    resampled = f"{clusters['count']} {clusters['by']} groups" if clusters["by"] else "rows"
    lines = [
        f"# Evaluation against {config['target']}",
        "",
        f"{data['rows']} rated videos from {data['source']}"
        + (f" with features from {data['features']}" if data["features"] else "")
        + f"; {config['target']} min/median/max "
        f"{_number(data['target']['min'])} / {_number(data['target']['median'])} / "
        f"{_number(data['target']['max'])}.",
        f"Intervals: {level}% percentile bootstrap, {config['n_resamples']} resamples of "
        f"{resampled}, seed {config['seed']}"
        + (
            f"; pairwise accuracy within {config['pair_by']} (its interval resamples "
            f"{config['pair_by']} groups)"
            if config["pair_by"]
            else ""
        )
        + ".",
        "",
        markdown_table(summary_table(data)),
    ]
    within = within_table(data)
    if not within.empty:
        lines += ["", f"## Spearman within each {config['group_by']}", "", markdown_table(within)]
    notes = [
        f"- {result['name']}: {note}" for result in data["results"] for note in result["notes"]
    ]
    notes += [f"- {note}" for note in data["notes"]]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame of strings as a Markdown table (``|`` in cells escaped)."""

    def row(cells) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    lines = [row(table.columns), row(["---"] * len(table.columns))]
    lines += [row(values) for values in table.itertuples(index=False)]
    return "\n".join(lines)


def plot(data: dict[str, Any], path: str | Path) -> Path:
    """Spearman and pairwise accuracy with intervals per result, and (with groups) the
    Spearman within each group, as one PNG."""
    ranked = [r for r in data["results"] if "spearman" in r["metrics"]]
    has_pairs = any("pairwise_accuracy" in r["metrics"] for r in ranked)
    within = [r for r in ranked if r.get("within")]
    panels = 1 + has_pairs + bool(within)
    height = 0.45 * len(ranked) + 1.6
    figure, axes = plt.subplots(1, panels, figsize=(5.5 * panels, height), squeeze=False)
    axes = list(axes[0])
    _interval_panel(
        axes.pop(0), ranked, "spearman", "Spearman with " + data["config"]["target"], 0.0
    )
    if has_pairs:
        title = f"pairwise accuracy within {data['config']['pair_by']}"
        _interval_panel(axes.pop(0), ranked, "pairwise_accuracy", title, 0.5, labels=False)
    if within:
        _within_panel(axes.pop(0), within, data["config"]["group_by"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def _interval_panel(
    axes, results: list[dict], metric: str, title: str, reference: float, labels: bool = True
) -> None:
    positions = np.arange(len(results))[::-1]
    for position, result in zip(positions, results):
        estimate = result["metrics"].get(metric)
        if estimate is None or estimate["value"] is None:
            continue
        value = estimate["value"]
        low, high = (value if v is None else v for v in estimate["ci"])
        axes.errorbar(
            value,
            position,
            xerr=[[value - low], [high - value]],
            fmt="o",
            color=COLOURS[result["role"]],
            capsize=3,
        )
    axes.axvline(reference, color="black", linewidth=0.8, linestyle=":")
    axes.set_yticks(positions, [r["name"] for r in results] if labels else [""] * len(results))
    axes.set_ylim(-0.7, len(results) - 0.3)
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)


def _within_panel(axes, results: list[dict], group_by: str) -> None:
    groups = sorted({label for result in results for label in result["within"]})
    width = 0.8 / len(results)
    for number, result in enumerate(results):
        values = [
            _value(result["within"].get(label, {}).get("spearman", {}).get("value"))
            for label in groups
        ]
        offsets = np.arange(len(groups)) + (number - (len(results) - 1) / 2) * width
        axes.bar(offsets, values, width, label=result["name"])
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    axes.set_title(f"Spearman within each {group_by}")
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _number(value: float | None) -> str:
    return "nan" if value is None else f"{value:.3f}"


def _estimate(estimate: dict[str, Any] | None) -> str:
    """``0.412 [0.301, 0.518]``; ``-`` for a metric that does not apply."""
    if estimate is None:
        return "-"
    low, high = estimate["ci"]
    return f"{_number(estimate['value'])} [{_number(low)}, {_number(high)}]"
