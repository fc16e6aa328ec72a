"""Tests of defect intervals: probabilities → intervals, the measures, the detectors' inputs,
the rules, the sequence model (a tiny one), saving and loading, and the CLI's checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.samples import DemoClip, render_clip
from qualitylab.features.base import Chunk
from qualitylab.features.registry import create
from qualitylab.intervals.core import (
    Postprocess,
    false_alarms,
    frame_counts,
    frame_scores,
    interval_ious,
    iou,
    merge,
    to_intervals,
    to_mask,
)
from qualitylab.intervals.detect import (
    ANY,
    RuleDetector,
    detect,
    intervals_record,
    load_detector,
    measure,
)
from qualitylab.intervals.experiment import IntervalsExperiment
from qualitylab.intervals.inputs import (
    DEFECTS,
    SIGNALS,
    ClipSignals,
    frame_inputs,
    input_names,
    labels,
    truth_intervals,
)
from qualitylab.intervals.model import SequenceConfig, train_sequence_detector
from qualitylab.intervals.output import intervals_path, read_run_intervals, video_intervals
from qualitylab.intervals.rules import RuleConfig, fit_rules, rule_scores

# --- probabilities -> intervals ---------------------------------------------------------------


def test_threshold_closing_and_min_length() -> None:
    p = np.array([0, 0.9, 0.8, 0.2, 0.7, 0.9, 0, 0, 0, 0.6, 0, 0.8, 0.8, 0.8])
    assert to_intervals(p, 0.5, closing=0, min_length=1) == [(1, 3), (4, 6), (9, 10), (11, 14)]
    # closing fills the one-frame gap at 3 and at 10, not the three-frame gap at 6-8.
    assert to_intervals(p, 0.5, closing=1, min_length=1) == [(1, 6), (9, 14)]
    assert to_intervals(p, 0.5, closing=0, min_length=2) == [(1, 3), (4, 6), (11, 14)]
    assert to_intervals(p, 0.95) == []
    assert to_intervals(np.ones(5), 0.5, closing=2) == [(0, 5)]  # the ends are not eroded
    with pytest.raises(ValueError, match="min_length"):
        to_intervals(p, 0.5, min_length=0)


def test_masks_and_merge_round_trip() -> None:
    intervals = [(2, 5), (7, 9)]
    assert to_intervals(to_mask(intervals, 10).astype(float), 0.5, 0, 1) == intervals
    assert merge([(5, 8), (0, 2), (1, 3), (8, 9)]) == [(0, 3), (5, 9)]


def test_frame_measures() -> None:
    truth = to_mask([(0, 4)], 8)
    predicted = to_mask([(2, 6)], 8)
    assert frame_counts(truth, predicted) == (2, 2, 2)
    assert frame_scores(2, 2, 2) == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert frame_scores(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="length"):
        frame_counts(truth, predicted[:4])


def test_interval_iou_matches_each_truth_to_its_best_prediction() -> None:
    assert iou((0, 4), (2, 6)) == pytest.approx(2 / 6)
    assert iou((0, 2), (2, 4)) == 0.0
    truth = [(0, 10), (20, 24)]
    predicted = [(0, 5), (2, 10), (30, 32)]
    assert interval_ious(truth, predicted) == pytest.approx([0.8, 0.0])
    assert false_alarms(truth, predicted) == 1
    assert interval_ious([], predicted) == []


# --- inputs and labels --------------------------------------------------------------------------


def _signals(n_frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        name: rng.uniform(0.1, 1.0, n_frames if over == "frame" else n_frames - 1).astype(
            np.float32
        )
        for name, (over, _, _) in SIGNALS.items()
    }


def test_inputs_have_a_named_column_each_and_read_pairs_on_both_sides() -> None:
    signals = _signals(6, np.random.default_rng(0))
    inputs = frame_inputs(signals, 6)
    names = input_names()
    assert inputs.shape == (6, len(names)) and inputs.dtype == np.float32
    before = inputs[:, names.index("ssim.adjacent:before")]
    after = inputs[:, names.index("ssim.adjacent:after")]
    pair = signals["ssim.adjacent"]
    np.testing.assert_allclose(before[1:], pair, rtol=1e-6)
    np.testing.assert_allclose(after[:-1], pair, rtol=1e-6)
    deviation = inputs[:, names.index("ssim.adjacent:before:vs_median")]
    np.testing.assert_allclose(deviation, before - np.median(before), atol=1e-6)


def test_inputs_name_what_is_missing_or_misshapen() -> None:
    signals = _signals(6, np.random.default_rng(0))
    del signals["motion.flicker"]
    with pytest.raises(KeyError, match="motion.flicker"):
        frame_inputs(signals, 6)
    signals = _signals(6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="technical.brightness has 6 values; expected 7"):
        frame_inputs(signals, 7)


def test_truth_in_seconds_becomes_analysed_frames() -> None:
    # A 12 fps clip analysed at 8 fps: frames at 0, 1/8, 2/8, ... (nearest source frames).
    times = np.array([0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16]) / 12
    records = [
        {"defect": "blur", "start_s": 0.25, "end_s": 0.75},  # frames 3..8 of 12 fps
        {"defect": "frozen", "start_s": 1 / 12, "end_s": 4 / 12},
    ]
    truth = truth_intervals(records, times)
    assert truth == {"blur": [(2, 6)], "frozen": [(1, 3)]}
    matrix = labels(truth, len(times))
    assert matrix.shape == (12, len(DEFECTS))
    assert matrix[:, DEFECTS.index("blur")].tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]


# --- detectors on real signals of rendered clips ------------------------------------------------


def _clip_signals(spec: DemoClip) -> ClipSignals:
    """The detector's signals of a rendered (not encoded) demo clip, and its truth."""
    frames = render_clip(spec)
    times = np.arange(len(frames)) / spec.fps
    chunk = Chunk(frames, None, spec.prompt, spec.id, timestamps=times)
    signals = {}
    for name in ("technical", "ssim", "motion"):
        signals |= {f"{name}.{k}": v for k, v in create(name).process(chunk).items()}
    records = [interval.to_dict() for interval in spec.intervals]
    return ClipSignals(spec.id, signals, times, truth_intervals(records, times))


def _spec(name: str, defects, placements, source: str = "coffee") -> DemoClip:
    return DemoClip(
        id=name,
        source=source,
        motion="pan_left",
        prompt="p",
        defects=defects,
        duration_s=3.0,
        fps=8,
        seed=1,
        height=96,
        placements=placements,
    )


@pytest.fixture(scope="module")
def clips() -> list[ClipSignals]:
    return [
        _spec("clean", (), ()),
        _spec("frozen", (("frozen", 1.0),), ((1.0, 0.3),)),
        _spec("dark", (("dark", 1.0),), ((0.5, 0.9),)),
        _spec("noisy", (("noise", 1.0),), ((0.5, 0.0),), "astronaut"),
        _spec("flicker", (("flicker", 1.0),), ((0.5, 0.5),), "chelsea"),
    ]


@pytest.fixture(scope="module")
def signals(clips: list[DemoClip]) -> list[ClipSignals]:
    return [_clip_signals(spec) for spec in clips]


def test_rule_scores_rise_inside_the_defect(signals: list[ClipSignals]) -> None:
    for clip in signals[1:]:
        ((defect, (interval,)),) = clip.truth.items()
        scores = rule_scores(clip.signals, clip.n_frames)[:, DEFECTS.index(defect)]
        inside = to_mask([interval], clip.n_frames)
        assert scores[inside].min() > scores[~inside].max() - 1e-9 or (
            np.median(scores[inside]) > np.median(scores[~inside])
        ), defect


def test_fitted_rules_find_the_planted_intervals(signals: list[ClipSignals]) -> None:
    rules = RuleDetector(fit_rules(signals), Postprocess(closing=0, min_length=1))
    results = measure(rules, signals)
    assert results[ANY]["f1"] > 0.8
    assert results[ANY]["mean_iou"] > 0.7
    assert detect(rules, signals[0]) == {}  # the clean clip
    with pytest.raises(ValueError, match="at least one"):
        fit_rules([])


def test_rule_detector_round_trips(signals: list[ClipSignals], tmp_path: Path) -> None:
    rules = RuleDetector(RuleConfig(thresholds=dict.fromkeys(DEFECTS, 0.5)), Postprocess(closing=2))
    loaded = load_detector(rules.save(tmp_path / "rules"))
    assert isinstance(loaded, RuleDetector)
    assert loaded.config == rules.config and loaded.post == rules.post
    for clip in signals:
        np.testing.assert_array_equal(loaded.probabilities(clip), rules.probabilities(clip))


def test_sequence_model_learns_trains_fast_and_round_trips(
    signals: list[ClipSignals], tmp_path: Path
) -> None:
    config = SequenceConfig(hidden=8, epochs=60, learning_rate=1e-2)
    model = train_sequence_detector(signals, config)
    results = measure(model, signals)
    assert results[ANY]["f1"] > 0.6  # it fits what it was trained on
    again = train_sequence_detector(signals, config)
    np.testing.assert_allclose(again.probabilities(signals[1]), model.probabilities(signals[1]))
    loaded = load_detector(model.save(tmp_path / "model"))
    for clip in signals:
        np.testing.assert_allclose(loaded.probabilities(clip), model.probabilities(clip), atol=1e-6)
    record = json.loads((tmp_path / "model" / "detector.json").read_text())
    record["inputs"] = record["inputs"][:-1]
    (tmp_path / "model" / "detector.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="train it again"):
        load_detector(tmp_path / "model")


def test_load_detector_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="detector.json"):
        load_detector(tmp_path)
    (tmp_path / "detector.json").write_text('{"kind": "magic"}')
    with pytest.raises(ValueError, match="magic"):
        load_detector(tmp_path)


def test_intervals_record_in_frames_and_seconds() -> None:
    times = np.arange(6) / 8
    records = intervals_record({"blur": [(1, 3)], "noise": [(4, 6)]}, times)
    assert records == [
        {"defect": "blur", "start": 1, "end": 3, "start_s": 0.125, "end_s": 0.375},
        {"defect": "noise", "start": 4, "end": 6, "start_s": 0.5, "end_s": 0.75},
    ]


def test_experiment_keeps_the_test_seed_out_of_training() -> None:
    with pytest.raises(ValueError, match="another seed"):
        IntervalsExperiment(train_seeds=(1, 2), test_seed=2)


def test_cli_refuses_a_test_seed_it_trains_on(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["intervals", "train", "--out", str(tmp_path), "--train-seed", "3", "--test-seed", "3"]
    )
    assert result.exit_code == 1
    assert "another seed" in result.output


def test_cli_evaluate_names_a_missing_detector(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["intervals", "evaluate", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "detector.json" in result.output


def test_video_intervals_are_placed_as_fractions_of_the_clip(tmp_path: Path) -> None:
    scores = tmp_path / "scores.csv"
    assert intervals_path(scores) == tmp_path / "scores_intervals.json"
    assert video_intervals(scores, "a") == [] and read_run_intervals(intervals_path(scores)) == {}
    record = {
        "frames": {"a": 16, "b": 8},
        "videos": {
            "a": [{"defect": "blur", "start": 4, "end": 12, "start_s": 0.5, "end_s": 1.5}],
            "b": [],
        },
    }
    intervals_path(scores).write_text(json.dumps(record))
    (found,) = video_intervals(scores, "a")
    assert (found["from"], found["to"], found["defect"]) == (0.25, 0.75, "blur")
    assert video_intervals(scores, "b") == [] and video_intervals(scores, "c") == []
    assert read_run_intervals(intervals_path(scores)) == record["videos"]


@pytest.mark.slow
def test_score_writes_the_intervals_of_every_video(small_loop, tmp_path: Path) -> None:
    detector = RuleDetector(RuleConfig(thresholds=dict.fromkeys(DEFECTS, 0.0)))
    detector.save(tmp_path / "rules")
    out = tmp_path / "scores.csv"
    manifest = small_loop.out_dir / "score_data" / "manifest.csv"
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(manifest),
            "--model",
            str(small_loop.model_dir),
            "--out",
            str(out),
            "--intervals",
            str(tmp_path / "rules"),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(intervals_path(out).read_text())
    assert record["detector"] == "rules" and record["sampling"]["fps"] == 8.0
    ids = set(pd.read_csv(out)["id"])
    assert set(record["videos"]) == ids == set(record["frames"])
    for video, found in record["videos"].items():
        for interval in found:
            assert 0 <= interval["start"] < interval["end"] <= record["frames"][video]
            assert interval["start_s"] < interval["end_s"]
