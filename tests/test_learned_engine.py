"""``qualitylab extract-features`` end to end with learned extractors: the real CLI, in this
process, on tiny random weights of ``clip_b32``, ``imagereward``, ``lpips_alex`` and
``raft_large`` (from ``tiny_weights``) under ``weights_dir()``, and a two-video manifest.

The weights are built once for the module and linked into each test's own
``$QUALITYLAB_HOME/weights``. RAFT needs frames of at least 128 px a side, so the videos are
128 x 144, four and five frames long (different files, so nothing is shared in the store).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import make_video
from tiny_weights import (
    save_tiny_alexnet,
    save_tiny_clip,
    save_tiny_imagereward,
    save_tiny_raft,
    use_tiny_blip_vit,
)
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.config import weights_dir
from qualitylab.features import registry

runner = CliRunner()

# The tiny weights of the run, by weights key.
SAVERS = {
    "clip_b32": save_tiny_clip,
    "imagereward": save_tiny_imagereward,
    "lpips_alex": save_tiny_alexnet,
    "raft_large": save_tiny_raft,
}
# The extractors of the run and the weights key each reads.
EXTRACTORS = {
    "clip_b32": "clip_b32",
    "imagereward": "imagereward",
    "lpips": "lpips_alex",
    "raft": "raft_large",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four tiny models, each in a directory named by its weights key."""
    root = tmp_path_factory.mktemp("learned-weights")
    with pytest.MonkeyPatch.context() as patch:
        use_tiny_blip_vit(patch)
        for key, save in SAVERS.items():
            save(root / key)
    return root


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As in a fresh process: empty hub caches (so weights come only from ``weights_dir()``;
    conftest empties the loaded extractors), and ImageReward built with the tiny ViT its
    weights were written with."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    use_tiny_blip_vit(monkeypatch)


def install(built: Path, *, leave_out: str | None = None) -> None:
    """Link the tiny models into this test's ``weights_dir()``, but ``leave_out``."""
    weights_dir().mkdir(parents=True, exist_ok=True)
    for key in SAVERS:
        if key != leave_out:
            (weights_dir() / key).symlink_to(built / key, target_is_directory=True)


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """Two small videos with their prompts."""
    rows = []
    for index, name in enumerate(("a", "b")):
        make_video(tmp_path / f"{name}.mp4", num_frames=4 + index, size=(128, 144))
        rows.append({"id": name, "video": f"{name}.mp4", "prompt": f"a red cat {name}"})
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def extract_features(manifest: Path, out: Path, *options: str):
    """``qualitylab extract-features`` of the four learned extractors on the CPU."""
    args = ["extract-features", str(manifest), "--features", ",".join(EXTRACTORS)]
    args += ["--out", str(out), "--config", "raft.num_flow_updates=2", *options]
    return runner.invoke(app, args)


def test_extracts_every_family_and_reuses_it(built: Path, manifest: Path, tmp_path: Path) -> None:
    install(built)
    out = tmp_path / "features"
    first = extract_features(manifest, out, "--device", "cpu")
    assert first.exit_code == 0, first.output
    assert "2 videos: 2 computed, 0 from the store, 0 with failures" in first.output

    table = pd.read_parquet(out / "features.parquet")
    assert table["id"].tolist() == ["a", "b"]
    for name in EXTRACTORS:
        for signal in registry.get_spec(name).signals:
            columns = [c for c in table.columns if c.startswith(f"{name}.{signal.name}.")]
            assert columns, f"no {name}.{signal.name}.* columns"
            assert table[columns].notna().all().all(), f"{name}.{signal.name}: missing values"

    record = json.loads((out / "run.json").read_text())
    assert record["finished"] is True
    configs = {extractor["name"]: extractor["config"] for extractor in record["extractors"]}
    assert set(configs) == set(EXTRACTORS)
    for config in configs.values():
        assert (config["device"], config["precision"]) == ("cpu", "fp32")
    assert configs["raft"]["num_flow_updates"] == 2

    again = extract_features(manifest, out, "--device", "cpu")
    assert again.exit_code == 0, again.output
    assert "2 videos: 0 computed, 2 from the store, 0 with failures; 0 frames" in again.output
    pd.testing.assert_frame_equal(pd.read_parquet(out / "features.parquet"), table)


@pytest.mark.parametrize(("extractor", "key"), EXTRACTORS.items())
def test_missing_weights_stop_the_run_before_it_starts(
    built: Path, manifest: Path, tmp_path: Path, extractor: str, key: str
) -> None:
    install(built, leave_out=key)
    out = tmp_path / "features"
    result = extract_features(manifest, out, "--device", "cpu")
    assert result.exit_code == 1
    assert "pretrained weights are missing, so nothing was extracted" in result.output
    assert f"{extractor}: weights {key!r} are missing" in result.output
    assert f"qualitylab weights download {key}" in result.output
    assert result.output.count("are missing.") == 1
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_a_gpu_is_refused(built: Path, manifest: Path, tmp_path: Path) -> None:
    install(built)
    out = tmp_path / "features"
    result = extract_features(manifest, out, "--device", "cuda")
    assert result.exit_code == 1
    assert "device 'cuda' is not available on this machine; use cpu or auto" in result.output
    assert not out.exists()


def test_half_precision_on_the_cpu_is_refused(built: Path, manifest: Path, tmp_path: Path) -> None:
    install(built)
    out = tmp_path / "features"
    result = extract_features(manifest, out, "--device", "cpu", "--precision", "fp16")
    assert result.exit_code == 1
    assert "precision fp16 needs a GPU; use precision fp32 on the CPU" in result.output
    assert not out.exists()
