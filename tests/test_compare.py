"""Paired comparison of two runs: deltas, win rate, bootstrap intervals, verdicts, CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import qualitylab.cli.compare  # noqa: F401  (registers the command)
from qualitylab.cli import app
from qualitylab.compare import (
    CompareError,
    compare_runs,
    compare_tables,
    direction,
    to_markdown,
    write_comparison,
)

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def run(prompts, scores, **columns) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(len(prompts))],
            "video": [f"v{i}.mp4" for i in range(len(prompts))],
            "prompt": prompts,
            "predicted_score": scores,
            **columns,
        }
    )


def shifted_runs(n: int, shift: float, noise: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    prompts = [f"p{i:03d}" for i in range(n)]
    a = rng.normal(5, 1, n)
    b = a + shift + rng.normal(0, noise, n)
    return run(prompts, a), run(prompts, b)


def by_name(comparison, name):
    return next(m for m in comparison.metrics if m.metric == name)


def test_paired_deltas_and_win_rate_by_hand():
    a = run(["p1", "p2", "p3", "p4"], [1.0, 2.0, 3.0, 4.0])
    b = run(["p4", "p3", "p2", "p1"], [3.0, 5.0, 2.0, 2.0])  # order does not matter
    result = by_name(compare_tables(a, b), "predicted_score")
    assert (result.wins, result.ties, result.losses) == (2, 1, 1)  # deltas 1, 0, 2, -1
    assert result.win_rate == 0.5 and result.n_prompts == 4
    assert result.mean_delta == pytest.approx(0.5)
    assert result.mean_a == pytest.approx(2.5) and result.mean_b == pytest.approx(3.0)
    assert result.std_delta == pytest.approx(np.std([1, 0, 2, -1]))


def test_deltas_table_is_long_and_b_minus_a():
    a = run(["p1", "p2"], [1.0, 2.0], quality_index=[0.5, 0.25])
    b = run(["p1", "p2"], [4.0, 1.0], quality_index=[0.75, 0.25])
    deltas = compare_tables(a, b).deltas
    assert list(deltas.columns) == ["prompt", "metric", "a", "b", "delta"]
    row = deltas[(deltas.prompt == "p1") & (deltas.metric == "predicted_score")].iloc[0]
    assert (row.a, row.b, row.delta) == (1.0, 4.0, 3.0)
    assert len(deltas) == 4


def test_several_videos_per_prompt_are_averaged():
    a = run(["p1", "p1", "p2"], [1.0, 3.0, 5.0])
    b = run(["p1", "p2", "p2", "p2"], [4.0, 5.0, 6.0, 7.0])
    comparison = compare_tables(a, b)
    result = by_name(comparison, "predicted_score")
    assert result.mean_a == pytest.approx(3.5)  # (2 + 5) / 2
    assert result.mean_delta == pytest.approx(((4 - 2) + (6 - 5)) / 2)
    assert (comparison.averaged_a, comparison.averaged_b) == (1, 1)
    assert "averaged per prompt: 1 prompts in A, 1 in B" in to_markdown(comparison)


def test_bootstrap_interval_covers_the_shift_and_excludes_zero():
    a, b = shifted_runs(200, shift=0.3)
    result = by_name(compare_tables(a, b, n_boot=2000, seed=0), "predicted_score")
    assert result.ci_low < 0.3 < result.ci_high
    assert result.ci_low < result.mean_delta < result.ci_high
    assert result.ci_low > 0 and result.clear
    # the percentile interval agrees with the normal approximation of the mean's spread
    half_width = 1.96 * result.std_delta / math.sqrt(200)
    assert result.ci_high - result.ci_low == pytest.approx(2 * half_width, rel=0.1)
    assert result.verdict.startswith("B is better than A on predicted_score: mean +")


def test_no_shift_gives_no_clear_difference_and_seeds_repeat():
    a, b = shifted_runs(50, shift=0.0, seed=3)
    first = by_name(compare_tables(a, b, seed=7), "predicted_score")
    again = by_name(compare_tables(a, b, seed=7), "predicted_score")
    other = by_name(compare_tables(a, b, seed=8), "predicted_score")
    assert first.ci_low < 0 < first.ci_high and not first.clear
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.verdict.startswith("no clear difference on predicted_score (CI contains 0)")


def test_verdict_wording_follows_direction():
    a, b = shifted_runs(40, shift=-1.0, noise=0.1)
    b["technical.static.mean"] = 0.5
    a["technical.static.mean"] = np.linspace(0.1, 0.2, 40)
    b["ssim.adjacent.std"] = 1.0
    a["ssim.adjacent.std"] = 0.5
    comparison = compare_tables(a, b)
    assert by_name(comparison, "predicted_score").verdict.startswith("B is worse than A")
    assert by_name(comparison, "technical.static.mean").verdict.startswith("B is worse than A")
    static = by_name(comparison, "ssim.adjacent.std").verdict
    assert static.startswith("B is higher than A on ssim.adjacent.std: mean +0.5 [0.5, 0.5]")
    assert "B wins 40 of 40 prompts" in static


def test_direction_from_names_and_registry():
    assert direction("predicted_score") is True and direction("quality_index") is True
    assert direction("qi_static") is True
    assert direction("clip_b32.prompt_sim.mean") is True
    assert direction("technical.static.ewm_0.3") is False
    assert direction("lpips.adjacent.median") is False
    for unknown in ("clip_b32.prompt_sim.std", "ssim.adjacent.sum", "uncertainty", "x.y.mean"):
        assert direction(unknown) is None


def test_prompts_on_one_side_are_reported_and_left_out():
    a = run(["p1", "p2", "only_a"], [1.0, 2.0, 100.0])
    b = run(["p1", "p2", "only_b1", "only_b2"], [2.0, 3.0, -5.0, -5.0])
    comparison = compare_tables(a, b)
    assert comparison.common_prompts == ("p1", "p2")
    assert comparison.only_a == ("only_a",) and comparison.only_b == ("only_b1", "only_b2")
    assert by_name(comparison, "predicted_score").mean_delta == 1.0
    text = to_markdown(comparison)
    assert "1 prompts only in A, left out: only_a" in text
    assert "2 prompts only in B, left out: only_b1, only_b2" in text


def test_no_common_prompt_names_both_files(tmp_path):
    run(["p1"], [1.0]).to_csv(tmp_path / "first.csv", index=False)
    run(["p2"], [1.0]).to_csv(tmp_path / "second.csv", index=False)
    with pytest.raises(CompareError, match="no prompt in common") as info:
        compare_runs(tmp_path / "first.csv", tmp_path / "second.csv")
    assert "first.csv" in str(info.value) and "second.csv" in str(info.value)


def test_nan_metric_values_leave_out_that_prompt():
    a = run(["p1", "p2", "p3"], [1.0, 2.0, 3.0], uncertainty=[0.1, np.nan, 0.3])
    b = run(["p1", "p2", "p3"], [1.0, 2.0, 3.0], uncertainty=[0.2, 0.2, 0.2])
    result = by_name(compare_tables(a, b), "uncertainty")
    assert result.n_prompts == 2 and result.mean_delta == pytest.approx(0.0)
    assert (result.wins, result.losses) == (1, 1)


def test_metric_selection_order_and_frame_values():
    rng = np.random.default_rng(1)
    n = 30
    prompts = [f"p{i}" for i in range(n)]
    a = run(prompts, rng.normal(size=n), quality_index=rng.random(n))
    b = a.copy()
    for name, shift in (("fam.small.mean", 0.1), ("fam.big.mean", 3.0), ("fam.sig.f000", 1.0)):
        a[name] = rng.normal(size=n)
        b[name] = a[name] + shift + rng.normal(0, 1, n)
    comparison = compare_tables(a, b)
    names = [m.metric for m in comparison.metrics]
    assert names == ["predicted_score", "quality_index", "fam.big.mean", "fam.small.mean"]
    chosen = compare_tables(a, b, metrics=["fam.*", "predicted_score"])
    assert [m.metric for m in chosen.metrics] == [
        "predicted_score",
        "fam.big.mean",
        "fam.sig.f000",
        "fam.small.mean",
    ]
    with pytest.raises(CompareError, match="'nope' is not a numeric column of both"):
        compare_tables(a, b, metrics=["nope"])
    assert len(comparison.headline(top=1)) == 3
    assert "1 more metrics of smaller effect are in compare.csv" in to_markdown(comparison, top=1)


def test_no_numeric_metric_is_a_clear_error():
    a = pd.DataFrame({"id": ["a"], "video": ["a.mp4"], "prompt": ["p"]})
    with pytest.raises(CompareError, match="no numeric metric in common"):
        compare_tables(a, a)
    with pytest.raises(CompareError, match="no 'prompt' column"):
        compare_tables(a.drop(columns="prompt"), a, labels=("left.csv", "right.csv"))


def test_single_prompt_has_no_interval():
    result = by_name(compare_tables(run(["p"], [1.0]), run(["p"], [2.0])), "predicted_score")
    assert math.isnan(result.ci_low) and result.verdict.startswith("too few prompts")


def test_write_comparison_files(tmp_path):
    a, b = shifted_runs(20, shift=0.5)
    paths = write_comparison(compare_tables(a, b), tmp_path / "cmp")
    assert sorted(p.name for p in paths.values()) == ["compare.csv", "compare.md", "deltas.csv"]
    summary = pd.read_csv(paths["compare.csv"])
    assert summary.loc[0, "metric"] == "predicted_score"
    assert {"mean_delta", "ci_low", "ci_high", "win_rate", "ties", "verdict"} <= set(summary)
    assert len(pd.read_csv(paths["deltas.csv"])) == 20


def test_cli_writes_three_files_and_prints_verdict(tmp_path):
    a, b = shifted_runs(20, shift=1.0, noise=0.3)
    a.to_csv(tmp_path / "a.csv", index=False)
    b["clip_b32.prompt_sim.mean"] = 0.3
    b.to_parquet(tmp_path / "b.parquet")  # a feature table works as well as a score file
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.parquet"), "--out", str(out)]
        + ["--seed", "1", "--bootstrap", "500"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "B is better than A on predicted_score: mean +" in result.output
    assert "B wins 20 of 20 prompts" in result.output
    assert "1 metrics only in B, left out: clip_b32.prompt_sim.mean" in result.output
    for name in ("compare.md", "compare.csv", "deltas.csv"):
        assert (out / name).is_file()
    assert "500 resamples" in (out / "compare.md").read_text()


def test_cli_metrics_option(tmp_path):
    a, b = shifted_runs(10, shift=1.0)
    a["quality_index"], b["quality_index"] = 0.5, 0.5
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    result = runner.invoke(
        app,
        ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--metrics", "quality_index"],
    )
    assert result.exit_code == 0, result.output
    assert "| quality_index |" in result.output and "| predicted_score |" not in result.output


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "gone.csv: no such file or directory"),
        ("no_numeric", "no numeric metric in common"),
        ("no_prompt", "no 'prompt' column"),
        ("unreadable", "cannot be read as a table"),
    ],
)
def test_cli_bad_input(tmp_path, case, message):
    good = tmp_path / "good.csv"
    run(["p1", "p2"], [1.0, 2.0]).to_csv(good, index=False)
    other = tmp_path / "other.csv"
    if case == "missing":
        other = tmp_path / "gone.csv"
    elif case == "no_numeric":
        pd.DataFrame({"id": ["a"], "prompt": ["p1"]}).to_csv(other, index=False)
        good = tmp_path / "text.csv"
        pd.DataFrame({"id": ["a"], "prompt": ["p1"], "note": ["x"]}).to_csv(good, index=False)
    elif case == "no_prompt":
        pd.DataFrame({"predicted_score": [1.0]}).to_csv(other, index=False)
    else:
        other = tmp_path / "scores.parquet"
        other.write_text("not parquet")
    result = runner.invoke(app, ["compare", str(good), str(other)])
    assert result.exit_code == 1
    assert message in result.output


def test_rank_error_and_file_facts_are_not_metrics():
    a, b = shifted_runs(8, 1.0)
    for side in (a, b):
        side["rank"] = np.arange(1, 9)
        side["error"] = np.nan
        side["video_width"] = 256
    names = [m.metric for m in compare_tables(a, b).metrics]
    assert names == ["predicted_score"]


def test_scores_of_two_predictors_are_compared_with_a_warning():
    a, b = shifted_runs(8, 1.0)
    a["predictor_id"], b["predictor_id"] = "aaaa1111", "bbbb2222"
    comparison = compare_tables(a, b, labels=("a.csv", "b.csv"))
    assert "different predictors" in comparison.notes[0]
    assert "aaaa1111" in to_markdown(comparison) and "**warning**" in to_markdown(comparison)
    b["predictor_id"] = "aaaa1111"
    assert compare_tables(a, b).notes == ()


def test_a_missing_score_file_is_named_as_such(tmp_path):
    a, _ = shifted_runs(3, 0.0)
    a.to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(FileNotFoundError, match="b.csv: no such file or directory"):
        compare_runs(tmp_path / "a.csv", tmp_path / "b.csv")


def test_long_prompts_are_shortened_in_the_summary():
    long_prompt = "a very long prompt " * 20
    a = run(["p1", "p2", long_prompt], [1.0, 2.0, 3.0])
    b = run(["p1", "p2"], [1.5, 2.5])
    text = to_markdown(compare_tables(a, b))
    assert long_prompt not in text and "a very long prompt a very long" in text and "…" in text
