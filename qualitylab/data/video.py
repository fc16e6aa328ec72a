"""Video decoding, frame sampling, hashing and encoding with PyAV.

Behaviour worth knowing when reading results built on this module:

- **Errors.** Every file that cannot be decoded raises :class:`VideoDecodeError` naming the
  file and the problem: missing or empty file, not a video (text, a still image such as a
  PNG or JPEG even when named ``.mp4``), no video stream (e.g. audio only), a destroyed
  header, or no decodable frame at all. PyAV's own exceptions never reach the caller.
- **Damaged streams.** A video ends at the end of its data or at the first packet the
  decoder rejects, whichever comes first. The frames decoded before that point are kept
  (as ffmpeg does with a truncated file) and a :class:`RuntimeWarning` naming the file says
  how many were kept; frame-threaded decoding may also lose the few frames just before the
  bad packet. A file with no decodable frame raises :class:`VideoDecodeError`.
- **Timestamps** are seconds from the first decoded frame (``pts * time_base``), or
  ``index / fps`` for frames without a presentation timestamp.
- **Sampling** is described on :class:`Sampling`: trimming comes first, then either the
  frame-rate or the frame-count selection, then resizing.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from numbers import Integral, Real
from pathlib import Path
from typing import Any, NamedTuple

import av
import av.container
import av.video.stream
import numpy as np
from av.video.reformatter import Interpolation

from qualitylab.errors import QualitylabError

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Clip",
    "Frame",
    "Sampling",
    "VideoDecodeError",
    "VideoInfo",
    "decode",
    "iter_frames",
    "probe",
    "sha256_file",
    "write_video",
]

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".gif")

# Encoder and pixel format chosen from the file extension when writing.
_ENCODERS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
    ".gif": ("gif", "rgb8"),
}

# Demuxers that read single still images; a file they recognise is not a video.
_IMAGE_DEMUXERS = frozenset({"image2", "image2pipe"})

_AV_ERRORS = (av.error.FFmpegError, OSError)
_GIF_TRAILER = b"\x3b"


class VideoDecodeError(QualitylabError):
    """A file could not be decoded as a video; ``path`` is the file, the message says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot decode video {path}: {reason}")
        self.path = Path(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[VideoDecodeError], tuple[Path, str]]:
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class Sampling:
    """Which frames to take from a video and at what size.

    - ``max_seconds``: keep only frames whose timestamp is below this many seconds.
      Applied before ``fps`` and ``num_frames``.
    - ``fps``: approximate this frame rate. The frame nearest to each instant ``k / fps``
      is taken: a frame is kept when its timestamp plus half an average source frame
      interval enters a new ``1 / fps``-wide slot, so variable-rate GIFs work and no frame
      is taken twice. Never upsamples: a target at or above the source's average rate
      keeps every frame.
    - ``num_frames``: ``N`` frames spread uniformly over the (trimmed) video: source
      indices ``linspace(0, total - 1, N)`` rounded half up, where ``total`` is counted
      from the demuxed packets. The first frame is always included; a video with at most
      ``N`` frames gives all of them. If fewer frames decode than were counted, the
      missing indices are skipped, never replaced by duplicates.
    - ``short_side``: resize every frame so that its shorter side is exactly this many
      pixels, up or down, keeping the aspect ratio; the longer side is rounded to the
      nearest even number (ties up). Square frames stay square.

    ``fps`` and ``num_frames`` are mutually exclusive. ``Sampling()`` keeps every frame at
    its native size.
    """

    fps: float | None = None
    num_frames: int | None = None
    max_seconds: float | None = None
    short_side: int | None = None

    def __post_init__(self) -> None:
        if self.fps is not None and self.num_frames is not None:
            raise ValueError(
                f"Sampling: fps ({self.fps}) and num_frames ({self.num_frames}) are "
                "mutually exclusive; set at most one"
            )
        # Plain int/float values keep to_dict() JSON-ready and equal samplings hashing equal.
        for name, integer in (
            ("fps", False),
            ("num_frames", True),
            ("max_seconds", False),
            ("short_side", True),
        ):
            object.__setattr__(self, name, _positive(name, getattr(self, name), integer=integer))

    def describe(self) -> str:
        """Return a short human-readable summary, e.g. ``"8 frames, first 4s, short side 224"``."""
        parts = []
        if self.fps is not None:
            parts.append(f"{self.fps:g} fps")
        elif self.num_frames is not None:
            parts.append(f"{self.num_frames} frames")
        else:
            parts.append("all frames")
        if self.max_seconds is not None:
            parts.append(f"first {self.max_seconds:g}s")
        parts.append("native size" if self.short_side is None else f"short side {self.short_side}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, float | int | None]:
        """Return every field by name (``None`` included), for artifacts and config hashes."""
        return asdict(self)


def _positive(name: str, value: Any, *, integer: bool) -> int | float | None:
    """``value`` as a plain int (``integer``) or float; ValueError unless None or positive."""
    if value is None:
        return None
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if integer else "a number"
        raise ValueError(f"Sampling: {name} must be {expected} or None, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"Sampling: {name} must be positive, got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class VideoInfo:
    """Container-level facts about a video, read without decoding its frames.

    ``fps`` is the average frame rate; ``num_frames`` counts the demuxed video packets,
    falling back to the stream's declared count when no packet could be counted.
    ``warnings`` say when the file looks damaged although it can be read, e.g. a GIF
    without its trailer or packets that run past the end of the file (a truncated copy):
    such a file decodes as a shorter clip.
    """

    path: Path
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration: float
    num_frames: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame: source ``index``, ``timestamp`` in seconds, RGB ``image`` [H, W, 3]."""

    index: int
    timestamp: float
    image: np.ndarray


@dataclass(eq=False)
class Clip:
    """A decoded, sampled video: frames [T, H, W, 3] with their timestamps and source indices."""

    frames: np.ndarray
    timestamps: np.ndarray
    indices: np.ndarray
    fps: float
    path: Path
    sha256: str
    sampling: Sampling

    @property
    def num_frames(self) -> int:
        """Number of frames in the clip (T)."""
        return len(self.frames)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def probe(path: str | Path) -> VideoInfo:
    """Describe a video from its container and packets, without decoding frames.

    Raises :class:`VideoDecodeError` when the file is not a readable video.
    """
    path = Path(path)
    with _open_video(path) as (container, stream):
        fps = _average_fps(stream, path)
        packets = _packets(container, stream, fps)
        num_frames = len(packets.times) or stream.frames
        if num_frames == 0:
            raise VideoDecodeError(path, "the video stream has no frames")
        return VideoInfo(
            path=path,
            container=container.format.name,
            codec=stream.codec_context.name,
            width=stream.width,
            height=stream.height,
            fps=fps,
            duration=_duration(container, stream, num_frames / fps),
            num_frames=num_frames,
            warnings=_damage(path, container, stream, packets, fps),
        )


def _damage(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    packets: _Packets,
    fps: float,
) -> tuple[str, ...]:
    """What suggests that a readable file is cut short: a GIF without its trailer byte,
    packets past the end of the file, fewer packets than the stream declares, or packets
    covering clearly less time than the declared duration."""
    size = path.stat().st_size
    counted = len(packets.times)
    found = []
    if container.format.name == "gif":
        with open(path, "rb") as file:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != _GIF_TRAILER:
                found.append("the GIF ends without its trailer byte")
    if packets.end > size:
        found.append(f"video packets run {packets.end - size} bytes past the end of the file")
    if stream.frames and counted < stream.frames:
        found.append(f"the stream declares {stream.frames} frames but holds {counted}")
    declared = _declared_seconds(container, stream)
    covered = (max(packets.times) + 1 / fps) if packets.times else 0.0
    if declared is not None and covered < 0.9 * declared - 1 / fps:
        found.append(f"its frames cover {covered:.2f} s of the {declared:.2f} s it declares")
    if not found:
        return ()
    return (
        f"{path} looks cut short ({'; '.join(found)}): it is read as a shorter clip of "
        f"{counted} frames",
    )


def _declared_seconds(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """The video's duration as its header states it; None when only a container duration
    that may belong to another stream (e.g. a longer audio track) is known."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def iter_frames(path: str | Path, sampling: Sampling = Sampling()) -> Iterator[Frame]:
    """Yield the frames that ``sampling`` selects, decoding and resizing one frame at a time.

    The file is closed when the iteration ends, including when the consumer stops early.
    Raises :class:`VideoDecodeError` (on first iteration) when the file cannot be decoded.
    """
    path = Path(path)
    with _open_video(path) as (container, stream):
        yield from _sampled_frames(container, stream, path, sampling)


def decode(path: str | Path, sampling: Sampling = Sampling()) -> Clip:
    """Decode the frames that ``sampling`` selects into a :class:`Clip`.

    Raises :class:`VideoDecodeError` when the file cannot be decoded.
    """
    path = Path(path)
    with _open_video(path) as (container, stream):
        fps = _average_fps(stream, path)
        frames = list(_sampled_frames(container, stream, path, sampling))
    return Clip(
        frames=np.stack([frame.image for frame in frames]),
        timestamps=np.array([frame.timestamp for frame in frames], dtype=np.float64),
        indices=np.array([frame.index for frame in frames], dtype=np.int64),
        fps=fps,
        path=path,
        sha256=sha256_file(path),
        sampling=sampling,
    )


@contextmanager
def _open_video(
    path: Path,
) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open ``path`` and its first video stream, turning every failure into VideoDecodeError."""
    if not path.is_file():
        raise VideoDecodeError(path, "no such file" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "the file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except _AV_ERRORS as error:
        raise VideoDecodeError(path, f"not a readable video file ({_reason(error)})") from error
    with container:
        format_name = container.format.name
        if format_name in _IMAGE_DEMUXERS or format_name.endswith("_pipe"):
            raise VideoDecodeError(path, f"a still image ({format_name}), not a video")
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams}) or ["none"]
            raise VideoDecodeError(path, f"no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise VideoDecodeError(path, "no decoder for the video stream's codec")
        stream.thread_type = "AUTO"
        try:
            yield container, stream
        except _AV_ERRORS as error:
            raise VideoDecodeError(path, _reason(error)) from error


def _reason(error: BaseException) -> str:
    """The error's description without the file name PyAV appends to it."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _average_fps(stream: av.video.stream.VideoStream, path: Path) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise VideoDecodeError(path, "the video stream declares no frame rate")
    return float(rate)


def _duration(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    fallback: float,
) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return fallback


class _Packets(NamedTuple):
    times: list[float]
    end: int


def _packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    fps: float,
) -> _Packets:
    """Presentation times (seconds from the earliest) of the stream's packets, and the
    byte offset where the last of them ends in the file (-1 when unknown); demux only."""
    pts = []
    end = -1
    for packet in container.demux(stream):
        if packet.size > 0 and not packet.is_discard:
            pts.append(packet.pts)
            if packet.pos is not None and packet.pos >= 0:
                end = max(end, packet.pos + packet.size)
    if not pts or any(value is None for value in pts) or stream.time_base is None:
        return _Packets([index / fps for index in range(len(pts))], end)
    origin = min(pts)
    return _Packets([float((value - origin) * stream.time_base) for value in pts], end)


class _Decoded(NamedTuple):
    index: int
    timestamp: float
    frame: av.VideoFrame


def _sampled_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    sampling: Sampling,
) -> Iterator[Frame]:
    fps = _average_fps(stream, path)
    decoded = _decoded_frames(container, stream, path, fps)
    if sampling.max_seconds is not None:
        decoded = _first_seconds(decoded, sampling.max_seconds)
    if sampling.fps is not None and sampling.fps < fps:
        decoded = _at_rate(decoded, sampling.fps, source_fps=fps)
    elif sampling.num_frames is not None:
        total = _count_frames(path, sampling.max_seconds)
        decoded = _at_indices(decoded, _uniform_indices(total, sampling.num_frames))
    for item in decoded:
        image = _to_rgb(item.frame, sampling.short_side)
        yield Frame(index=item.index, timestamp=item.timestamp, image=image)


def _decoded_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    fps: float,
) -> Iterator[_Decoded]:
    """Every decodable frame in presentation order; stops at the first rejected packet."""
    packets = container.demux(stream)
    index = 0
    origin: int | None = None
    while True:
        try:
            packet = next(packets, None)
            frames = packet.decode() if packet is not None else []
        except _AV_ERRORS as error:
            if index == 0:
                raise VideoDecodeError(path, f"no decodable frames ({_reason(error)})") from error
            warnings.warn(
                f"{path}: corrupt data after frame {index - 1} ({_reason(error)}); "
                f"keeping the {index} frames decoded before it",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        for frame in frames:
            if frame.pts is None or frame.time_base is None:
                timestamp = index / fps
            else:
                origin = frame.pts if origin is None else origin
                timestamp = float((frame.pts - origin) * frame.time_base)
            yield _Decoded(index, timestamp, frame)
            index += 1
        if packet is None:
            break
    if index == 0:
        raise VideoDecodeError(path, "no decodable frames")


def _first_seconds(decoded: Iterable[_Decoded], seconds: float) -> Iterator[_Decoded]:
    for item in decoded:
        if item.timestamp >= seconds:
            return
        yield item


def _at_rate(
    decoded: Iterable[_Decoded], target_fps: float, *, source_fps: float
) -> Iterator[_Decoded]:
    half_interval = 0.5 / source_fps
    last_slot = -1
    for item in decoded:
        # The epsilon keeps a frame exactly on a slot boundary in that slot despite float error.
        slot = math.floor((item.timestamp + half_interval) * target_fps + 1e-9)
        if slot > last_slot:
            last_slot = slot
            yield item


def _count_frames(path: Path, max_seconds: float | None) -> int:
    """Number of frames (from demuxed packets) in the video or in its first ``max_seconds``."""
    with _open_video(path) as (container, stream):
        times = _packets(container, stream, _average_fps(stream, path)).times
    if max_seconds is None:
        return len(times)
    return sum(time < max_seconds for time in times)


def _uniform_indices(total: int, count: int) -> list[int]:
    if total <= count:
        return list(range(total))
    return [math.floor(position + 0.5) for position in np.linspace(0, total - 1, count)]


def _at_indices(decoded: Iterable[_Decoded], indices: list[int]) -> Iterator[_Decoded]:
    wanted = iter(indices)
    next_index = next(wanted, None)
    for item in decoded:
        if next_index is None:
            return
        if item.index == next_index:
            yield item
            next_index = next(wanted, None)


def _to_rgb(frame: av.VideoFrame, short_side: int | None) -> np.ndarray:
    """The frame as a C-contiguous RGB ``uint8`` array, resized when ``short_side`` is set."""
    if short_side is None:
        return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    width, height = _resized(frame.width, frame.height, short_side)
    shrinking = width * height < frame.width * frame.height
    rgb = frame.reformat(
        width=width,
        height=height,
        format="rgb24",
        interpolation=Interpolation.AREA if shrinking else Interpolation.BILINEAR,
    )
    return np.ascontiguousarray(rgb.to_ndarray())


def _resized(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side at ``short_side`` and the longer one even."""
    if width == height:
        return short_side, short_side
    long_side = max(width, height) * short_side / min(width, height)
    even_long_side = max(2, 2 * math.floor(long_side / 2 + 0.5))
    return (short_side, even_long_side) if width < height else (even_long_side, short_side)


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    quality: int = 23,
    encoder_options: Mapping[str, str] | None = None,
) -> Path:
    """Encode same-sized RGB ``uint8`` frames ``[H, W, 3]``; the path's extension picks the codec.

    ``quality`` follows the x264 constant-rate-factor scale (lower is better, 23 is the
    default): it is the CRF for H.264/VP9, and for MPEG-4 (avi) it sets a fixed quantiser
    that doubles every 6 steps (23 → 4, clamped to 2–31). GIF uses a fixed 256-colour
    palette and ignores it. Frame sizes must be even for the yuv420p formats (mp4, mov,
    mkv, webm, avi). ``encoder_options`` go to the encoder as they are (e.g.
    ``{"preset": "ultrafast"}`` for H.264).
    """
    path = Path(path)
    try:
        codec, pix_fmt = _ENCODERS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"cannot write {path}: unsupported extension {path.suffix!r} "
            f"(use one of {', '.join(sorted(_ENCODERS))})"
        ) from None
    arrays = iter(frames)
    first = next(arrays, None)
    if first is None:
        raise ValueError(f"cannot write {path}: no frames")
    height, width = _rgb_shape(first, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": str(quality)}
        elif codec == "libvpx-vp9":
            stream.options = {"crf": str(quality), "b": "0"}  # b=0: constant quality, no cap
        elif codec == "mpeg4":
            quantiser = min(31, max(2, round(4 * 2 ** ((quality - 23) / 6))))
            stream.codec_context.qmin = stream.codec_context.qmax = quantiser
        if encoder_options:
            stream.options = {**stream.options, **encoder_options}
        for array in itertools.chain([first], arrays):
            if _rgb_shape(array, path) != (height, width):
                raise ValueError(
                    f"cannot write {path}: frame of shape {np.shape(array)} differs from the "
                    f"first frame's {(height, width, 3)}"
                )
            rgb = np.ascontiguousarray(array, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def _rgb_shape(array: np.ndarray, path: Path) -> tuple[int, int]:
    """(height, width) of an RGB frame; ValueError for anything that is not [H, W, 3]."""
    shape = np.shape(array)
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"cannot write {path}: frames must be RGB [H, W, 3], got shape {shape}")
    return shape[0], shape[1]
