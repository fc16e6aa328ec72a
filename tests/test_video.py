"""Tests for qualitylab.data.video: decoding, sampling, probing, hashing and bad files."""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
from PIL import Image

from qualitylab.data.video import (
    SUPPORTED_EXTENSIONS,
    Sampling,
    VideoDecodeError,
    decode,
    iter_frames,
    probe,
    sha256_file,
    write_video,
)

HEIGHT, WIDTH = 48, 64
LEVELS = [20 + 20 * i for i in range(10)]  # one flat grey level per frame
SKIMAGE_GIF = Path(skimage.data.__file__).parent / "no_time_for_that_tiny.gif"


def grey_frames(levels: list[int], height: int = HEIGHT, width: int = WIDTH) -> list[np.ndarray]:
    return [np.full((height, width, 3), level, dtype=np.uint8) for level in levels]


def write_levels(directory: Path, ext: str) -> Path:
    """10 frames at 10 fps (1 s), 64x48, frame i a flat grey of brightness LEVELS[i]."""
    return write_video(directory / f"levels{ext}", grey_frames(LEVELS), fps=10)


def selected(path: Path, sampling: Sampling) -> list[int]:
    return decode(path, sampling).indices.tolist()


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module")
def mp4_10(video_dir: Path) -> Path:
    return write_levels(video_dir, ".mp4")


@pytest.fixture(scope="module")
def mp4_20(video_dir: Path) -> Path:
    """20 frames at 10 fps (2 s), 64x48."""
    return write_video(video_dir / "twenty.mp4", grey_frames([10 * i for i in range(20)]), 10)


# --- decoding every container -------------------------------------------------------------


@pytest.mark.parametrize("ext", SUPPORTED_EXTENSIONS)
def test_decode_every_container(tmp_path: Path, ext: str) -> None:
    path = write_levels(tmp_path, ext)
    clip = decode(path)

    assert clip.frames.shape == (10, HEIGHT, WIDTH, 3)
    assert clip.frames.dtype == np.uint8 and clip.frames.flags.c_contiguous
    assert clip.num_frames == 10
    assert clip.indices.tolist() == list(range(10))
    assert clip.indices.dtype == np.int64 and clip.timestamps.dtype == np.float64
    np.testing.assert_allclose(clip.timestamps, np.arange(10) / 10, atol=1e-6)
    assert clip.fps == pytest.approx(10)
    assert clip.path == path and clip.sampling == Sampling()
    assert clip.sha256 == sha256_file(path)


@pytest.mark.parametrize("ext", SUPPORTED_EXTENSIONS)
def test_decoded_content_matches_written_levels(tmp_path: Path, ext: str) -> None:
    means = decode(write_levels(tmp_path, ext)).frames.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(means, LEVELS, atol=4)  # lossy codecs, GIF's 256-colour palette
    assert np.all(np.diff(means) > 0)


@pytest.mark.parametrize(
    ("ext", "container", "codec"),
    [
        (".mp4", "mov,mp4,m4a,3gp,3g2,mj2", "h264"),
        (".mov", "mov,mp4,m4a,3gp,3g2,mj2", "h264"),
        (".mkv", "matroska,webm", "h264"),
        (".webm", "matroska,webm", "vp9"),
        (".avi", "avi", "mpeg4"),
        (".gif", "gif", "gif"),
    ],
)
def test_probe(tmp_path: Path, ext: str, container: str, codec: str) -> None:
    path = write_levels(tmp_path, ext)
    info = probe(path)
    assert (info.path, info.container, info.codec) == (path, container, codec)
    assert (info.width, info.height, info.num_frames) == (WIDTH, HEIGHT, 10)
    assert info.fps == pytest.approx(10)
    assert info.duration == pytest.approx(1.0, abs=0.01)


def test_real_gif_from_scikit_image() -> None:
    info = probe(SKIMAGE_GIF)
    assert (info.container, info.width, info.height, info.num_frames) == ("gif", 14, 25, 24)
    assert info.fps == pytest.approx(100 / 7)

    clip = decode(SKIMAGE_GIF)
    assert clip.frames.shape == (24, 25, 14, 3)
    np.testing.assert_allclose(clip.timestamps, np.arange(24) * 0.07, atol=1e-9)
    assert len({frame.tobytes() for frame in clip.frames}) > 1  # really animated

    assert decode(SKIMAGE_GIF, Sampling(short_side=10)).frames.shape == (24, 18, 10, 3)


def test_write_video_keeps_frame_size(tmp_path: Path) -> None:
    path = write_video(tmp_path / "odd.gif", grey_frames([50, 60], height=25, width=14), 5)
    assert (probe(path).width, probe(path).height) == (14, 25)


def test_write_video_passes_encoder_options(tmp_path: Path) -> None:
    frames = grey_frames([40, 90, 140])
    fast = write_video(tmp_path / "fast.mp4", frames, 10, encoder_options={"preset": "ultrafast"})
    assert decode(fast).num_frames == 3
    with pytest.raises(ValueError):
        write_video(tmp_path / "bad.mp4", frames, 10, encoder_options={"preset": "no-such-preset"})


def test_write_video_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported extension"):
        write_video(tmp_path / "a.flv", grey_frames([0]), 10)
    with pytest.raises(ValueError, match="differs from the first frame"):
        write_video(tmp_path / "a.mp4", grey_frames([0]) + grey_frames([0], height=32), 10)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "b.mp4", [], 10)


# --- sampling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (5, list(range(0, 20, 2))),
        (2.5, [0, 4, 8, 12, 16]),
        (4, [0, 2, 5, 7, 10, 12, 15, 17]),  # the frame nearest to each instant k / 4
        (1, [0, 10]),
        (10, list(range(20))),  # same rate: everything
        (30, list(range(20))),  # never upsample
    ],
)
def test_sampling_fps(mp4_20: Path, fps: float, expected: list[int]) -> None:
    assert selected(mp4_20, Sampling(fps=fps)) == expected


def test_sampling_fps_on_gif_with_fractional_rate() -> None:
    clip = decode(SKIMAGE_GIF, Sampling(fps=5))  # source: 24 frames every 0.07 s
    assert clip.indices.tolist() == [0, 3, 6, 9, 11, 14, 17, 20, 23]
    assert np.all(np.diff(clip.indices) > 0)


@pytest.mark.parametrize(
    ("num_frames", "expected"),
    [
        (1, [0]),
        (2, [0, 9]),
        (4, [0, 3, 6, 9]),
        (3, [0, 5, 9]),  # linspace 0, 4.5, 9 rounded half up
        (10, list(range(10))),
        (25, list(range(10))),  # more than the video has: all frames, no duplicates
    ],
)
def test_sampling_num_frames(mp4_10: Path, num_frames: int, expected: list[int]) -> None:
    assert selected(mp4_10, Sampling(num_frames=num_frames)) == expected


def test_sampling_max_seconds(mp4_20: Path) -> None:
    clip = decode(mp4_20, Sampling(max_seconds=0.5))
    assert clip.indices.tolist() == [0, 1, 2, 3, 4]
    assert clip.timestamps.max() < 0.5
    assert selected(mp4_20, Sampling(max_seconds=100)) == list(range(20))


def test_sampling_combinations(mp4_20: Path) -> None:
    assert selected(mp4_20, Sampling(num_frames=3, max_seconds=1.0)) == [0, 5, 9]
    assert selected(mp4_20, Sampling(fps=2, max_seconds=1.5)) == [0, 5, 10]
    clip = decode(mp4_20, Sampling(num_frames=4, max_seconds=1.0, short_side=24))
    assert clip.indices.tolist() == [0, 3, 6, 9]
    assert clip.frames.shape == (4, 24, 32, 3)


@pytest.mark.parametrize(
    ("size", "short_side", "expected"),
    [
        ((48, 64), 24, (24, 32)),  # landscape, down
        ((48, 64), 96, (96, 128)),  # landscape, up
        ((64, 48), 24, (32, 24)),  # portrait
        ((48, 64), 25, (25, 34)),  # long side 33.3 rounded to an even 34
        ((48, 48), 25, (25, 25)),  # square stays square
    ],
)
def test_sampling_short_side(
    tmp_path: Path, size: tuple[int, int], short_side: int, expected: tuple[int, int]
) -> None:
    path = write_video(tmp_path / "s.mp4", grey_frames([100, 150], *size), 10)
    clip = decode(path, Sampling(short_side=short_side))
    assert clip.frames.shape == (2, *expected, 3)
    assert clip.frames.flags.c_contiguous
    np.testing.assert_allclose(clip.frames.mean(axis=(1, 2, 3)), [100, 150], atol=3)


def test_decoding_is_deterministic(mp4_20: Path) -> None:
    sampling = Sampling(num_frames=5, short_side=30)
    first, second = decode(mp4_20, sampling), decode(mp4_20, sampling)
    np.testing.assert_array_equal(first.frames, second.frames)
    np.testing.assert_array_equal(first.timestamps, second.timestamps)
    np.testing.assert_array_equal(first.indices, second.indices)


def test_iter_frames_matches_decode(mp4_20: Path) -> None:
    sampling = Sampling(fps=4, short_side=24)
    frames = list(iter_frames(mp4_20, sampling))
    clip = decode(mp4_20, sampling)
    assert [frame.index for frame in frames] == clip.indices.tolist()
    assert [frame.timestamp for frame in frames] == clip.timestamps.tolist()
    np.testing.assert_array_equal(np.stack([frame.image for frame in frames]), clip.frames)
    assert frames[0].timestamp == 0.0


def open_descriptors_to(path: Path) -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:
            pass  # a descriptor closed while listing
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_iter_frames_streams_and_closes_when_stopped_early(mp4_20: Path) -> None:
    frames = iter_frames(mp4_20)
    assert inspect.isgenerator(frames)
    assert open_descriptors_to(mp4_20) == 0  # nothing opened before iterating

    first = next(frames)
    assert first.index == 0 and first.image.shape == (HEIGHT, WIDTH, 3)
    assert open_descriptors_to(mp4_20) == 1

    frames.close()
    assert open_descriptors_to(mp4_20) == 0


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_iter_frames_closes_after_break(mp4_20: Path) -> None:
    for frame in iter_frames(mp4_20):
        if frame.index == 3:
            break
    assert open_descriptors_to(mp4_20) == 0


# --- Sampling ----------------------------------------------------------------------------


def test_sampling_describe_and_to_dict() -> None:
    assert Sampling().describe() == "all frames, native size"
    assert Sampling(num_frames=8, max_seconds=4, short_side=224).describe() == (
        "8 frames, first 4s, short side 224"
    )
    assert Sampling(fps=2.5).describe() == "2.5 fps, native size"
    assert Sampling(fps=2).to_dict() == {
        "fps": 2.0,
        "num_frames": None,
        "max_seconds": None,
        "short_side": None,
    }
    assert Sampling(num_frames=8) == Sampling(num_frames=8)
    assert hash(Sampling(num_frames=8)) == hash(Sampling(num_frames=8))


def test_sampling_fps_and_num_frames_are_exclusive() -> None:
    with pytest.raises(ValueError, match="fps.*num_frames"):
        Sampling(fps=4, num_frames=8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fps": 0}, "fps must be positive"),
        ({"fps": -1.5}, "fps must be positive"),
        ({"fps": float("nan")}, "fps must be positive"),
        ({"max_seconds": float("inf")}, "max_seconds must be positive"),
        ({"max_seconds": 0.0}, "max_seconds must be positive"),
        ({"num_frames": 0}, "num_frames must be positive"),
        ({"num_frames": 2.5}, "num_frames must be an integer"),
        ({"num_frames": True}, "num_frames must be an integer"),
        ({"short_side": -224}, "short_side must be positive"),
        ({"short_side": "224"}, "short_side must be an integer"),
        ({"fps": "8"}, "fps must be a number"),
    ],
)
def test_sampling_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sampling(**kwargs)  # type: ignore[arg-type]


def test_sampling_normalises_numbers_to_plain_python_types() -> None:
    sampling = Sampling(num_frames=np.int64(4), max_seconds=np.float32(2), short_side=np.int32(8))
    as_dict = sampling.to_dict()
    assert json.dumps(as_dict) == (
        '{"fps": null, "num_frames": 4, "max_seconds": 2.0, "short_side": 8}'
    )
    assert Sampling(fps=2) == Sampling(fps=2.0)
    assert Sampling(fps=2).describe() == "2 fps, native size"


# --- hashing -----------------------------------------------------------------------------


def test_sha256_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 + 7)
    first, copy, other = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"
    first.write_bytes(data)
    copy.write_bytes(data)
    other.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))

    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(first) == expected
    assert sha256_file(first, chunk_size=100) == expected
    assert sha256_file(copy) == expected
    assert sha256_file(other) != expected


# --- files that are not decodable videos -----------------------------------------------------


def make_missing(directory: Path) -> Path:
    return directory / "missing.mp4"


def make_empty(directory: Path) -> Path:
    path = directory / "empty.mp4"
    path.touch()
    return path


def make_text(directory: Path) -> Path:
    path = directory / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    return path


def make_png(directory: Path) -> Path:
    path = directory / "still.mp4"
    Image.fromarray(grey_frames([128])[0]).save(path, format="PNG")
    return path


def make_jpeg(directory: Path) -> Path:
    path = directory / "photo.mp4"
    Image.fromarray(grey_frames([128])[0]).save(path, format="JPEG")
    return path


def make_truncated_header(directory: Path) -> Path:
    data = write_levels(directory, ".mp4").read_bytes()
    path = directory / "truncated.mp4"
    path.write_bytes(data[:64])
    return path


def make_zeroed_header(directory: Path) -> Path:
    data = write_levels(directory, ".mkv").read_bytes()
    path = directory / "zeroed.mkv"
    path.write_bytes(bytes(256) + data[256:])
    return path


def make_audio_only(directory: Path) -> Path:
    path = directory / "speech.mkv"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        samples.sample_rate = 8000
        container.mux(stream.encode(samples))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (make_missing, "no such file"),
        (make_empty, "empty"),
        (make_text, "not a readable video"),
        (make_png, "still image"),
        (make_jpeg, "still image"),
        (make_truncated_header, "not a readable video"),
        (make_zeroed_header, "not a readable video"),
        (make_audio_only, "no video stream"),
    ],
)
def test_bad_files_raise_video_decode_error(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    path = make(tmp_path)
    for read in (probe, decode, lambda p: next(iter_frames(p))):
        with pytest.raises(VideoDecodeError, match=reason) as caught:
            read(path)
        assert path.name in str(caught.value)
        assert caught.value.path == path


def test_directory_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(VideoDecodeError, match="not a regular file"):
        decode(tmp_path)


def test_video_decode_error_pickles(tmp_path: Path) -> None:
    error = VideoDecodeError(tmp_path / "x.mp4", "broken")
    restored = pickle.loads(pickle.dumps(error))
    assert (restored.path, restored.reason, str(restored)) == (error.path, error.reason, str(error))


def test_truncated_gif_keeps_the_frames_that_decode(tmp_path: Path) -> None:
    data = write_levels(tmp_path, ".gif").read_bytes()
    truncated = tmp_path / "truncated.gif"
    truncated.write_bytes(data[: len(data) * 6 // 10])

    clip = decode(truncated)
    assert 1 <= clip.num_frames < 10
    assert clip.indices.tolist() == list(range(clip.num_frames))


def corrupt_packet(source: Path, target: Path, packet_index: int) -> Path:
    """Remux ``source`` into ``target`` with one packet's payload replaced by garbage."""
    with av.open(str(source)) as reader, av.open(str(target), mode="w") as writer:
        stream = reader.streams.video[0]
        output = writer.add_stream_from_template(stream)
        packets = (packet for packet in reader.demux(stream) if packet.size > 0)
        for index, packet in enumerate(packets):
            if index == packet_index:
                garbage = av.Packet(b"\xff" * packet.size)
                garbage.pts, garbage.dts = packet.pts, packet.dts
                garbage.time_base = packet.time_base
                packet = garbage
            packet.stream = output
            writer.mux(packet)
    return target


def test_corrupt_packet_mid_stream_stops_with_a_warning(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (10, HEIGHT, WIDTH, 3), dtype=np.uint8)
    source = write_video(tmp_path / "noise.webm", noise, 10)
    damaged = corrupt_packet(source, tmp_path / "damaged.webm", packet_index=5)

    with pytest.warns(RuntimeWarning, match="damaged.webm.*corrupt data"):
        clip = decode(damaged)
    assert 1 <= clip.num_frames <= 5
    assert clip.indices.tolist() == list(range(clip.num_frames))


def test_corrupt_first_packet_is_a_decode_error(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (4, HEIGHT, WIDTH, 3), dtype=np.uint8)
    source = write_video(tmp_path / "noise.webm", noise, 10)
    damaged = corrupt_packet(source, tmp_path / "damaged.webm", packet_index=0)

    with pytest.raises(VideoDecodeError, match="damaged.webm.*no decodable frames"):
        decode(damaged)


# --- the real dataset --------------------------------------------------------------------


@pytest.mark.realdata
def test_decode_real_dataset(real_data_dir: Path) -> None:
    with (real_data_dir / "manifest.csv").open(newline="") as file:
        videos = [real_data_dir / row["video"] for row in csv.DictReader(file)]
    assert videos

    sampling = Sampling(num_frames=8, short_side=64)
    for path in videos:
        clip = decode(path, sampling)
        assert clip.num_frames >= 1, path
        assert min(clip.frames.shape[1:3]) == 64, path
        assert clip.timestamps[0] == 0 and np.all(np.diff(clip.timestamps) > 0), path
