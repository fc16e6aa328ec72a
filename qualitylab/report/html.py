"""The self-contained HTML report of a predictor (every image embedded as a data URI).

Sections: the model, the dataset, cross-validated results with predicted-against-human
scores, the learned predictor beside the Webench quality index, SHAP figures, the best
and worst videos with strips of their frames, grid tables (when a grid directory is
given), scored runs (when score files are given; with the time line of their defect
intervals when ``score --intervals`` wrote them) and an evaluation against human ratings
(when an evaluate directory is given).
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from scipy import stats

from qualitylab.baseline import quality_index
from qualitylab.data.video import Sampling, VideoDecodeError, decode
from qualitylab.evaluate.output import PLOT_FILE, read_evaluation, summary_table, within_table
from qualitylab.features.names import parse_column
from qualitylab.intervals.output import intervals_path, read_run_intervals
from qualitylab.learn.evaluation import describe
from qualitylab.learn.explain import Explanation, explain, global_importance
from qualitylab.learn.metrics import bootstrap_ci, format_mean_std
from qualitylab.learn.predictor import OOF_FILE, Predictor, PredictorError, PredictorInfo
from qualitylab.report import plots

SECTIONS = (
    "Model",
    "Dataset",
    "Cross-validated results",
    "Learned predictor and quality index",
    "SHAP explanations",
    "Best and worst videos",
)
STRIP_FRAMES = 6
STRIP_SHORT_SIDE = 96
VIDEOS_SHOWN = 3
OOD_SHOWN = 10
INTERVAL_VIDEOS_SHOWN = 30


@dataclass
class ReportInputs:
    """What a report is made from; ``grid_dir`` and ``score_files`` are optional, and
    ``explanation`` (SHAP of ``table``) is computed when not given; ``evaluation_dir`` is
    a ``qualitylab evaluate`` output directory to include."""

    predictor: Predictor
    model_dir: Path
    table: pd.DataFrame
    grid_dir: Path | None = None
    score_files: list[Path] = field(default_factory=list)
    explanation: Explanation | None = None
    evaluation_dir: Path | None = None


def build_report(inputs: ReportInputs, out: str | Path) -> Path:
    """Write the report of ``inputs`` to the HTML file ``out``."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as scratch:
        context = _context(inputs, Path(scratch))
    return write_page("report.html", out, **context)


def write_page(template: str, out: str | Path, **context: Any) -> Path:
    """Render the packaged page ``template`` (each extends ``page.html``) with ``context``
    into the HTML file ``out``."""
    page = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template), autoescape=True, undefined=jinja2.StrictUndefined
    ).get_template(template)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page.render(**context), encoding="utf-8")
    return out


def _template(name: str) -> str:
    return files("qualitylab.report").joinpath(name).read_text(encoding="utf-8")


def embedded_image(path: Path) -> str:
    """The PNG file ``path`` as a data URI, so that a page carries its figures."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _context(inputs: ReportInputs, scratch: Path) -> dict[str, Any]:
    predictor, table = inputs.predictor, inputs.table
    info = predictor.info
    target = info.target
    oof = _out_of_fold(inputs.model_dir, table)
    explanation = inputs.explanation or explain(predictor, table)
    importance = global_importance(explanation)
    return {
        "sections": SECTIONS,
        "title": f"qualitylab report: {target} ({info.task})",
        "model": _model_facts(inputs),
        "dataset": _dataset(table, target, info, scratch),
        "cv": _cv_rows(info.cv),
        "cv_evaluation": describe(info.evaluation) if info.evaluation else [],
        "scatter": embedded_image(
            plots.predicted_vs_actual(
                oof["predicted"].to_numpy(),
                oof["target"].to_numpy(),
                scratch / "scatter.png",
                xlabel=target,
                ylabel="out-of-fold prediction",
                title=f"out-of-fold predictions against {target}",
            )
        )
        if info.task == "regression"
        else None,
        "baseline": _baseline(table, oof, info),
        "shap_bar": embedded_image(plots.importance_bar(importance, scratch / "bar.png")),
        "shap_beeswarm": embedded_image(plots.beeswarm(explanation, scratch / "beeswarm.png")),
        "shap_output": explanation.output,
        "importance": importance.head(10).to_dict("records"),
        "videos": _best_and_worst(oof, target, scratch),
        "grid": _grid_tables(inputs.grid_dir),
        "runs": [
            _scored_run(path, scratch / f"intervals_{number}.png")
            for number, path in enumerate(inputs.score_files)
        ],
        "evaluation": _evaluation(inputs.evaluation_dir),
    }


def _model_facts(inputs: ReportInputs) -> list[tuple[str, str]]:
    info = inputs.predictor.info
    extractors = ", ".join(e["name"] for e in info.extractors) or "not recorded"
    threshold = f" (target >= {info.threshold})" if info.threshold is not None else ""
    facts = [
        ("model directory", str(inputs.model_dir)),
        ("predictor id", inputs.predictor.id),
        ("target", info.target),
        ("task", info.task + threshold),
        ("learner", info.learner),
        ("feature space", f"{info.space} ({len(info.features)} features)"),
        ("extractors", extractors),
        ("trained", f"{info.created} with qualitylab {info.qualitylab_version}"),
        ("rows", f"{info.rows} ({info.rows_without_target} without a target left out)"),
        ("cross-validation", _cv_description(info)),
        ("tuning", info.tuning),
        ("seed", str(info.seed)),
        ("parameters", ", ".join(f"{k}={v}" for k, v in info.params.items())),
    ]
    return facts


def _cv_description(info: PredictorInfo) -> str:
    config = info.config
    grouped = f", grouped by {config.group_by}" if config.group_by else ""
    folds = "leave-one-group-out" if config.cv == "logo" else f"{config.cv}-fold"
    return f"{folds}{grouped}"


def _dataset(
    table: pd.DataFrame, target: str, info: PredictorInfo, scratch: Path
) -> dict[str, Any]:
    values = pd.to_numeric(table[target], errors="coerce") if target in table else pd.Series()
    facts = [
        ("videos", str(len(table))),
        ("prompts", str(table["prompt"].nunique()) if "prompt" in table else "-"),
        (f"{target} (min / mean / max)", _min_mean_max(values)),
        ("features in the table", str(sum(parse_column(c) is not None for c in table.columns))),
    ]
    sampling = info.sampling
    if sampling:
        chosen = {k: v for k, v in sampling.items() if v is not None}
        facts.append(("frame sampling", ", ".join(f"{k}={v}" for k, v in chosen.items()) or "all"))
    return {"facts": facts, "warnings": _video_warnings(table)}


def _video_warnings(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(id, warning) of every video whose file looked damaged or cut short when read."""
    if "warnings" not in table:
        return []
    flagged = table[table["warnings"].fillna("").astype(str) != ""]
    return [(str(row["id"]), str(row["warnings"])) for _, row in flagged.iterrows()]


def _min_mean_max(values: pd.Series) -> str:
    if values.notna().sum() == 0:
        return "-"
    return f"{values.min():.3g} / {values.mean():.3g} / {values.max():.3g}"


def _number(value: float | None) -> float:
    """A metric read back from JSON, where NaN was written as null."""
    return math.nan if value is None else float(value)


def _cv_cells(values: dict[str, Any]) -> dict[str, str]:
    """A metric of ``predictor.json``'s ``cv`` as table cells (NaN shown as "nan")."""
    low, high = (_number(v) for v in values["ci"])
    return {
        "mean_std": format_mean_std(_number(values["mean"]), _number(values["std"])),
        "oof": f"{_number(values['oof']):.3f}",
        "ci": f"[{low:.3f}, {high:.3f}]",
    }


def _cv_rows(cv: dict[str, dict]) -> list[dict[str, str]]:
    return [{"metric": name, **_cv_cells(values)} for name, values in cv.items()]


def _out_of_fold(model_dir: Path, table: pd.DataFrame) -> pd.DataFrame:
    """The out-of-fold predictions with the table's video and prompt."""
    oof = pd.read_csv(model_dir / OOF_FILE, dtype={"id": str})
    described = table[["id", "video", "prompt"]].astype({"id": str})
    return oof.merge(described, on="id", how="left")


def _baseline(table: pd.DataFrame, oof: pd.DataFrame, info: PredictorInfo) -> dict[str, Any]:
    """Spearman with the human scores of the predictor's out-of-fold predictions and of
    the quality index on the same videos, each with a bootstrap 95% interval (resampling
    the groups when the predictor's folds were grouped)."""
    target = info.target
    index = quality_index(table)
    index_table = index.table.assign(id=table["id"].astype(str).to_numpy())
    rows = oof.merge(index_table[["id", "quality_index"]], on="id", how="inner")
    rows = rows.dropna(subset=["target", "quality_index"])
    if rows.empty:
        raise PredictorError(
            f"the feature table holds none of the {len(oof)} rated videos the predictor was "
            f"cross-validated on (it has {len(table)} rows); pass --features with the table "
            "it was trained on"
        )
    group_by = info.config.group_by
    groups = None
    if group_by and group_by in table:
        by_id = dict(zip(table["id"].astype(str), table[group_by]))
        groups = rows["id"].map(by_id).to_numpy()
    spearman = _cv_cells(info.cv["spearman"])
    grouped = f" (folds grouped by {group_by})" if group_by else ""
    scorers = [
        {
            "name": f"learned predictor, out-of-fold{grouped}",
            "spearman": spearman["oof"],
            "ci": spearman["ci"],
            "cv": spearman["mean_std"],
        }
    ]
    if not index.degenerate:
        index_ci = bootstrap_ci(
            "regression", rows["target"], rows["quality_index"], groups=groups, seed=info.seed
        )["spearman"]
        index_rho = stats.spearmanr(rows["quality_index"], rows["target"]).statistic
        scorers.append(
            {
                "name": "Webench quality index (hand-weighted, no training)",
                "spearman": f"{index_rho:.3f}",
                "ci": f"[{index_ci[0]:.3f}, {index_ci[1]:.3f}]",
                "cv": "-",
            }
        )
    return {
        "rows": scorers,
        "videos": len(rows),
        "target": target,
        "description": index.describe(),
    }


def _best_and_worst(oof: pd.DataFrame, target: str, scratch: Path) -> list[dict[str, Any]]:
    ranked = oof.sort_values("predicted", ascending=False, ignore_index=True)
    chosen = [("best", row) for _, row in ranked.head(VIDEOS_SHOWN).iterrows()]
    chosen += [("worst", row) for _, row in ranked.tail(VIDEOS_SHOWN)[::-1].iterrows()]
    videos = []
    for number, (label, row) in enumerate(chosen):
        videos.append(
            {
                "label": label,
                "id": row["id"],
                "prompt": row.get("prompt", ""),
                "predicted": f"{row['predicted']:.3f}",
                "human": f"{row['target']:.3f}",
                "strip": _strip(row.get("video"), scratch / f"strip_{number}.png"),
            }
        )
    return videos


def _strip(video: object, path: Path) -> str | None:
    """A strip of evenly spaced frames of ``video`` as a data URI; None when unreadable."""
    if not isinstance(video, str) or not Path(video).is_file():
        return None
    try:
        clip = decode(video, Sampling(num_frames=STRIP_FRAMES, short_side=STRIP_SHORT_SIDE))
    except VideoDecodeError:
        return None
    return embedded_image(plots.frame_strip(clip.frames, path))


def _grid_tables(grid_dir: Path | None) -> list[dict[str, str]]:
    if grid_dir is None:
        return []
    return [
        {"title": path.stem.replace("_", " "), "html": _html_table(pd.read_csv(path))}
        for path in sorted((grid_dir / "tables").glob("*.csv"))
    ]


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, classes="data", border=0, na_rep="-", escape=True)


def _evaluation(out_dir: Path | None) -> dict[str, Any] | None:
    """The summary and within-group tables and the figure of a saved evaluation."""
    if out_dir is None:
        return None
    data = read_evaluation(out_dir)
    within = within_table(data)
    return {
        "path": str(out_dir),
        "target": data["config"]["target"],
        "rows": data["rows"],
        "summary": _html_table(summary_table(data)),
        "within": _html_table(within) if not within.empty else None,
        "plot": embedded_image(Path(out_dir) / PLOT_FILE),
    }


def _scored_run(path: Path, figure: Path) -> dict[str, Any]:
    scores = pd.read_csv(path)
    found = read_run_intervals(intervals_path(path))
    with_defects = {video: records for video, records in found.items() if records}
    failed = scores["error"].notna() if "error" in scores else pd.Series(False, index=scores.index)
    shown = scores[~failed].drop(columns=["error", "video", "prompt"], errors="ignore")
    outside = scores[~failed & scores["ood"].notna()] if "ood" in scores else scores.head(0)
    rounded = shown.drop(columns=["ood", "predictor_id"], errors="ignore").round(3)
    return {
        "path": html.escape(str(path)),
        "scored": int((~failed).sum()),
        "failed": int(failed.sum()),
        "html": _html_table(rounded.head(20)),
        "ood": [(str(row.id), str(row.ood)) for row in outside.head(OOD_SHOWN).itertuples()],
        "ood_count": len(outside),
        "intervals": embedded_image(
            plots.defect_timeline(
                dict(list(with_defects.items())[:INTERVAL_VIDEOS_SHOWN]),
                figure,
                "detected defect intervals",
            )
        )
        if with_defects
        else None,
        "intervals_count": (len(with_defects), len(found)),
    }
