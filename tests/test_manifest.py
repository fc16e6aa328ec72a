import json

import pandas as pd
import pytest
from conftest import make_video

from qualitylab.data.manifest import (
    ColumnMapping,
    ManifestError,
    load_manifest,
    validate_manifest,
)


@pytest.fixture
def dataset_dir(tmp_path):
    """Three decodable videos in a sub-folder, referenced relative to the manifest."""
    for name in ("a", "b", "c"):
        make_video(tmp_path / "videos" / f"{name}.mp4")
    return tmp_path


def rows(**overrides):
    base = [
        {"video": "videos/a.mp4", "prompt": "a red ball", "score": "7.5"},
        {"video": "videos/b.mp4", "prompt": "a blue car", "score": "3"},
        {"video": "videos/c.mp4", "prompt": "a green tree", "score": "9"},
    ]
    for index, changes in overrides.items():
        base[int(index.lstrip("r"))].update(changes)
    return base


def write_csv(directory, records, name="manifest.csv"):
    path = directory / name
    pd.DataFrame(records).to_csv(path, index=False)
    return path


def test_csv_paths_resolve_relative_to_the_manifest(dataset_dir, monkeypatch, tmp_path_factory):
    path = write_csv(dataset_dir, rows())
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    manifest = load_manifest(path)
    assert list(manifest.table.columns[:3]) == ["id", "video", "prompt"]
    assert manifest.table["video"][0] == str(dataset_dir / "videos" / "a.mp4")
    assert manifest.targets == ("score",)
    report = validate_manifest(manifest)
    assert report.ok, [str(p) for p in report.problems]
    assert report.containers == {".mp4": 3}
    (summary,) = report.targets
    assert (summary.count, summary.minimum, summary.maximum) == (3, 3.0, 9.0)
    assert summary.mean == pytest.approx(6.5)


def test_csv_with_byte_order_mark(dataset_dir):
    path = dataset_dir / "excel.csv"
    path.write_text("video,prompt\nvideos/a.mp4,a red ball\n", encoding="utf-8-sig")
    assert load_manifest(path).table["prompt"].tolist() == ["a red ball"]


def test_derived_ids_are_relative_paths_and_stable(dataset_dir):
    path = write_csv(dataset_dir, rows())
    first = load_manifest(path).table["id"].tolist()
    assert first == ["videos/a", "videos/b", "videos/c"]
    assert load_manifest(path).table["id"].tolist() == first


def test_given_id_column_is_used(dataset_dir):
    records = [dict(r, clip_id=f"clip-{i}") for i, r in enumerate(rows())]
    manifest = load_manifest(write_csv(dataset_dir, records), ColumnMapping(id="clip_id"))
    assert manifest.table["id"].tolist() == ["clip-0", "clip-1", "clip-2"]
    assert "clip_id" not in manifest.table.columns


def test_jsonl_parquet_and_saved_hf_dataset_load_alike(dataset_dir):
    records = rows()
    for record in records:
        record["score"] = float(record["score"])
    jsonl = dataset_dir / "m.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    json_array = dataset_dir / "m.json"
    json_array.write_text(json.dumps(records))
    parquet = dataset_dir / "m.parquet"
    pd.DataFrame(records).to_parquet(parquet)

    import datasets

    hf_dir = dataset_dir / "hf"
    datasets.Dataset.from_list(records).save_to_disk(str(hf_dir))
    for video in ("a", "b", "c"):
        make_video(hf_dir / "videos" / f"{video}.mp4")

    for source in (jsonl, json_array, parquet, hf_dir):
        manifest = load_manifest(source)
        assert len(manifest) == 3 and manifest.targets == ("score",), source
        assert validate_manifest(manifest).ok, source
    assert load_manifest(hf_dir).format == "huggingface (local)"


def test_dataset_dict_needs_a_split(dataset_dir):
    import datasets

    split = datasets.Dataset.from_list(rows())
    hf_dir = dataset_dir / "dd"
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(hf_dir))
    with pytest.raises(ManifestError, match="--split.*train, test"):
        load_manifest(hf_dir)
    assert len(load_manifest(hf_dir, split="test")) == 3


def test_hub_id_offline_gives_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(ManifestError, match="someone/rated-videos.*save_to_disk"):
        load_manifest("someone/rated-videos")


def test_column_mapping_and_missing_columns(dataset_dir):
    records = [{"clip": r["video"], "text": r["prompt"], "mos": r["score"]} for r in rows()]
    path = write_csv(dataset_dir, records)
    mapping = ColumnMapping(video="clip", prompt="text", targets=("mos",))
    manifest = load_manifest(path, mapping)
    assert manifest.targets == ("mos",)
    assert validate_manifest(manifest).ok
    with pytest.raises(ManifestError, match=r"manifest.csv: missing column\(s\) 'video'.*'clip'"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="missing column.*'human_score'"):
        load_manifest(path, ColumnMapping(video="clip", prompt="text", targets=("human_score",)))


def test_folder_of_videos_is_not_a_manifest(dataset_dir):
    with pytest.raises(ManifestError, match="a folder of videos, not a manifest.*video,prompt"):
        load_manifest(dataset_dir / "videos")
    (dataset_dir / "empty").mkdir()
    with pytest.raises(ManifestError, match="not a dataset saved with datasets' save_to_disk"):
        load_manifest(dataset_dir / "empty")


def test_unreadable_manifests_raise_manifest_error(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        load_manifest(tmp_path / "absent.csv")
    unknown = tmp_path / "manifest.xlsx"
    unknown.write_bytes(b"PK")
    with pytest.raises(ManifestError, match="unknown manifest format '.xlsx'"):
        load_manifest(unknown)
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(ManifestError, match="broken.parquet: cannot read as parquet"):
        load_manifest(broken)


def test_every_row_problem_is_reported_with_its_row(dataset_dir):
    (dataset_dir / "videos" / "notavideo.mp4").write_text("hello")
    records = rows() + [
        {"video": "videos/missing.mp4", "prompt": "gone", "score": "5"},
        {"video": "videos/a.mp4", "prompt": "  ", "score": "abc"},
        {"video": "videos/notavideo.mp4", "prompt": "text file", "score": ""},
    ]
    for index, record in enumerate(records):
        record["id"] = "dup" if index in (1, 4) else f"clip-{index}"
    manifest = load_manifest(write_csv(dataset_dir, records), ColumnMapping(targets=("score",)))
    report = validate_manifest(manifest)
    messages = [str(p) for p in report.errors]
    assert not report.ok
    assert report.missing_files == 1
    expected = [
        ("row 4", "video file not found"),
        ("row 5 (id 'dup')", "duplicate id (first at row 2)"),
        ("row 5", "empty prompt"),
        ("row 5", "target 'score' is not a number: 'abc'"),
        ("row 6", "notavideo.mp4"),
        ("row 6", "target 'score' is missing"),
    ]
    for where, what in expected:
        assert any(where in m and what in m for m in messages), (where, what, messages)
    assert [p.row for p in report.problems] == sorted(p.row for p in report.problems)


def test_validation_without_probing_skips_decoding(dataset_dir):
    (dataset_dir / "videos" / "b.mp4").write_text("broken")
    manifest = load_manifest(write_csv(dataset_dir, rows()))
    assert validate_manifest(manifest, probe_videos=False).ok
    assert not validate_manifest(manifest).ok


@pytest.mark.realdata
def test_shared_real_dataset_validates(real_data_dir):
    manifest = load_manifest(real_data_dir / "manifest.csv")
    report = validate_manifest(manifest)
    assert report.ok, [str(p) for p in report.errors]
    assert len(manifest) == 157
    assert {"rater_1", "rater_2", "human_score"} <= set(manifest.targets)
    assert set(report.containers) <= {".mp4", ".gif"}
    assert manifest.table["id"].is_unique


def test_partly_present_aspect_columns_warn_unless_asked_for(dataset_dir):
    records = rows()
    for index, record in enumerate(records):
        record["visual"] = str(index + 1) if index % 2 == 0 else ""
    path = write_csv(dataset_dir, records)
    found = validate_manifest(load_manifest(path))
    assert found.ok
    assert "visual" in {summary.name for summary in found.targets}
    (warning,) = [str(p) for p in found.warnings if "visual" in str(p)]
    assert "empty in" in warning and "uses the other rows" in warning
    asked = validate_manifest(load_manifest(path, ColumnMapping(targets=("visual",))))
    assert not asked.ok
    assert all("target 'visual' is missing" in str(p) for p in asked.errors)
