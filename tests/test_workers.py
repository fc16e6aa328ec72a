"""Worker processes: freed large arrays are reused instead of being faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qualitylab.workers import retain_freed_memory

_FAULTS = """
import resource, sys
import numpy as np
from qualitylab.workers import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = np.ones(2_000_000, np.float32)  # 8 MB, freed at the next assignment
    b = a * 2
    del a, b
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_retained_memory_is_not_faulted_in_again() -> None:
    if not retain_freed_memory():
        pytest.skip("the C library has no mallopt (not glibc)")
    default, retained = _page_faults("default"), _page_faults("retain")
    # Two 8 MB arrays handed back to the system after each of 20 rounds are faulted in
    # again in the next (tens of thousands of pages); retained, only the first round's are.
    assert default > 10_000
    assert retained < default / 5
