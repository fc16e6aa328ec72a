"""Paired comparison of two runs on the same prompts: is run B better than run A?

A run is a score file (the CSV of ``qualitylab predict``/scoring: ``id, video, prompt,
predicted_score`` and possibly ``quality_index``, ``uncertainty`` and other numeric
columns) or a feature table (``.parquet``/``.csv`` or an extract-features directory).

Conventions:

- Rows are paired by ``prompt``. A side with several videos of one prompt is averaged
  per prompt first (NaN ignored), and the comparison says how many prompts were averaged.
  Prompts on one side only are reported and left out. No prompt in common is an error.
- Metrics: ``predicted_score`` and every other numeric column present on both sides,
  except ``id``-like descriptive columns and the per-frame values of non-aggregated
  feature sets (``extractor.signal.fNNN``: frame values, not metrics; name them in
  ``metrics`` to compare them anyway). ``metrics`` restricts the list by name or
  shell-style pattern (``clip_b32.*``).
- For each metric and each common prompt: the delta B − A. A prompt where the metric is
  NaN on either side is left out of that metric. Then the mean delta, the win rate of B
  (share of prompts with B > A; ties, |B − A| ≤ 1e-9·max(|A|, |B|) or ≤ 1e-12, are counted
  separately and are not wins), and a percentile bootstrap interval of the mean delta:
  prompts are resampled with replacement (the same seeded resamples for every metric;
  ``qualitylab.learn.metrics``' resampling), ``n_boot`` times. With fewer than two
  prompts there is no interval (NaN).
- Direction: higher is better for ``predicted_score``, ``quality_index``, its
  ``qi_<component>`` columns and ``probability``; for a feature
  ``extractor.signal.aggregation`` it is the registry's ``SignalSpec.higher_is_better``
  when the aggregation follows the signal's level (mean, median, min, max, p25, p75,
  ewm_*); spread (std, iqr), sum (depends on the length) and min_max_ratio have no
  direction. Without a direction a verdict says "higher"/"lower", never "better"/"worse".
- Verdict: a clear difference when the interval excludes 0, otherwise "no clear
  difference (CI contains 0)".
- Order: ``predicted_score`` and ``quality_index`` first, then by effect size
  |mean delta| / std of the deltas (ddof=0) in decreasing order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd

from qualitylab.atomic import write_text
from qualitylab.errors import QualitylabError
from qualitylab.features.extract import FACT_COLUMNS
from qualitylab.features.layout import read_feature_table
from qualitylab.features.names import is_value_column, parse_column
from qualitylab.features.registry import REGISTRY
from qualitylab.learn.metrics import percentile_interval, resample_weights

PRIORITY = ("predicted_score", "quality_index")
HIGHER_IS_BETTER = {"predicted_score", "quality_index", "probability"}
# Columns that describe a row rather than measure its quality: identity, the score file's
# rank and error, and the facts about the video file.
DESCRIPTIVE = {"id", "video", "prompt", "sha256", "rank", "error", *FACT_COLUMNS}
# Where a score file names the predictor that made it.
PREDICTOR_COLUMN = "predictor_id"
_PROMPT_SHOWN = 60
LEVEL_AGGREGATIONS = {"mean", "median", "min", "max", "p10", "p25", "p75", "p90"}
_TIE_RTOL, _TIE_ATOL = 1e-9, 1e-12


class CompareError(QualitylabError, ValueError):
    """Two runs that cannot be compared (no common prompt, no common metric, …)."""


@dataclass(frozen=True)
class MetricComparison:
    """The paired comparison of one metric over the common prompts."""

    metric: str
    higher_is_better: bool | None
    n_prompts: int
    mean_a: float
    mean_b: float
    mean_delta: float
    ci_low: float
    ci_high: float
    std_delta: float
    wins: int
    ties: int
    losses: int

    @property
    def win_rate(self) -> float:
        """Share of prompts where B > A (ties count as not won); NaN without prompts."""
        return self.wins / self.n_prompts if self.n_prompts else math.nan

    @property
    def effect(self) -> float:
        """|mean delta| / std of the deltas; inf for a constant non-zero shift."""
        if math.isnan(self.mean_delta):
            return math.nan
        if self.std_delta == 0:
            return math.inf if self.mean_delta != 0 else 0.0
        return abs(self.mean_delta) / self.std_delta

    @property
    def clear(self) -> bool:
        """Whether the interval of the mean delta excludes 0."""
        return not math.isnan(self.ci_low) and (self.ci_low > 0 or self.ci_high < 0)

    @property
    def verdict(self) -> str:
        """One line, e.g. ``B is better than A on predicted_score: mean +0.42 [0.18, 0.66],
        B wins 15 of 20 prompts``."""
        numbers = f"mean {_signed(self.mean_delta)} [{_num(self.ci_low)}, {_num(self.ci_high)}]"
        tally = f"B wins {self.wins} of {self.n_prompts} prompts"
        if self.ties:
            tally += f" ({self.ties} ties)"
        if self.n_prompts < 2:
            return f"too few prompts for an interval on {self.metric}: {numbers}, {tally}"
        if not self.clear:
            return f"no clear difference on {self.metric} (CI contains 0): {numbers}, {tally}"
        up = self.mean_delta > 0
        if self.higher_is_better is None:
            word = "higher" if up else "lower"
        else:
            word = "better" if up == self.higher_is_better else "worse"
        return f"B is {word} than A on {self.metric}: {numbers}, {tally}"


@dataclass(frozen=True)
class Comparison:
    """Everything ``compare_tables`` found, ready for the markdown and CSV writers.

    ``metrics`` is ordered (priority metrics, then by effect size); ``deltas`` has one row
    per (prompt, metric) with ``a``, ``b`` and ``delta`` = b − a.
    """

    label_a: str
    label_b: str
    metrics: tuple[MetricComparison, ...]
    deltas: pd.DataFrame
    common_prompts: tuple[str, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    averaged_a: int
    averaged_b: int
    rows_a: int
    rows_b: int
    metrics_only_a: tuple[str, ...]
    metrics_only_b: tuple[str, ...]
    n_boot: int
    seed: int
    confidence: float
    notes: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """One row per metric: the numbers of ``MetricComparison`` and its verdict."""
        rows = [
            {
                "metric": m.metric,
                "higher_is_better": m.higher_is_better,
                "n_prompts": m.n_prompts,
                "mean_a": m.mean_a,
                "mean_b": m.mean_b,
                "mean_delta": m.mean_delta,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "std_delta": m.std_delta,
                "effect": m.effect,
                "wins": m.wins,
                "ties": m.ties,
                "losses": m.losses,
                "win_rate": m.win_rate,
                "verdict": m.verdict,
            }
            for m in self.metrics
        ]
        return pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)

    def headline(self, top: int = 20) -> tuple[MetricComparison, ...]:
        """The priority metrics present, then the ``top`` others of largest effect."""
        first = tuple(m for m in self.metrics if m.metric in PRIORITY)
        rest = tuple(m for m in self.metrics if m.metric not in PRIORITY)
        return first + rest[:top]


_SUMMARY_COLUMNS = [
    "metric",
    "higher_is_better",
    "n_prompts",
    "mean_a",
    "mean_b",
    "mean_delta",
    "ci_low",
    "ci_high",
    "std_delta",
    "effect",
    "wins",
    "ties",
    "losses",
    "win_rate",
    "verdict",
]


def load_run(path: str | Path) -> pd.DataFrame:
    """The table of a run: a score CSV, a feature table (``.parquet``/``.csv``) or an
    extract-features directory. FileNotFoundError when there is none at ``path``,
    CompareError when it cannot be read as a table."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    try:
        table, _ = read_feature_table(path)
    except FileNotFoundError:
        raise
    except Exception as error:  # pandas and pyarrow raise many kinds for unreadable files
        raise CompareError(f"{path}: cannot be read as a table ({error})") from error
    return table


def compare_runs(
    path_a: str | Path,
    path_b: str | Path,
    metrics: list[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """Compare the runs at ``path_a`` and ``path_b`` (see ``compare_tables``); errors name
    the files."""
    return compare_tables(
        load_run(path_a),
        load_run(path_b),
        metrics=metrics,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        labels=(str(path_a), str(path_b)),
    )


def compare_tables(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metrics: list[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Paired comparison of run B against run A by prompt (module docstring: pairing,
    deltas, win rate, bootstrap interval, direction).

    Raises CompareError when a side has no ``prompt`` column, no prompt is common, no
    numeric metric is common, or a requested metric matches nothing on both sides.
    """
    if n_boot < 1:
        raise CompareError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise CompareError(f"confidence must lie in (0, 1), got {confidence}")
    label_a, label_b = labels
    names_a, names_b = _metric_columns(a, label_a), _metric_columns(b, label_b)
    shared = [name for name in names_a if name in set(names_b)]
    chosen = _choose(shared, metrics, label_a, label_b, names_a, names_b)
    per_a, videos_a = _per_prompt(a, chosen)
    per_b, videos_b = _per_prompt(b, chosen)
    common = sorted(set(per_a.index) & set(per_b.index))
    if not common:
        raise CompareError(
            f"no prompt in common between {label_a} ({len(per_a)} prompts) and "
            f"{label_b} ({len(per_b)} prompts)"
        )
    values_a = per_a.loc[common].to_numpy(np.float64)
    values_b = per_b.loc[common].to_numpy(np.float64)
    results = _compare_values(chosen, values_a, values_b, n_boot, seed, confidence)
    deltas = _deltas_frame(common, chosen, values_a, values_b)
    return Comparison(
        label_a=label_a,
        label_b=label_b,
        metrics=_ordered(results),
        deltas=deltas,
        common_prompts=tuple(common),
        only_a=tuple(sorted(set(per_a.index) - set(common))),
        only_b=tuple(sorted(set(per_b.index) - set(common))),
        averaged_a=int((videos_a.loc[common] > 1).sum()),
        averaged_b=int((videos_b.loc[common] > 1).sum()),
        rows_a=len(a),
        rows_b=len(b),
        metrics_only_a=tuple(n for n in names_a if n not in set(names_b)),
        metrics_only_b=tuple(n for n in names_b if n not in set(names_a)),
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        notes=_predictor_notes(a, b, label_a, label_b),
    )


def _predictor_notes(a: pd.DataFrame, b: pd.DataFrame, label_a: str, label_b: str) -> tuple:
    """A warning when two score files were made by different predictors: their scores are
    on different scales and their difference says as much about the predictors as the runs."""
    ids = [
        sorted(set(side[PREDICTOR_COLUMN].dropna().astype(str))) if PREDICTOR_COLUMN in side else []
        for side in (a, b)
    ]
    if ids[0] and ids[1] and ids[0] != ids[1]:
        return (
            f"the runs were scored by different predictors ({label_a}: {', '.join(ids[0])}; "
            f"{label_b}: {', '.join(ids[1])}): predicted_score differences mix the predictors "
            "with the runs; score both runs with one predictor to compare them",
        )
    return ()


def direction(metric: str) -> bool | None:
    """Whether higher is better for ``metric`` (True/False), or None when unknown."""
    if metric in HIGHER_IS_BETTER or metric.startswith("qi_"):
        return True
    name = parse_column(metric)
    if name is None or name.extractor not in REGISTRY:
        return None
    if name.part not in LEVEL_AGGREGATIONS and not name.part.startswith("ewm_"):
        return None
    try:
        return REGISTRY[name.extractor].signal(name.signal).higher_is_better
    except KeyError:
        return None


def to_markdown(comparison: Comparison, top: int = 20) -> str:
    """The summary: inputs, pairing, verdicts and a table of the headline metrics (the
    priority metrics and the ``top`` others of largest effect; all are in compare.csv)."""
    c = comparison
    shown = c.headline(top)
    level = f"{100 * c.confidence:g}%"
    lines = [
        "# Comparison of two runs",
        "",
        f"- A: `{c.label_a}` ({c.rows_a} rows)",
        f"- B: `{c.label_b}` ({c.rows_b} rows)",
        f"- {len(c.common_prompts)} prompts in common; deltas are B − A per prompt; "
        f"{level} bootstrap intervals of the mean delta ({c.n_boot} resamples of the prompts, "
        f"seed {c.seed})",
    ]
    lines += [f"- **warning**: {note}" for note in c.notes]
    if c.averaged_a or c.averaged_b:
        lines.append(
            f"- several videos of one prompt were averaged per prompt: {c.averaged_a} prompts "
            f"in A, {c.averaged_b} in B"
        )
    for label, only in (("A", c.only_a), ("B", c.only_b)):
        if only:
            shortened = tuple(_shortened(prompt) for prompt in only)
            lines.append(f"- {len(only)} prompts only in {label}, left out: {_listing(shortened)}")
    for label, only in (("A", c.metrics_only_a), ("B", c.metrics_only_b)):
        if only:
            lines.append(f"- {len(only)} metrics only in {label}, left out: {_listing(only)}")
    lines += ["", "## Verdict", ""]
    lines += [f"- {m.verdict}" for m in shown if m.metric in PRIORITY or m.clear][: top + 2]
    if not any(m.metric in PRIORITY or m.clear for m in shown):
        lines.append("- no clear difference on any metric shown (every CI contains 0)")
    lines += [
        "",
        "## Metrics",
        "",
        f"| metric | prompts | mean A | mean B | mean Δ | {level} CI | B wins | ties | B loses |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for m in shown:
        lines.append(
            f"| {m.metric} | {m.n_prompts} | {_num(m.mean_a)} | {_num(m.mean_b)} | "
            f"{_signed(m.mean_delta)} | [{_num(m.ci_low)}, {_num(m.ci_high)}] | {m.wins} | "
            f"{m.ties} | {m.losses} |"
        )
    hidden = len(c.metrics) - len(shown)
    if hidden:
        lines += ["", f"{hidden} more metrics of smaller effect are in compare.csv."]
    return "\n".join(lines) + "\n"


def write_comparison(comparison: Comparison, out_dir: str | Path, top: int = 20) -> dict[str, Path]:
    """Write ``compare.md``, ``compare.csv`` (one row per metric) and ``deltas.csv`` (one
    row per prompt and metric) into ``out_dir``; returns their paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("compare.md", "compare.csv", "deltas.csv")}
    write_text(paths["compare.md"], to_markdown(comparison, top))
    write_text(paths["compare.csv"], comparison.summary().to_csv(index=False))
    write_text(paths["deltas.csv"], comparison.deltas.to_csv(index=False))
    return paths


def _metric_columns(table: pd.DataFrame, label: str) -> list[str]:
    """The numeric, non-descriptive columns of one side; CompareError without prompts."""
    if "prompt" not in table.columns:
        raise CompareError(f"{label}: no 'prompt' column to pair the runs by")
    return [
        str(name)
        for name in table.columns
        if name not in DESCRIPTIVE
        and (pd.api.types.is_numeric_dtype(table[name]) or pd.api.types.is_bool_dtype(table[name]))
    ]


def _choose(
    shared: list[str],
    requested: list[str] | None,
    label_a: str,
    label_b: str,
    names_a: list[str],
    names_b: list[str],
) -> list[str]:
    """The metrics to compare: the requested ones (names or patterns) or every shared one
    that is not a per-frame value."""
    if requested:
        chosen: list[str] = []
        for pattern in requested:
            matched = [n for n in shared if fnmatchcase(n, pattern) and n not in chosen]
            if not matched and pattern not in chosen:
                raise CompareError(
                    f"metric {pattern!r} is not a numeric column of both {label_a} and {label_b}"
                )
            chosen += matched
        return chosen
    chosen = [n for n in shared if not is_value_column(n)]
    if not chosen:
        raise CompareError(
            f"no numeric metric in common between {label_a} and {label_b} (expected "
            f"predicted_score, quality_index or feature columns; A has {_listing(names_a)}, "
            f"B has {_listing(names_b)})"
        )
    return chosen


def _per_prompt(table: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """The mean of each column per prompt (NaN ignored) and the number of rows per prompt."""
    values = table[columns].astype(np.float64)
    prompts = table["prompt"].astype(str)
    grouped = values.groupby(prompts, sort=True)
    return grouped.mean(), grouped.size()


def _compare_values(
    names: list[str],
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int,
    seed: int,
    confidence: float,
) -> list[MetricComparison]:
    """One comparison per column of the [prompts, metrics] arrays ``a`` and ``b``."""
    delta = b - a
    defined = ~np.isnan(delta)
    counts = defined.sum(axis=0)
    zeroed = np.where(defined, delta, 0.0)
    weights = resample_weights(len(delta), None, n_boot, np.random.default_rng(seed))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_means = (weights @ zeroed) / (weights @ defined)  # [n_boot, metrics]
    tie = np.isclose(b, a, rtol=_TIE_RTOL, atol=_TIE_ATOL) & defined
    tail = 100 * (1 - confidence) / 2
    results = []
    for j, name in enumerate(names):
        d = delta[defined[:, j], j]
        low, high = percentile_interval(boot_means[:, j], tail) if d.size >= 2 else (math.nan,) * 2
        ties = int(tie[:, j].sum())
        wins = int((d > 0).sum()) - int((tie[:, j] & (delta[:, j] > 0)).sum())
        results.append(
            MetricComparison(
                metric=name,
                higher_is_better=direction(name),
                n_prompts=int(counts[j]),
                mean_a=_mean(a[defined[:, j], j]),
                mean_b=_mean(b[defined[:, j], j]),
                mean_delta=_mean(d),
                ci_low=low,
                ci_high=high,
                std_delta=float(d.std(ddof=0)) if d.size else math.nan,
                wins=wins,
                ties=ties,
                losses=int(d.size) - wins - ties,
            )
        )
    return results


def _ordered(results: list[MetricComparison]) -> tuple[MetricComparison, ...]:
    first = [m for name in PRIORITY for m in results if m.metric == name]
    rest = [m for m in results if m.metric not in PRIORITY]
    rest.sort(key=lambda m: -m.effect if not math.isnan(m.effect) else math.inf)
    return tuple(first + rest)


def _deltas_frame(
    prompts: list[str], names: list[str], a: np.ndarray, b: np.ndarray
) -> pd.DataFrame:
    """Long table: one row per (prompt, metric) with a, b and delta = b − a."""
    n_prompts, n_metrics = a.shape
    return pd.DataFrame(
        {
            "prompt": np.repeat(np.asarray(prompts, dtype=object), n_metrics),
            "metric": np.tile(np.asarray(names, dtype=object), n_prompts),
            "a": a.ravel(),
            "b": b.ravel(),
            "delta": (b - a).ravel(),
        }
    )


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _num(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3g}"


def _signed(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.3g}"


def _shortened(text: str) -> str:
    """A prompt cut to a readable length for listings."""
    return text if len(text) <= _PROMPT_SHOWN else text[: _PROMPT_SHOWN - 1].rstrip() + "…"


def _listing(names: tuple[str, ...] | list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit]) if names else "none"
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")
