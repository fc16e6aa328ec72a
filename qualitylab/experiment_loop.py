"""The whole loop as one experiment: data → features → train → explain → score → report.

``qualitylab run EXPERIMENT`` runs a `LoopExperiment` read from YAML (see
``experiments/demo.yaml``); ``qualitylab demo`` runs the built-in demo experiment (the
defaults below) on the embedded demo data. Every step writes into one output directory:

``data/`` (demo data), ``features/`` (index and tables), ``model/`` (the predictor),
``explain/`` (SHAP files), ``score_data/`` and ``scores.csv`` (+ ``scores_features/``)
for the scored run, ``report.html``, and ``experiment.yaml`` (the settings used). Each
step reuses what an earlier run left (the shared feature store; a complete demo dataset), so a
re-run is quick and an interrupted one resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.stats import spearmanr

from qualitylab.atomic import write_text
from qualitylab.config import read_yaml_model
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.samples import FRAME_HEIGHT, MAX_CLIPS, MIN_CLIPS, build_demo_dataset
from qualitylab.data.video import Sampling
from qualitylab.device import Device, Precision
from qualitylab.features.extract import VideoResult
from qualitylab.features.extraction_run import ExtractionSummary, extract_features
from qualitylab.features.learned.runtime import learned_with_weights
from qualitylab.features.protocols import ProtocolName, protocol_and_sampling
from qualitylab.features.registry import with_learned_settings
from qualitylab.learn.bundle import PredictorBundle, load_model
from qualitylab.learn.metrics import bootstrap_ci
from qualitylab.learn.train import Task, TrainConfig, TrainProtocol, nest_protocol
from qualitylab.learn.workflow import train_predictor
from qualitylab.report.aspects import build_aspects_report, write_aspect_explanations
from qualitylab.report.explanations import write_explanations
from qualitylab.report.html import ReportInputs, build_report
from qualitylab.score import ScoreResult, score_manifest

# The short side the demo analyses every clip at: its training clips (192 px) at 3/4, its
# scored run's (288 px) at half. Rendering the training clips at 144 px instead measured
# as well, but H.264 encodes of 192×144 frames differ from run to run (the same frames
# gave other bytes), and with them the demo's figures.
DEMO_SHORT_SIDE = 144


class DemoData(BaseModel):
    """The embedded demo dataset: rendered clips with graded defects and a synthetic score,
    ``height`` pixels high (a multiple of 24), at ``fps`` (null: 8, 10 or 12 per clip)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    demo_clips: int = Field(32, ge=MIN_CLIPS, le=MAX_CLIPS)
    seed: int = Field(0, ge=0)
    height: int = Field(FRAME_HEIGHT, ge=48, multiple_of=24)
    fps: int | None = Field(None, ge=1, le=60)


class LoopExperiment(BaseModel):
    """The settings of one pass through the loop; the defaults are the demo.

    ``data`` and ``score`` are a manifest path (relative to the experiment file) or a demo
    dataset; ``protocol`` is the feature protocol (``sampling``'s fps and short side
    replace the default protocol's canonical ones when set); ``features`` null means the
    protocol's offline extractors; ``learned: present`` adds every learned extractor whose
    weights are on disk; ``settings`` are extractor settings by extractor (as
    ``extract-features --config``), ``device``, ``precision`` and ``batch_size`` those of
    every learned extractor; ``workers`` are the extraction's processes (0: the engine's
    default). ``training`` is the training protocol (:class:`TrainProtocol`, as
    ``qualitylab train`` takes it); ``target`` and ``task`` say what it learns.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "demo"
    # The demo trains on the whole plan: more clips tell the defects apart from the
    # photographs better (CV 0.60, 0.65, 0.66 on 240, 320, 400 clips).
    data: DemoData | str = DemoData(demo_clips=MAX_CLIPS)
    # Several target columns (aspects) train a bundle, with ``overall`` (a column, or
    # "mean" of the aspects) as its overall aspect; see qualitylab.learn.bundle.
    target: str | Annotated[list[str], Field(min_length=1)] = "synthetic_score"
    overall: str | None = None
    task: Task = "regression"
    protocol: ProtocolName = "default"
    # The demo leaves out ``detail``: its training clips are downscaled from 192 px at
    # analysis and its scored run from 288 px, which fine detail tells apart while the
    # synthetic score ignores resolution.
    features: list[str] | None = Field(default_factory=lambda: ["ssim", "technical", "motion"])
    learned: Literal["present", "none"] = "present"
    sampling: Sampling = Sampling(short_side=DEMO_SHORT_SIDE)
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    device: Device | None = None
    precision: Precision | None = None
    batch_size: int | None = Field(None, ge=1)
    space: str = "all"
    training: TrainProtocol = TrainProtocol()
    score: DemoData | str | None = DemoData(demo_clips=80, seed=1, height=288, fps=16)
    workers: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _nest_training(cls, data: Any) -> Any:
        return nest_protocol(data, TrainProtocol())

    def to_yaml(self) -> str:
        """The experiment as YAML, fields in declaration order."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def load_loop_experiment(path: str | Path) -> LoopExperiment:
    """The loop experiment in a YAML file; ValueError naming the file and each bad field."""
    return read_yaml_model(path, LoopExperiment, "loop experiment")


@dataclass
class LoopResult:
    """Where the loop put its results, and the predictor's cross-validated metrics."""

    out_dir: Path
    report: Path
    model_dir: Path
    scores: Path | None
    metrics: dict[str, dict]
    features: list[str]
    extraction: ExtractionSummary
    scoring: ScoreResult | None
    scored_spearman: ScoredCorrelation | None = None
    aspects: dict[str, dict] | None = None


@dataclass
class LoopHooks:
    """Callbacks that let a caller show progress: a step starting (its name), and the
    extraction's ``on_start(total)`` / ``on_result(result)``."""

    step: Callable[[str], None] = lambda name: None
    extraction_start: Callable[[int], None] | None = None
    extraction_result: Callable[[VideoResult], None] | None = None


def run_loop(
    experiment: LoopExperiment,
    out_dir: str | Path,
    *,
    base_dir: str | Path = ".",
    hooks: LoopHooks | None = None,
) -> LoopResult:
    """Run every step of ``experiment`` into ``out_dir``; manifest paths in it are relative
    to ``base_dir``. Raises what the steps raise (RunError, ValueError, PredictorError)."""
    hooks = hooks or LoopHooks()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "experiment.yaml", experiment.to_yaml())

    hooks.step("data")
    targets = [experiment.target] if isinstance(experiment.target, str) else experiment.target
    manifest = _manifest(experiment.data, out_dir / "data", base_dir, targets[0])
    protocol, sampling = protocol_and_sampling(experiment.protocol, **experiment.sampling.to_dict())
    names = list(experiment.features or protocol.extractors)
    if experiment.learned == "present":
        names += [name for name in learned_with_weights() if name not in names]
    overrides = with_learned_settings(
        names,
        experiment.settings,
        device=experiment.device,
        precision=experiment.precision,
        batch_size=experiment.batch_size,
    )
    hooks.step(f"features ({protocol.name} protocol: {', '.join(names)})")
    extraction = extract_features(
        manifest,
        names,
        out_dir / "features",
        sampling=sampling,
        overrides=overrides,
        protocol=protocol,
        workers=experiment.workers or None,
        on_start=hooks.extraction_start,
        on_result=hooks.extraction_result,
    )
    if extraction.interrupted:
        raise KeyboardInterrupt

    hooks.step("train")
    model_dir = out_dir / "model"
    config = TrainConfig.of(targets[0], experiment.task, experiment.training)
    trained = train_predictor(
        [out_dir / "features"],
        config,
        model_dir,
        space=experiment.space,
        aspects=targets,
        overall=experiment.overall,
    )
    predictor = load_model(model_dir)
    table = trained.table
    aspects = {aspect: result.metrics for aspect, result in trained.aspects.items()} or None

    hooks.step("explain")
    explain_with = write_aspect_explanations if aspects else write_explanations
    explained = explain_with(
        predictor, table, out_dir / "explain", signals_dir=out_dir / "features"
    )

    scoring, scores_path, scored_spearman = None, None, None
    if experiment.score is not None:
        hooks.step("score")
        scored = _manifest(experiment.score, out_dir / "score_data", base_dir, None)
        scoring = score_manifest(
            scored,
            predictor,
            out_dir / "scores_features",
            workers=experiment.workers or None,
            on_start=hooks.extraction_start,
            on_result=hooks.extraction_result,
        )
        scores_path = out_dir / "scores.csv"
        scoring.scores.to_csv(scores_path, index=False)
        scored_spearman = scored_correlation(scoring.scores, scored.table, targets[0], predictor)

    hooks.step("report")
    if isinstance(predictor, PredictorBundle):
        report = build_aspects_report(
            predictor,
            model_dir,
            table,
            out_dir / "report.html",
            score_files=[scores_path] if scores_path else [],
            explanations=explained,
        )
    else:
        inputs = ReportInputs(
            predictor,
            model_dir,
            table,
            score_files=[scores_path] if scores_path else [],
            explanation=explained.explanation,
        )
        report = build_report(inputs, out_dir / "report.html")
    return LoopResult(
        out_dir=out_dir,
        report=report,
        model_dir=model_dir,
        scores=scores_path,
        metrics=trained.result.metrics,
        features=names,
        extraction=extraction,
        scoring=scoring,
        scored_spearman=scored_spearman,
        aspects=aspects,
    )


def _manifest(source: DemoData | str, demo_dir: Path, base_dir: str | Path, target: str | None):
    """The manifest of a data source, building the demo dataset when it is one."""
    if isinstance(source, DemoData):
        path = build_demo_dataset(
            demo_dir,
            n_clips=source.demo_clips,
            seed=source.seed,
            height=source.height,
            fps=source.fps,
        )
        targets = ("synthetic_score",)
    else:
        path = Path(base_dir) / source
        targets = (target,) if target else None
    return load_manifest(path, ColumnMapping(targets=targets))


@dataclass(frozen=True)
class ScoredCorrelation:
    """Spearman's correlation of a scored run's predictions with its own target, over its
    ``n`` scored videos, with the 95 % percentile bootstrap interval (videos resampled)."""

    spearman: float
    ci: tuple[float, float]
    n: int


def scored_correlation(
    scores: pd.DataFrame,
    table: pd.DataFrame,
    target: str,
    predictor: PredictorBundle | None = None,
) -> ScoredCorrelation | None:
    """The correlation of a scored run's predicted scores with its own ``target`` column,
    matched by id (of a bundle: its aspect trained on ``target``); None when the scored
    manifest has no such column."""
    if target not in table.columns:
        return None
    column = "predicted_score"
    if isinstance(predictor, PredictorBundle):
        aspect = next(a for a, learned in predictor.info.aspects.items() if learned == target)
        column = f"predicted_{aspect}"
    truth = pd.to_numeric(table.set_index("id")[target], errors="coerce")
    predicted = scores.dropna(subset=[column]).set_index("id")[column]
    truth = truth.loc[predicted.index]
    # A few dozen scored clips leave a wide interval: it says how far the figure can be
    # trusted as a measure of transfer.
    low, high = bootstrap_ci("regression", truth.to_numpy(), predicted.to_numpy())["spearman"]
    return ScoredCorrelation(
        float(spearmanr(predicted, truth).statistic), (low, high), len(predicted)
    )


def summary_line(result: LoopResult, target: str | list[str]) -> str:
    """The closing line(s): the predictor's cross-validated Spearman with the target (with
    each aspect's), and the Spearman of the scored run's predictions with its own target
    when it has one."""
    lines = []
    for name, metrics in (result.aspects or {"": result.metrics}).items():
        spearman = metrics.get("spearman", {})
        mean, std = spearman.get("mean", float("nan")), spearman.get("std", float("nan"))
        what = f"aspect {name}" if name else target
        lines.append(f"cross-validated Spearman with {what}: {mean:.3f} ± {std:.3f}")
    line = "\n".join(lines)
    target = target if isinstance(target, str) else target[0]
    if result.scored_spearman is not None:
        scored = result.scored_spearman
        line += f"\nSpearman of the scored run's predictions with its {target}: "
        line += f"{scored.spearman:.3f} [{scored.ci[0]:.3f}, {scored.ci[1]:.3f}] "
        line += f"(95 % bootstrap interval, {scored.n} videos)"
    return line
