"""Finding a run's processes, as the tests that stop or kill them need: by a token the test
puts in the run's environment (inherited by every process it starts), through ``/proc``."""

from __future__ import annotations

import contextlib
import os


def processes(token: str, but: int = -1) -> list[int]:
    """The living processes with ``token`` in their environment, but ``but`` (zombies, dead
    but not reaped, are left out)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/environ", "rb") as f:
            if token.encode() in f.read() and int(pid) != but:
                with open(f"/proc/{pid}/stat", "rb") as s:
                    if s.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                        found.append(int(pid))
    return found


def open_data_file(pid: int) -> str | None:
    """The name of the ``.h5ad`` file process ``pid`` has open (is auditing), if any."""
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.endswith(".h5ad"):
                    return target.rsplit("/", 1)[-1]
    return None
