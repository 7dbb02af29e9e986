"""A step's processes die with the worker that runs them, however the worker dies.

A step's command runs in a session of its own (its own process group), so that stopping it
reaches its children and grandchildren — and so that the worker's death does not: a worker
SIGKILLed or taken by the OOM killer would leave the step running as an orphan while its
attempt, declared LOST, is retried elsewhere. Two writers at once.

The fence: beside every step's process group, a warden — ``/bin/sh`` running one ``read`` on
a pipe whose only write end the worker holds (close-on-exec, so no step inherits it). The
kernel closes that end when the worker process dies, whatever killed it; the warden's
``read`` then returns nothing and it SIGKILLs the whole group. When the step ends under the
worker's control, the worker writes ``done`` and the warden leaves without killing (so a
recycled group id is never hit).

Why this and not ``PR_SET_PDEATHSIG``: that signal reaches only the direct child, and fires
when the *thread* that started it exits — a step's grandchildren (what ``sh -c`` starts) would
survive, and a worker thread ending would kill a healthy step. A subreaper would need the
worker to be PID 1's stand-in. A shell warden costs a fork and a ``read`` (about a
millisecond), needs no Python start-up, and holds nothing but the pipe.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable

#: $1: the group to kill when the worker's end of the pipe closes without "done"
_SCRIPT = 'trap "" INT TERM HUP; read -r line; [ "$line" = done ] || kill -KILL "-$1"; exit 0'


class Warden:
    """Kills process group ``pgid`` if this process dies before calling ``release``."""

    def __init__(self, pgid: int) -> None:
        read_end, self._write_end = os.pipe()  # both close-on-exec: no step inherits them
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", _SCRIPT, "maestro-warden", str(pgid)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C meant for the worker does not reach it
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)
        self.pid = self._proc.pid

    def release(self) -> None:
        """The group ended (or was stopped) under the worker's control: leave it alone."""
        with contextlib.suppress(OSError):
            os.write(self._write_end, b"done\n")
        with contextlib.suppress(OSError):
            os.close(self._write_end)
        self._proc.wait()


def guard(pgid: int, kill: Callable[[], None]) -> Warden:
    """A warden for ``pgid``; if none can be started, ``kill`` the group and raise (a step
    that could outlive its worker does not run)."""
    try:
        return Warden(pgid)
    except BaseException:
        kill()
        raise
