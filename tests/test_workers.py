"""Tests for the process pools: Ctrl-C stops the workers and leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

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
