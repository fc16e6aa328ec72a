"""No run overwrites the tables another run wrote, and what a run reads badly is said.

The sequence a new user hit: train from an extract-features directory D, then score new
videos with ``--features-dir D``. That used to overwrite D's tables with the scored rows
(8 rated rows became 1 unrated row), after which ``explain`` showed SHAP values of 0 and
``report`` crashed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.manifest import load_manifest
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.layout import TABLE_FILES

runner = CliRunner()
FEATURES = ["--features", "ssim,technical", "--fps", "4", "--short-side", "64"]


def _invoke(*args: str):
    result = runner.invoke(app, [*args])
    return result


def _rated_manifest(small_loop, folder: Path, count: int) -> Path:
    """``count`` of the demo's rated clips, copied with their manifest rows."""
    source = pd.read_csv(small_loop.out_dir / "data" / "manifest.csv").head(count)
    folder.mkdir()
    for video in source["video"]:
        target = folder / video
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(small_loop.out_dir / "data" / video, target)
    source.to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def test_scoring_into_a_training_directory_is_refused_and_changes_nothing(
    small_loop, tmp_path: Path
) -> None:
    manifest = _rated_manifest(small_loop, tmp_path / "rated", 8)
    features, model = tmp_path / "D", tmp_path / "model"
    extracted = _invoke("extract-features", str(manifest), *FEATURES, "--out", str(features))
    assert extracted.exit_code == 0, extracted.output
    trained = _invoke(
        "train", str(features), "--target", "synthetic_score", "--trials", "2", "--cv", "2",
        "--out", str(model),
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    table_before = (features / TABLE_FILES["agg"]).read_bytes()

    new_video = tmp_path / "new"
    new_video.mkdir()
    shutil.copy(sorted((small_loop.out_dir / "score_data" / "videos").glob("*.mp4"))[0],
                new_video / "clip.mp4")  # fmt: skip
    (new_video / "clip.txt").write_text("a new prompt")
    scored = _invoke(
        "score", str(new_video), "--model", str(model), "--out", str(tmp_path / "s.csv"),
        "--features-dir", str(features), "--workers", "1",
    )  # fmt: skip
    assert scored.exit_code == 1
    assert "holds the tables" in scored.output and "another directory" in scored.output
    assert (features / TABLE_FILES["agg"]).read_bytes() == table_before

    # The training directory still explains and reports.
    explained = _invoke("explain", "--model", str(model), "--out", str(tmp_path / "explain"))
    assert explained.exit_code == 0, explained.output
    assert len(pd.read_csv(tmp_path / "explain" / "shap_values.csv")) == 8  # all rated rows
    report = _invoke("report", "--model", str(model), "--out", str(tmp_path / "r.html"))
    assert report.exit_code == 0, report.output

    # Scoring into its own directory works and reuses the shared store.
    again = _invoke(
        "score", str(new_video), "--model", str(model), "--out", str(tmp_path / "s.csv"),
        "--workers", "1",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (features / TABLE_FILES["agg"]).read_bytes() == table_before


def test_extracting_another_manifest_into_a_run_directory_is_refused(
    small_loop, tmp_path: Path
) -> None:
    first = load_manifest(_rated_manifest(small_loop, tmp_path / "a", 2))
    second = load_manifest(_rated_manifest(small_loop, tmp_path / "b", 3))
    out = tmp_path / "features"
    extract_features(first, ["technical"], out, workers=1)
    from qualitylab.features.extraction_run import RunError

    with pytest.raises(RunError, match="holds the tables"):
        extract_features(second, ["technical"], out, workers=1)
    assert len(pd.read_parquet(out / TABLE_FILES["agg"])) == 2
    # The same manifest again is a resumed run.
    assert extract_features(first, ["technical"], out, workers=1).reused == 2


def test_a_cut_short_gif_is_warned_about_recorded_and_reported(small_loop, tmp_path: Path) -> None:
    from qualitylab.data.video import decode as decode_video
    from qualitylab.data.video import probe, write_video

    clip = decode_video(sorted((small_loop.out_dir / "data" / "videos").glob("*.mp4"))[0])
    whole = write_video(tmp_path / "whole.gif", clip.frames, 8)
    data = whole.read_bytes()
    (tmp_path / "cut.gif").write_bytes(data[: len(data) // 3])
    assert probe(whole).warnings == ()
    assert "cut short" in probe(tmp_path / "cut.gif").warnings[0]
    pd.DataFrame(
        {"video": ["whole.gif", "cut.gif"], "prompt": ["p", "p"], "score": ["3", "good"]}
    ).to_csv(tmp_path / "m.csv", index=False)

    validated = _invoke("datasets", "validate", str(tmp_path / "m.csv"), "--target", "score")
    assert "cut short" in validated.output
    extracted = _invoke(
        "extract-features", str(tmp_path / "m.csv"), "--target", "score", "--features",
        "technical", "--out", str(tmp_path / "f"), "--workers", "1",
    )  # fmt: skip
    assert extracted.exit_code == 0, extracted.output
    output = " ".join(extracted.output.split())
    assert "cut short" in output
    assert "row 2 (id 'cut'): target 'score' is not a number: 'good'" in output
    table = pd.read_parquet(tmp_path / "f" / TABLE_FILES["agg"]).set_index("id")
    assert "cut short" in table.loc["cut", "warnings"] and table.loc["whole", "warnings"] == ""
    assert table.loc["cut", "video_frames"] < table.loc["whole", "video_frames"]
