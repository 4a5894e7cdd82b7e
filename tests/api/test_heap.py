"""The served process's heap is settled: what is alive at start leaves the collector's
generations, so a full collection later walks only what came after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_settling_moves_the_live_heap_out_of_the_collectors_generations() -> None:
    # In a child: frozen objects are never freed, which no test process should keep.
    script = (
        "import gc\n"
        "from passerelle.api import create_app\n"
        "from passerelle.api.heap import settle_now_and_after_warm_up\n"
        "before = len(gc.get_objects())\n"
        "timer = settle_now_and_after_warm_up(3600)\n"
        "after = len(gc.get_objects())\n"
        "assert timer.daemon and timer.is_alive(), 'the second settling is pending'\n"
        "timer.cancel()\n"
        "print(before, after, gc.get_freeze_count())\n"
        "print(*gc.get_threshold())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    settled, thresholds = done.stdout.splitlines()
    before, after, frozen = (int(n) for n in settled.split())
    assert frozen >= before // 2
    from passerelle.api.heap import SERVER_THRESHOLDS

    assert tuple(int(n) for n in thresholds.split()) == SERVER_THRESHOLDS
    assert after < before // 10


def test_the_worker_processes_settle_their_heap(tmp_path: Path) -> None:
    script = (
        "import gc, os, sys\n"
        "from pathlib import Path\n"
        "from passerelle import hub as H\n"
        "from passerelle.api.workers import HUB_VARIABLE, THREADS_VARIABLE, worker_app\n"
        "H.init_hub(Path(sys.argv[1]))\n"
        "os.environ[HUB_VARIABLE] = sys.argv[1]\n"
        "os.environ[THREADS_VARIABLE] = '2,2,2'\n"
        "assert gc.get_freeze_count() == 0\n"
        "worker_app()\n"
        "print(gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"{tmp_path}/hub"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert int(done.stdout.split()[-1]) > 10_000
