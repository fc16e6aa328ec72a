"""Feature protocols: their settings, what a run records and builds with them, the motion
extractor's units, the extract-features defaults, and scoring with the run's protocol."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.video import Sampling
from qualitylab.features import registry
from qualitylab.features.aggregate import (
    AGGREGATIONS,
    INVARIANT_AGGREGATIONS,
    KNOWN_AGGREGATIONS,
    aggregate,
)
from qualitylab.features.base import Chunk
from qualitylab.features.classical.detail import fine_detail
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.layout import TABLE_FILES, read_feature_table
from qualitylab.features.protocols import (
    DEFAULT,
    THESIS,
    Protocol,
    default_features,
    get_protocol,
    protocol_and_sampling,
    run_protocol,
)
from qualitylab.features.tables import build_table
from qualitylab.learn.predictor import Predictor, PredictorInfo
from qualitylab.learn.spaces import feature_columns
from qualitylab.score import extraction_plan
from tests.conftest import make_video

runner = CliRunner()


def test_the_two_protocols() -> None:
    assert THESIS.aggregations == AGGREGATIONS and THESIS.nonagg
    assert THESIS.short_side is None and THESIS.fps is None
    assert set(THESIS.extractors) == {"ssim", "flow", "technical"}
    assert DEFAULT.short_side == 256 and DEFAULT.fps == 8
    assert not {"sum", "min", "max", "min_max_ratio"} & set(DEFAULT.aggregations)
    assert not any(name.startswith("ewm") for name in DEFAULT.aggregations)
    assert DEFAULT.set_types == ("agg",) and len(THESIS.set_types) == 3
    assert list(DEFAULT.extractors) == ["ssim", "technical", "motion", "detail"]
    assert set(KNOWN_AGGREGATIONS) >= set(AGGREGATIONS) | set(INVARIANT_AGGREGATIONS)


def test_protocols_round_trip_and_a_run_without_one_is_thesis() -> None:
    assert Protocol.model_validate(json.loads(json.dumps(DEFAULT.record()))) == DEFAULT
    assert run_protocol({"protocol": DEFAULT.record()}) == DEFAULT
    assert run_protocol({"sampling": {}}) == THESIS
    assert run_protocol(None) == THESIS


def test_protocol_settings_and_sampling() -> None:
    protocol, sampling = protocol_and_sampling("default", short_side=128, max_seconds=3)
    assert protocol.short_side == 128 and protocol.fps == 8
    assert sampling == Sampling(fps=8, short_side=128, max_seconds=3)
    protocol, sampling = protocol_and_sampling("thesis", num_frames=4)
    assert protocol == THESIS and sampling == Sampling(num_frames=4)
    with pytest.raises(ValueError, match="needs --protocol thesis"):
        protocol_and_sampling("default", num_frames=4)
    with pytest.raises(ValueError, match="unknown protocol 'nope'"):
        get_protocol("nope")
    with pytest.raises(ValueError, match="short_side 256"):
        DEFAULT.check_sampling(Sampling(fps=8))


def test_invariant_aggregations_match_numpy() -> None:
    values = np.random.default_rng(0).normal(size=37)
    result = aggregate(values, INVARIANT_AGGREGATIONS)
    assert list(result) == list(INVARIANT_AGGREGATIONS)
    p10, p25, p75, p90 = np.percentile(values, [10, 25, 75, 90])
    assert result["p10"] == pytest.approx(p10) and result["p90"] == pytest.approx(p90)
    assert result["iqr"] == pytest.approx(p75 - p25)
    assert result["std"] == pytest.approx(values.std())
    # Repeating a signal (the same content twice as long) leaves them nearly unchanged.
    doubled = aggregate(np.concatenate([values, values]), INVARIANT_AGGREGATIONS)
    for name in ("mean", "median", "std"):
        assert doubled[name] == pytest.approx(result[name])
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(values, ("mean", "p99"))


def test_feature_spaces_recognise_every_protocols_columns() -> None:
    columns = ["id", "motion.speed_mean.p10", "ssim.adjacent.p90", "flow.flow_sum.ewm_0.3"]
    assert feature_columns(columns) == columns[1:]


def test_pair_intervals_come_from_the_timestamps() -> None:
    frames = np.zeros((3, 4, 4, 3), np.uint8)
    first = Chunk(frames, None, "p", "v", timestamps=np.array([0.0, 0.125, 0.3]))
    assert first.pair_intervals() == pytest.approx([0.125, 0.175])
    later = Chunk(frames, frames[0], "p", "v", np.array([0.5, 0.6, 0.7]), 0.4)
    assert later.pair_intervals() == pytest.approx([0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="no timestamps"):
        Chunk(frames, None, "p", "v").pair_intervals()


def _texture(height: int, width: int) -> np.ndarray:
    noise = np.random.default_rng(0).uniform(0, 255, (height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3.0)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def test_motion_units_warp_error_and_flicker() -> None:
    height, width, shift, seconds = 96, 128, 4, 0.125
    texture = _texture(height, width + 3 * shift)
    frames = np.stack([texture[:, k * shift : k * shift + width] for k in range(3)])
    frames[2] = np.clip(frames[2] * 1.3, 0, 255)  # the light jumps in the last frame
    extractor = registry.create("motion")
    chunk = Chunk(frames, None, "p", "v", timestamps=np.arange(3) * seconds)
    signals = extractor.process(chunk)
    assert set(signals) == {signal.name for signal in registry.get_spec("motion").signals}
    expected = shift / np.hypot(height, width) / seconds  # frame diagonals per second
    assert signals["speed_median"] == pytest.approx([expected] * 2, rel=0.1)
    assert signals["coherence"][0] > 0.95
    assert signals["warp_error"][0] < 0.02 < signals["warp_error"][1]
    assert signals["flicker"][0] < 0.01 < signals["flicker"][1]
    # The same pairs in two chunks give the same values.
    halves = [
        extractor.process(Chunk(frames[:1], None, "p", "v", timestamps=np.array([0.0]))),
        extractor.process(Chunk(frames[1:], frames[0], "p", "v", np.arange(1, 3) * seconds, 0.0)),
    ]
    for name, values in signals.items():
        assert np.concatenate([half[name] for half in halves]) == pytest.approx(values)


def _manifest(tmp_path):
    make_video(tmp_path / "a.mp4", num_frames=5, size=(48, 64))
    make_video(tmp_path / "b.mp4", num_frames=4, size=(48, 64))
    rows = [
        {"id": "a", "video": "a.mp4", "prompt": "a ball", "human_score": 4},
        {"id": "b", "video": "b.mp4", "prompt": "a cat", "human_score": 2},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def test_a_default_run_records_its_protocol_and_builds_its_tables(tmp_path) -> None:
    manifest = load_manifest(_manifest(tmp_path), ColumnMapping(targets=("human_score",)))
    out = tmp_path / "feats"
    protocol, sampling = protocol_and_sampling("default", short_side=64)
    extract_features(manifest, ["ssim"], out, sampling=Sampling(), protocol=THESIS, workers=1)
    assert (out / TABLE_FILES["combined"]).is_file()
    summary = extract_features(
        manifest, ["ssim", "motion"], out, sampling=sampling, protocol=protocol, workers=1
    )
    assert set(summary.tables) == {"agg"}
    # An earlier thesis run's other tables are gone, so nothing reads them by mistake.
    assert not (out / TABLE_FILES["combined"]).exists()
    assert not (out / TABLE_FILES["nonagg"]).exists()
    run = json.loads((out / "run.json").read_text())
    assert run["protocol"] == protocol.record() and run["sampling"]["fps"] == 8
    table, extractors = read_feature_table(out)
    features = feature_columns(table.columns)
    assert {column.rsplit(".", 1)[1] for column in features} == set(INVARIANT_AGGREGATIONS)
    assert [entry["name"] for entry in extractors] == ["ssim", "motion"]
    pd.testing.assert_frame_equal(build_table(out), table)
    with pytest.raises(Exception, match="short_side 64"):
        extract_features(manifest, ["ssim"], out, sampling=Sampling(), protocol=protocol)


def test_extract_features_defaults_to_the_default_protocol(tmp_path) -> None:
    manifest = _manifest(tmp_path)
    out = tmp_path / "feats"
    args = ["extract-features", str(manifest), "--out", str(out), "--short-side", "64"]
    result = runner.invoke(app, [*args, "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    names = ", ".join(default_features(DEFAULT))
    assert f"default protocol (8 fps, short side 64): {names}" in result.output
    run = json.loads((out / "run.json").read_text())
    assert run["protocol"]["name"] == "default" and run["protocol"]["short_side"] == 64
    assert [entry["name"] for entry in run["extractors"]][:4] == list(DEFAULT.extractors)


def test_scoring_reproduces_the_protocol(tmp_path) -> None:
    protocol = get_protocol("default", short_side=128)
    info = PredictorInfo.model_construct(
        features=["ssim.adjacent.p10"],
        extractors=[
            {
                "name": "ssim",
                "version": "1",
                "config": {},
                "config_hash": "x",
                "reads_prompt": False,
            }
        ],
        sampling=protocol.sampling().to_dict(),
        protocol=protocol.record(),
        features_source=None,
    )
    names, _, sampling, planned, notes = extraction_plan(Predictor(None, info))
    assert planned == protocol and sampling == protocol.sampling()
    assert names == ["ssim", "technical"] and not notes
    # A predictor without a protocol takes the one of the run it was trained from.
    manifest = load_manifest(_manifest(tmp_path), ColumnMapping())
    extract_features(
        manifest, ["ssim"], tmp_path / "f", sampling=protocol.sampling(), protocol=protocol
    )
    info = info.model_copy(update={"protocol": None, "features_source": str(tmp_path / "f")})
    assert extraction_plan(Predictor(None, info))[3] == protocol
    info = info.model_copy(update={"features_source": None})
    _, _, _, planned, notes = extraction_plan(Predictor(None, info))
    assert planned == THESIS and "thesis is assumed" in notes[-1]


def test_protocol_settings_are_refined_by_overrides() -> None:
    protocol = DEFAULT.model_copy(update={"extractors": {"motion": {"dis_preset": "medium"}}})
    assert protocol.settings(["ssim"]) == {}
    assert protocol.settings(["motion"]) == {"motion": {"dis_preset": "medium"}}
    refined = protocol.settings(["motion", "ssim"], {"motion": {"dis_preset": "ultrafast"}})
    assert refined == {"motion": {"dis_preset": "ultrafast"}}


def test_fine_detail_falls_with_blur_and_ignores_contrast() -> None:
    photo = cv2.resize(skimage.data.camera(), (256, 256), interpolation=cv2.INTER_AREA)
    sharp = fine_detail(photo)
    assert fine_detail(cv2.GaussianBlur(photo, (0, 0), 1.5)) < 0.5 * sharp
    low_contrast = (photo.astype(np.float32) * 0.5 + 64).round().astype(np.uint8)
    assert fine_detail(low_contrast) == pytest.approx(sharp, rel=0.02)
    frames = np.stack([np.repeat(photo[..., None], 3, axis=2)] * 2)
    signals = registry.create("detail").process(Chunk(frames, None, "p", "v"))
    assert signals["fine_detail"] == pytest.approx([sharp] * 2, rel=1e-5)
    assert signals["crushed_share"] == pytest.approx([np.mean(photo <= 5)] * 2)
