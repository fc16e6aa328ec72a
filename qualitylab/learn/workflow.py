"""``qualitylab train`` as one library call: read one or several feature tables, train,
save the predictor, and evaluate it on another rated set when asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qualitylab.learn.datasets import Normalisation, combine, dataset_name
from qualitylab.learn.external import ExternalEvaluation, evaluate_on
from qualitylab.learn.predictor import load_predictor, save_predictor
from qualitylab.learn.spaces import parse_space
from qualitylab.learn.train import TrainConfig, TrainResult, train

EVAL_DIR = "eval"


@dataclass
class Trained:
    """What ``train_predictor`` made: the training result, the feature space's size, notes
    and, with ``eval_source``, the evaluation on the other set."""

    result: TrainResult
    space: str
    table_rows: int
    notes: list[str] = field(default_factory=list)
    external: ExternalEvaluation | None = None


def train_predictor(
    features: list[Path],
    config: TrainConfig,
    out: Path,
    *,
    space: str = "all",
    normalise: Normalisation = "rank",
    eval_source: Path | None = None,
    workers: int | None = None,
) -> Trained:
    """Train on ``features`` (one table, or several stacked with their target normalised
    per set, see :mod:`qualitylab.learn.datasets`), write the predictor to ``out`` and,
    with ``eval_source``, its evaluation to ``out/eval``.

    Raises FileNotFoundError for a missing table, ValueError for bad options or data and
    PredictorError for an evaluation set that does not fit the predictor.
    """
    from qualitylab.features.layout import feature_run, read_feature_table
    from qualitylab.features.protocols import RUN_KEY

    notes: list[str] = []
    runs = [feature_run(path) for path in features]
    if len(features) == 1:
        table, extractors = read_feature_table(features[0])
        datasets: list[dict] = []
        source: Path | None = features[0]
    else:
        sets = [(dataset_name(path), *read_feature_table(path)) for path in features]
        table, datasets, notes = combine(sets, config.target, normalise)
        extractors = next((extractors for _, _, extractors in sets if extractors), [])
        source = None
        notes.append(
            f"{len(features)} sets stacked with {config.target} normalised per set ({normalise}); "
            "explain and report need --features (there is no single training table)"
        )
    chosen = parse_space(space, list(table.columns))
    result = train(table, list(chosen.columns), config)
    run = next((run for run in runs if run), None)
    save_predictor(
        out,
        result,
        table,
        space=chosen.name,
        extractors=extractors,
        sampling=run["sampling"] if run else None,
        protocol=run.get(RUN_KEY) if run else None,
        source=source,
        datasets=datasets,
        target_normalisation=normalise if datasets else None,
    )
    trained = Trained(result, chosen.name, len(table), notes)
    if eval_source is not None:
        predictor = load_predictor(out)
        trained.external = evaluate_on(predictor, eval_source, out / EVAL_DIR, workers)
        if datasets:
            trained.external.notes.append(
                f"the predictor learned {config.target} normalised per set ({normalise}): "
                "compare its rank correlations and pairwise accuracy, not its error"
            )
    return trained
