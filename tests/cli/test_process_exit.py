"""The console command ends with its own status, never with a native library's abort.

Arrow's dataset scanner can leave a C++ thread that makes the interpreter's teardown
abort (SIGABRT, "terminate called without an active exception") after the command has
done its work: on this machine about one process in two that read Parquet through
``pq.read_table`` ended so.  :func:`passerelle.cli.run` ends the process itself once
Python's own exit work is done.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import atexit, io, sys
    from pathlib import Path
    import passerelle.cli as cli

    def command():
        import pyarrow as pa
        import pyarrow.parquet as pq
        buf = io.BytesIO()
        pq.write_table(pa.table({"a": list(range(100))}), buf)
        table = pq.read_table(io.BytesIO(buf.getvalue()))  # the dataset scanner's threads
        atexit.register(Path(sys.argv[2]).write_text, "exit handlers ran")
        print(table.num_rows, end="")
        how = sys.argv[1]
        if how == "exit-3":
            sys.exit(3)
        if how == "raise":
            raise RuntimeError("boom")

    cli.main = command
    cli.run()
    """
)


def _start(how: str, marker: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, how, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.parametrize(("how", "status"), [("ok", 0), ("exit-3", 3), ("raise", 1)])
def test_the_command_status_survives_native_teardown(tmp_path: Path, how: str, status: int) -> None:
    runs = []
    for i in range(8):
        marker = tmp_path / f"ran-{i}"
        runs.append((_start(how, marker), marker))
    for proc, marker in runs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == status, err
        assert out == "100"
        assert "terminate called" not in err
        assert marker.read_text() == "exit handlers ran"  # Python's own exit work still done
        assert ("RuntimeError: boom" in err) == (how == "raise")
