"""Agreement with people: any scorer against human ratings, with bootstrap intervals, per
group, at system level and pairwise within prompt, beside yardsticks and the human ceiling."""

from qualitylab.evaluate.evaluation import (
    Evaluation,
    EvaluationConfig,
    EvaluationError,
    ScorerEvaluation,
    evaluate,
)
from qualitylab.evaluate.output import write_evaluation

__all__ = [
    "Evaluation",
    "EvaluationConfig",
    "EvaluationError",
    "ScorerEvaluation",
    "evaluate",
    "write_evaluation",
]
