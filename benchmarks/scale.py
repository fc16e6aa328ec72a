"""Extraction and tables at 100, 1,000 (and with --large 10,000) videos; local engine vs Ray.

Synthetic videos (random textures drifting sideways, 8 frames of 32 x 48 pixels, each one
different) are extracted with ``ssim`` and ``technical`` into a fresh store, one size at a
time, each size in its own child process so that its peak memory is its own. Per size it
prints the extraction time per video (tables included); the peak resident memory after
the last video (the engine streams, so it should stay flat), after the run's first table
build and at the end; and the time to write the three feature tables twice: by the naive
reference (read every record, aggregate every video, as the tables were built before the
row cache) and incrementally (rows from the store's row cache; only new videos are read),
and the same two without writing the files. Then it runs the same 100 videos on the local
engine (2 worker processes) and on a local Ray with 2 CPUs, with Ray's start-up time
stated on its own.

    uv run python benchmarks/scale.py                 # 100 and 1,000 videos, engines at 100
    uv run python benchmarks/scale.py --large         # also 10,000 videos (long)
    uv run python benchmarks/scale.py --sizes 50 --engines 0   # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["ssim", "technical"]
FRAMES, HEIGHT, WIDTH = 8, 32, 48


def make_videos(directory: Path, count: int) -> Path:
    """Write (or reuse) ``count`` synthetic videos and a manifest of them; the manifest."""
    from qualitylab.data.video import write_video

    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        path = directory / f"v{index:05d}.mp4"
        if not path.exists():
            rng = np.random.default_rng(index)
            base = rng.integers(0, 256, (HEIGHT, WIDTH + FRAMES, 3), dtype=np.uint8)
            frames = [np.ascontiguousarray(base[:, i : i + WIDTH]) for i in range(FRAMES)]
            write_video(path, frames, fps=8)
        rows.append({"id": f"v{index:05d}", "video": path.name, "prompt": f"p{index % 50}"})
    manifest = directory / f"manifest-{count}.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_size(manifest: Path, scratch: Path) -> dict:
    """One size: extraction, then the naive and the incremental table builds."""
    from qualitylab.atomic import write_parquet
    from qualitylab.data.manifest import load_manifest
    from qualitylab.features.aggregate import SET_TYPES, feature_table
    from qualitylab.features.extraction_run import extract_features
    from qualitylab.features.tables import load_features, load_signals, write_tables

    loaded = load_manifest(manifest)
    out = scratch / "run"
    before = peak_mb()
    engine_peak = [0.0]  # after the last video, before the tables are built

    def on_result(_result) -> None:
        engine_peak[0] = peak_mb()

    summary = extract_features(
        loaded, FEATURES, out, store=scratch / "store", workers=1, on_result=on_result
    )
    extract_peak = peak_mb()
    started = time.perf_counter()
    index, rows = load_signals(out)
    feature_table(rows, "combined")
    naive_rows = time.perf_counter() - started
    started = time.perf_counter()
    load_features(out)
    cached_rows = time.perf_counter() - started
    started = time.perf_counter()
    index, rows = load_signals(out)
    described = index.drop(columns=["sha256"])
    for set_type in SET_TYPES:
        table = pd.concat([described, feature_table(rows, set_type)], axis=1)
        write_parquet(table, scratch / f"naive-{set_type}.parquet")
    naive = time.perf_counter() - started
    del index, rows, described, table
    started = time.perf_counter()
    write_tables(out)
    incremental = time.perf_counter() - started
    return {
        "videos": len(summary.results),
        "failed": len(summary.failed),
        "extract_s": summary.seconds,
        "start_mb": before,
        "engine_peak_mb": engine_peak[0],
        "extract_peak_mb": extract_peak,
        "end_peak_mb": peak_mb(),
        "naive_tables_s": naive,
        "incremental_tables_s": incremental,
        "naive_rows_s": naive_rows,
        "cached_rows_s": cached_rows,
    }


def measure_engine(manifest: Path, scratch: Path, engine: str) -> dict:
    """The same manifest on one engine with 2 CPUs, into a fresh store."""
    from qualitylab.data.manifest import load_manifest
    from qualitylab.features.extraction_run import extract_features

    startup = 0.0
    if engine == "ray":
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - started
    summary = extract_features(
        load_manifest(manifest),
        FEATURES,
        scratch / "run",
        store=scratch / "store",
        workers=2,
        engine=engine,
    )
    return {"videos": len(summary.results), "seconds": summary.seconds, "startup_s": startup}


def child(args: list[str]) -> dict:
    """Run one measurement in a fresh Python process; its JSON result."""
    finished = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True
    )
    if finished.returncode != 0:
        raise SystemExit(f"measurement {args} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--large", action="store_true", help="add 10,000 videos")
    parser.add_argument(
        "--engines", type=int, default=100, help="videos for local vs Ray (0: skip)"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, manifest, scratch = args.child[:3]
        if kind == "size":
            result = measure_size(Path(manifest), Path(scratch))
        else:
            result = measure_engine(Path(manifest), Path(scratch), args.child[3])
        print(json.dumps(result))
        return

    sizes = sorted(set(args.sizes + ([10_000] if args.large else [])))
    with tempfile.TemporaryDirectory(prefix="qualitylab-scale-") as scratch:
        root = Path(scratch)
        print(f"features {', '.join(FEATURES)}; {FRAMES} frames of {WIDTH}x{HEIGHT} per video")
        print(
            f"{'videos':>7} {'ms/video':>9} {'engine MB':>9} {'extract MB':>10} {'end MB':>7} "
            f"{'naive tables s':>14} {'incremental s':>13} {'ratio':>6}"
        )
        measured = []
        for size in sizes:
            started = time.perf_counter()
            manifest = make_videos(root / "videos", size)
            made = time.perf_counter() - started
            result = child(["size", str(manifest), str(root / f"size-{size}")])
            if result["failed"]:
                raise SystemExit(f"{result['failed']} videos failed at size {size}")
            measured.append(result)
            print(
                f"{size:>7} {1000 * result['extract_s'] / size:>9.1f} {result['engine_peak_mb']:>9.0f} "
                f"{result['extract_peak_mb']:>10.0f} {result['end_peak_mb']:>7.0f} "
                f"{result['naive_tables_s']:>14.2f} {result['incremental_tables_s']:>13.2f} "
                f"{result['naive_tables_s'] / result['incremental_tables_s']:>5.1f}x"
                f"   (videos written in {made:.0f} s)"
            )
            print(
                f"{'':>7} rows alone, before writing: naive {result['naive_rows_s']:.2f} s, "
                f"from the row cache {result['cached_rows_s']:.2f} s "
                f"({result['naive_rows_s'] / result['cached_rows_s']:.1f}x)"
            )
        if len(measured) > 1:
            first, last = measured[0], measured[-1]
            growth = last["videos"] / first["videos"]
            print(
                f"{growth:.0f}x the videos: extraction {last['extract_s'] / first['extract_s']:.1f}x "
                f"the time, tables {last['incremental_tables_s'] / first['incremental_tables_s']:.1f}x, "
                f"engine peak memory {last['engine_peak_mb'] / first['engine_peak_mb']:.2f}x"
            )
        if args.engines:
            manifest = make_videos(root / "videos", args.engines)
            local = child(["engine", str(manifest), str(root / "local"), "local"])
            ray = child(["engine", str(manifest), str(root / "ray"), "ray"])
            print(
                f"{args.engines} videos on 2 CPUs: local engine {local['seconds']:.1f} s, "
                f"Ray {ray['seconds']:.1f} s (+ {ray['startup_s']:.1f} s to start Ray); "
                f"ratio Ray / local {ray['seconds'] / local['seconds']:.2f}x, "
                f"with start-up {(ray['seconds'] + ray['startup_s']) / local['seconds']:.2f}x"
            )


if __name__ == "__main__":
    main()
