"""The ``qualitylab`` command line: each command parses its options and calls the library."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table

from qualitylab import __version__

app = typer.Typer(
    help="qualitylab: learn to predict how people rate AI-generated videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Load and check datasets of rated videos.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
features_app = typer.Typer(help="Inspect stored signals and feature tables.", no_args_is_help=True)
app.add_typer(features_app, name="features")
weights_app = typer.Typer(
    help="List, fetch, import and verify the pretrained weights.", no_args_is_help=True
)
app.add_typer(weights_app, name="weights")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"qualitylab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    """qualitylab: learn to predict how people rate AI-generated videos."""


def run() -> None:
    """The ``qualitylab`` program: the command line, with SIGTERM handled as Ctrl-C, so
    that a stopped command still ends its worker processes and keeps what it finished."""
    signal.signal(signal.SIGTERM, _terminated)
    app(prog_name="qualitylab")


def _terminated(_signum: int, _frame) -> None:
    raise KeyboardInterrupt


def _progress(frames_per_second: bool = False) -> Progress:
    rate = [TextColumn("{task.fields[fps]:.0f} frames/s")] if frames_per_second else []
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *rate,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    )


@app.command()
def doctor() -> None:
    """Report what works here: Python, torch, torchvision, CUDA/MPS, PyAV, caches and weights.

    Exits 0 when the core works, even with no pretrained weights present.
    """
    from qualitylab.doctor import environment_checks
    from qualitylab.weights import report

    checks = environment_checks()
    table = Table(title="environment", show_header=False)
    for check in checks:
        mark = (
            "[green]ok[/]" if check.ok else ("[red]FAIL[/]" if check.required else "[yellow]--[/]")
        )
        table.add_row(check.name, mark, check.detail)
    console.print(table)

    _print_weights(report())

    broken = [check.name for check in checks if check.required and not check.ok]
    if broken:
        errors.print(f"[red]The core does not work:[/] {', '.join(broken)}")
        raise typer.Exit(1)
    console.print("The core works.")


ManifestArg = Annotated[
    str, typer.Argument(help="CSV/TSV/JSONL/Parquet file, saved HF dataset dir, or hub id.")
]
VideoCol = Annotated[str, typer.Option(help="Column holding the video path.")]
PromptCol = Annotated[str, typer.Option(help="Column holding the prompt.")]
IdCol = Annotated[
    str | None,
    typer.Option(help="Column holding a unique id (default: 'id' or derived from the path)."),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="Target column(s); repeat or comma-separate (default: every numeric column)."
    ),
]
SplitOpt = Annotated[str | None, typer.Option(help="Split of a Hugging Face dataset.")]


def _split_list(values: list[str] | None) -> tuple[str, ...]:
    return tuple(name.strip() for item in values or () for name in item.split(",") if name.strip())


def _load_manifest(
    manifest: str,
    video_col: str,
    prompt_col: str,
    id_col: str | None,
    target: list[str] | None,
    split: str | None,
):
    from qualitylab.data.manifest import ColumnMapping, ManifestError, load_manifest

    targets = _split_list(target) or None
    mapping = ColumnMapping(video=video_col, prompt=prompt_col, id=id_col, targets=targets)
    try:
        return load_manifest(manifest, mapping, split=split)
    except ManifestError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1):
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@datasets_app.command("validate")
def datasets_validate(
    manifest: ManifestArg,
    video_col: VideoCol = "video",
    prompt_col: PromptCol = "prompt",
    id_col: IdCol = None,
    target: TargetOpt = None,
    split: SplitOpt = None,
    probe: Annotated[bool, typer.Option(help="Open every video to check it decodes.")] = True,
) -> None:
    """Load a dataset, print a summary and every problem with its row number; exit 1 on errors."""
    from qualitylab.data.manifest import validate_manifest

    loaded = _load_manifest(manifest, video_col, prompt_col, id_col, target, split)
    with _progress() as progress:
        task = progress.add_task("checking videos", total=len(loaded))
        report = validate_manifest(
            loaded,
            probe_videos=probe,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    _print_validation(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_validation(report) -> None:
    manifest = report.manifest
    console.print(f"[bold]{manifest.source}[/] ({manifest.format})")
    console.print(f"rows: {len(manifest)}    videos resolved against: {manifest.root}")
    if report.targets:
        table = Table("target", "count", "min", "mean", "max")
        for t in report.targets:
            table.add_row(
                t.name, str(t.count), f"{t.minimum:.4g}", f"{t.mean:.4g}", f"{t.maximum:.4g}"
            )
        console.print(table)
    else:
        console.print("targets: none")
    containers = ", ".join(f"{ext} {n}" for ext, n in sorted(report.containers.items()))
    console.print(f"containers: {containers or 'none'}")
    console.print(f"missing files: {report.missing_files}")
    for problem in report.problems:
        style = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{style}]{problem}[/]", highlight=False, markup=True)
    verdict = "[green]valid[/]" if report.ok else "[red]invalid[/]"
    console.print(f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")


@app.command("sample-data")
def sample_data(
    out_dir: Annotated[Path, typer.Argument(help="Directory to build the demo dataset in.")],
    clips: Annotated[int, typer.Option(help="Number of clips (24-40).")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed of defects and motion.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Rebuild even if OUT_DIR holds a dataset.")
    ] = False,
) -> None:
    """Build the embedded demo dataset: clips of scikit-image photographs with graded defects
    and a SYNTHETIC score (not human ratings)."""
    manifest = _build_demo(out_dir, clips, seed, overwrite)
    console.print(f"demo dataset (synthetic scores): {manifest}")


def _build_demo(out_dir: Path, clips: int, seed: int, overwrite: bool) -> Path:
    from qualitylab.data.samples import build_demo_dataset

    try:
        with _progress() as progress:
            task = progress.add_task("rendering demo clips", total=clips)
            return build_demo_dataset(
                out_dir,
                n_clips=clips,
                seed=seed,
                overwrite=overwrite,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (ValueError, FileExistsError) as exc:
        _fail(str(exc))


@app.command()
def demo(
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Where to put the demo data and features (default: the cache root)."),
    ] = None,
) -> None:
    """Run the main job on the embedded demo data: build it, validate it, extract the
    classical features."""
    from qualitylab.config import demo_dir
    from qualitylab.data.manifest import ColumnMapping, load_manifest, validate_manifest

    root = out_dir or demo_dir()
    manifest_path = _build_demo(root / "data", 32, 0, False)
    manifest = load_manifest(manifest_path, ColumnMapping(targets=("synthetic_score",)))
    report = validate_manifest(manifest)
    _print_validation(report)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"demo data: {manifest_path}  (synthetic_score is synthetic, not a human rating)")
    summary = _extract_with_progress(manifest, DEMO_FEATURES, root / "features")
    _finish_run(summary)


DEMO_FEATURES = ("ssim", "flow", "technical")


def _extract_with_progress(manifest, names, out: Path, workers: int | None = None, **options):
    """Run an extraction with a progress bar (videos, frames/s, time left)."""
    from qualitylab.features.run import RunError, extract_features

    with _progress(frames_per_second=True) as progress:
        task = progress.add_task("extracting", total=None, fps=0.0)
        started = time.perf_counter()
        decoded = 0

        def on_result(result) -> None:
            nonlocal decoded
            decoded += result.frames
            rate = decoded / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=1, fps=rate)

        try:
            return extract_features(
                manifest,
                names,
                out,
                workers=workers,
                on_start=lambda total: progress.update(task, total=total),
                on_result=on_result,
                **options,
            )
        except RunError as exc:
            _fail(str(exc))


@app.command("extract-features")
def extract_features(
    manifest: ManifestArg,
    features: Annotated[
        list[str],
        typer.Option(
            help="Extractors to run; comma-separate or repeat (see `qualitylab features list`)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Directory of the store and the feature tables.")],
    video_col: VideoCol = "video",
    prompt_col: PromptCol = "prompt",
    id_col: IdCol = None,
    target: TargetOpt = None,
    split: SplitOpt = None,
    fps: Annotated[float | None, typer.Option(help="Sample frames at this rate.")] = None,
    num_frames: Annotated[
        int | None, typer.Option(help="Sample this many frames uniformly.")
    ] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Use only the first K seconds.")] = None,
    short_side: Annotated[
        int | None, typer.Option(help="Resize frames so the shorter side has this many pixels.")
    ] = None,
    config: Annotated[
        list[str] | None,
        typer.Option(
            help="Extractor setting EXTRACTOR.KEY=VALUE, e.g. technical.dark_threshold=30; repeat."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes (0: one per CPU core).", min=0)
    ] = 0,
    allow_failures: Annotated[
        bool, typer.Option(help="Exit 0 even when some videos failed.")
    ] = False,
    device: Annotated[
        str | None,
        typer.Option(help="Learned extractors: auto, cpu, cuda or mps (default auto)."),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="Learned extractors: auto (fp16 on CUDA, else fp32), fp32, fp16, bf16."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Learned extractors: frames per model call (default 16).")
    ] = None,
) -> None:
    """Extract per-frame signals for every video of MANIFEST and write the feature tables.

    Each video is decoded once for all extractors; what is already stored is reused, so a
    re-run computes only what is missing and an interrupted run resumes. A bad video is
    recorded in OUT/failures.parquet and the run goes on.
    """
    from qualitylab.data.video import Sampling

    loaded = _load_manifest(manifest, video_col, prompt_col, id_col, target, split)
    try:
        sampling = Sampling(
            fps=fps, num_frames=num_frames, max_seconds=max_seconds, short_side=short_side
        )
        overrides = _parse_settings(config)
        names = _split_list(features)
        _apply_learned_settings(
            names, overrides, device=device, precision=precision, batch_size=batch_size
        )
    except (ValueError, KeyError) as exc:
        _fail(str(exc))
    summary = _extract_with_progress(
        loaded,
        names,
        out,
        workers=workers or None,
        sampling=sampling,
        overrides=overrides,
    )
    _finish_run(summary, allow_failures)


def _apply_learned_settings(names, overrides, **settings) -> None:
    """Give every learned extractor among ``names`` the --device/--precision/--batch-size
    settings that were given, unless --config set them for that extractor."""
    from qualitylab.features.registry import get_spec

    given = {key: value for key, value in settings.items() if value is not None}
    for name in names:
        if given and get_spec(name).weights:
            overrides[name] = {**given, **overrides.get(name, {})}


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


def _finish_run(summary, allow_failures: bool = False) -> None:
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
    """List the extractors: name, kind, version, signals, and the weights they need."""
    from qualitylab.features.registry import SPECS

    table = Table("extractor", "kind", "version", "signals", "weights", "description")
    for spec in SPECS:
        signals = ", ".join(signal.name for signal in spec.signals)
        table.add_row(
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
    from qualitylab.features.run import FAILURES_FILE, read_index, read_run_record
    from qualitylab.features.store import FeatureStore
    from qualitylab.features.tables import TABLE_FILES

    try:
        run = read_run_record(out)
        index = read_index(out)
    except FileNotFoundError as exc:
        _fail(str(exc))
    state = "finished" if run["finished"] else "unfinished (interrupted or running)"
    console.print(f"[bold]{out}[/]: last run {state}, {run['written']}")
    console.print(f"manifest: {run['manifest']} ({len(index)} rows)")
    console.print(f"sampling: {Sampling(**run['sampling']).describe()}")
    console.print(f"extractors: {', '.join(e['name'] for e in run['extractors'])}")
    groups = Table("extractor", "version", "config hash", "videos stored", title="store")
    for group in FeatureStore(out).groups():
        groups.add_row(group.extractor, group.version, group.config_hash, str(group.videos))
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
    """Show the stored signals of one video: length, min, mean, max and the first values."""
    import numpy as np

    from qualitylab.features.tables import video_signals

    try:
        row, signals = video_signals(out, video_id)
    except (FileNotFoundError, KeyError) as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc))
    console.print(f"[bold]{escape(video_id)}[/]: {row['video']}")
    console.print(f"prompt: {row['prompt']}", highlight=False)
    if signal is not None:
        if signal not in signals:
            _fail(f"no stored signal {signal!r} for {video_id!r}; stored: {', '.join(signals)}")
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
    from qualitylab.features.tables import TABLE_FILES, build_table

    if set_type not in SET_TYPES:
        _fail(f"--set {set_type!r}: choose one of {', '.join(SET_TYPES)}")
    try:
        table = build_table(out, set_type)
    except FileNotFoundError as exc:
        _fail(str(exc))
    path = to or out / TABLE_FILES[set_type]
    if path.suffix.lower() == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    console.print(f"{set_type}: {path} ({len(table)} rows × {table.shape[1]} columns)")


FeaturesArg = Annotated[
    Path,
    typer.Argument(help="A feature table (.parquet/.csv) or an extract-features --out directory."),
]


def _read_features(path: Path):
    from qualitylab.features.tables import read_feature_table

    try:
        return read_feature_table(path)
    except FileNotFoundError as exc:
        _fail(str(exc))


@app.command()
def train(
    features: FeaturesArg,
    target: Annotated[str, typer.Option(help="Column to predict, e.g. human_score.")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    task: Annotated[str, typer.Option(help="regression or classification.")] = "regression",
    threshold: Annotated[
        float, typer.Option(help="Classification: a row is positive when target >= threshold.")
    ] = 5.5,
    space: Annotated[
        str,
        typer.Option(
            help="Feature families and sets: 'all', or e.g. 'clip_b32:combined,ssim,flow'."
        ),
    ] = "all",
    trials: Annotated[int, typer.Option(help="Optuna trials.", min=1)] = 30,
    cv: Annotated[int, typer.Option(help="Cross-validation folds.", min=2)] = 5,
    group_by: Annotated[
        str | None,
        typer.Option(help="Keep rows sharing this column's value in one fold (e.g. prompt)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of splits, search and forest.")] = 0,
) -> None:
    """Train a Random Forest on FEATURES: Optuna on an 80/20 split, K-fold CV, final fit.

    Writes MODEL_DIR/model.skops, predictor.json, metrics.json and oof.csv, and prints
    the cross-validated metrics with bootstrap 95% confidence intervals.
    """
    import optuna

    from qualitylab.learn.predictor import save_predictor
    from qualitylab.learn.spaces import parse_space
    from qualitylab.learn.train import TrainConfig
    from qualitylab.learn.train import train as train_model

    table, extractors = _read_features(features)
    try:
        config = TrainConfig(
            target=target,
            task=task,
            threshold=threshold,
            trials=trials,
            cv=cv,
            group_by=group_by,
            seed=seed,
        )
        chosen = parse_space(space, list(table.columns))
    except ValueError as exc:
        _fail(str(exc))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with console.status(f"training on {len(table)} rows × {len(chosen.columns)} features"):
        try:
            result = train_model(table, list(chosen.columns), config)
        except ValueError as exc:
            _fail(str(exc))
    save_predictor(out, result, table, space=chosen.name, extractors=extractors)
    _print_metrics(result)
    console.print(f"model: {out}")


def _print_metrics(result) -> None:
    from qualitylab.learn.metrics import format_mean_std

    config = result.config
    grouped = f", grouped by {config.group_by}" if config.group_by else ""
    console.print(
        f"{config.task} of {config.target} on {result.rows} rows × {len(result.columns)} features; "
        f"{config.cv}-fold CV{grouped}"
        + (f"; {len(result.dropped)} all-NaN features dropped" if result.dropped else "")
        + (
            f"; {result.rows_without_target} rows without a target left out"
            if result.rows_without_target
            else ""
        )
    )
    table = Table("metric", "CV mean ± std", "out-of-fold", "95% CI (bootstrap)")
    for name, values in result.metrics.items():
        low, high = values["ci"]
        table.add_row(
            name,
            format_mean_std(values["mean"], values["std"]),
            f"{values['oof']:.3f}",
            f"[{low:.3f}, {high:.3f}]",
        )
    console.print(table)


@app.command()
def predict(
    features: FeaturesArg,
    model: Annotated[Path, typer.Option(help="A model directory written by `qualitylab train`.")],
    out: Annotated[Path, typer.Option(help="CSV file of predictions.")],
) -> None:
    """Predict with a trained model for every row of FEATURES; write id, video, prompt,
    predicted_score (and probability for classification)."""
    from qualitylab.learn.predictor import PredictorError, load_predictor

    table, _ = _read_features(features)
    try:
        predictions = load_predictor(model).predict(table)
    except PredictorError as exc:
        _fail(str(exc))
    predictions.to_csv(out, index=False)
    console.print(f"{len(predictions)} predictions: {out}")


@app.command()
def grid(
    features: FeaturesArg,
    out: Annotated[Path, typer.Option(help="Directory of results, Optuna studies and tables.")],
    experiment: Annotated[
        Path, typer.Option(help="Experiment YAML (e.g. experiments/thesis_grid.yaml).")
    ] = Path("experiments/thesis_grid.yaml"),
    target: Annotated[str | None, typer.Option(help="Override the experiment's target.")] = None,
    trials: Annotated[
        int | None, typer.Option(help="Override the experiment's Optuna trials.")
    ] = None,
    group_by: Annotated[
        str | None, typer.Option(help="Override the experiment's group column.")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Override the classification threshold (target >= it).")
    ] = None,
    jobs: Annotated[int | None, typer.Option(help="Parallel spaces (0: one per core).")] = None,
) -> None:
    """Run the thesis grid: every feature space present × regression and classification.

    Resumable: finished spaces are kept and saved Optuna searches continue.
    """
    from qualitylab.learn.experiment import load_experiment
    from qualitylab.learn.grid import run_grid

    table, _ = _read_features(features)
    try:
        loaded = load_experiment(experiment)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    try:
        loaded = loaded.with_overrides(
            target=target, trials=trials, group_by=group_by, threshold=threshold, n_jobs=jobs
        )
    except ValueError as exc:
        _fail(str(exc))
    with _progress() as progress:
        task = progress.add_task("grid", total=None)
        try:
            summary = run_grid(
                table,
                loaded,
                out,
                on_start=lambda jobs: progress.update(task, total=jobs),
                on_job=lambda name: progress.update(task, advance=1),
            )
        except ValueError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            errors.print(
                f"interrupted: the finished spaces are kept in {out}; "
                "run the same command again to continue"
            )
            raise typer.Exit(130) from None
    console.print(f"{summary.ran} (task, space) trained, {summary.reused} reused from {out}")
    if summary.skipped:
        from collections import Counter

        console.print(
            f"{len(summary.skipped)} spaces skipped (each listed in {out / 'skipped.txt'}):"
        )
        reasons = Counter(reason for _, why in summary.skipped for reason in why.split("; "))
        for reason, count in reasons.most_common():
            console.print(f"  {reason}: {count} spaces", highlight=False)
    for path in summary.tables:
        if path.suffix == ".md":
            console.print(path.read_text(), highlight=False, markup=False)


KeysArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="[KEY]...", help="Models by key (see `qualitylab weights list`)."),
]


def _chosen_models(keys: list[str] | None, every: bool) -> list:
    """The catalogue entries named by ``keys``, or all of them when ``every``."""
    from qualitylab.weights import CATALOGUE, find_model

    if keys and every:
        _fail("name models or pass --all, not both")
    if every:
        return list(CATALOGUE)
    if not keys:
        _fail("name at least one model (see `qualitylab weights list`), or pass --all")
    try:
        return [find_model(key) for key in keys]
    except KeyError as exc:
        _fail(exc.args[0])


def _format_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _print_weights(report) -> None:
    """The pretrained-weights table (of `weights list` and `doctor`), then the notes on
    partial local copies and unpinned revisions, then what fetches each missing model."""
    from qualitylab.weights import disk_size

    table = Table(
        Column("model", no_wrap=True),
        "status",
        "used for",
        "where",
        "size",
        title="pretrained weights",
    )
    for found in report:
        if found.present:
            where = "\n".join([found.where, *map(str, found.directories())])
            status, size = "[green]present[/]", _format_size(disk_size(found))
        else:
            where, status, size = "", "[yellow]missing[/]", ""
        table.add_row(found.model.key, status, found.model.description, escape(where), size)
    console.print(table)
    for found in report:
        if found.local_lacks:
            console.print(
                f"{found.model.key}: the local copy {found.model.local_dir()} is incomplete and "
                f"not used; it lacks {', '.join(found.local_lacks)}",
                markup=False,
                highlight=False,
            )
        for repo in found.model.unpinned_repos():
            console.print(
                f"{found.model.key}: revision not pinned for {repo} (its main branch is used)",
                markup=False,
                highlight=False,
            )
    missing = [found for found in report if not found.present]
    if missing:
        console.print(
            "To fetch the missing weights, run the first command (or the ones below it), or "
            "copy the files in with `qualitylab weights import KEY DIR`:",
            markup=False,
            highlight=False,
        )
    for found in missing:
        lines = [
            f"  {found.model.key}  (local copy: {found.model.local_dir()})",
            f"    {found.download_command}",
            *(f"    or: {command}" for command in found.fetch_commands()),
            *([f"    note: {found.model.note}"] if found.model.note else []),
        ]
        console.print("\n".join(lines), markup=False, highlight=False)


@weights_app.command("list")
def weights_list() -> None:
    """List every pretrained model: what it is for, whether it is here, where and its size
    on disk, and for a missing one the command that fetches it."""
    from qualitylab.weights import report

    _print_weights(report())


@weights_app.command("download")
def weights_download(
    keys: KeysArg = None,
    every: Annotated[
        bool, typer.Option("--all", help="Fetch every model of the catalogue.")
    ] = False,
) -> None:
    """Fetch models into the Hugging Face or torch hub cache, at their pinned revisions.

    Models already present are left alone. Exits 1 when a model could not be fetched; the
    message says why and what to do (e.g. on a machine without internet access).
    """
    from qualitylab.weights import download

    models = _chosen_models(keys, every)
    styles = {"present": "green", "downloaded": "green", "failed": "red", "skipped": "yellow"}
    not_fetched: list[str] = []
    hints: dict[str, None] = {}
    for result in download(models):
        style = styles[result.status]
        console.print(
            f"{result.model.key}: [{style}]{result.status}[/]: {escape(result.message)}",
            highlight=False,
        )
        if result.status in ("failed", "skipped"):
            not_fetched.append(result.model.key)
            hints.setdefault(result.hint)
    if not_fetched:
        for hint in filter(None, hints):
            errors.print(hint, markup=False, highlight=False)
        _fail(f"{len(not_fetched)} of {len(models)} model(s) not fetched: {', '.join(not_fetched)}")


@weights_app.command("import")
def weights_import(
    key: Annotated[str, typer.Argument(help="The model (see `qualitylab weights list`).")],
    directory: Annotated[
        Path,
        typer.Argument(
            help="A directory holding the model's files, e.g. its Hugging Face snapshot "
            "directory copied from another machine."
        ),
    ],
    replace: Annotated[bool, typer.Option(help="Replace an existing local copy.")] = False,
) -> None:
    """Copy a model's files from DIRECTORY into its local weights directory, after checking
    that every file it needs is there and whole."""
    from qualitylab.weights import WeightsError, availability, disk_size, import_weights

    (model,) = _chosen_models([key], False)
    try:
        target = import_weights(model, directory, replace=replace)
    except WeightsError as exc:
        if exc.hint:
            errors.print(exc.hint, markup=False, highlight=False)
        _fail(str(exc))
    except OSError as exc:
        _fail(f"copying {directory} failed: {exc}")
    size = _format_size(disk_size(availability(model)))
    console.print(f"{key}: imported into {target} ({size})", markup=False, highlight=False)


@weights_app.command("verify")
def weights_verify(keys: KeysArg = None) -> None:
    """Check the files of present models (all, or those named): each there, non-empty, and
    matching its SHA-256 where one is known. Exits 1 on any problem."""
    from qualitylab.weights import verify

    models = _chosen_models(keys, not keys)
    failed: list[str] = []
    for model in models:
        with errors.status(f"checking {model.key}"):
            result = verify(model)
        problems = list(result.problems)
        if not result.present and keys:
            problems.append(f"missing: fetch it with `qualitylab weights download {model.key}`")
        if problems:
            failed.append(model.key)
            console.print(f"{model.key}: [red]{len(problems)} problem(s)[/]")
            for problem in problems:
                console.print(f"  {problem}", markup=False, highlight=False)
        elif result.present:
            console.print(f"{model.key}: [green]ok[/] ({result.files} files)")
        else:
            console.print(f"{model.key}: [yellow]missing[/], not checked")
    if failed:
        _fail(f"{len(failed)} model(s) with problems: {', '.join(failed)}")
