"""Feature extraction and the inspection of stored signals and feature tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from qualitylab.cli.common import (
    DEVICE_CHOICES,
    MANIFEST_OPTIONS,
    PRECISION_CHOICES,
    AllowFailuresOpt,
    ManifestArg,
    StoreOpt,
    WorkersOpt,
    app,
    command_group,
    console,
    extraction_progress,
    fail,
    open_manifest,
    split_list,
    with_options,
)

features_app = command_group("features", "Inspect stored signals and feature tables.")


def extract_with_progress(manifest, names, out: Path, workers: int | None = None, **options):
    """Run an extraction with a progress bar (videos, frames/s, time left)."""
    from qualitylab.features.extraction_run import RunError, extract_features

    with extraction_progress() as (on_start, on_result):
        try:
            return extract_features(
                manifest,
                names,
                out,
                workers=workers,
                on_start=on_start,
                on_result=on_result,
                **options,
            )
        except RunError as exc:
            fail(str(exc))


@app.command("extract-features")
@with_options("reading", MANIFEST_OPTIONS)
def extract_features(
    manifest: ManifestArg,
    out: Annotated[Path, typer.Option(help="Directory of this run's index and feature tables.")],
    features: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME[,NAME...]",
            help="Extractors to run; comma-separate or repeat (see `qualitylab features "
            "list`). Default: the protocol's offline extractors plus every learned "
            "extractor whose weights are on disk.",
        ),
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="Feature protocol: default (canonical short side and frame rate, "
            "normalised motion, length-invariant aggregations) or thesis (native frames, "
            "the thesis' 15 aggregations and the non-aggregated set)."
        ),
    ] = "default",
    *,
    reading: dict[str, Any],
    fps: Annotated[
        float | None,
        typer.Option(help="Sample frames at this rate (default protocol: 8; thesis: native)."),
    ] = None,
    num_frames: Annotated[
        int | None, typer.Option(help="Sample this many frames uniformly (thesis protocol).")
    ] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Use only the first K seconds.")] = None,
    short_side: Annotated[
        int | None,
        typer.Option(
            help="Resize frames so the shorter side has this many pixels (default "
            "protocol: 256; thesis: native)."
        ),
    ] = None,
    config: Annotated[
        list[str] | None,
        typer.Option(
            metavar="EXTRACTOR.KEY=VALUE",
            help="Extractor setting EXTRACTOR.KEY=VALUE, e.g. technical.dark_threshold=30; repeat.",
        ),
    ] = None,
    workers: WorkersOpt = 0,
    allow_failures: AllowFailuresOpt = False,
    device: Annotated[
        str | None, typer.Option(help=f"Learned extractors: {DEVICE_CHOICES}")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help=f"Learned extractors: {PRECISION_CHOICES}")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Learned extractors: frames per model call (default 16).")
    ] = None,
    store: StoreOpt = None,
    engine: Annotated[
        str, typer.Option(help="local (worker processes here) or ray (a Ray cluster).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="--engine ray: the cluster (auto, HOST:PORT, ray://HOST:10001)."),
    ] = None,
) -> None:
    """Extract per-frame signals for every video of MANIFEST and write the feature tables.

    Each video is decoded once for all extractors; what is already stored is reused, so a
    re-run computes only what is missing and an interrupted run resumes. A bad video is
    recorded in OUT/failures.parquet and the run goes on.
    """
    from qualitylab.features.protocols import default_features, protocol_and_sampling
    from qualitylab.features.registry import with_learned_settings

    loaded = open_manifest(manifest, **reading)
    try:
        chosen, sampling = protocol_and_sampling(
            protocol, fps=fps, num_frames=num_frames, max_seconds=max_seconds, short_side=short_side
        )
        overrides = _parse_settings(config)
        names = split_list(features) if features else default_features(chosen)
        if not features:
            console.print(f"{chosen.name} protocol ({sampling.describe()}): {', '.join(names)}")
        overrides = with_learned_settings(
            names, overrides, device=device, precision=precision, batch_size=batch_size
        )
    except (ValueError, KeyError) as exc:
        fail(str(exc))
    summary = extract_with_progress(
        loaded,
        names,
        out,
        workers=workers or None,
        sampling=sampling,
        overrides=overrides,
        store=store,
        protocol=chosen,
        engine=engine,
        address=address,
    )
    finish_run(summary, allow_failures)


def _parse_settings(items: list[str] | None) -> dict[str, dict[str, object]]:
    settings: dict[str, dict[str, object]] = {}
    for item in items or ():
        name, dot, rest = item.partition(".")
        key, equals, raw = rest.partition("=")
        if not (dot and equals and name and key):
            raise ValueError(f"--config {item!r}: expected EXTRACTOR.KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        settings.setdefault(name, {})[key] = value
    return settings


def finish_run(summary, allow_failures: bool = False) -> None:
    """Print a run's summary; exit 130 when it was interrupted, 1 on failures unless allowed."""
    _print_run_summary(summary)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.failed and not allow_failures:
        raise typer.Exit(1)


def _print_run_summary(summary) -> None:
    results = summary.results
    rate = summary.frames / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{len(results)} videos: {summary.computed} computed, {summary.reused} from the store, "
        f"{len(summary.failed)} with failures; {summary.frames} frames decoded in "
        f"{summary.seconds:.1f} s ({rate:.0f} frames/s)"
    )
    for result in results:
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {escape(result.task.id)}: {escape(warning)}")
    for problem in summary.problems:
        console.print(f"[yellow]warning:[/] {escape(problem)}")
    for result in summary.failed:
        for extractor, error in result.failures.items():
            where = escape(f"{result.task.id} [{extractor}]")
            console.print(f"[red]failed:[/] {where}: {escape(error)}")
    if summary.interrupted:
        console.print(
            f"[yellow]interrupted:[/] {len(results)} videos finished and stored; run the same "
            "command again to resume."
        )
        return
    for set_type, path in summary.tables.items():
        console.print(f"{set_type}: {path} ({summary.table_rows} rows)")
    if summary.failed:
        console.print(f"failures: {summary.out_dir / 'failures.parquet'}")


@features_app.command("list")
def features_list() -> None:
    """List every extractor, classical and learned, by family: name, kind, version,
    signals, and the weights it needs (see `qualitylab weights list` for which are present)."""
    from qualitylab.features.registry import REGISTRY

    table = Table("family", "extractor", "kind", "version", "signals", "weights", "description")
    for spec in sorted(REGISTRY.values(), key=lambda spec: spec.family):
        signals = ", ".join(signal.name for signal in spec.signals)
        table.add_row(
            spec.family,
            spec.name,
            spec.kind,
            spec.version,
            signals,
            ", ".join(spec.weights) or "none",
            spec.description,
        )
    console.print(table)


@features_app.command("ls")
def features_ls(
    out: Annotated[Path, typer.Argument(help="An extract-features --out directory.")],
) -> None:
    """Summarise a features directory: the last run, the stored signals, failures, tables."""
    import pandas as pd

    from qualitylab.data.video import Sampling
    from qualitylab.features.layout import (
        FAILURES_FILE,
        TABLE_FILES,
        read_index,
        read_run_record,
        run_store,
    )
    from qualitylab.features.store import run_entry_key

    try:
        run = read_run_record(out)
        index = read_index(out)
    except FileNotFoundError as exc:
        fail(str(exc))
    state = "finished" if run["finished"] else "unfinished (interrupted or running)"
    console.print(f"[bold]{out}[/]: last run {state}, {run['written']}")
    console.print(f"manifest: {run['manifest']} ({len(index)} rows)")
    console.print(f"sampling: {Sampling(**run['sampling']).describe()}")
    console.print(f"extractors: {', '.join(e['name'] for e in run['extractors'])}")
    store = run_store(run, out)
    groups = Table(
        "extractor", "version", "config hash", "videos stored", title=f"store: {store.root}"
    )
    hashed = index[index["sha256"].notna()]
    for entry in run["extractors"]:
        stored = sum(
            store.has(run_entry_key(entry, sha256, prompt))
            for sha256, prompt in zip(hashed["sha256"], hashed["prompt"])
        )
        groups.add_row(
            entry["name"], entry["version"], entry["config_hash"], f"{stored} of {len(index)}"
        )
    console.print(groups)
    failures_path = out / FAILURES_FILE
    failures = pd.read_parquet(failures_path) if failures_path.is_file() else pd.DataFrame()
    console.print(f"failures in the last run: {len(failures)}")
    for set_type, name in TABLE_FILES.items():
        path = out / name
        if path.is_file():
            import pyarrow.parquet as pq

            meta = pq.read_metadata(path)
            console.print(f"{set_type}: {path} ({meta.num_rows} rows × {meta.num_columns} columns)")


@features_app.command("show")
def features_show(
    out: Annotated[Path, typer.Argument(help="An extract-features --out directory.")],
    video_id: Annotated[str, typer.Argument(metavar="ID", help="The video's id in the manifest.")],
    signal: Annotated[
        str | None, typer.Option(help="Print every value of this signal (extractor.signal).")
    ] = None,
) -> None:
    """Show the stored signals of one video: length, min, mean, max and the first values;
    and its scenes when it has more than one."""
    import numpy as np

    from qualitylab.features.tables import video_scene_list, video_signals

    try:
        row, signals = video_signals(out, video_id)
        scenes = video_scene_list(out, video_id)
    except (FileNotFoundError, KeyError) as exc:
        fail(str(exc.args[0]) if exc.args else str(exc))
    console.print(f"[bold]{escape(video_id)}[/]: {row['video']}")
    console.print(f"prompt: {row['prompt']}", highlight=False)
    if scenes is not None and len(scenes.starts) > 1:
        starts = ", ".join(
            f"{scene['start_frame']} ({scene['start_seconds']:g} s)" for scene in scenes.describe()
        )
        console.print(f"{len(scenes.starts)} scenes ({scenes.source}), from frames {starts}")
    if signal is not None:
        if signal not in signals:
            fail(f"no stored signal {signal!r} for {video_id!r}; stored: {', '.join(signals)}")
        values = signals[signal]
        console.print(f"{signal} ({len(values)} values):")
        console.print(" ".join(f"{v:.6g}" for v in values), highlight=False)
        return
    table = Table(Column("signal", no_wrap=True), "length", "min", "mean", "max", "first values")
    for name, values in signals.items():
        if len(values):
            stats = [f"{np.min(values):.4g}", f"{np.mean(values):.4g}", f"{np.max(values):.4g}"]
        else:
            stats = ["-", "-", "-"]
        head = " ".join(f"{v:.3g}" for v in values[:5])
        table.add_row(name, str(len(values)), *stats, head)
    console.print(table)


@features_app.command("table")
def features_table(
    out: Annotated[Path, typer.Argument(help="An extract-features --out directory.")],
    set_type: Annotated[
        str, typer.Option("--set", help="agg (aggregated), nonagg (first 100 values) or combined.")
    ] = "agg",
    to: Annotated[
        Path | None,
        typer.Option(
            "--to", help="Output file, .parquet or .csv (default: the table's file in OUT)."
        ),
    ] = None,
) -> None:
    """Build a feature table from the store: one row per video."""
    from qualitylab.features.aggregate import SET_TYPES
    from qualitylab.features.layout import TABLE_FILES
    from qualitylab.features.tables import build_table

    if set_type not in SET_TYPES:
        fail(f"--set {set_type!r}: choose one of {', '.join(SET_TYPES)}")
    try:
        table = build_table(out, set_type)
    except FileNotFoundError as exc:
        fail(str(exc))
    path = to or out / TABLE_FILES[set_type]
    if path.suffix.lower() == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    console.print(f"{set_type}: {path} ({len(table)} rows × {table.shape[1]} columns)")
