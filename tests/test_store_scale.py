"""The shared store at scale: claims between concurrent writers, stats and garbage
collection, and tables built incrementally from the row cache."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.data.video import Sampling, write_video
from qualitylab.features import store as store_module
from qualitylab.features.aggregate import feature_table
from qualitylab.features.extract import VideoTask, extract_video, plan_extractors
from qualitylab.features.extraction_run import extract_features
from qualitylab.features.housekeeping import collect_garbage, store_stats
from qualitylab.features.store import FeatureStore, SignalRecord
from qualitylab.features.tables import build_table, load_signals

FEATURES = ("ssim", "technical")
runner = CliRunner()


def textured_video(path, seed, num_frames=6, size=(32, 40)):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[0], size[1] + num_frames, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(base[:, i : i + size[1]]) for i in range(num_frames)]
    return write_video(path, frames, fps=8)


def write_manifest(directory, name, seeds):
    for seed in seeds:
        video = directory / "videos" / f"v{seed}.mp4"
        if not video.exists():
            textured_video(video, seed)
    rows = [
        {"id": f"v{s}", "video": f"videos/v{s}.mp4", "prompt": f"p{s}", "score": s} for s in seeds
    ]
    path = directory / f"{name}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def load(path):
    return load_manifest(path, ColumnMapping(targets=("score",)))


_HOLD_CLAIM = """
import sys, time
from qualitylab.features.store import FeatureStore, StoreKey
claim = FeatureStore(sys.argv[1]).claim(StoreKey(*sys.argv[2:]))
print("held" if claim else "busy", flush=True)
time.sleep(60)
"""


def test_a_claim_excludes_others_and_dies_with_its_holder(tmp_path):
    store = FeatureStore(tmp_path)
    key = store_module.record_key("ab" * 32, "ssim", "1", "0" * 16)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CLAIM, str(tmp_path), *vars(key).values()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert store.claim(key) is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The writer died without releasing: its claim went with it.
    claim = store.claim(key)
    assert claim is not None
    assert store.claim(key) is None  # held by us now, also against this process
    claim.release()
    assert not claim.path.exists()
    assert store.claim(key) is not None


def test_a_run_waits_for_a_claimed_record_and_takes_it(tmp_path):
    video = textured_video(tmp_path / "v.mp4", seed=1)
    plans = plan_extractors(["ssim"], Sampling())
    store = FeatureStore(tmp_path / "store")
    task = VideoTask("v", str(video), "p")
    sha256 = store_module.hashlib.sha256(video.read_bytes()).hexdigest()
    key = plans[0].key(sha256, "p")
    claim = store.claim(key)  # another writer is computing it
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(result=extract_video(task, plans, Sampling(), store.root))
    )
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive()  # waiting for the claim
    record = SignalRecord({"adjacent": np.ones(5, np.float32)}, np.arange(6), np.arange(6) / 8)
    store.put(key, record)
    claim.release()
    worker.join(30)
    result = outcome["result"]
    assert result.computed == [] and result.reused == ["ssim"] and not result.failures
    np.testing.assert_array_equal(store.get(key).signals["adjacent"], np.ones(5))


def test_a_run_computes_what_a_failed_writer_left(tmp_path):
    video = textured_video(tmp_path / "v.mp4", seed=2)
    plans = plan_extractors(["ssim"], Sampling())
    store = FeatureStore(tmp_path / "store")
    sha256 = store_module.hashlib.sha256(video.read_bytes()).hexdigest()
    claim = store.claim(plans[0].key(sha256, "p"))
    threading.Timer(0.3, claim.release).start()  # the other writer gives up, storing nothing
    result = extract_video(VideoTask("v", str(video), "p"), plans, Sampling(), store.root)
    assert result.computed == ["ssim"] and not result.failures


_RUN = """
import json, sys
from qualitylab.data.manifest import ColumnMapping, load_manifest
from qualitylab.features.extraction_run import extract_features
manifest = load_manifest(sys.argv[1], ColumnMapping(targets=("score",)))
summary = extract_features(manifest, ["ssim", "technical"], sys.argv[2], workers=1, store=sys.argv[3])
print(json.dumps({r.task.id: r.computed for r in summary.results}))
"""


@pytest.mark.slow
def test_two_processes_on_overlapping_manifests_compute_each_record_once(tmp_path):
    first = write_manifest(tmp_path, "first", range(0, 8))
    second = write_manifest(tmp_path, "second", range(2, 10))
    store = tmp_path / "store"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN, str(manifest), str(tmp_path / name), str(store)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for manifest, name in ((first, "one"), (second, "two"))
    ]
    computed = [json.loads(run.communicate(timeout=300)[0]) for run in runs]
    assert all(run.returncode == 0 for run in runs)
    counts = pd.Series(
        [(video, name) for run in computed for video, names in run.items() for name in names]
    ).value_counts()
    assert len(counts) == 10 * len(FEATURES) and counts.max() == 1  # nothing twice, nothing lost
    one, two = build_table(tmp_path / "one"), build_table(tmp_path / "two")
    assert len(one) == len(two) == 8
    shared = one.set_index("id").loc[[f"v{s}" for s in range(2, 8)]]
    pd.testing.assert_frame_equal(
        shared.drop(columns=["video"]),
        two.set_index("id").loc[shared.index].drop(columns=["video"]),
    )
    assert not list(store.rglob("*.claim"))


def test_tables_are_built_from_the_row_cache_and_equal_a_full_rebuild(tmp_path, monkeypatch):
    store = tmp_path / "store"
    out = tmp_path / "run"
    extract_features(
        load(write_manifest(tmp_path, "m", range(3))), FEATURES, out, store=store, workers=1
    )
    reads = []
    original = FeatureStore.get
    monkeypatch.setattr(
        FeatureStore, "get", lambda self, key: reads.append(key) or original(self, key)
    )
    table = build_table(out, "combined")
    assert reads == []  # every row came from the cache
    index, rows = load_signals(out)  # the naive reference: every record read again
    reads.clear()
    reference = pd.concat([index.drop(columns=["sha256"]), feature_table(rows, "combined")], axis=1)
    pd.testing.assert_frame_equal(table, reference)
    # A run over one more video reads only that video's records.
    reads.clear()
    extract_features(
        load(write_manifest(tmp_path, "m2", range(4))),
        FEATURES,
        tmp_path / "run2",
        store=store,
        workers=1,
    )
    assert {key.sha256 for key in reads} == {
        store_module.hashlib.sha256((tmp_path / "videos" / "v3.mp4").read_bytes()).hexdigest()
    }
    agg = build_table(tmp_path / "run2", "agg")
    assert agg.filter(like="ssim.adjacent.").shape[1] == 15 and len(agg) == 4


def test_stats_and_gc_keep_what_live_runs_need(tmp_path):
    store = tmp_path / "store"
    extract_features(
        load(write_manifest(tmp_path, "a", [0, 1])),
        FEATURES,
        tmp_path / "a",
        store=store,
        workers=1,
    )
    extract_features(
        load(write_manifest(tmp_path, "b", [1, 2])),
        FEATURES,
        tmp_path / "b",
        store=store,
        workers=1,
    )
    stats = store_stats(store)
    assert [(g.extractor, g.records) for g in stats.groups] == [("ssim", 3), ("technical", 3)]
    assert stats.videos == 3 and len(stats.live_runs) == 2 and stats.bytes > 0
    assert collect_garbage(store, min_age_s=0).records == []
    shutil.rmtree(tmp_path / "b")
    assert len(collect_garbage(store).records) == 0  # young records are kept by default
    dry = collect_garbage(store, min_age_s=0)
    assert len(dry.records) == 2 and len(dry.facts) == 1 and dry.gone_runs == [tmp_path / "b"]
    assert all(path.exists() for path in dry.records)  # a dry run deletes nothing
    done = collect_garbage(store, delete=True, min_age_s=0)
    assert done.deleted and not any(path.exists() for path in done.records)
    after = store_stats(store)
    assert [g.records for g in after.groups] == [2, 2] and after.gone_runs == []
    assert len(build_table(tmp_path / "a")) == 2


def test_store_commands(tmp_path):
    store = tmp_path / "store"
    extract_features(
        load(write_manifest(tmp_path, "a", [0])), FEATURES, tmp_path / "a", store=store, workers=1
    )
    shutil.rmtree(tmp_path / "a")
    shown = runner.invoke(app, ["store", "stats", "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert "ssim" in shown.output and "0 live, 1 gone" in shown.output
    dry = runner.invoke(app, ["store", "gc", "--store", str(store), "--min-age", "0"])
    assert dry.exit_code == 0 and "would remove 2 records" in dry.output
    assert len(list(FeatureStore(store).record_paths())) == 2
    gone = runner.invoke(app, ["store", "gc", "--store", str(store), "--min-age", "0", "--yes"])
    assert gone.exit_code == 0 and "removed 2 records" in gone.output
    assert list(FeatureStore(store).record_paths()) == []
    missing = runner.invoke(app, ["store", "stats", "--store", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "no feature store" in missing.output


def test_claims_leave_no_files_behind(tmp_path):
    store = tmp_path / "store"
    extract_features(
        load(write_manifest(tmp_path, "a", [0, 1])),
        FEATURES,
        tmp_path / "a",
        store=store,
        workers=1,
    )
    assert not list(store.rglob("*.claim"))
    assert os.listdir(store / "runs")


def test_row_cache_parts_are_merged_and_read_back(tmp_path):
    from qualitylab.features.rowcache import _MERGE_AT, RowCache

    cache = RowCache(tmp_path, "key")
    columns = ["ssim.adjacent.ewm_0.1", "ssim.adjacent.f000"]
    for index in range(_MERGE_AT):
        cache.add(pd.DataFrame([[index, np.nan]], columns=columns, index=[f"sha{index}"]))
    assert len(list(cache.directory.glob("part-*.parquet"))) == 1
    cache.add(pd.DataFrame([[-1.0, 2.0]], columns=columns, index=["sha3"]))  # written again
    rows = cache.read(["sha3", "sha5", "unknown"])
    assert rows.index.tolist() == ["sha5", "sha3"] or rows.index.tolist() == ["sha3", "sha5"]
    assert rows.loc["sha3"].tolist() == [-1.0, 2.0] and rows.columns.tolist() == columns
    assert rows.loc["sha5", columns[0]] == 5 and np.isnan(rows.loc["sha5", columns[1]])
    assert cache.read([]).empty
