import re

import pandas as pd
import pytest
from conftest import make_video
from typer.testing import CliRunner

from qualitylab import __version__
from qualitylab.cli import app
from qualitylab.features.extract import FACT_COLUMNS
from qualitylab.weights import CATALOGUE

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Tables as wide as a real terminal, so that names are not cut short."""
    monkeypatch.setenv("COLUMNS", "200")


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize(
    "command", [[], ["doctor"], ["datasets"], ["datasets", "validate"], ["sample-data"], ["demo"]]
)
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_doctor_reports_missing_weights_and_exits_zero(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    for expected in ("torch", "torchvision", "cuda", "video encode/decode", "The core works."):
        assert expected in result.output
    assert len(re.findall(r"│ missing\s+│", result.output)) == len(CATALOGUE)
    assert "hf download openai/clip-vit-base-patch32" in result.output
    assert "stabilityai/stable-video-diffusion-img2vid-xt-1-1" in result.output
    assert "extractors that can run here, by family" in result.output
    assert "without weights: clip_b32" in result.output


def test_doctor_does_not_import_torchvision(monkeypatch):
    import importlib

    from qualitylab import doctor

    imported: list[str] = []
    real = importlib.import_module

    def recording(name, *args):
        imported.append(name)
        return real(name, *args)

    monkeypatch.setattr(doctor.importlib, "import_module", recording)
    checks = {check.name: check for check in doctor.environment_checks()}
    assert "torch" in imported and "torchvision" not in imported
    assert checks["torchvision"].ok and "not imported" in checks["torchvision"].detail


def test_validate_prints_summary_and_problems(tmp_path):
    make_video(tmp_path / "a.mp4")
    pd.DataFrame(
        [
            {"video": "a.mp4", "prompt": "a ball", "human_score": 4},
            {"video": "gone.mp4", "prompt": "a cat", "human_score": 2},
        ]
    ).to_csv(tmp_path / "m.csv", index=False)
    result = invoke("datasets", "validate", str(tmp_path / "m.csv"), "--target", "human_score")
    assert result.exit_code == 1
    assert "rows: 2" in result.output
    assert re.search(r"human_score\s+│\s+2\s+│\s+2\s+│\s+3\s+│\s+4", result.output)
    assert "missing files: 1" in result.output
    assert "row 2 (id 'gone'): video file not found" in result.output


def test_validate_reports_unloadable_manifest(tmp_path):
    result = runner.invoke(app, ["datasets", "validate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "nope.csv: no such file or directory" in result.output


@pytest.mark.realdata
def test_validate_shared_real_dataset(real_data_dir):
    result = invoke(
        "datasets", "validate", str(real_data_dir / "manifest.csv"), "--target", "human_score"
    )
    assert result.exit_code == 0, result.output
    assert "rows: 157" in result.output
    assert "valid: 0 error(s)" in result.output


def write_manifest(directory, rows):
    pd.DataFrame(rows).to_csv(directory / "m.csv", index=False)
    return str(directory / "m.csv")


def test_extract_features_and_inspect(tmp_path):
    make_video(tmp_path / "a.mp4", num_frames=5)
    make_video(tmp_path / "b.mp4", num_frames=3)
    manifest = write_manifest(
        tmp_path,
        [
            {"id": "a", "video": "a.mp4", "prompt": "a ball", "human_score": 4},
            {"id": "b", "video": "b.mp4", "prompt": "a cat", "human_score": 2},
        ],
    )
    out = tmp_path / "feats"
    args = ["extract-features", manifest, "--features", "ssim,technical", "--out", str(out)]
    args += ["--protocol", "thesis"]
    result = invoke(*args, "--workers", "1", "--config", "technical.dark_threshold=70")
    assert result.exit_code == 0, result.output
    assert "2 videos: 2 computed, 0 from the store, 0 with failures" in result.output
    # Not a terminal: plain progress lines a log file can hold, the last one always.
    assert "extracting 2 videos" in result.output and "extracting: 2/2 videos" in result.output
    assert f"agg: {out / 'features.parquet'} (2 rows)" in result.output
    table = pd.read_parquet(out / "features.parquet")
    # frame brightness 30, 60, 90, …: below 70 in 2 of 5 and 2 of 3 frames (40 would give 1)
    assert table["technical.dark.mean"].tolist() == pytest.approx([0.4, 2 / 3])
    again = invoke(*args, "--workers", "1", "--config", "technical.dark_threshold=70")
    assert "2 computed" not in again.output and "2 from the store" in again.output

    listing = invoke("features", "ls", str(out))
    assert listing.exit_code == 0
    assert re.search(r"technical\s+│\s+1\s+│\s+\w{16}\s+│\s+2 of 2", listing.output)
    assert "(2 rows × " in listing.output

    shown = invoke("features", "show", str(out), "a")
    assert (
        shown.exit_code == 0
        and "ssim.adjacent" in shown.output
        and "technical.brightness" in shown.output
    )
    one = invoke("features", "show", str(out), "b", "--signal", "ssim.adjacent")
    assert "ssim.adjacent (2 values)" in one.output
    missing = runner.invoke(app, ["features", "show", str(out), "zzz"])
    assert missing.exit_code == 1 and "no video with id 'zzz'" in missing.output

    csv = tmp_path / "combined.csv"
    made = invoke("features", "table", str(out), "--set", "combined", "--to", str(csv))
    described = 4 + len(FACT_COLUMNS) + 1  # manifest columns, video facts, warnings
    assert made.exit_code == 0 and pd.read_csv(csv).shape == (2, described + 115 * 13)


def test_extract_features_failures_set_the_exit_code(tmp_path):
    make_video(tmp_path / "a.mp4")
    manifest = write_manifest(
        tmp_path,
        [
            {"id": "good", "video": "a.mp4", "prompt": "x"},
            {"id": "gone", "video": "gone.mp4", "prompt": "y"},
        ],
    )
    args = [
        "extract-features",
        manifest,
        "--features",
        "ssim",
        "--out",
        str(tmp_path / "f"),
        "--workers",
        "1",
    ]
    failed = runner.invoke(app, args)
    assert failed.exit_code == 1
    assert "failed: gone [video]: cannot read video" in failed.output
    allowed = runner.invoke(app, [*args, "--allow-failures"])
    assert allowed.exit_code == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--features", "nope"], "unknown extractor 'nope'"),
        (["--features", "ssim", "--config", "ssim"], "expected EXTRACTOR.KEY=VALUE"),
        (["--features", "technical", "--config", "technical.dark_threshold=-1"], "dark_threshold"),
        (
            ["--features", "ssim", "--protocol", "thesis", "--fps", "2", "--num-frames", "3"],
            "mutually exclusive",
        ),
        (["--features", "ssim", "--num-frames", "3"], "needs --protocol thesis"),
        (["--protocol", "nope"], "unknown protocol 'nope'"),
    ],
)
def test_extract_features_rejects_bad_options(tmp_path, extra, message):
    make_video(tmp_path / "a.mp4")
    manifest = write_manifest(tmp_path, [{"video": "a.mp4", "prompt": "x"}])
    result = runner.invoke(
        app, ["extract-features", manifest, "--out", str(tmp_path / "f"), *extra]
    )
    assert result.exit_code == 1
    assert message in result.output


def test_a_library_error_is_one_message_and_exit_code_1(tmp_path):
    result = runner.invoke(app, ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    assert result.exit_code == 1 and "no such file" in result.output
    (tmp_path / "m.csv").write_text("video,prompt\nx.mp4,p\n")
    bad = runner.invoke(
        app, ["extract-features", str(tmp_path / "m.csv"), "--features", "nope", "--out",
              str(tmp_path / "f")],
    )  # fmt: skip
    assert bad.exit_code == 1 and "unknown extractor 'nope'" in bad.output
    assert "Traceback" not in bad.output


def test_features_list_names_the_learned_extractors_too():
    result = invoke("features", "list")
    for name in ("ssim", "technical", "clip_b32", "imagereward", "lpips", "raft", "hps_v2"):
        assert name in result.output
    for family in ("text-frame", "quality", "temporal", "technical"):
        assert family in result.output


def test_registry_specs_carry_their_family():
    from qualitylab.features.registry import REGISTRY, family_members
    from qualitylab.learn.spaces import TEXT_FRAME_MODELS

    assert TEXT_FRAME_MODELS == family_members("text-frame")
    assert TEXT_FRAME_MODELS[0] == "clip_b32" and len(TEXT_FRAME_MODELS) == 6
    assert family_members("quality") == ("imagereward",)
    assert {"ssim", "lpips", "raft", "flow"} <= set(family_members("temporal"))
    assert all(spec.kind == "prompt_frame" for spec in map(REGISTRY.get, TEXT_FRAME_MODELS))
    assert [name for name, spec in REGISTRY.items() if spec.learned] == [
        *TEXT_FRAME_MODELS,
        "imagereward",
        "lpips",
        "raft",
    ]
