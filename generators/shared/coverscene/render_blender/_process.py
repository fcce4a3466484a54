"""The Blender child process: the parent's handle on it, recycling, and the child's request loop.

The parent (:func:`generators.shared.coverscene.render_blender.render_scene_blender`)
starts ``python -m generators.shared.coverscene.render_blender --serve FD`` and speaks
to it over a socket pair: pickled ``("render", scene, options, covers_dir)``
requests, ``("ok", arrays)`` or ``("error", (kind, message))`` replies. A child
renders ``recycle_every`` sequences and is then replaced by a fresh one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from generators.shared.coverscene.render_blender._session import _current_session

_REPO_ROOT = str(Path(__file__).resolve().parents[4])  # the checkout, put first on the child's path

_WORKER: _Worker | None = None


def _worker(recycle_every: int) -> _Worker:
    global _WORKER
    if _WORKER is not None and (_WORKER.pid_owner != os.getpid() or not _WORKER.alive()):
        _WORKER.discard()
        _WORKER = None
    if _WORKER is not None and _WORKER.sequences >= recycle_every:
        close_blender()
    if _WORKER is None:
        _WORKER = _Worker()
    return _WORKER


class _Worker:
    """A Blender child process; requests and replies are pickled over a socket pair."""

    def __init__(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        root = _REPO_ROOT
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            # stdout gets Blender's chatter ("Saved: ..."); stderr is shared for warnings.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "generators.shared.coverscene.render_blender", "--serve", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                cwd=root,
            )
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self.pid_owner = os.getpid()
        self.sequences = 0
        status, payload = self._receive()
        if status != "ready":
            self.close()
            raise ValueError(payload)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _receive(self) -> tuple[str, Any]:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            code = self.proc.wait()
            raise RuntimeError(f"the Blender child process died (exit code {code}); see its messages above") from None

    def render(self, scene: dict[str, Any], options: dict[str, Any], covers_dir: str | None) -> dict[str, np.ndarray]:
        try:
            self.conn.send(("render", scene, options, covers_dir))
            status, payload = self._receive()
        except BaseException:
            # Interrupted mid-request (Ctrl-C, a dead child): the reply stream is
            # out of step, so this child is stopped and the next call starts another.
            self.proc.kill()
            self.discard()
            raise
        self.sequences += 1
        if status == "ok":
            return payload
        kind, message = payload
        if kind == "ValueError":
            raise ValueError(message)
        raise RuntimeError(f"Blender child process failed: {message}")

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, BrokenPipeError):
            self.conn.send(("exit",))
        with contextlib.suppress(OSError):
            self.conn.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def discard(self) -> None:
        """Forget a worker inherited through fork or already dead, without talking to it."""
        with contextlib.suppress(OSError):
            self.conn.close()


def close_blender() -> None:
    """Stop the Blender child process, if one runs (it is also stopped at exit)."""
    global _WORKER
    if _WORKER is not None:
        _WORKER.close()
        _WORKER = None


@atexit.register
def _close_at_exit() -> None:
    if _WORKER is not None and _WORKER.pid_owner == os.getpid():
        close_blender()


def _serve(fd: int) -> int:
    """The child's loop: render requests until "exit" or end of file."""
    # The parent decides when this process ends; Ctrl-C reaches it through the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(socket.socket(fileno=fd).detach())
    try:
        session = _current_session()
    except ValueError as e:
        conn.send(("error", str(e)))
        return 1
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return 0  # the parent is gone
        if request[0] == "exit":
            return 0
        _, scene, options, covers_dir = request
        try:
            reply = ("ok", session.render(scene, options, covers_dir))
        except ValueError as e:
            reply = ("error", ("ValueError", str(e)))
        except Exception as e:  # noqa: BLE001 - reported to the parent, which raises
            reply = ("error", (type(e).__name__, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        conn.send(reply)
