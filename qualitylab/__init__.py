"""qualitylab: learn to predict how people rate AI-generated videos.

The public Python API, imported lazily so that ``import qualitylab`` stays cheap (the heavy
libraries load when a function is first used)::

    import qualitylab as ql

    manifest = ql.load_manifest("t2v/manifest.csv")
    ql.extract_features(manifest, ["ssim", "technical", "motion"], "runs/t2v",
                        protocol=ql.get_protocol("default"))
    ql.train_predictor(["runs/t2v"], ql.TrainConfig(target="human_score", group_by="prompt"),
                       "models/t2v")
    predictor = ql.Predictor.load("models/t2v")
    scores = ql.score_manifest(ql.load_manifest("new/manifest.csv"), predictor,
                               "runs/new").scores

See the README's "Python API" section for every name.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Each public name and the module that owns it.
_EXPORTS: dict[str, str] = {
    "QualitylabError": "qualitylab.errors",
    "ColumnMapping": "qualitylab.data.manifest",
    "Manifest": "qualitylab.data.manifest",
    "load_manifest": "qualitylab.data.manifest",
    "validate_manifest": "qualitylab.data.manifest",
    "Sampling": "qualitylab.data.video",
    "decode": "qualitylab.data.video",
    "probe": "qualitylab.data.video",
    "build_demo_dataset": "qualitylab.data.samples",
    "Protocol": "qualitylab.features.protocols",
    "get_protocol": "qualitylab.features.protocols",
    "extract_features": "qualitylab.features.extraction_run",
    "read_feature_table": "qualitylab.features.layout",
    "TrainConfig": "qualitylab.learn.train",
    "TrainProtocol": "qualitylab.learn.train",
    "train_predictor": "qualitylab.learn.workflow",
    "Predictor": "qualitylab.learn.predictor",
    "load_predictor": "qualitylab.learn.predictor",
    "PredictorBundle": "qualitylab.learn.bundle",
    "load_model": "qualitylab.learn.bundle",
    "explain": "qualitylab.learn.explain",
    "score_manifest": "qualitylab.score",
    "score_table": "qualitylab.score",
    "EvaluationConfig": "qualitylab.evaluate",
    "evaluate": "qualitylab.evaluate",
    "QualityIndexConfig": "qualitylab.baseline",
    "quality_index": "qualitylab.baseline",
    "compare_runs": "qualitylab.compare",
    "ReportInputs": "qualitylab.report.html",
    "build_report": "qualitylab.report.html",
    "LoopExperiment": "qualitylab.experiment_loop",
    "load_loop_experiment": "qualitylab.experiment_loop",
    "run_loop": "qualitylab.experiment_loop",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qualitylab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
