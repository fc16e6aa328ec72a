"""The Ray engine on a local Ray with 2 CPUs: the same records, failures, resume and tables
as the local engine, classical extractors as tasks and learned ones (tiny random CLIP and
SigLIP) in actors on the CPU. Starting Ray takes tens of seconds on a busy machine, so the tests on
it are slow."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_video
from tiny_weights import save_tiny_clip, save_tiny_siglip

from qualitylab.config import weights_dir
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.features.engines.ray import merge_results
from qualitylab.features.extract import VideoResult, VideoTask
from qualitylab.features.extraction_run import RunError, extract_features
from qualitylab.features.store import FeatureStore
from qualitylab.features.tables import build_table

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def manifest(tmp_path):
    for index in range(3):
        make_video(tmp_path / f"v{index}.mp4", num_frames=4 + index)
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    rows = [{"id": f"v{i}", "video": f"v{i}.mp4", "prompt": f"a cat {i}", "s": i} for i in range(3)]
    rows.append({"id": "bad", "video": "bad.mp4", "prompt": "x", "s": 1})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    return load_manifest(tmp_path / "m.csv", ColumnMapping(targets=("s",)))


def run(manifest, tmp_path, name, features, engine):
    out = tmp_path / name
    summary = extract_features(
        manifest, features, out, store=tmp_path / f"store-{name}", engine=engine, workers=1
    )
    return summary, out


def compare_runs(local_out, ray_out):
    pd.testing.assert_frame_equal(
        build_table(local_out, "combined"), build_table(ray_out, "combined")
    )
    failures = [
        pd.read_parquet(out / "failures.parquet")
        .sort_values(["id", "extractor"])
        .reset_index(drop=True)
        for out in (local_out, ray_out)
    ]
    pd.testing.assert_frame_equal(*failures)


@pytest.mark.slow
def test_ray_engine_equals_the_local_engine_and_resumes(manifest, tmp_path, local_ray):
    features = ["ssim", "technical"]
    _, local_out = run(manifest, tmp_path, "local", features, "local")
    summary, ray_out = run(manifest, tmp_path, "ray", features, "ray")
    assert summary.computed == 3 and [r.task.id for r in summary.failed] == ["bad"]
    compare_runs(local_out, ray_out)
    again, _ = run(manifest, tmp_path, "ray", features, "ray")
    assert again.computed == 0 and again.reused == 3


@pytest.mark.slow
def test_learned_extractors_run_in_ray_actors(manifest, tmp_path, local_ray):
    save_tiny_clip(weights_dir() / "clip_b32")
    save_tiny_siglip(weights_dir() / "siglip_so400m")
    # Two learned extractors' actors and the classical tasks on 2 CPUs: none may starve.
    features = ["clip_b32", "siglip_so400m", "ssim"]
    _, local_out = run(manifest, tmp_path, "local", features, "local")
    summary, ray_out = run(manifest, tmp_path, "ray", features, "ray")
    assert summary.computed == 3
    assert all(
        sorted(r.computed) == ["clip_b32", "siglip_so400m", "ssim"]
        for r in summary.results
        if r.sha256 and not r.failures
    )
    compare_runs(local_out, ray_out)
    assert len(list(FeatureStore(tmp_path / "store-ray").record_paths())) == 9


def test_an_address_needs_the_ray_engine(manifest, tmp_path):
    with pytest.raises(RunError, match="ray engine"):
        extract_features(manifest, ["ssim"], tmp_path / "x", address="auto")
    with pytest.raises(RunError, match="unknown engine"):
        extract_features(manifest, ["ssim"], tmp_path / "x", engine="spark")


def test_stage_results_merge_into_one():
    task = VideoTask("v", "v.mp4", "p")
    merged = merge_results(
        [
            VideoResult(
                task, "ab", computed=["ssim"], frames=6, warnings=["short"], facts={"f": 1}
            ),
            VideoResult(task, "ab", reused=["clip_b32"], frames=6, warnings=["short"]),
            VideoResult(task, "ab", failures={"lpips": "boom"}),
        ]
    )
    assert merged.computed == ["ssim"] and merged.reused == ["clip_b32"]
    assert merged.failures == {"lpips": "boom"} and merged.warnings == ["short"]
    assert merged.frames == 6 and merged.facts == {"f": 1} and merged.sha256 == "ab"
