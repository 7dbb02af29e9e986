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

The step is started *held* (:class:`Hold`): a ``/bin/sh`` that reads one line from a second
pipe before it ``exec``s the command, with the same pid, hence the same process group. The
worker writes ``go`` only once the warden stands. A worker killed between the two starts closes
that pipe too: the held shell reads nothing and exits without running the command. So there is
no instant in which a step runs unfenced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping

#: read "go" on stdin, then become the command ("$@") with stdin from /dev/null; anything else
#: (the worker died before its warden stood) ends here, the command never started
_HOLD_SCRIPT = 'IFS= read -r line && [ "$line" = go ] || exit 125; exec "$@" </dev/null'
#: the exit code of a held command whose worker never let it go
HELD_EXIT = 125

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


def _check_program(name: str, env: Mapping[str, str] | None, cwd: str | os.PathLike[str]) -> None:
    if "/" in name:
        path = name if os.path.isabs(name) else os.path.join(cwd, name)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(name, path=search) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


class Hold:
    """Keeps a command from running until :meth:`release`: start it with :meth:`argv` and
    :attr:`stdin`, then call :meth:`spawned`."""

    def __init__(self) -> None:
        self.stdin, self._go = os.pipe()  # close-on-exec: only the held shell gets the read end
        self._open = True

    @staticmethod
    def argv(
        argv: list[str], env: Mapping[str, str] | None, cwd: str | os.PathLike[str]
    ) -> list[str]:
        """``argv`` behind the held shell. Raises ``OSError`` as starting ``argv`` itself
        would when its program is missing or not executable (the held shell would only exit
        127 later, a worse message)."""
        _check_program(argv[0], env, cwd)
        return ["/bin/sh", "-c", _HOLD_SCRIPT, "maestro-hold", *argv]

    def spawned(self) -> None:
        """The held process has its copy of the read end; the worker keeps only ``go``."""
        with contextlib.suppress(OSError):
            os.close(self.stdin)

    def release(self) -> None:
        """Let the command run."""
        self._close(b"go\n")

    def cancel(self) -> None:
        """The command never runs (its shell exits with :data:`HELD_EXIT`)."""
        self._close(b"")

    def _close(self, message: bytes) -> None:
        if not self._open:
            return
        self._open = False
        with contextlib.suppress(OSError):
            if message:
                os.write(self._go, message)
        with contextlib.suppress(OSError):
            os.close(self._go)

    def __del__(self) -> None:  # a hold forgotten on an error path never lets its command run
        self.cancel()


class HeldPopen(subprocess.Popen[bytes]):
    """A step's process started held; ``hold`` lets it go."""

    hold: Hold | None = None


def guard(pgid: int, kill: Callable[[], None], hold: Hold | None = None) -> Warden:
    """A warden for ``pgid``, then ``hold`` released; if no warden can be started, the held
    command never runs, ``kill`` the group and raise (a step that could outlive its worker does
    not run)."""
    try:
        warden = Warden(pgid)
    except BaseException:
        if hold is not None:
            hold.cancel()
        kill()
        raise
    if hold is not None:
        hold.release()
    return warden
