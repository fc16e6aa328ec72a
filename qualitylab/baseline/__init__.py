"""The Webench2 baseline: the hand-weighted quality index the learned predictor replaces."""

from qualitylab.baseline.index import (
    COMPONENTS,
    DEGENERATE_NOTE,
    FAMILIES,
    FORMULA,
    ComponentWeights,
    QualityIndexConfig,
    QualityIndexResult,
    load_index_config,
    quality_index,
    save_index_config,
)

__all__ = [
    "COMPONENTS",
    "DEGENERATE_NOTE",
    "FAMILIES",
    "FORMULA",
    "ComponentWeights",
    "QualityIndexConfig",
    "QualityIndexResult",
    "load_index_config",
    "quality_index",
    "save_index_config",
]
