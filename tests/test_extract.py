import numpy as np
import pandas as pd
import pytest
from conftest import make_video

from qualitylab.config import store_dir
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.video import Sampling, write_video
from qualitylab.features import extract
from qualitylab.features.extract import FACT_COLUMNS
from qualitylab.features.extraction_run import RunError, extract_features
from qualitylab.features.layout import TABLE_FILES, read_index
from qualitylab.features.store import FeatureStore
from qualitylab.features.tables import build_table

FEATURES = ("ssim", "technical")


def textured_video(path, num_frames=10, size=(48, 64), seed=0):
    """Frames of a random texture drifting right, with a little noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[0], size[1] + num_frames, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(base[:, i : i + size[1]]) for i in range(num_frames)]
    return write_video(path, frames, fps=8)


@pytest.fixture
def dataset(tmp_path):
    """Three good videos, a corrupt one and a missing one, with ratings."""
    videos = tmp_path / "videos"
    for index in range(3):
        textured_video(videos / f"good{index}.mp4", seed=index)
    (videos / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    rows = [
        {"id": f"good{i}", "video": f"videos/good{i}.mp4", "prompt": f"texture {i}", "score": i + 1}
        for i in range(3)
    ]
    rows += [
        {"id": "corrupt", "video": "videos/corrupt.mp4", "prompt": "broken", "score": 2},
        {"id": "missing", "video": "videos/missing.mp4", "prompt": "gone", "score": 3},
    ]
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return load_manifest(path, ColumnMapping(targets=("score",)))


def test_run_records_failures_and_writes_tables(dataset, tmp_path):
    out = tmp_path / "features"
    summary = extract_features(dataset, FEATURES, out, workers=1)
    assert not summary.interrupted
    assert {r.task.id for r in summary.failed} == {"corrupt", "missing"}
    failures = pd.read_parquet(out / "failures.parquet")
    assert set(failures["id"]) == {"corrupt", "missing"}
    # An unreadable file is one failure of the video, not one per extractor.
    assert failures["extractor"].tolist() == ["video", "video"]
    assert (
        failures.loc[failures["id"] == "missing", "error"]
        .item()
        .endswith("No such file or directory")
    )
    assert "corrupt.mp4" in failures.loc[failures["id"] == "corrupt", "error"].iloc[0]

    table = pd.read_parquet(out / TABLE_FILES["agg"])
    assert table["id"].tolist() == ["good0", "good1", "good2"]
    described = ["id", "video", "prompt", "score", *FACT_COLUMNS, "warnings"]
    assert list(table.columns[: len(described)]) == described
    assert table["video_frames"].tolist() == [10, 10, 10]
    assert "ssim.adjacent.ewm_0.3" in table.columns
    assert "technical.sharpness.iqr" in table.columns
    assert table.shape[1] == len(described) + 15 * 13
    nonagg = pd.read_parquet(out / TABLE_FILES["nonagg"])
    assert nonagg.shape[1] == len(described) + 100 * 13
    combined = pd.read_parquet(out / TABLE_FILES["combined"])
    assert combined.shape[1] == len(described) + 115 * 13
    # 10 frames: 9 SSIM values, zero-padded to 100 in the non-aggregated set
    assert (nonagg["ssim.adjacent.f008"] != 0).all() and (nonagg["ssim.adjacent.f009"] == 0).all()


def test_rerun_computes_nothing_and_keeps_tables(dataset, tmp_path):
    out = tmp_path / "features"
    extract_features(dataset, FEATURES, out, workers=1)
    first = pd.read_parquet(out / TABLE_FILES["agg"])
    again = extract_features(dataset, FEATURES, out, workers=1)
    assert again.computed == 0 and again.frames == 0
    assert again.reused == 3
    pd.testing.assert_frame_equal(first, pd.read_parquet(out / TABLE_FILES["agg"]))


def test_changed_setting_recomputes_only_that_extractor(dataset, tmp_path):
    out = tmp_path / "features"
    extract_features(dataset, FEATURES, out, workers=1)
    summary = extract_features(
        dataset, FEATURES, out, workers=1, overrides={"technical": {"dark_threshold": 5}}
    )
    assert {tuple(r.computed) for r in summary.results if not r.failures} == {("technical",)}
    groups = [(g.extractor, g.videos) for g in FeatureStore(store_dir()).groups()]
    assert groups.count(("technical", 3)) == 2 and groups.count(("ssim", 3)) == 1
    assert not (out / "signals").exists()  # the run's directory holds only its own files


def test_parallel_workers_give_the_same_table(dataset, tmp_path):
    extract_features(dataset, FEATURES, tmp_path / "one", workers=1)
    extract_features(dataset, FEATURES, tmp_path / "two", workers=2)
    one = build_table(tmp_path / "one").drop(columns="video")
    two = build_table(tmp_path / "two").drop(columns="video")
    pd.testing.assert_frame_equal(one, two)


def test_chunking_does_not_change_signals(tmp_path, monkeypatch):
    textured_video(tmp_path / "long.mp4", num_frames=37)
    pd.DataFrame([{"video": "long.mp4", "prompt": "drift"}]).to_csv(tmp_path / "m.csv", index=False)
    manifest = load_manifest(tmp_path / "m.csv")
    extract_features(manifest, FEATURES, tmp_path / "whole", workers=1)
    frame_bytes = 48 * 64 * 3
    monkeypatch.setattr(extract, "_CHUNK_BYTES", 5 * frame_bytes)
    extract_features(manifest, FEATURES, tmp_path / "chunked", workers=1)
    pd.testing.assert_frame_equal(
        build_table(tmp_path / "whole", "combined").drop(columns="video"),
        build_table(tmp_path / "chunked", "combined").drop(columns="video"),
    )


def test_one_frame_video_has_empty_pair_signals(tmp_path):
    make_video(tmp_path / "still.mp4", num_frames=1)
    pd.DataFrame([{"video": "still.mp4", "prompt": "a still"}]).to_csv(
        tmp_path / "m.csv", index=False
    )
    out = tmp_path / "features"
    summary = extract_features(load_manifest(tmp_path / "m.csv"), FEATURES, out, workers=1)
    assert not summary.failed
    row = build_table(out).iloc[0]
    assert np.isnan(row["ssim.adjacent.mean"]) and np.isnan(row["technical.static.sum"])
    assert row["technical.brightness.mean"] == pytest.approx(30, abs=3)


def test_extractor_failure_is_isolated(tmp_path):
    make_video(tmp_path / "tiny.mp4", num_frames=4, size=(4, 4))
    pd.DataFrame([{"video": "tiny.mp4", "prompt": "tiny"}]).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "features"
    summary = extract_features(load_manifest(tmp_path / "m.csv"), FEATURES, out, workers=1)
    (result,) = summary.results
    assert set(result.failures) == {"ssim"} and result.computed == ["technical"]
    assert summary.table_rows == 0


def test_interrupted_run_resumes(dataset, tmp_path):
    out = tmp_path / "features"
    seen = []

    def interrupt_after_first(result):
        seen.append(result)
        if len(seen) == 1:
            raise KeyboardInterrupt

    summary = extract_features(dataset, FEATURES, out, workers=1, on_result=interrupt_after_first)
    assert summary.interrupted and len(summary.results) == 1
    assert not (out / TABLE_FILES["agg"]).exists()
    assert read_index(out)["sha256"].notna().sum() == 1
    resumed = extract_features(dataset, FEATURES, out, workers=1)
    assert resumed.reused == 1 and resumed.computed == 2
    assert resumed.table_rows == 3


def test_bad_requests_fail_before_any_work(dataset, tmp_path):
    with pytest.raises(RunError, match="unknown extractor 'nope'.*ssim"):
        extract_features(dataset, ["nope"], tmp_path / "x")
    with pytest.raises(RunError, match="invalid settings for extractor 'technical'"):
        extract_features(dataset, FEATURES, tmp_path / "x", overrides={"technical": {"bogus": 1}})
    with pytest.raises(RunError, match="not requested: flow"):
        extract_features(dataset, FEATURES, tmp_path / "x", overrides={"flow": {"method": "dis"}})
    dataset.table.loc[1, "id"] = "good0"
    with pytest.raises(RunError, match="duplicate id.*'good0'"):
        extract_features(dataset, FEATURES, tmp_path / "x")


def test_sampling_is_part_of_the_key(dataset, tmp_path):
    out = tmp_path / "features"
    extract_features(dataset, ["ssim"], out, workers=1)
    summary = extract_features(dataset, ["ssim"], out, workers=1, sampling=Sampling(num_frames=4))
    assert summary.computed == 3
    assert build_table(out)["ssim.adjacent.sum"].notna().all()


@pytest.mark.realdata
def test_shared_real_dataset_extracts(real_data_dir, tmp_path):
    manifest = load_manifest(
        real_data_dir / "manifest.csv", ColumnMapping(targets=("human_score",))
    )
    sampling = Sampling(num_frames=6, short_side=64)
    summary = extract_features(
        manifest, ["ssim", "flow", "technical"], tmp_path, sampling=sampling, workers=2
    )
    assert not summary.failed
    table = build_table(tmp_path)
    assert len(table) == 157 and table["human_score"].notna().all()
    assert table.filter(like="flow.magnitude_mean").notna().all().all()
