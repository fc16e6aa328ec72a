"""Generation runs with a fake backend: scene plans to frames, seeds, the run directory,
resuming, failures and the benchmark (fast; the real pipelines are in
test_generate_pipeline.py)."""

import json

import numpy as np
import pandas as pd
import pytest

from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.video import decode, probe
from qualitylab.generate.benchmark import run_benchmark
from qualitylab.generate.generation_run import generate_run
from qualitylab.generate.models import GenerationError
from qualitylab.generate.prompts import VideoRequest
from qualitylab.generate.settings import GenerateSettings

SIZE = 16


class FakeBackend:
    """Keyframes filled with the seed modulo 97; clips that brighten the start image by
    one step a frame. Records every call; fails on prompts containing ``fail_on``."""

    name = "fake"

    def __init__(self, settings, fail_on=None):
        self.settings = settings
        self.fail_on = fail_on
        self.calls = []
        self.prepared = 0

    def describe(self):
        return {"backend": self.name}

    def prepare(self):
        self.prepared += 1

    def keyframe(self, prompt, seed, init_image=None):
        self.calls.append(("keyframe", prompt, seed, init_image is not None))
        if self.fail_on and self.fail_on in prompt:
            raise RuntimeError("out of memory")
        width, height = self.settings.keyframe_size
        return np.full((height, width, 3), seed % 97, np.uint8)

    def clip(self, image, seed, prompt=""):
        self.calls.append(("clip", prompt, seed, int(image[0, 0, 0])))
        steps = np.arange(self.settings.clip.num_frames, dtype=np.int64)[:, None, None, None]
        return np.clip(image[None].astype(np.int64) + 4 * steps, 0, 255).astype(np.uint8)


def small_settings(**overrides):
    base = {
        "clip.width": SIZE,
        "clip.height": SIZE,
        "clip.num_frames": 3,
        "clip.fps": 4,
        "plan.duration": 2.0,
    }
    return GenerateSettings().with_overrides({**base, **overrides})


REQUESTS = [
    VideoRequest("robot", "A robot wakes up. Then it dances."),
    VideoRequest("cat", "a cat programmer runs across code while error windows pop up around it"),
]


def test_run_writes_videos_records_manifest_and_run_json(tmp_path):
    settings = small_settings()
    backend = FakeBackend(settings)
    summary = generate_run(REQUESTS, tmp_path, settings, backend=backend)
    assert [o.status for o in summary.outcomes] == ["done", "done"]
    for request in REQUESTS:
        info = probe(tmp_path / "videos" / f"{request.id}.mp4")
        assert (info.num_frames, info.fps, info.width, info.height) == (8, 4.0, SIZE, SIZE)
        assert (tmp_path / "records" / f"{request.id}.json").is_file()
        assert len(list((tmp_path / "keyframes" / request.id).glob("scene_*.png"))) == 2
    manifest = load_manifest(tmp_path / "manifest.csv", ColumnMapping(targets=()))
    assert list(manifest.table["id"]) == ["robot", "cat"]
    written = pd.read_csv(tmp_path / "manifest.csv", dtype=str)
    assert written.columns.tolist() == ["id", "video", "prompt", "scene_starts"]
    assert all(decode(path).num_frames == 8 for path in manifest.table["video"])
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["finished"] is True and run["settings"] == settings.to_dict()
    assert run["settings_hash"] == settings.settings_hash()
    assert run["counts"] == {"videos": 2, "done": 2, "failed": 0, "pending": 0}
    assert {"python", "packages"} <= set(run["environment"])
    assert {"torch", "diffusers", "transformers", "av"} <= set(run["environment"]["packages"])
    record = run["videos"][0]
    assert record["frames"] == 8 and record["seconds"] == 2.0 and record["status"] == "done"
    assert [s["prompt"] for s in record["plan"]["scenes"]] == ["A robot wakes up", "A robot dances"]
    assert sum(s["frames"] for s in record["plan"]["scenes"]) == 8
    starts = [s["start_frame"] for s in record["plan"]["scenes"]]
    assert starts == [0, record["plan"]["scenes"][0]["frames"]]
    assert written["scene_starts"].iloc[0] == f"0 {starts[1]}"


def test_scene_seeds_extension_and_frame_order(tmp_path):
    settings = small_settings(seed=7)
    backend = FakeBackend(settings)
    generate_run(REQUESTS[:1], tmp_path, settings, backend=backend)
    record = json.loads((tmp_path / "records" / "robot.json").read_text())
    scenes = record["plan"]["scenes"]
    assert [s["keyframe_seed"] for s in scenes] == [7, 1007]
    # 8 frames shared 5 + 3 by words; a clip gives 3 frames, an extension 2 more (its
    # first frame repeats the start image and is dropped)
    assert [s["frames"] for s in scenes] == [5, 3]
    assert [s["clip_seeds"] for s in scenes] == [[8, 9], [1008]]
    extension = [call for call in backend.calls if call[0] == "clip"][1]
    assert extension[3] == 7 + 8  # it starts from the first clip's last frame
    assert "cartoon style" in scenes[0]["keyframe_prompt"]
    frames = decode(tmp_path / "videos" / "robot.mp4").frames.astype(int)
    brightness = frames.mean(axis=(1, 2, 3))
    expected = [7, 11, 15, 19, 23, 37, 41, 45]  # 1007 % 97 = 37
    assert np.allclose(brightness, expected, atol=3)


def test_chained_scenes_draw_from_the_previous_last_frame(tmp_path):
    settings = small_settings(**{"clip.chain_scenes": True})
    backend = FakeBackend(settings)
    generate_run(REQUESTS[:1], tmp_path, settings, backend=backend)
    keyframes = [call for call in backend.calls if call[0] == "keyframe"]
    assert [call[3] for call in keyframes] == [False, True]
    record = json.loads((tmp_path / "records" / "robot.json").read_text())
    assert [s["keyframe_from"] for s in record["plan"]["scenes"]] == [
        "prompt",
        "previous scene's last frame",
    ]


def test_rerun_skips_complete_videos_without_loading_models(tmp_path):
    settings = small_settings()
    generate_run(REQUESTS, tmp_path, settings, backend=FakeBackend(settings))
    before = (tmp_path / "videos" / "cat.mp4").stat().st_mtime_ns
    again = FakeBackend(settings)
    summary = generate_run(REQUESTS, tmp_path, settings, backend=again)
    assert [o.status for o in summary.outcomes] == ["skipped", "skipped"]
    assert again.prepared == 0 and again.calls == []
    assert (tmp_path / "videos" / "cat.mp4").stat().st_mtime_ns == before
    # a damaged video is made again
    (tmp_path / "videos" / "cat.mp4").write_bytes(b"broken")
    summary = generate_run(REQUESTS, tmp_path, settings, backend=FakeBackend(settings))
    assert [o.status for o in summary.outcomes] == ["skipped", "done"]
    assert probe(tmp_path / "videos" / "cat.mp4").num_frames == 8


def test_a_failing_video_is_recorded_and_the_run_goes_on(tmp_path):
    settings = small_settings()
    summary = generate_run(
        REQUESTS, tmp_path, settings, backend=FakeBackend(settings, fail_on="robot")
    )
    assert [o.status for o in summary.outcomes] == ["failed", "done"]
    assert summary.failed[0].error == "RuntimeError: out of memory"
    record = json.loads((tmp_path / "records" / "robot.json").read_text())
    assert record["status"] == "failed" and "out of memory" in record["error"]
    assert pd.read_csv(tmp_path / "manifest.csv")["id"].tolist() == ["cat"]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["counts"]["failed"] == 1 and run["counts"]["done"] == 1
    # the next run retries only the failed one
    retry = FakeBackend(settings)
    summary = generate_run(REQUESTS, tmp_path, settings, backend=retry)
    assert [o.status for o in summary.outcomes] == ["done", "skipped"]
    assert pd.read_csv(tmp_path / "manifest.csv")["id"].tolist() == ["robot", "cat"]


def test_other_settings_are_refused_unless_overwritten(tmp_path):
    settings = small_settings()
    generate_run(REQUESTS[:1], tmp_path, settings, backend=FakeBackend(settings))
    other = small_settings(seed=3)
    with pytest.raises(GenerationError, match=r"other settings \(seed: 0 → 3\).*--overwrite"):
        generate_run(REQUESTS[:1], tmp_path, other, backend=FakeBackend(other))
    summary = generate_run(
        REQUESTS[:1], tmp_path, other, backend=FakeBackend(other), overwrite=True
    )
    assert summary.outcomes[0].status == "done"
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["seed"] == 3


def test_repeated_ids_are_refused(tmp_path):
    settings = small_settings()
    with pytest.raises(GenerationError, match="repeat"):
        generate_run([REQUESTS[0], REQUESTS[0]], tmp_path, settings, backend=FakeBackend(settings))


def write_prompt_set(path, version="1", prompts=None):
    prompts = prompts or [
        {"id": "m1", "category": "motion", "prompt": "A ball rolls. Then it stops."},
        {"id": "c1", "category": "characters", "prompt": "A fox naps while snow falls."},
        {"id": "s1", "category": "scenes", "prompt": "A city at night. Then the sun rises."},
    ]
    path.write_text(json.dumps({"name": "test set", "version": version, "prompts": prompts}))
    return path


def test_benchmark_generates_into_the_version_directory_and_resumes(tmp_path):
    prompts = write_prompt_set(tmp_path / "bench.json")
    settings = small_settings()
    backend = FakeBackend(settings, fail_on="fox")
    summary = run_benchmark(
        "v1", tmp_path / "runs", settings, prompts_file=prompts, backend=backend
    )
    out = tmp_path / "runs" / "v1"
    assert summary.out_dir == out
    assert [o.status for o in summary.outcomes] == ["done", "failed", "done"]
    assert pd.read_csv(out / "manifest.csv")["id"].tolist() == ["m1", "s1"]
    run = json.loads((out / "run.json").read_text())
    prompt_set = run["benchmark"]["prompt_set"]
    assert run["benchmark"]["label"] == "v1"
    assert prompt_set["version"] == "1" and prompt_set["prompts"] == 3
    assert len(prompt_set["sha256"]) == 64
    assert run["videos"][0]["extra"]["category"] == "motion"
    again = FakeBackend(settings)
    summary = run_benchmark("v1", tmp_path / "runs", settings, prompts_file=prompts, backend=again)
    assert [o.status for o in summary.outcomes] == ["skipped", "done", "skipped"]
    assert pd.read_csv(out / "manifest.csv")["id"].tolist() == ["m1", "c1", "s1"]


def test_benchmark_refuses_another_prompt_set_version_and_unknown_ids(tmp_path):
    settings = small_settings()
    prompts = write_prompt_set(tmp_path / "bench.json")
    run_benchmark(
        "v1", tmp_path, settings, prompts_file=prompts, only=["m1"], backend=FakeBackend(settings)
    )
    newer = write_prompt_set(tmp_path / "bench2.json", version="2")
    with pytest.raises(GenerationError, match="prompt set version 1, not 2"):
        run_benchmark("v1", tmp_path, settings, prompts_file=newer, backend=FakeBackend(settings))
    with pytest.raises(GenerationError, match="no prompt with id zz"):
        run_benchmark(
            "v2",
            tmp_path,
            settings,
            prompts_file=prompts,
            only=["zz"],
            backend=FakeBackend(settings),
        )
    with pytest.raises(GenerationError, match="label '../x'"):
        run_benchmark("../x", tmp_path, settings, prompts_file=prompts)


def test_prompt_durations_apply_unless_the_settings_set_one(tmp_path):
    prompts = write_prompt_set(
        tmp_path / "bench.json",
        prompts=[{"id": "a", "category": "motion", "prompt": "A ball rolls. Then it stops.",
                  "duration": 3}],
    )  # fmt: skip
    settings = small_settings(**{"plan.duration": None})
    run_benchmark("v1", tmp_path, settings, prompts_file=prompts, backend=FakeBackend(settings))
    assert probe(tmp_path / "v1" / "videos" / "a.mp4").num_frames == 12
