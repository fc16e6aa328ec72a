import re

import pandas as pd
import pytest
from conftest import make_video
from typer.testing import CliRunner

from qualitylab import __version__
from qualitylab.cli import app

runner = CliRunner()


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
    monkeypatch.setenv("COLUMNS", "250")
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    for expected in ("torch", "torchvision", "cuda", "video encode/decode", "The core works."):
        assert expected in result.output
    assert len(re.findall(r"│ missing\s+│", result.output)) == 11
    assert "hf download openai/clip-vit-base-patch32" in result.output
    assert "stabilityai/stable-video-diffusion-img2vid-xt-1-1" in result.output


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
