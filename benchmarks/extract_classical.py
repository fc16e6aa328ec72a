"""Classical extraction: the engine against a naive reference, at identical settings.

The naive reference (benchmarks/naive_classical.py) is what a straightforward script
does: for each extractor in turn, decode every video again, walk it one pair of frames at
a time in one process, and compute each signal with the obvious library call —
scikit-image's ``structural_similarity`` on ``rgb2gray`` frames, OpenCV's flow followed
by numpy reductions, and numpy/scipy formulas for the technical checks. The engine
decodes each video once for all extractors, uses the project's vectorised extractors, and
spreads videos over worker processes. Both write nothing the other reads; the values are
compared signal by signal before the speeds are printed, as wall-clock time and as CPU
time (all processes; on a machine shared with other work the CPU ratio is the steadier).

    uv run python benchmarks/extract_classical.py                 # the shared real set
    uv run python benchmarks/extract_classical.py --limit 40      # its first 40 videos
    uv run python benchmarks/extract_classical.py --manifest M.csv --workers 2
    uv run python benchmarks/extract_classical.py --stages        # where the time goes

``--stages`` times each stage of both on the first frames of one video of each frame size
in the set, in this process with one OpenCV thread and the allocator settings of the
engine's workers, as CPU milliseconds per frame or per pair (see "Where the time goes" in
benchmarks/README.md).

Without ``--manifest`` it uses ../shared/datasets/t2v-human-5models, or the embedded demo
set when that is absent.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from qualitylab.data.manifest import load_manifest
from qualitylab.data.samples import build_demo_dataset
from qualitylab.data.video import Sampling, iter_frames, probe
from qualitylab.features.classical import ssim, technical
from qualitylab.features.classical._frames import luma
from qualitylab.features.classical.flow import FlowConfig, compute_flow, flow_reductions
from qualitylab.features.classical.technical import TechnicalConfig
from qualitylab.features.extract import VideoResult, VideoTask, plan_extractors
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.store import FeatureStore, SignalRecord, record_key
from qualitylab.features.tables import load_signals
from qualitylab.workers import retain_freed_memory

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "t2v-human-5models"
FEATURES = ("ssim", "flow", "technical")
# Largest accepted difference between engine and reference, relative to max(1, |reference|).
TOLERANCE = {"ssim": 1e-4, "flow": 1e-4, "technical": 1e-4}


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished child processes."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def compare(
    engine: dict[str, dict[str, np.ndarray]], naive: dict[str, dict[str, np.ndarray]]
) -> dict[str, float]:
    worst = dict.fromkeys(FEATURES, 0.0)
    for path, signals in naive.items():
        for name, reference in signals.items():
            values = engine[path][name].astype(np.float64)
            if len(values) != len(reference):
                raise AssertionError(
                    f"{path} {name}: {len(values)} values, reference {len(reference)}"
                )
            if len(values):
                error = np.max(np.abs(values - reference) / np.maximum(1.0, np.abs(reference)))
                extractor = name.split(".")[0]
                worst[extractor] = max(worst[extractor], float(error))
    return worst


def cpu_ms(work: Callable[[], object], repeat: int) -> float:
    """CPU milliseconds per call of ``work`` (this process, all its threads)."""
    started = time.process_time()
    for _ in range(repeat):
        work()
    return 1000 * (time.process_time() - started) / repeat


def stage_times(path: str, frames: int) -> dict[str, float]:
    """CPU ms per frame or pair of each stage of the engine and of the naive reference,
    on the first ``frames`` frames of the video at ``path``."""
    import naive_classical as naive

    images = [frame.image for _, frame in zip(range(frames), iter_frames(path))]
    pairs = list(zip(images[:-1], images[1:]))
    greys = [luma(image) for image in images]
    grey_pairs = list(zip(greys[:-1], greys[1:]))
    moments = [ssim.frame_moments(image) for image in images]
    flows = [compute_flow(a, b, FlowConfig()) for a, b in grey_pairs]
    config = TechnicalConfig()
    count = len(images)

    def each(function: Callable, items: list) -> Callable[[], list]:
        """Call ``function`` on every item, unpacking tuples into arguments."""
        return lambda: [
            function(*item) if isinstance(item, tuple) else function(item) for item in items
        ]

    def decode() -> None:
        for _ in zip(range(frames), iter_frames(path)):
            pass

    per_frame = {
        "decode (PyAV, to RGB)": cpu_ms(decode, 2) / count,
        "luma (BT.601 grey)": cpu_ms(each(luma, images), 3) / count,
        "ssim: grey and window moments": cpu_ms(each(ssim.frame_moments, images), 3) / count,
        "technical: frame measures": cpu_ms(
            each(
                lambda i, g: technical.frame_measures(i, g, config.clip_level),
                list(zip(images, greys)),
            ),
            3,
        )
        / count,
    }
    per_pair = {
        "ssim: pair from moments": cpu_ms(
            each(ssim.ssim_from_moments, list(zip(moments[:-1], moments[1:]))), 3
        ),
        "flow: DIS optical flow": cpu_ms(
            each(lambda a, b: compute_flow(a, b, FlowConfig()), grey_pairs), 1
        ),
        "flow: 18 reductions": cpu_ms(each(flow_reductions, flows), 3),
        "technical: pair measures": cpu_ms(each(technical.pair_measures, grey_pairs), 3),
    }
    per_pair = {name: value / len(pairs) for name, value in per_pair.items()}
    reference = {
        "naive: decode (x3, once per extractor)": 3 * per_frame["decode (PyAV, to RGB)"],
        "naive: ssim (skimage) per pair": cpu_ms(each(naive.naive_ssim, pairs), 1) / len(pairs),
        "naive: flow + numpy reductions per pair": cpu_ms(each(naive.naive_flow, pairs), 1)
        / len(pairs),
        "naive: technical per frame": cpu_ms(
            each(lambda image: naive.naive_frame_checks(image, config), images), 1
        )
        / count,
        "naive: technical per pair": cpu_ms(
            each(lambda a, b: naive.naive_pair_checks(a, b, config), pairs), 1
        )
        / len(pairs),
    }
    return {**per_frame, **per_pair, **reference}


def per_video_overheads(path: str) -> dict[str, float]:
    """CPU ms per video of what the engine does besides computing signals: hashing and
    probing the file, storing the three records, and sending the result back."""
    from qualitylab.data.video import sha256_file

    plans = plan_extractors(FEATURES, Sampling())
    signals = {s.name: np.zeros(50, np.float32) for plan in plans for s in plan.spec.signals}
    record = SignalRecord(signals, np.arange(50), np.arange(50.0), {}, {})
    with tempfile.TemporaryDirectory() as scratch:
        store = FeatureStore(scratch)
        keys = iter(range(10**6))

        def store_three() -> None:
            for plan in plans:
                key = record_key(f"{next(keys):064d}", plan.spec.name, "1", "x")
                store.put(key, record)

        result = VideoResult(VideoTask("id", path, "a prompt"), computed=list(FEATURES))
        return {
            "hash (SHA-256 of the file)": cpu_ms(lambda: sha256_file(path), 5),
            "probe (demux every packet)": cpu_ms(lambda: probe(path), 5),
            "store: write three records": cpu_ms(store_three, 5),
            "result pickled to the parent": cpu_ms(lambda: pickle.loads(pickle.dumps(result)), 50),
        }


def print_stages(paths: list[str], frames: int) -> None:
    """Print the stage breakdown for one video of each frame size among ``paths``."""
    cv2.setNumThreads(1)
    retain_freed_memory()  # as in the engine's workers (for both columns)
    by_size: dict[tuple[int, int], str] = {}
    for path in paths:
        info = probe(path)
        by_size.setdefault((info.width, info.height), path)
    columns = {f"{w}x{h}": stage_times(path, frames) for (w, h), path in by_size.items()}
    overheads = {f"{w}x{h}": per_video_overheads(path) for (w, h), path in by_size.items()}
    print(f"CPU ms per frame / pair / video (first {frames} frames, 1 OpenCV thread)")
    print(f"{'stage':42}" + "".join(f"{size:>11}" for size in columns))
    for table in (columns, overheads):
        for stage in next(iter(table.values())):
            print(f"{stage:42}" + "".join(f"{values[stage]:>11.2f}" for values in table.values()))
    for size, values in columns.items():
        engine = sum(v for k, v in values.items() if not k.startswith("naive"))
        naive = sum(v for k, v in values.items() if k.startswith("naive"))
        print(
            f"{size}: engine {engine:.1f} ms, naive {naive:.1f} ms per frame and pair "
            f"({naive / engine:.1f}x in one process)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--manifest", type=Path, help="dataset to run on (default: the shared real set)"
    )
    parser.add_argument("--limit", type=int, help="use only the first N videos")
    parser.add_argument("--stages", action="store_true", help="time each stage instead (see above)")
    parser.add_argument(
        "--frames", type=int, default=16, help="frames per video for --stages (default 16)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="engine worker processes (0: one per core)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        manifest_path = args.manifest or (
            SHARED / "manifest.csv"
            if (SHARED / "manifest.csv").is_file()
            else build_demo_dataset(Path(scratch) / "demo")
        )
        manifest = load_manifest(manifest_path)
        manifest.table = manifest.table.iloc[: args.limit].reset_index(drop=True)
        paths = list(manifest.table["video"])
        if args.stages:
            print_stages(paths, args.frames)
            return
        print(f"{len(paths)} videos from {manifest_path}; features {', '.join(FEATURES)}")

        cpu_before = cpu_seconds()
        summary = extract_features(
            manifest,
            FEATURES,
            Path(scratch) / "engine",
            store=Path(scratch) / "store",
            workers=args.workers or None,
        )
        engine_cpu = cpu_seconds() - cpu_before
        if summary.failed:
            raise SystemExit(
                f"engine failures: {[(r.task.id, r.failures) for r in summary.failed]}"
            )
        index, signal_rows = load_signals(Path(scratch) / "engine")
        engine = {video: signals for video, signals in zip(index["video"], signal_rows)}
        print(
            f"engine: {summary.seconds:.1f} s, {len(paths) / summary.seconds:.3f} videos/s "
            f"({summary.frames} frames; {engine_cpu:.1f} CPU s in all its processes)"
        )

        import naive_classical

        cpu_before = cpu_seconds()
        naive, naive_seconds = naive_classical.naive_run(paths, FEATURES)
        naive_cpu = cpu_seconds() - cpu_before
        print(
            f"naive reference: {naive_seconds:.1f} s, {len(paths) / naive_seconds:.3f} videos/s "
            f"({naive_cpu:.1f} CPU s)"
        )

    worst = compare(engine, naive)
    for extractor, error in worst.items():
        verdict = "agree" if error <= TOLERANCE[extractor] else "DISAGREE"
        print(
            f"  {extractor}: largest relative difference {error:.2e} ({verdict}, tolerance {TOLERANCE[extractor]:g})"
        )
    ratio = naive_seconds / summary.seconds
    print(f"ratio (naive time / engine time): {ratio:.2f}x  (target: at least 10x)")
    print(
        f"CPU ratio (naive CPU s / engine CPU s, what parallelism does not change): "
        f"{naive_cpu / engine_cpu:.2f}x"
    )
    if any(error > TOLERANCE[e] for e, error in worst.items()):
        raise SystemExit("values disagree")


if __name__ == "__main__":
    main()
