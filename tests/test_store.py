import os
import subprocess
import sys

import numpy as np

from qualitylab.features.store import FeatureStore, SignalRecord, record_key


def make_record(length: int = 5) -> SignalRecord:
    return SignalRecord(
        signals={
            "a": np.arange(length, dtype=np.float32),
            "b": np.zeros(max(length - 1, 0), np.float32),
        },
        frame_indices=np.arange(length),
        timestamps=np.arange(length) / 8,
        config={"threshold": 3},
        sampling={"fps": None},
    )


def test_put_get_round_trip(tmp_path):
    store = FeatureStore(tmp_path)
    key = record_key("ab" * 32, "technical", "1", "0123456789abcdef")
    assert not store.has(key)
    store.put(key, make_record())
    assert store.has(key)
    assert store.path(key).parent.name == "ab"
    record = store.get(key)
    np.testing.assert_array_equal(record.signals["a"], np.arange(5, dtype=np.float32))
    assert record.signals["a"].dtype == np.float32
    np.testing.assert_array_equal(record.timestamps, np.arange(5) / 8)
    assert record.config == {"threshold": 3}


def test_empty_signals_round_trip(tmp_path):
    store = FeatureStore(tmp_path)
    key = record_key("cd" * 32, "ssim", "1", "0" * 16)
    store.put(key, make_record(length=1))
    assert store.get(key).signals["b"].shape == (0,)


def test_prompt_is_part_of_the_key():
    plain = record_key("ef" * 32, "clip", "1", "0" * 16)
    cat = record_key("ef" * 32, "clip", "1", "0" * 16, prompt="a cat")
    dog = record_key("ef" * 32, "clip", "1", "0" * 16, prompt="a dog")
    assert len({plain.config_hash, cat.config_hash, dog.config_hash}) == 3


def test_groups_and_temporary_files(tmp_path):
    store = FeatureStore(tmp_path)
    for index in range(3):
        store.put(record_key(f"{index:02d}" * 32, "ssim", "1", "a" * 16), make_record())
    store.put(record_key("00" * 32, "ssim", "2", "b" * 16), make_record())
    record_dir = store.path(record_key("00" * 32, "ssim", "1", "a" * 16)).parent
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    leftover = record_dir / f"x.parquet.tmp-{finished.stdout.strip()}-2"
    leftover.write_bytes(b"partial")
    # Another run writing into the same store right now: its file must survive.
    in_flight = record_dir / f"y.parquet.tmp-{os.getpid()}-3"
    in_flight.write_bytes(b"being written")
    assert [(g.extractor, g.version, g.videos) for g in store.groups()] == [
        ("ssim", "1", 3),
        ("ssim", "2", 1),
    ]
    assert store.remove_temporary_files() == 1
    assert not leftover.exists()
    assert in_flight.exists()


def test_video_facts_round_trip(tmp_path):
    store = FeatureStore(tmp_path)
    assert store.video_facts("ab" * 32) is None
    store.put_video_facts("ab" * 32, {"video_fps": 8.0, "video_warnings": ["cut short"]})
    assert store.video_facts("ab" * 32) == {"video_fps": 8.0, "video_warnings": ["cut short"]}
