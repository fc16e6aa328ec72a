"""The feature store: what it holds, and removing what no run needs any more."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qualitylab.cli.common import StoreOpt, command_group, console, fail

store_app = command_group("store", "Inspect and clean the feature store.")


def _root(store):
    from qualitylab.config import store_dir

    root = store.expanduser().resolve() if store is not None else store_dir()
    if not root.is_dir():
        fail(f"{root}: no feature store there (extract-features creates it)")
    return root


@store_app.command("stats")
def stats(store: StoreOpt = None) -> None:
    """Records per extractor, version and config; videos; bytes; the runs the store knows."""
    from qualitylab.features.housekeeping import store_stats

    found = store_stats(_root(store))
    table = Table("extractor", "version", "config", "records", "MB", title=str(found.root))
    for group in found.groups:
        table.add_row(
            group.extractor,
            group.version,
            group.config_hash,
            str(group.records),
            f"{group.bytes / 2**20:.1f}",
        )
    console.print(table)
    records = sum(group.records for group in found.groups)
    console.print(
        f"{records} records, {found.videos} videos, {found.bytes / 2**20:.1f} MB in all "
        f"(row cache {found.row_cache_bytes / 2**20:.1f} MB); runs: {len(found.live_runs)} "
        f"live, {len(found.gone_runs)} gone"
    )
    for run_dir in found.live_runs:
        console.print(f"  live: {escape(str(run_dir))}")
    for run_dir in found.gone_runs:
        console.print(f"  gone: {escape(str(run_dir))}")


@store_app.command("gc")
def gc(
    store: StoreOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Delete (default: only list).")] = False,
    min_age: Annotated[
        float, typer.Option(help="Keep records written less than this many seconds ago.", min=0)
    ] = 3600.0,
) -> None:
    """Remove the records no live run references (a dry run unless --yes).

    A run is live while its directory exists and still uses this store; records written
    in the last --min-age seconds are kept, since a run in progress needs them.
    """
    from qualitylab.features.housekeeping import collect_garbage

    garbage = collect_garbage(_root(store), delete=yes, min_age_s=min_age)
    verb = "removed" if garbage.deleted else "would remove"
    console.print(
        f"{verb} {len(garbage.records)} records, {len(garbage.facts)} video facts, "
        f"{len(garbage.row_caches)} row caches ({garbage.bytes / 2**20:.1f} MB) and "
        f"{len(garbage.gone_runs)} gone runs; kept {garbage.kept_young} recent records"
    )
    for run_dir in garbage.gone_runs:
        console.print(f"  gone: {escape(str(run_dir))}")
    if not garbage.deleted and (garbage.records or garbage.facts or garbage.row_caches):
        console.print("run again with --yes to delete")
