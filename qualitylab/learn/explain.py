"""SHAP explanations of a predictor (the explainer is the predictor's choice:
TreeExplainer for forests and boosting, LinearExplainer for linear learners).

The final estimator sees the imputed (and, for linear learners, rank-normalised)
features, so SHAP values are computed on those; the values shown beside them are the
features as offered (NaN where the imputer filled in). For regression the explained
output is the predicted score; for classification it is the probability of class 1
(target >= threshold) for forests and the log-odds of class 1 for boosting and logistic
models. For each row, the base value plus the row's SHAP values equals that output
(checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qualitylab.learn.predictor import Predictor


@dataclass
class Explanation:
    """SHAP values of some rows: one column per feature of the predictor's schema."""

    values: pd.DataFrame
    data: pd.DataFrame
    base_value: float
    output: str
    ids: list[str]

    def row(self, video_id: str) -> pd.Series:
        """The SHAP values of one video; KeyError naming the id when it is not explained."""
        if video_id not in self.ids:
            raise KeyError(f"no explained video with id {video_id!r}")
        return self.values.iloc[self.ids.index(video_id)]

    def predictions(self) -> np.ndarray:
        """The model's output per row, rebuilt from the SHAP values (base + sum)."""
        return self.base_value + self.values.to_numpy().sum(axis=1)


def explain(predictor: Predictor, table: pd.DataFrame) -> Explanation:
    """SHAP values of every row of ``table`` (which must offer the predictor's schema)."""
    predictor.check_schema(table)
    columns = predictor.columns
    raw = table[columns].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    values, base_value, output = predictor.shap_values(table)
    ids = [str(i) for i in table["id"]] if "id" in table.columns else [str(i) for i in table.index]
    return Explanation(
        values=pd.DataFrame(values, columns=columns, index=table.index),
        data=raw,
        base_value=base_value,
        output=output,
        ids=ids,
    )


def global_importance(explanation: Explanation) -> pd.DataFrame:
    """Features by mean |SHAP| (the thesis' importance), with the mean signed SHAP."""
    values = explanation.values
    importance = pd.DataFrame(
        {
            "feature": values.columns,
            "mean_abs_shap": values.abs().mean().to_numpy(),
            "mean_shap": values.mean().to_numpy(),
        }
    )
    return importance.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def top_contributions(explanation: Explanation, count: int = 3) -> list[str]:
    """Per row, the ``count`` largest |SHAP| contributions as text, e.g.
    ``ssim.adjacent.min=0.812 (-0.21); ...``."""
    texts = []
    values, data = explanation.values.to_numpy(), explanation.data.to_numpy()
    columns = explanation.values.columns
    for row_values, row_data in zip(values, data):
        order = np.argsort(-np.abs(row_values), kind="stable")[:count]
        texts.append(
            "; ".join(f"{columns[i]}={row_data[i]:.4g} ({row_values[i]:+.3f})" for i in order)
        )
    return texts
