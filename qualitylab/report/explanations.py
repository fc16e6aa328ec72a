"""`qualitylab explain`'s files: SHAP numbers as CSV and the figures as PNG.

``OUT/`` receives ``importance.csv`` (mean |SHAP| per feature), ``shap_values.csv`` (one
row per video), ``shap_bar.png`` (top 10), ``shap_beeswarm.png``, and per explained
video ``waterfall_<id>.png`` plus, when the video's stored signals can be read,
``timeline_<id>.png`` and ``timeline_<id>.csv`` (the SHAP attributed to each frame).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qualitylab.features.layout import feature_run
from qualitylab.features.tables import left_out_pairs, video_signals
from qualitylab.learn.explain import Explanation, explain, global_importance
from qualitylab.learn.predictor import Predictor
from qualitylab.learn.timeline import frame_attribution
from qualitylab.report import plots


@dataclass
class ExplainFiles:
    """What `write_explanations` wrote, and why anything expected is missing."""

    explanation: Explanation
    importance: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_ids(explanation: Explanation) -> list[str]:
    """The videos explained one by one when none is named: the highest and the lowest
    predicted."""
    predictions = explanation.predictions()
    highest = explanation.ids[int(predictions.argmax())]
    lowest = explanation.ids[int(predictions.argmin())]
    return list(dict.fromkeys([highest, lowest]))


def safe_name(video_id: str) -> str:
    """A file-name-safe version of a video id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", video_id).strip("._") or "video"


def write_explanations(
    predictor: Predictor,
    table: pd.DataFrame,
    out_dir: str | Path,
    *,
    ids: list[str] | None = None,
    signals_dir: str | Path | None = None,
) -> ExplainFiles:
    """Explain every row of ``table`` and write the files above into ``out_dir``.

    ``ids`` are the videos to explain one by one (default: `default_ids`); KeyError when
    one is not in the table. ``signals_dir`` is the extract-features directory holding
    their signals, for the timelines.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    explanation = explain(predictor, table)
    importance = global_importance(explanation)
    result = ExplainFiles(explanation, importance)
    ids = ids or default_ids(explanation)
    for video_id in ids:
        explanation.row(video_id)

    importance.to_csv(out_dir / "importance.csv", index=False)
    result.files["importance.csv"] = out_dir / "importance.csv"
    values = explanation.values.copy()
    values.insert(0, "id", explanation.ids)
    values.to_csv(out_dir / "shap_values.csv", index=False)
    result.files["shap_values.csv"] = out_dir / "shap_values.csv"
    result.files["shap_bar.png"] = plots.importance_bar(importance, out_dir / "shap_bar.png")
    result.files["shap_beeswarm.png"] = plots.beeswarm(explanation, out_dir / "shap_beeswarm.png")

    has_signals = signals_dir is not None and feature_run(signals_dir) is not None
    if not has_signals:
        result.notes.append(
            "no timelines: they need the extract-features directory of the table "
            "(its stored per-frame signals)"
        )
    for video_id in ids:
        name = safe_name(video_id)
        result.files[f"waterfall_{name}.png"] = plots.waterfall(
            explanation, video_id, out_dir / f"waterfall_{name}.png"
        )
        if has_signals:
            _write_timeline(explanation, video_id, Path(signals_dir), out_dir, name, result)
    return result


def _write_timeline(
    explanation: Explanation,
    video_id: str,
    signals_dir: Path,
    out_dir: Path,
    name: str,
    result: ExplainFiles,
) -> None:
    try:
        _, signals = video_signals(signals_dir, video_id)
    except KeyError:
        result.notes.append(f"no timeline for {video_id}: not in {signals_dir}")
        return
    attribution = frame_attribution(
        signals, explanation.row(video_id).to_dict(), left_out_pairs(signals_dir, video_id)
    )
    if attribution.empty:
        result.notes.append(f"no timeline for {video_id}: none of its features reads a signal")
        return
    attribution.to_csv(out_dir / f"timeline_{name}.csv", index=False)
    result.files[f"timeline_{name}.csv"] = out_dir / f"timeline_{name}.csv"
    title = f"{video_id}: SHAP of temporal features mapped to frames ({explanation.output})"
    result.files[f"timeline_{name}.png"] = plots.timeline(
        attribution, out_dir / f"timeline_{name}.png", title
    )
