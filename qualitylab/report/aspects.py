"""Reports and explanations of a bundle of aspect predictors, one part per aspect.

``qualitylab explain`` on a bundle writes each aspect's files into ``OUT/<aspect>/``;
``qualitylab report`` writes each aspect's full report beside ``OUT``
(``<stem>_<aspect>.html``) and ``OUT`` itself as an overview: per aspect its
cross-validated Spearman and MAE (beside the constant predictor's), its out-of-fold
predictions against its target and its top features by mean |SHAP|, linking to the full
reports.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from qualitylab.learn.bundle import PredictorBundle
from qualitylab.learn.explain import Explanation, explain, global_importance
from qualitylab.learn.metrics import format_mean_std
from qualitylab.learn.predictor import OOF_FILE, Predictor
from qualitylab.report import plots
from qualitylab.report.explanations import ExplainFiles, write_explanations
from qualitylab.report.html import ReportInputs, build_report, embedded_image, write_page


def write_aspect_explanations(
    bundle: PredictorBundle,
    table: pd.DataFrame,
    out_dir: str | Path,
    *,
    ids: list[str] | None = None,
    signals_dir: str | Path | None = None,
) -> dict[str, ExplainFiles]:
    """Explain every aspect of ``bundle`` on ``table`` into ``out_dir/<aspect>`` (see
    :func:`write_explanations`)."""
    return {
        aspect: write_explanations(
            predictor, table, Path(out_dir) / aspect, ids=ids, signals_dir=signals_dir
        )
        for aspect, predictor in bundle.predictors.items()
    }


def build_aspects_report(
    bundle: PredictorBundle,
    model_dir: str | Path,
    table: pd.DataFrame,
    out: str | Path,
    *,
    score_files: list[Path] | None = None,
    explanations: dict[str, ExplainFiles] | None = None,
) -> Path:
    """Write every aspect's report beside ``out`` and the overview page to ``out``."""
    out, model_dir = Path(out), Path(model_dir)
    parts = []
    with tempfile.TemporaryDirectory() as scratch:
        for aspect, predictor in bundle.predictors.items():
            explained = (explanations or {}).get(aspect)
            explanation = explained.explanation if explained else explain(predictor, table)
            report = build_report(
                ReportInputs(
                    predictor,
                    model_dir / aspect,
                    table,
                    score_files=list(score_files or []),
                    explanation=explanation,
                ),
                out.with_name(f"{out.stem}_{aspect}.html"),
            )
            parts.append(
                _aspect_part(aspect, predictor, model_dir, report.name, explanation, Path(scratch))
            )
    return write_page(
        "aspects.html",
        out,
        title=f"qualitylab report: {', '.join(bundle.aspects)}",
        model_dir=str(model_dir),
        folds=bundle.info.folds,
        overall=bundle.info.overall,
        aspects=parts,
    )


def _aspect_part(
    aspect: str,
    predictor: Predictor,
    model_dir: Path,
    report: str,
    explanation: Explanation,
    scratch: Path,
) -> dict[str, Any]:
    """One aspect's row of the overview and its two figures."""
    info = predictor.info
    oof = pd.read_csv(model_dir / aspect / OOF_FILE, dtype={"id": str})
    spearman, mae = info.cv.get("spearman"), info.cv.get("mae")
    constant = info.evaluation.get("constant_yardstick") or {}
    scatter = None
    if info.task == "regression":
        scatter = embedded_image(
            plots.predicted_vs_actual(
                oof["predicted"].to_numpy(),
                oof["target"].to_numpy(),
                scratch / f"{aspect}_scatter.png",
                xlabel=info.target,
                ylabel="out-of-fold prediction",
                title=f"{aspect}: out-of-fold predictions against {info.target}",
            )
        )
    bar = plots.importance_bar(global_importance(explanation), scratch / f"{aspect}_bar.png")
    return {
        "name": aspect,
        "target": info.target,
        "rows": info.rows,
        "spearman": _with_ci(spearman),
        "spearman_cv": format_mean_std(spearman["mean"], spearman["std"]) if spearman else "-",
        "mae": f"{mae['oof']:.3f}" if mae else "-",
        "constant_mae": f"{constant['mae']:.3f}" if "mae" in constant else "-",
        "report": report,
        "scatter": scatter,
        "shap_bar": embedded_image(bar),
        "shap_output": explanation.output,
    }


def _with_ci(values: dict[str, Any] | None) -> str:
    """A metric's out-of-fold value and its bootstrap interval, e.g. ``0.712 [0.60, 0.80]``."""
    if not values:
        return "-"
    low, high = values["ci"]
    return f"{values['oof']:.3f} [{low:.3f}, {high:.3f}]"
