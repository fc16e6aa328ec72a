"""The figures: SHAP importance, beeswarm and waterfall, the SHAP timeline of one video,
predicted against human scores, strips of frames, and the defect intervals of videos on
a time line. Each writes one PNG file."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shap  # noqa: E402

from qualitylab.learn.explain import Explanation  # noqa: E402

DPI = 110


def _save(figure: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def importance_bar(importance: pd.DataFrame, path: Path, top: int = 10) -> Path:
    """Horizontal bars of the ``top`` features by mean |SHAP| (largest at the top)."""
    shown = importance.head(top).iloc[::-1]
    figure, axes = plt.subplots(figsize=(7.5, 0.45 * len(shown) + 1.2))
    axes.barh(shown["feature"], shown["mean_abs_shap"], color="#1f77b4")
    axes.set_xlabel("mean |SHAP value|")
    axes.set_title(f"top {len(shown)} features by mean |SHAP|")
    return _save(figure, path)


def _shap_explanation(explanation: Explanation, rows: slice | int = slice(None)):
    return shap.Explanation(
        values=explanation.values.to_numpy()[rows],
        base_values=np.full(len(explanation.ids), explanation.base_value)[rows],
        data=explanation.data.to_numpy()[rows],
        feature_names=list(explanation.values.columns),
    )


def beeswarm(explanation: Explanation, path: Path, max_display: int = 15) -> Path:
    """SHAP's beeswarm: each video's SHAP value per feature, coloured by the feature value."""
    shap.plots.beeswarm(_shap_explanation(explanation), max_display=max_display, show=False)
    figure = plt.gcf()
    figure.set_size_inches(8, 0.4 * max_display + 1.5)
    return _save(figure, path)


def waterfall(explanation: Explanation, video_id: str, path: Path, max_display: int = 10) -> Path:
    """SHAP's waterfall of one video: from the base value to its prediction."""
    row = explanation.ids.index(video_id)
    shap.plots.waterfall(_shap_explanation(explanation, row), max_display=max_display, show=False)
    figure = plt.gcf()
    figure.suptitle(f"{video_id}: {explanation.output}", fontsize=10)
    return _save(figure, path)


def timeline(attribution: pd.DataFrame, path: Path, title: str, signals_shown: int = 3) -> Path:
    """Top: the signals with the most attributed |SHAP|, each scaled to [0, 1], over frames.
    Bottom: the SHAP attributed to each frame (a pair's between its two frames)."""
    totals = attribution.groupby("signal")["shap"].apply(lambda s: s.abs().sum())
    shown = totals.sort_values(ascending=False).index[:signals_shown]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for signal in shown:
        group = attribution[attribution["signal"] == signal]
        values = group["value"].to_numpy()
        span = values.max() - values.min()
        scaled = (values - values.min()) / span if span > 0 else np.full(values.size, 0.5)
        label = f"{signal} ({values.min():.3g} to {values.max():.3g})"
        top.plot(group["frame"], scaled, marker=".", label=label)
    top.set_ylabel("signal (scaled to 0-1)")
    top.legend(fontsize=8, loc="best")
    top.set_title(title, fontsize=10)
    per_frame = attribution.groupby("frame")["shap"].sum()
    colours = np.where(per_frame.to_numpy() > 0, "#d62728", "#1f77b4")
    bottom.bar(per_frame.index, per_frame.to_numpy(), width=0.45, color=colours)
    bottom.axhline(0, color="black", linewidth=0.6)
    bottom.set_ylabel("SHAP attributed")
    bottom.set_xlabel("frame (pairs between their two frames)")
    return _save(figure, path)


def predicted_vs_actual(
    predicted: np.ndarray, actual: np.ndarray, path: Path, xlabel: str, ylabel: str, title: str
) -> Path:
    """Scatter of predictions against the human scores, with the identity line."""
    figure, axes = plt.subplots(figsize=(5, 4.5))
    axes.scatter(actual, predicted, s=14, alpha=0.7)
    low = float(np.nanmin([np.nanmin(actual), np.nanmin(predicted)]))
    high = float(np.nanmax([np.nanmax(actual), np.nanmax(predicted)]))
    axes.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    return _save(figure, path)


def frame_strip(frames: np.ndarray, path: Path, height: float = 1.3) -> Path:
    """A row of frames [N, H, W, 3] side by side."""
    count = len(frames)
    ratio = frames.shape[2] / frames.shape[1]
    figure, axes = plt.subplots(1, count, figsize=(height * ratio * count, height))
    for axis, frame in zip(np.atleast_1d(axes), frames):
        axis.imshow(frame)
        axis.axis("off")
    figure.subplots_adjust(wspace=0.03, left=0, right=1, top=1, bottom=0)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return Path(path)


def defect_timeline(videos: dict[str, list[dict]], path: Path, title: str) -> Path:
    """One row per video, a coloured span per detected defect interval over its seconds
    (``start_s`` to ``end_s``), one colour per defect."""
    defects = sorted({record["defect"] for records in videos.values() for record in records})
    colours = dict(zip(defects, plt.get_cmap("tab10").colors, strict=False))
    figure, axes = plt.subplots(figsize=(7.5, 0.3 * len(videos) + 1.4))
    for row, records in enumerate(videos.values()):
        for record in records:
            axes.broken_barh(
                [(record["start_s"], record["end_s"] - record["start_s"])],
                (row - 0.35, 0.7),
                color=colours[record["defect"]],
            )
    axes.set_yticks(range(len(videos)), list(videos))
    axes.invert_yaxis()
    axes.set_xlabel("seconds")
    axes.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[name]) for name in defects]
    if handles:
        axes.legend(handles, defects, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return _save(figure, path)
