"""``qualitylab train`` as one library call: read one or several feature tables, train,
save the predictor (or a bundle of one predictor per aspect), and evaluate it on another
rated set when asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qualitylab.learn.bundle import save_bundle, train_bundle
from qualitylab.learn.datasets import Normalisation, combine, dataset_name
from qualitylab.learn.external import ExternalEvaluation, evaluate_on
from qualitylab.learn.predictor import load_predictor, save_predictor
from qualitylab.learn.spaces import parse_space
from qualitylab.learn.train import TrainConfig, TrainResult, train

EVAL_DIR = "eval"


@dataclass
class Trained:
    """What ``train_predictor`` made: the training result, the feature space's name, the
    table trained on (a bundle's with its ``mean_of_aspects`` column when asked), notes
    and, with ``eval_source``, the evaluation on the other set. For a bundle, ``aspects``
    holds every aspect's result and ``result`` is the first aspect's."""

    result: TrainResult
    space: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    external: ExternalEvaluation | None = None
    aspects: dict[str, TrainResult] = field(default_factory=dict)


def train_predictor(
    features: list[Path],
    config: TrainConfig,
    out: Path,
    *,
    space: str = "all",
    normalise: Normalisation = "rank",
    eval_source: Path | None = None,
    workers: int | None = None,
    aspects: list[str] | None = None,
    overall: str | None = None,
) -> Trained:
    """Train on ``features`` (one table, or several stacked with their target normalised
    per set, see :mod:`qualitylab.learn.datasets`), write the predictor to ``out`` and,
    with ``eval_source``, its evaluation to ``out/eval``.

    With several ``aspects`` (target columns) or an ``overall`` (a column, or ``"mean"``
    of the aspects), ``out`` becomes a bundle of one predictor per aspect, each trained
    with ``config``'s settings on that aspect and the same folds (see
    :mod:`qualitylab.learn.bundle`); ``config.target`` is then not used.

    Raises FileNotFoundError for a missing table, ValueError for bad options or data and
    PredictorError for an evaluation set that does not fit the predictor.
    """
    from qualitylab.features.layout import feature_run, read_feature_table
    from qualitylab.features.protocols import RUN_KEY

    notes: list[str] = []
    bundle = len(aspects or []) > 1 or overall is not None
    if bundle and (len(features) > 1 or eval_source is not None):
        raise ValueError(
            "several aspects train on one feature table without --eval; evaluate each "
            "aspect's predictor (OUT/ASPECT) with qualitylab evaluate"
        )
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
    run = next((run for run in runs if run), None)
    artifact = {
        "space": chosen.name,
        "extractors": extractors,
        "sampling": run["sampling"] if run else None,
        "protocol": run.get(RUN_KEY) if run else None,
        "source": source,
    }
    if bundle:
        table, results, folds = train_bundle(
            table, list(chosen.columns), config, list(aspects or []), overall
        )
        save_bundle(out, results, table, overall=overall, folds=folds, **artifact)
        first = next(iter(results.values()))
        return Trained(first, chosen.name, table, notes, aspects=results)
    result = train(table, list(chosen.columns), config)
    save_predictor(
        out,
        result,
        table,
        datasets=datasets,
        target_normalisation=normalise if datasets else None,
        **artifact,
    )
    trained = Trained(result, chosen.name, table, notes)
    if eval_source is not None:
        predictor = load_predictor(out)
        trained.external = evaluate_on(predictor, eval_source, out / EVAL_DIR, workers)
        if datasets:
            trained.external.notes.append(
                f"the predictor learned {config.target} normalised per set ({normalise}): "
                "compare its rank correlations and pairwise accuracy, not its error"
            )
    return trained
