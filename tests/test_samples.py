"""Tests of the embedded demo dataset: plan, camera, defects, synthetic score, build."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from itertools import combinations, pairwise
from pathlib import Path

import av
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, laplace

from qualitylab.data import samples
from qualitylab.data.samples import (
    ASPECTS,
    DEFECT_WEIGHTS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    MAX_CLIPS,
    MOTIONS,
    SEVERITIES,
    SOURCES,
    DemoClip,
    apply_defect,
    block_size,
    build_demo_dataset,
    defect_interval,
    demo_specs,
    render_clip,
    synthetic_score,
)

FRAME_DEFECTS = [name for name in DEFECT_WEIGHTS if name != "mismatch"]
MANIFEST_COLUMNS = [
    "id",
    "video",
    "prompt",
    "synthetic_score",
    "synthetic_visual",
    "synthetic_temporal",
    "synthetic_alignment",
    "defects",
    "defect_intervals",
    "source_image",
    "motion",
    "fps",
    "duration_s",
]


def _clip(**changes: object) -> DemoClip:
    clean = DemoClip(
        id="test",
        source="coffee",
        motion="pan_left",
        prompt=f"{SOURCES['coffee']}, {MOTIONS['pan_left']}",
        defects=(),
        duration_s=2.0,
        fps=8,
        seed=0,
    )
    return dataclasses.replace(clean, **changes)


@pytest.fixture(scope="module")
def pan() -> np.ndarray:
    """A clean 16-frame pan over the coffee photograph."""
    return render_clip(_clip())


@pytest.fixture(scope="module")
def still(pan: np.ndarray) -> np.ndarray:
    """A static clip: the first frame of ``pan`` eight times."""
    return np.repeat(pan[:1], 8, axis=0)


# --- the plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_clips", range(24, 41))
def test_plan_is_balanced(n_clips: int) -> None:
    specs = demo_specs(n_clips)
    assert len(specs) == n_clips
    assert len({spec.id for spec in specs}) == n_clips
    for name in DEFECT_WEIGHTS:
        severities = {s for spec in specs for defect, s in spec.defects if defect == name}
        assert len(severities) >= 2, name
    assert sum(not spec.defects for spec in specs) >= 4
    assert sum("mismatch" in dict(spec.defects) for spec in specs) >= 3
    assert len({spec.source for spec in specs}) == len(SOURCES)
    assert len({spec.motion for spec in specs}) == len(MOTIONS)
    for spec in specs:
        assert len(spec.defects) <= 2
        assert len({name for name, _ in spec.defects}) == len(spec.defects)
        assert all(severity in SEVERITIES for _, severity in spec.defects)
        assert 2.0 <= spec.duration_s <= 4.0 and 8 <= spec.fps <= 12
        assert 16 <= spec.n_frames <= 48


def test_plan_is_deterministic_and_seeded() -> None:
    assert demo_specs(32, seed=0) == demo_specs(32, seed=0)
    assert demo_specs(32, seed=0) != demo_specs(32, seed=1)


@pytest.mark.parametrize("n_clips", [0, 23, 401])
def test_plan_rejects_clip_counts_out_of_range(n_clips: int) -> None:
    with pytest.raises(ValueError, match="between 24 and 400"):
        demo_specs(n_clips)


def test_plan_beyond_80_adds_frame_defects_in_rounds_without_mismatch() -> None:
    assert MAX_CLIPS == 400
    full = demo_specs(MAX_CLIPS)
    first_80 = demo_specs(80)
    assert sum("mismatch" in dict(spec.defects) for spec in full) == sum(
        "mismatch" in dict(spec.defects) for spec in first_80
    )
    counts = Counter(pair for spec in full for pair in spec.defects)
    for name in FRAME_DEFECTS:
        for severity in SEVERITIES:
            # Every round of 40 adds each frame defect alone at each severity.
            assert counts[(name, severity)] >= 8, (name, severity)
    pairs = Counter(
        tuple(sorted(name for name, _ in spec.defects)) for spec in full if len(spec.defects) == 2
    )
    assert all(pairs[tuple(sorted(pair))] >= 4 for pair in combinations(FRAME_DEFECTS, 2))
    assert sum(not spec.defects for spec in full) == sum(not spec.defects for spec in first_80) + 16


def test_prompts_describe_the_clip_unless_mismatched() -> None:
    for spec in demo_specs(40):
        subject, motion = spec.prompt.rsplit(", ", 1)
        right_subject = subject == SOURCES[spec.source]
        right_motion = motion == MOTIONS[spec.motion]
        expected = {
            None: (True, True),
            0.3: (True, False),
            0.6: (False, True),
            1.0: (False, False),
        }[dict(spec.defects).get("mismatch")]
        assert (right_subject, right_motion) == expected, spec


# --- the synthetic score ----------------------------------------------------------------------


def test_clean_clip_scores_ten() -> None:
    assert synthetic_score(()) == 10.0
    assert _clip().synthetic_score == 10.0


def test_score_subtracts_weighted_severities() -> None:
    defects = (("blur", 0.6), ("noise", 0.3))
    expected = round(10 - DEFECT_WEIGHTS["blur"] * 0.6 - DEFECT_WEIGHTS["noise"] * 0.3, 2)
    assert synthetic_score(defects) == expected
    assert _clip(defects=defects).synthetic_score == expected


def test_score_is_bounded_and_heavier_is_lower() -> None:
    assert synthetic_score((("mismatch", 1.0), ("blur", 1.0))) == 1.0
    for name in DEFECT_WEIGHTS:
        scores = [synthetic_score(((name, s),)) for s in SEVERITIES]
        assert 10 > scores[0] > scores[1] > scores[2] >= 1
        assert synthetic_score(((name, 0.6), ("noise", 0.3))) < scores[1]
    for spec in demo_specs(40):
        assert 1 <= spec.synthetic_score <= 10
        assert spec.synthetic_score == round(spec.synthetic_score, 2)


def test_aspect_scores_deduct_their_own_defects() -> None:
    defects = (("blur", 0.6), ("frozen", 0.3), ("mismatch", 1.0))
    assert synthetic_score(defects, aspect="synthetic_visual") == synthetic_score(defects[:1])
    assert synthetic_score(defects, aspect="synthetic_temporal") == synthetic_score(defects[1:2])
    assert synthetic_score(defects, aspect="synthetic_alignment") == synthetic_score(defects[2:])
    assert set(ASPECTS) == {"synthetic_visual", "synthetic_temporal", "synthetic_alignment"}
    assert sorted(n for names in ASPECTS.values() for n in names) == sorted(DEFECT_WEIGHTS)
    with pytest.raises(ValueError, match="unknown aspect"):
        synthetic_score(defects, aspect="sound")


def test_part_clip_defect_deducts_between_half_and_all() -> None:
    full = synthetic_score((("blur", 1.0),))
    half = synthetic_score((("blur", 1.0),), shares=[0.5])
    assert half == round(10 - DEFECT_WEIGHTS["blur"] * 0.75, 2)
    assert full < half < 10
    # frozen's length already follows its severity: its share does not soften it.
    assert synthetic_score((("frozen", 0.6),), shares=[0.3]) == synthetic_score((("frozen", 0.6),))


def test_plan_places_defects_over_whole_clips_and_stretches() -> None:
    intervals = [(spec, i) for spec in demo_specs(80) for i in spec.intervals]
    assert len(intervals) == sum(
        name != "mismatch" for spec in demo_specs(80) for name, _ in spec.defects
    )
    whole = [i for spec, i in intervals if (i.start, i.end) == (0, spec.n_frames)]
    part = [(spec, i) for spec, i in intervals if (i.start, i.end) != (0, spec.n_frames)]
    assert len(whole) >= 20 and len(part) >= 20
    for spec, interval in part:
        share = (interval.end - interval.start) / spec.n_frames
        if interval.defect == "frozen":
            assert interval.end - interval.start == max(
                2, round(interval.severity * spec.n_frames / 2)
            )
        else:
            assert 0.35 <= share <= 0.85, (spec.id, interval)
    for spec in demo_specs(80):
        shares = [
            next(((i.end - i.start) / spec.n_frames for i in spec.intervals if i.defect == n), 1.0)
            for n, _ in spec.defects
        ]
        assert spec.synthetic_score == synthetic_score(spec.defects, shares)


def test_defect_interval_bounds() -> None:
    assert defect_interval("blur", 0.6, 1.0, 0.7, 20) == (0, 20)
    assert defect_interval("blur", 0.6, 0.5, 0.0, 20) == (0, 10)
    assert defect_interval("blur", 0.6, 0.5, 0.999, 20) == (10, 20)
    assert defect_interval("frozen", 0.3, 1.0, 0.0, 4) == (0, 2)


def test_part_clip_defect_leaves_the_other_frames_clean(pan: np.ndarray) -> None:
    placed = _clip(defects=(("noise", 1.0),), placements=((0.5, 0.0),))
    (interval,) = placed.intervals
    assert (interval.start, interval.end) == (0, 8)
    frames = render_clip(placed)
    np.testing.assert_array_equal(frames[8:], pan[8:])
    assert _high_frequency(frames[:8]) > 1.5 * _high_frequency(pan[:8])


# --- the camera -------------------------------------------------------------------------------


def test_every_photograph_renders_offline() -> None:
    for source in SOURCES:
        frames = render_clip(_clip(source=source, motion="zoom_in"))
        assert frames.shape == (16, FRAME_HEIGHT, FRAME_WIDTH, 3)
        assert frames.dtype == np.uint8
        assert frames.std() > 5, source


def _content_shift(before: np.ndarray, after: np.ndarray, axis: int) -> int:
    """How many pixels the picture moved along ``axis`` (1 = x, 0 = y) between frames."""
    before, after = before.mean(-1), after.mean(-1)
    margin = 24
    size = before.shape[axis]
    errors = {
        shift: np.abs(
            np.take(after, range(margin + shift, size - margin + shift), axis)
            - np.take(before, range(margin, size - margin), axis)
        ).mean()
        for shift in range(-margin, margin + 1)
    }
    return min(errors, key=errors.get)


@pytest.mark.parametrize(
    ("motion", "axis", "sign"),
    [
        ("pan_left", 1, 1),
        ("pan_right", 1, -1),
        ("pan_up", 0, 1),
        ("pan_down", 0, -1),
    ],
)
def test_pans_move_the_picture_the_right_way(motion: str, axis: int, sign: int) -> None:
    frames = render_clip(_clip(motion=motion))
    shifts = [_content_shift(a, b, axis) for a, b in pairwise(frames)]
    assert all(np.sign(shift) == sign for shift in shifts)
    assert max(shifts) - min(shifts) <= 1  # a steady camera


def test_zoom_in_magnifies_and_zoom_out_reverses_it() -> None:
    zoom_in = render_clip(_clip(motion="zoom_in"))
    zoom_out = render_clip(_clip(motion="zoom_out"))
    np.testing.assert_allclose(zoom_in[0], zoom_out[-1], atol=1)
    # Magnifying spreads detail: the picture gets smoother.
    assert _sharpness(zoom_in[-1:]) < _sharpness(zoom_in[:1])


def test_render_is_deterministic() -> None:
    spec = _clip(defects=(("noise", 0.6), ("shake", 0.3)))
    np.testing.assert_array_equal(render_clip(spec), render_clip(spec))
    assert not np.array_equal(render_clip(spec), render_clip(dataclasses.replace(spec, seed=1)))


def test_mismatch_leaves_the_video_clean(pan: np.ndarray) -> None:
    np.testing.assert_array_equal(render_clip(_clip(defects=(("mismatch", 1.0),))), pan)


# --- the defects ------------------------------------------------------------------------------


def _grey(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64).mean(-1)


def _sharpness(frames: np.ndarray) -> float:
    return float(np.mean([laplace(frame).var() for frame in _grey(frames)]))


def _high_frequency(frames: np.ndarray) -> float:
    grey = _grey(frames)
    return float(np.abs(grey - gaussian_filter(grey, (0, 1, 1))).mean())


def _brightness(frames: np.ndarray) -> float:
    return float(frames.mean())


def _blown_out(frames: np.ndarray) -> float:
    return float((frames == 255).mean())


def _identical_neighbours(frames: np.ndarray) -> float:
    return float(sum(np.array_equal(a, b) for a, b in pairwise(frames)))


def _brightness_jumps(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(_grey(frames).mean(axis=(1, 2)))).mean())


def _frame_differences(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(_grey(frames), axis=0)).mean())


def _blockiness(frames: np.ndarray, size: int = 8) -> float:
    """Mean jump across the borders of size×size blocks over the mean jump inside blocks."""
    steps = np.abs(np.diff(_grey(frames), axis=2))
    at_border = np.arange(steps.shape[2]) % size == size - 1
    return float(steps[:, :, at_border].mean() / steps[:, :, ~at_border].mean())


DEFECT_EFFECTS: list[tuple[str, Callable[[np.ndarray], float], int, str]] = [
    ("blur", _sharpness, -1, "pan"),
    ("noise", _high_frequency, 1, "pan"),
    ("dark", _brightness, -1, "pan"),
    ("overexposed", _blown_out, 1, "pan"),
    ("blocks", _blockiness, 1, "pan"),
    ("frozen", _identical_neighbours, 1, "pan"),
    ("flicker", _brightness_jumps, 1, "still"),
    ("shake", _frame_differences, 1, "still"),
]


def test_every_frame_defect_has_an_effect_test() -> None:
    assert sorted(name for name, *_ in DEFECT_EFFECTS) == sorted(FRAME_DEFECTS)


@pytest.mark.parametrize(
    ("name", "measure", "direction", "base"),
    DEFECT_EFFECTS,
    ids=[effect[0] for effect in DEFECT_EFFECTS],
)
def test_defect_effect_grows_with_severity(
    name: str,
    measure: Callable[[np.ndarray], float],
    direction: int,
    base: str,
    request: pytest.FixtureRequest,
) -> None:
    clean = request.getfixturevalue(base)
    values = [measure(clean)] + [measure(apply_defect(clean, name, s)) for s in SEVERITIES]
    assert all(direction * (b - a) > 0 for a, b in pairwise(values)), values


@pytest.mark.parametrize("name", FRAME_DEFECTS)
def test_defects_keep_shape_and_are_deterministic(name: str, pan: np.ndarray) -> None:
    out = apply_defect(pan, name, 0.6, seed=3)
    assert out.shape == pan.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, apply_defect(pan, name, 0.6, seed=3))


def _halved(frames: np.ndarray) -> np.ndarray:
    """Frames at half the width and height, each pixel the mean of a 2×2 square."""
    n_frames, height, width, channels = frames.shape
    return frames.reshape(n_frames, height // 2, 2, width // 2, 2, channels).mean(axis=(2, 4))


def test_noise_grain_survives_a_downscale(pan: np.ndarray) -> None:
    # The same clip at twice the height, halved, shows as much grain as the clip itself:
    # the grain scales with the height (per-pixel noise would lose half its amplitude).
    large = _clip(height=2 * FRAME_HEIGHT)
    added_large = _high_frequency(
        _halved(render_clip(dataclasses.replace(large, defects=(("noise", 1.0),))))
    ) - _high_frequency(_halved(render_clip(large)))
    added = _high_frequency(render_clip(_clip(defects=(("noise", 1.0),)))) - _high_frequency(pan)
    assert 0.75 < added_large / added < 1.33, (added_large, added)


def test_flicker_is_timed_in_seconds(still: np.ndarray) -> None:
    # One second of a still at 8 fps and at 16 fps: the 16-fps flicker holds each level
    # for two frames and matches the 8-fps one at the same instants.
    slow = apply_defect(still, "flicker", 1.0, seed=5, fps=8)
    fast = apply_defect(np.repeat(still, 2, axis=0), "flicker", 1.0, seed=5, fps=16)
    np.testing.assert_array_equal(fast[::2], slow)
    np.testing.assert_array_equal(fast[1::2], fast[::2])
    levels = _grey(slow).mean(axis=(1, 2)) - _grey(still).mean(axis=(1, 2))
    assert np.all(levels[::2] > 0) and np.all(levels[1::2] < 0)  # brighter, darker, ...


def test_blocks_scale_with_the_height() -> None:
    assert [block_size(height) for height in (96, 144, 192, 288)] == [4, 6, 8, 12]
    tall = _clip(height=288)
    blocky = render_clip(dataclasses.replace(tall, defects=(("blocks", 1.0),)))
    clean_tall = render_clip(tall)
    # The jumps sit on the 12-px grid, not on the 8-px one of the default height.
    assert _blockiness(blocky, 12) > 4 * _blockiness(clean_tall, 12)
    assert _blockiness(blocky, 12) / _blockiness(clean_tall, 12) > 2 * (
        _blockiness(blocky, 8) / _blockiness(clean_tall, 8)
    )
    # The same clip at twice the height, halved, is damaged about as much as the clip.
    large = _clip(height=2 * FRAME_HEIGHT)
    error_large = np.abs(
        _halved(render_clip(dataclasses.replace(large, defects=(("blocks", 1.0),))))
        - _halved(render_clip(large))
    ).mean()
    clean = render_clip(_clip()).astype(np.float64)
    error = np.abs(render_clip(_clip(defects=(("blocks", 1.0),))) - clean).mean()
    assert 0.8 < error_large / error < 1.25, (error_large, error)


def test_frozen_stretch_repeats_one_frame(pan: np.ndarray) -> None:
    frozen = apply_defect(pan, "frozen", 1.0)
    repeated = [t for t in range(1, len(pan)) if np.array_equal(frozen[t], frozen[t - 1])]
    assert len(repeated) == len(pan) // 2 - 1
    assert repeated == list(range(repeated[0], repeated[0] + len(repeated)))


def test_frozen_frames_stay_identical_under_other_defects() -> None:
    frames = render_clip(_clip(defects=(("noise", 0.6), ("frozen", 1.0))))
    assert _identical_neighbours(frames) == len(frames) // 2 - 1


def test_apply_defect_rejects_bad_input(pan: np.ndarray) -> None:
    with pytest.raises(ValueError, match="mismatch"):
        apply_defect(pan, "mismatch", 0.6)
    for severity in (0.0, 1.5):
        with pytest.raises(ValueError, match="severity"):
            apply_defect(pan, "blur", severity)
    with pytest.raises(ValueError, match="interval"):
        apply_defect(pan, "blur", 0.6, interval=(4, 40))


def test_apply_defect_over_an_interval(pan: np.ndarray) -> None:
    out = apply_defect(pan, "dark", 1.0, interval=(4, 10))
    np.testing.assert_array_equal(out[:4], pan[:4])
    np.testing.assert_array_equal(out[10:], pan[10:])
    assert _brightness(out[4:10]) < 0.5 * _brightness(pan[4:10])


# --- building the dataset ---------------------------------------------------------------------


class FakeEncoder:
    """Stands in for rendering and encoding, to test the build's bookkeeping quickly."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.written: list[Path] = []
        self.fail_at = fail_at

    def __call__(self, path: Path, frames: np.ndarray, fps: float, quality: int = 23) -> Path:
        if len(self.written) == self.fail_at:
            raise KeyboardInterrupt
        self.written.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"video")
        return path


@pytest.fixture
def encoder(monkeypatch: pytest.MonkeyPatch) -> FakeEncoder:
    fake = FakeEncoder()
    monkeypatch.setattr(samples, "render_clip", lambda spec: np.zeros((1, 8, 8, 3), np.uint8))
    monkeypatch.setattr(samples, "write_video", fake)
    return fake


def test_build_writes_every_clip_and_reports_progress(tmp_path: Path, encoder: FakeEncoder) -> None:
    calls: list[tuple[int, int]] = []
    manifest = build_demo_dataset(
        tmp_path / "demo", n_clips=24, progress=lambda *args: calls.append(args)
    )
    assert manifest == tmp_path / "demo" / "manifest.csv"
    assert calls == [(done, 24) for done in range(1, 25)]
    assert sorted(p.name for p in (tmp_path / "demo" / "videos").iterdir()) == [
        f"demo_{i:03d}.mp4" for i in range(24)
    ]
    record = json.loads((tmp_path / "demo" / "dataset.json").read_text())
    assert (record["n_clips"], record["seed"], record["complete"]) == (24, 0, True)


def test_complete_build_is_kept_unless_overwrite(tmp_path: Path, encoder: FakeEncoder) -> None:
    build_demo_dataset(tmp_path, n_clips=24)
    encoder.written.clear()
    assert build_demo_dataset(tmp_path, n_clips=24) == tmp_path / "manifest.csv"
    assert encoder.written == []
    build_demo_dataset(tmp_path, n_clips=24, overwrite=True)
    assert len(encoder.written) == 24


def test_interrupted_build_is_redone(tmp_path: Path, encoder: FakeEncoder) -> None:
    encoder.fail_at = 5
    with pytest.raises(KeyboardInterrupt):
        build_demo_dataset(tmp_path, n_clips=24)
    assert not (tmp_path / "manifest.csv").exists()
    assert json.loads((tmp_path / "dataset.json").read_text())["complete"] is False
    encoder.fail_at = None
    encoder.written.clear()
    build_demo_dataset(tmp_path, n_clips=24)
    assert len(encoder.written) == 24
    assert json.loads((tmp_path / "dataset.json").read_text())["complete"] is True


def test_other_content_needs_overwrite(tmp_path: Path, encoder: FakeEncoder) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        build_demo_dataset(tmp_path, n_clips=24)
    build_demo_dataset(tmp_path, n_clips=24, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "manifest.csv").is_file()


def test_different_parameters_need_overwrite(tmp_path: Path, encoder: FakeEncoder) -> None:
    build_demo_dataset(tmp_path, n_clips=25)
    with pytest.raises(FileExistsError, match="n_clips=25, seed=0"):
        build_demo_dataset(tmp_path, n_clips=24)
    build_demo_dataset(tmp_path, n_clips=24, overwrite=True)
    assert len(list((tmp_path / "videos").iterdir())) == 24
    assert len(_read_manifest(tmp_path / "manifest.csv")) == 24


def test_build_validates_clip_count_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="between 24 and 400"):
        build_demo_dataset(tmp_path / "demo", n_clips=401)
    assert not (tmp_path / "demo").exists()


def _read_manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real build of the smallest dataset (24 clips)."""
    return build_demo_dataset(tmp_path_factory.mktemp("demo"), n_clips=24)


def test_manifest_describes_every_clip(built: Path) -> None:
    rows = _read_manifest(built)
    assert list(rows[0]) == MANIFEST_COLUMNS
    specs = {spec.id: spec for spec in demo_specs(24)}
    for row in rows:
        spec = specs[row["id"]]
        assert row["video"] == f"videos/{spec.id}.mp4"
        assert (built.parent / row["video"]).is_file()
        assert row["prompt"] == spec.prompt
        assert float(row["synthetic_score"]) == spec.synthetic_score
        assert row["defects"] == spec.defects_label
        for aspect, score in spec.aspect_scores.items():
            assert float(row[aspect]) == score
        intervals = json.loads(row["defect_intervals"])
        assert [i["defect"] for i in intervals] == [
            name for name, _ in spec.defects if name != "mismatch"
        ]
        for interval in intervals:
            assert 0 <= interval["start"] < interval["end"] <= spec.n_frames
            assert interval["start_s"] == pytest.approx(interval["start"] / spec.fps, abs=1e-4)
            assert interval["end_s"] == pytest.approx(interval["end"] / spec.fps, abs=1e-4)
        assert (row["source_image"], row["motion"]) == (spec.source, spec.motion)
        assert (int(row["fps"]), float(row["duration_s"])) == (spec.fps, spec.duration_s)
    assert sum(row["defects"] == "none" for row in rows) >= 4


def test_videos_decode_to_the_rendered_frames(built: Path) -> None:
    for spec in demo_specs(24):
        with av.open(str(built.parent / "videos" / f"{spec.id}.mp4")) as container:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert frames.shape == (spec.n_frames, FRAME_HEIGHT, FRAME_WIDTH, 3), spec.id
        if spec.defects_label == "none":
            error = np.mean((frames.astype(float) - render_clip(spec)) ** 2)
            assert 10 * np.log10(255**2 / error) > 30, spec.id  # PSNR in dB


def test_readme_documents_the_synthetic_score(built: Path) -> None:
    readme = (built.parent / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in readme.lower()
    formula = "synthetic_score = round(clip(10 - sum_d weight_d * severity_d * extent_d, 1, 10), 2)"
    assert formula in readme
    assert all(aspect in readme for aspect in ASPECTS)
    assert "defect_intervals" in readme
    for name in DEFECT_WEIGHTS:
        assert f"| {name} | {DEFECT_WEIGHTS[name]:.1f} |" in readme
    assert "seed=0" in readme


@pytest.mark.slow
def test_full_build_is_reproducible(tmp_path: Path) -> None:
    first = build_demo_dataset(tmp_path / "a")
    second = build_demo_dataset(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    for spec in demo_specs():
        decoded = []
        for root in (first.parent, second.parent):
            with av.open(str(root / "videos" / f"{spec.id}.mp4")) as container:
                decoded.append(
                    np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
                )
        np.testing.assert_array_equal(*decoded)


def test_clips_render_at_another_height_and_frame_rate() -> None:
    default = demo_specs(24, seed=3)
    other = demo_specs(24, seed=3, height=96, fps=16)
    assert [(s.prompt, s.defects, s.duration_s) for s in other] == [
        (s.prompt, s.defects, s.duration_s) for s in default
    ]
    assert {s.fps for s in other} == {16}
    frames = render_clip(other[0])
    assert frames.shape == (round(other[0].duration_s * 16), 96, 128, 3)
    with pytest.raises(ValueError, match="multiple of 24"):
        demo_specs(24, height=100)
