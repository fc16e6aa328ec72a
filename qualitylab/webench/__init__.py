"""The Webench2 baseline: the hand-weighted quality index the learned predictor replaces."""

from qualitylab.webench.index import (
    COMPONENTS,
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
    "FAMILIES",
    "FORMULA",
    "ComponentWeights",
    "QualityIndexConfig",
    "QualityIndexResult",
    "load_index_config",
    "quality_index",
    "save_index_config",
]
