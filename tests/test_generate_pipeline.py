"""Generation end to end with tiny random diffusers pipelines, saved and loaded with
``from_pretrained`` as real models are: the CLI, the MP4, run.json, seeds, catalogue
models from a local copy, and the errors a user meets."""

import json

import numpy as np
import pandas as pd
import pytest
from tiny_pipelines import save_tiny_svd, save_tiny_text_to_image
from typer.testing import CliRunner

import qualitylab.cli.generate  # noqa: F401  (registers generate and benchmark)
import qualitylab.generate.models
from qualitylab.cli import app
from qualitylab.data.video import decode, probe
from qualitylab.generate.diffusers_backend import DiffusersBackend
from qualitylab.generate.generation_run import generate_run
from qualitylab.generate.prompts import VideoRequest
from qualitylab.generate.settings import GenerateSettings, load_settings

runner = CliRunner()
PROMPT = "a cat programmer runs across code while error windows pop up around it"
# 32x32 frames, 3 frames a clip at 4 fps, 2 s: 8 frames over 2 scenes (one needs a second
# clip); 1 denoising step, no classifier-free guidance, so that a video takes seconds.
TINY_OPTIONS = [
    "--width", "32", "--height", "32", "--num-frames", "3", "--fps", "4", "--duration", "2",
    "--steps", "1", "--keyframe-steps", "1", "--guidance-scale", "1", "--decode-chunk-size", "2",
    "--set", "clip.min_guidance_scale=1", "--set", "clip.max_guidance_scale=1",
]  # fmt: skip


def invoke(*args: str):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and two threads on a busy 2-core machine
    can be many times slower than one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-pipelines")
    return save_tiny_text_to_image(root / "t2i"), save_tiny_svd(root / "svd")


@pytest.fixture(scope="module")
def cli_run(tiny_models, tmp_path_factory):
    """One `qualitylab generate` run with the tiny models (shared by several tests)."""
    t2i, svd = tiny_models
    out = tmp_path_factory.mktemp("generate") / "run"
    result = invoke(
        "generate", PROMPT, "--out", out, "--t2i-model", t2i, "--svd-model", svd,
        "--seed", "3", *TINY_OPTIONS,
    )  # fmt: skip
    return result, out


def test_generate_cli_writes_a_multi_scene_mp4(cli_run):
    result, out = cli_run
    assert result.exit_code == 0, result.output
    assert "1 videos: 1 generated, 0 already complete, 0 failed" in result.output
    video_id = "a_cat_programmer_runs_across_code_while_error"
    video = out / "videos" / f"{video_id}.mp4"
    info = probe(video)
    assert (info.num_frames, info.fps, info.width, info.height) == (8, 4.0, 32, 32)
    clip = decode(video)
    assert clip.frames.shape == (8, 32, 32, 3)
    assert clip.frames.std() > 0  # not a blank video
    assert sorted(p.name for p in (out / "keyframes" / video_id).iterdir()) == [
        "scene_00.png",
        "scene_01.png",
    ]
    manifest = pd.read_csv(out / "manifest.csv", dtype=str)
    scenes = json.loads((out / "records" / f"{video_id}.json").read_text())["plan"]["scenes"]
    starts = [scene["start_frame"] for scene in scenes]
    assert starts[0] == 0 and starts[1] == scenes[0]["frames"]
    assert manifest.to_dict(orient="records") == [
        {
            "id": video_id,
            "video": f"videos/{video_id}.mp4",
            "prompt": PROMPT,
            "scene_starts": " ".join(map(str, starts)),
        }
    ]


def test_run_json_records_prompts_plan_models_settings_seeds_and_versions(cli_run, tiny_models):
    _, out = cli_run
    run = json.loads((out / "run.json").read_text())
    assert run["format"] == "qualitylab.generate/1" and run["finished"] is True
    settings = run["settings"]
    assert settings["seed"] == 3 and settings["clip"]["num_frames"] == 3
    assert settings["clip"]["fps"] == 4 and settings["plan"]["duration"] == 2.0
    assert settings["runtime"]["device"] == "cpu" and settings["runtime"]["precision"] == "fp32"
    backend = run["backend"]
    assert backend["keyframe_model"]["pipeline"] == "StableDiffusionPipeline"
    assert backend["clip_model"]["pipeline"] == "StableVideoDiffusionPipeline"
    assert backend["clip_model"]["directory"] == str(tiny_models[1].resolve())
    assert len(backend["clip_model"]["fingerprint"]) == 16
    packages = run["environment"]["packages"]
    assert packages["diffusers"] and packages["torch"] and packages["av"]
    (video,) = run["videos"]
    assert video["prompt"] == PROMPT and video["frames"] == 8 and video["fps"] == 4
    scenes = video["plan"]["scenes"]
    assert [s["keyframe_seed"] for s in scenes] == [3, 1003]
    assert sum(s["frames"] for s in scenes) == 8
    assert any(len(s["clip_seeds"]) == 2 for s in scenes)  # one scene was extended
    assert all(s["timings"]["clips"] > 0 for s in scenes)
    assert run["timings"]["load"] > 0


def test_same_seed_gives_identical_frames_and_another_seed_others(cli_run, tmp_path):
    _, out = cli_run
    (original,) = json.loads((out / "run.json").read_text())["videos"]
    settings = load_settings(out / "run.json")  # the run's own record reproduces it
    request = [VideoRequest("again", PROMPT)]
    same = generate_run(request, tmp_path / "same", settings).outcomes[0].record
    assert same["sha256"] == original["sha256"]
    frames = decode(out / original["video"]).frames
    assert np.array_equal(decode(tmp_path / "same" / same["video"]).frames, frames)
    other = generate_run(request, tmp_path / "other", settings.with_overrides({"seed": 4}))
    other_frames = decode(tmp_path / "other" / other.outcomes[0].record["video"]).frames
    assert not np.array_equal(other_frames, frames)


def test_a_run_directory_feeds_extract_features(cli_run, tmp_path):
    _, out = cli_run
    result = invoke(
        "extract-features", out / "manifest.csv", "--features", "ssim", "--out", tmp_path / "f"
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "f" / "features.parquet")
    assert len(table) == 1 and "ssim.adjacent.mean" in table.columns


def test_rerun_skips_the_finished_video(cli_run, tiny_models):
    result, out = cli_run
    t2i, svd = tiny_models
    again = invoke(
        "generate", PROMPT, "--out", out, "--t2i-model", t2i, "--svd-model", svd,
        "--seed", "3", *TINY_OPTIONS,
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "0 generated, 1 already complete" in again.output
    changed = invoke(
        "generate", PROMPT, "--out", out, "--t2i-model", t2i, "--svd-model", svd,
        "--seed", "9", *TINY_OPTIONS,
    )  # fmt: skip
    assert changed.exit_code == 1
    assert "other settings (seed: 3 → 9)" in changed.output and "--overwrite" in changed.output


def test_prompts_file_with_chained_scenes(tiny_models, tmp_path):
    t2i, svd = tiny_models
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# stories\nA robot wakes up. Then it dances.\n")
    result = invoke(
        "generate", "--prompts", prompts, "--out", tmp_path / "run", "--t2i-model", t2i,
        "--svd-model", svd, "--chain-scenes", *TINY_OPTIONS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["prompts_file"] == str(prompts.resolve())
    assert run["settings"]["clip"]["chain_scenes"] is True
    (video,) = run["videos"]
    assert video["id"] == "p001" and video["frames"] == 8
    assert [s["keyframe_from"] for s in video["plan"]["scenes"]] == [
        "prompt",
        "previous scene's last frame",
    ]


def import_weights(key: str, directory) -> None:
    result = invoke("weights", "import", key, directory)
    assert result.exit_code == 0, result.output


def test_benchmark_with_catalogue_models_from_local_copies(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    import_weights("sdxl_base", save_tiny_text_to_image(tmp_path / "t2i", variant="fp16"))
    import_weights("svd_xt", save_tiny_svd(tmp_path / "svd", variant="fp16"))
    prompts = tmp_path / "bench.json"
    prompts.write_text(
        json.dumps(
            {
                "version": "1",
                "prompts": [
                    {"id": "m1", "category": "motion", "prompt": "A ball rolls. Then it stops."}
                ],
            }
        )
    )
    args = ["benchmark", "--version", "v1", "--out", tmp_path / "runs", "--prompts", prompts]
    args += ["--t2i-model", "sdxl_base", "--svd-model", "svd_xt", *TINY_OPTIONS]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "v1"
    assert probe(out / "videos" / "m1.mp4").num_frames == 8
    run = json.loads((out / "run.json").read_text())
    model = run["backend"]["clip_model"]
    assert model["key"] == "svd_xt" and model["source"] == "local copy"
    assert model["repo_id"] == "stabilityai/stable-video-diffusion-img2vid-xt"
    assert model["revision"] and model["variant"] == "fp16"
    assert run["backend"]["keyframe_model"]["key"] == "sdxl_base"
    assert run["benchmark"]["prompt_set"]["version"] == "1"
    again = invoke(*args)
    assert again.exit_code == 0 and "0 generated, 1 already complete" in again.output


def test_missing_catalogue_weights_say_how_to_fetch_them(tmp_path, monkeypatch, no_network):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    result = invoke("generate", PROMPT, "--out", tmp_path / "run", "--svd-model", "svd_xt_1_1")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "the keyframe model 'sdxl_base'" in output
    assert "qualitylab weights download sdxl_base" in output
    assert "hf download stabilityai/stable-diffusion-xl-base-1.0" in output
    # Both missing models are named at once, not one per attempt.
    assert "qualitylab weights download svd_xt_1_1" in output
    assert "Traceback" not in output


def test_missing_svd_weights_name_the_model_and_the_gate(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    args = ["generate", PROMPT, "--out", tmp_path / "run", "--t2i-model", tiny_models[0]]
    result = invoke(*args, "--svd-model", "svd_xt_1_1")
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "qualitylab weights download svd_xt_1_1" in output and "gated" in output
    assert "qualitylab weights import svd_xt_1_1 DIR" in output
    result = invoke(*args, "--svd-model", "someone/video-model@abc123")
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "hf download someone/video-model --revision abc123" in output
    assert not (tmp_path / "run" / "run.json").exists()  # nothing was started


def test_wrong_kind_of_model_and_bad_directories_are_clear_errors(tiny_models, tmp_path):
    t2i, _ = tiny_models
    result = invoke("generate", PROMPT, "--out", tmp_path / "r", "--t2i-model", t2i,
                    "--svd-model", t2i, *TINY_OPTIONS)  # fmt: skip
    assert result.exit_code == 1
    assert "is a StableDiffusionPipeline, not a StableVideoDiffusionPipeline" in result.output
    (tmp_path / "empty").mkdir()
    result = invoke("generate", PROMPT, "--out", tmp_path / "r", "--t2i-model", tmp_path / "empty")
    assert result.exit_code == 1 and "has no model_index.json" in result.output


def test_option_errors_are_messages(tmp_path):
    result = invoke("generate", PROMPT, "--out", tmp_path / "r", "--width", "1001")
    assert result.exit_code == 1 and "clip.width: Input should be a multiple of 8" in result.output
    result = invoke("generate", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "either a PROMPT or --prompts" in result.output
    bad = tmp_path / "p.json"
    bad.write_text('[{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}]')
    result = invoke("generate", "--prompts", bad, "--out", tmp_path / "r")
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and f"{bad}, entry 2: id 'a' is also entry 1" in output
    result = invoke("generate", PROMPT, "--out", tmp_path / "r", "--set", "clip.nope=1")
    assert result.exit_code == 1 and "unknown setting 'clip.nope'" in result.output


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    result = invoke("generate", PROMPT, "--out", tmp_path / "r", "--device", "cuda")
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "device 'cuda' is not available on this machine" in output
    assert "torch finds no CUDA GPU" in output
    result = invoke("generate", PROMPT, "--out", tmp_path / "r", "--cpu-offload", "--device", "cpu")
    assert result.exit_code == 1 and "offload needs a CUDA device" in result.output


def test_full_size_weights_on_the_cpu_are_warned_about(tiny_models, monkeypatch):
    monkeypatch.setattr(qualitylab.generate.models, "_LARGE_WEIGHTS", 1000)
    t2i, svd = tiny_models
    settings = GenerateSettings().with_overrides(
        {"keyframe.model": str(t2i), "clip.model": str(svd), "runtime.device": "cpu"}
    )
    with pytest.warns(UserWarning, match="on the CPU with the full-size weights .* very slow"):
        DiffusersBackend(settings.with_overrides({"clip.width": 32, "clip.height": 32})).prepare()


def test_help_describes_both_commands():
    for command in ("generate", "benchmark"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output
    assert "--comfyui-url" in invoke("generate", "--help").output


@pytest.mark.gpu
def test_tiny_pipeline_runs_on_cuda_in_fp16(tiny_models, tmp_path):
    t2i, svd = tiny_models
    settings = GenerateSettings().with_overrides(
        {
            "keyframe.model": str(t2i), "clip.model": str(svd), "clip.width": 32,
            "clip.height": 32, "clip.num_frames": 3, "clip.fps": 4, "plan.duration": 2.0,
            "clip.steps": 2, "keyframe.steps": 2, "runtime.device": "cuda",
        }
    )  # fmt: skip
    summary = generate_run([VideoRequest("gpu", PROMPT)], tmp_path, settings)
    record = summary.outcomes[0].record
    assert record["status"] == "done", record.get("error")
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["settings"]["runtime"]["precision"] == "fp16"
    assert decode(tmp_path / record["video"]).frames.shape == (8, 32, 32, 3)
    again = generate_run([VideoRequest("gpu2", PROMPT)], tmp_path / "again", settings)
    repeat = decode(tmp_path / "again" / again.outcomes[0].record["video"]).frames
    first = decode(tmp_path / record["video"]).frames
    # the same seed on the GPU: the same frames, up to kernels' rounding
    assert np.abs(repeat.astype(int) - first.astype(int)).mean() < 1.0
