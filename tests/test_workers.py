"""Worker processes: freed large arrays are reused instead of being faulted in again, and
Ctrl-C stops the workers and leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

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


CHILD = textwrap.dedent(
    """
    import sys, time
    from concurrent.futures import process
    from qualitylab.workers import worker_pool

    if __name__ == "__main__":
        try:
            with worker_pool(2) as executor:
                futures = [executor.submit(time.sleep, 60) for _ in range(4)]
                print("ready", flush=True)
                time.sleep(60)
        except KeyboardInterrupt:
            alive = [t.name for t in process._threads_wakeups if t.is_alive()]
            print("interrupted; threads left for the exit to join:", alive, flush=True)
            sys.exit(130)
    """
)


def test_ctrl_c_stops_the_workers_and_leaves_no_thread_for_the_exit(tmp_path) -> None:
    # A thread left for the interpreter's exit to join is what a second Ctrl-C interrupted
    # with a stray "Exception ignored in: <module 'threading'>" traceback.
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "threads left for the exit to join: []" in out
    assert "Traceback" not in err and "Exception ignored" not in err
