"""Scene cuts: the PySceneDetect score and rules, the masking of pairs that straddle a cut,
per-scene scores, and the boundaries a generate run records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.joined import cut_matches, joined_video
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.video import write_video
from qualitylab.features.base import Chunk
from qualitylab.features.classical.scenes import ScenesConfig, detect_cuts
from qualitylab.features.extraction_run import RunError, extract_features
from qualitylab.features.registry import create
from qualitylab.features.scenes import (
    Scenes,
    drop_cut_pairs,
    parse_scene_starts,
    recorded_scenes,
    scene_slices,
)
from qualitylab.features.tables import build_table, load_features, scene_features


def _scores(frames: np.ndarray, chunk: int = 32) -> np.ndarray:
    """The scenes extractor's content_val, fed in chunks as the engine does."""
    extractor = create("scenes")
    parts, previous = [], None
    for start in range(0, len(frames), chunk):
        part = frames[start : start + chunk]
        parts.append(extractor.process(Chunk(part, previous, "", "v"))["content_val"])
        previous = part[-1]
    return np.concatenate(parts)


def _upstream(frames: np.ndarray, detector, fps: float = 8.0):
    """PySceneDetect's own run over the frames: each frame's content_val and the cuts."""
    import cv2
    from scenedetect import FrameTimecode, StatsManager

    detector.stats_manager = StatsManager()
    times = [FrameTimecode(i, fps=fps) for i in range(len(frames))]
    cuts = []
    for time, frame in zip(times, frames):
        cuts += detector.process_frame(time, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    values = [detector.stats_manager.get_metrics(t, ["content_val"])[0] for t in times[1:]]
    return np.array(values, np.float64), [cut.frame_num for cut in cuts]


def test_content_val_is_pyscenedetects_and_independent_of_chunking() -> None:
    from scenedetect import ContentDetector

    video = joined_video(3, seed=1)
    scores = _scores(video.frames, chunk=32)
    np.testing.assert_array_equal(scores, _scores(video.frames, chunk=5))
    upstream, _ = _upstream(video.frames, ContentDetector())
    np.testing.assert_allclose(scores, upstream, rtol=1e-6)


@pytest.mark.parametrize("seed", [2, 5])
def test_cut_rules_match_pyscenedetects_detectors(seed: int) -> None:
    from scenedetect import AdaptiveDetector, ContentDetector
    from scenedetect.detector import FlashFilter

    video = joined_video(3, seed=seed)
    scores = _scores(video.frames)
    content = ScenesConfig(detector="content", threshold=20.0, min_scene_seconds=0.5)
    _, expected = _upstream(
        video.frames,
        ContentDetector(threshold=20.0, min_scene_len=0.5, filter_mode=FlashFilter.Mode.SUPPRESS),
    )
    assert detect_cuts(scores, video.timestamps, content).tolist() == expected
    adaptive = ScenesConfig(min_scene_seconds=0.5)
    _, expected = _upstream(
        video.frames, AdaptiveDetector(min_scene_len=0.5, adaptive_threshold=2.0)
    )
    assert detect_cuts(scores, video.timestamps, adaptive).tolist() == expected


def test_min_scene_seconds_suppresses_close_cuts() -> None:
    scores = np.array([1, 1, 50, 50, 1, 1, 50, 1], np.float32)  # cuts at frames 3, 4, 7
    times = np.arange(9) / 8
    config = ScenesConfig(detector="content", min_scene_seconds=0.3)
    assert detect_cuts(scores, times, config).tolist() == [3, 7]
    unlimited = config.model_copy(update={"min_scene_seconds": 0.0})
    assert detect_cuts(scores, times, unlimited).tolist() == [3, 4, 7]
    with pytest.raises(ValueError, match="timestamps"):
        detect_cuts(scores, times[:-1], config)


def test_cut_precision_and_recall_on_joined_clips() -> None:
    """Adaptive rule at PySceneDetect's defaults on 12 joined demo videos (2-4 scenes, half
    of them with flicker, shake, noise, blur or a frozen stretch): exact cut frames.
    ``benchmarks/scene_cuts.py`` measures more videos."""
    hits = false = missed = 0
    for seed in range(100, 112):
        video = joined_video(2 + seed % 3, seed)
        found = detect_cuts(_scores(video.frames), video.timestamps, ScenesConfig())
        tp, fp, fn = cut_matches(found, np.array(video.cuts))
        hits, false, missed = hits + tp, false + fp, missed + fn
    precision, recall = hits / (hits + false), hits / (hits + missed)
    assert precision >= 0.9 and recall >= 0.7, (precision, recall)


def test_cut_matches_pairs_each_true_cut_once() -> None:
    assert cut_matches(np.array([10, 11, 30]), np.array([10, 20])) == (1, 2, 1)
    assert cut_matches(np.array([11, 19]), np.array([10, 20]), tolerance=1) == (2, 0, 0)


def _scenes(starts: tuple[int, ...], frames: int) -> Scenes:
    return Scenes(starts, np.arange(frames) * 3, np.arange(frames) / 8, "detected")


def test_drop_cut_pairs_and_scene_slices() -> None:
    scenes = _scenes((0, 3, 5), 7)
    signals = {"a.pair": np.arange(6.0), "a.frame": np.arange(7.0) * 10}
    masked = drop_cut_pairs(signals, {"a.pair"}, scenes)
    assert masked["a.pair"].tolist() == [0, 1, 3, 5]  # pairs 2 (frames 2|3), 4 (4|5) left out
    assert masked["a.frame"].tolist() == signals["a.frame"].tolist()
    assert drop_cut_pairs(signals, {"a.pair"}, _scenes((0,), 7)) == signals
    slices = scene_slices(signals, {"a.pair"}, scenes)
    assert [s["a.frame"].tolist() for s in slices] == [[0, 10, 20], [30, 40], [50, 60]]
    assert [s["a.pair"].tolist() for s in slices] == [[0, 1], [3], [5]]
    assert scenes.cut_flags().tolist() == [0, 0, 0, 1, 0, 1, 0]
    assert scenes.describe()[1] == {
        "scene": 1,
        "start_frame": 9,
        "end_frame": 12,
        "start_seconds": 0.375,
        "end_seconds": 0.5,
    }


def test_recorded_starts_map_onto_the_sampled_frames() -> None:
    assert parse_scene_starts("0 48 96") == (0, 48, 96)
    assert parse_scene_starts(0) == (0,) and parse_scene_starts(float("nan")) is None
    for bad in ("0 x", "10 5", "-1"):
        with pytest.raises(ValueError, match="scene_starts"):
            parse_scene_starts(bad)
    sampled = np.array([0, 3, 6, 9, 12, 15])
    scenes = recorded_scenes((0, 7, 8, 15), sampled, sampled / 24)
    assert scenes.starts == (0, 3, 5) and scenes.source == "recorded"


def _joined_manifest(tmp_path: Path, with_starts: bool, seed: int = 7) -> tuple[Path, tuple]:
    video = joined_video(2, seed, defect_share=0.0)
    write_video(tmp_path / "joined.mp4", list(video.frames), video.fps, quality=10)
    table = pd.DataFrame({"id": ["j"], "video": ["joined.mp4"], "prompt": ["a scene, another"]})
    if with_starts:
        table["scene_starts"] = " ".join(map(str, video.starts))
    path = tmp_path / ("with.csv" if with_starts else "without.csv")
    table.to_csv(path, index=False)
    return path, video.starts


def test_pairs_that_straddle_a_cut_leave_the_aggregates(tmp_path: Path) -> None:
    path, starts = _joined_manifest(tmp_path, with_starts=False)
    manifest = load_manifest(path, ColumnMapping(targets=()))
    extract_features(manifest, ["ssim", "technical"], tmp_path / "plain", workers=1)
    extract_features(manifest, ["ssim", "technical", "scenes"], tmp_path / "cut", workers=1)
    plain, cut = build_table(tmp_path / "plain").iloc[0], build_table(tmp_path / "cut").iloc[0]
    # Unmasked, the cut is the lowest SSIM and the largest brightness change of the video.
    assert plain["ssim.adjacent.min"] < 0.2 < cut["ssim.adjacent.min"]
    assert cut["technical.brightness_change.max"] < plain["technical.brightness_change.max"]
    assert cut["technical.frame_diff.max"] < plain["technical.frame_diff.max"] / 2
    assert cut["technical.brightness.mean"] == plain["technical.brightness.mean"]  # frames stay
    videos, scene_table = scene_features(tmp_path / "cut")
    assert [s.starts for _, s in videos] == [starts] and videos[0][1].source == "detected"
    assert len(scene_table) == 2 and (scene_table["ssim.adjacent.min"] > 0.2).all()


def test_recorded_starts_mask_without_detection_and_key_the_row_cache(tmp_path: Path) -> None:
    path, starts = _joined_manifest(tmp_path, with_starts=True)
    plain_path, _ = _joined_manifest(tmp_path, with_starts=False)
    features = ["ssim"]
    recorded = load_manifest(path, ColumnMapping(targets=()))
    plain = load_manifest(plain_path, ColumnMapping(targets=()))
    extract_features(plain, features, tmp_path / "plain", workers=1)
    extract_features(recorded, features, tmp_path / "recorded", workers=1)
    _, plain_row = load_features(tmp_path / "plain")
    _, recorded_row = load_features(tmp_path / "recorded")  # same video, same store
    assert plain_row["ssim.adjacent.min"][0] < 0.2 < recorded_row["ssim.adjacent.min"][0]
    videos, _ = scene_features(tmp_path / "recorded")
    assert videos[0][1].source == "recorded" and videos[0][1].starts == starts
    shown = CliRunner().invoke(app, ["features", "show", str(tmp_path / "recorded"), "j"])
    assert shown.exit_code == 0, shown.output
    assert f"2 scenes (recorded), from frames 0 (0 s), {starts[1]} (" in shown.output
    bad = tmp_path / "bad.csv"
    pd.read_csv(path).assign(scene_starts="0 x").to_csv(bad, index=False)
    with pytest.raises(RunError, match="'j'.*scene_starts"):
        extract_features(
            load_manifest(bad, ColumnMapping(targets=())), features, tmp_path / "bad", workers=1
        )


@pytest.mark.slow
def test_score_reports_per_scene_scores(small_loop, tmp_path: Path) -> None:
    from qualitylab.learn.predictor import load_predictor
    from qualitylab.score import score_manifest

    predictor = load_predictor(small_loop.model_dir)
    path, starts = _joined_manifest(tmp_path, with_starts=True)
    single = tmp_path / "single.mp4"
    write_video(single, list(joined_video(1, 3).frames), 8)
    table = pd.read_csv(path, dtype=str)
    table.loc[1] = ["s", "single.mp4", "one scene", "0"]
    table.to_csv(path, index=False)
    result = score_manifest(
        load_manifest(path, ColumnMapping(targets=())), predictor, tmp_path / "f", workers=1
    )
    scores = result.scores.set_index("id")
    assert scores.loc["s", "scenes"] == ""
    scenes = json.loads(scores.loc["j", "scenes"])
    assert scenes["source"] == "recorded" and len(scenes["scenes"]) == 2
    assert scenes["scenes"][0]["start_frame"] == 0 and scenes["scenes"][1]["start_frame"] >= 1
    assert any("recorded" in note for note in result.notes)
    # Each scene is scored from the features of its own frames and pairs.
    _, scene_table = scene_features(tmp_path / "f")
    got = [scene["predicted_score"] for scene in scenes["scenes"]]
    np.testing.assert_allclose(got, predictor.score(scene_table), rtol=1e-6)


def test_a_generate_run_records_its_scene_starts_and_tables_use_them(tmp_path: Path) -> None:
    from test_generation_run import REQUESTS, FakeBackend, small_settings

    from qualitylab.generate.generation_run import generate_run

    settings = small_settings(seed=7)
    generate_run(REQUESTS[:1], tmp_path / "gen", settings, backend=FakeBackend(settings))
    manifest = load_manifest(tmp_path / "gen" / "manifest.csv", ColumnMapping(targets=()))
    assert manifest.table["scene_starts"].astype(str).tolist() == ["0 5"]  # 5 + 3 frames
    extract_features(manifest, ["technical"], tmp_path / "f", workers=1)
    videos, _ = scene_features(tmp_path / "f")
    assert [(s.source, s.starts) for _, s in videos] == [("recorded", (0, 5))]
    # Brightness steps 4 a frame within a scene; the cut (23 -> 37) is left out.
    row = build_table(tmp_path / "f").iloc[0]
    assert row["technical.brightness_change.max"] < 6


@pytest.mark.slow
@pytest.mark.realdata
def test_real_single_shot_videos_rarely_get_a_cut(real_data_dir: Path, tmp_path: Path) -> None:
    """The shared set's 157 text-to-video clips are single shots: 4 (2.5%) get a cut at the
    default settings and protocol sampling (fast motion, or generated content that jumps)."""
    from qualitylab.features.protocols import DEFAULT

    manifest = load_manifest(real_data_dir / "manifest.csv", ColumnMapping(targets=()))
    extract_features(
        manifest, ["scenes"], tmp_path / "f", sampling=DEFAULT.sampling(), protocol=DEFAULT
    )
    videos, _ = scene_features(tmp_path / "f")
    assert len(videos) <= 0.05 * len(manifest.table)


def test_the_timeline_gives_left_out_pairs_no_shap() -> None:
    from qualitylab.learn.timeline import frame_attribution

    signals = {"ssim.adjacent": np.array([0.9, 0.1, 0.8, 0.95])}
    shap_values = {"ssim.adjacent.min": 1.0, "ssim.adjacent.f001": 0.5}
    plain = frame_attribution(signals, shap_values)
    assert plain["shap"].tolist() == [0.0, 1.5, 0.0, 0.0]  # the cut pair is the minimum
    masked = frame_attribution(signals, shap_values, {"ssim.adjacent": np.array([1])})
    assert masked["shap"].tolist() == [0.0, 0.0, 1.5, 0.0]  # min and f001 of [0.9, 0.8, 0.95]
