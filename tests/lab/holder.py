"""Hold real SMB sessions open against a lab server, from chosen loopback source addresses.

``SessionHolder`` starts ONE helper process (``_session_helper.py``, same interpreter) that opens
every session with impacket's ``SMBConnection`` from the spec's source address (127.0.1.x, so
the server sees distinct client names), keeps the requested files open on the ``data`` share,
and holds everything until ``stop()``.  The helper lives only as long as its stdin, so it also
goes away when the process that started it dies.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

from .samba import SHARE_NAME, require_loopback

__all__ = ["HolderError", "SessionHolder", "SessionSpec", "read_json_line"]

_HELPER = Path(__file__).resolve().with_name("_session_helper.py")


def read_json_line(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Read one JSON object line from ``process``'s stdout, waiting at most ``timeout`` seconds.

    Raises ``TimeoutError``, ``EOFError`` (the process exited first) or ``ValueError`` (not JSON).
    """
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            if selector.select(remaining):
                # os.read, not the buffered reader: select() knows nothing of its buffer
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    raise EOFError(f"closed its output without answering (exit status {process.poll()})")
                data += chunk
    reply = json.loads(data)
    if not isinstance(reply, dict):
        raise ValueError(f"unexpected answer {data!r}")
    return reply


@dataclass(frozen=True)
class SessionSpec:
    """One SMB session to hold: who logs on, from which loopback address, with how many open files.

    ``domain`` is the account's domain for an NTLM logon; with ``ccache`` (a ticket cache that
    holds a ``cifs/<server name>`` ticket, e.g. from kinit and kvno) the session logs on with
    Kerberos instead, and ``password`` is not used.
    """

    source_address: str
    username: str
    password: str
    open_files: int = 0
    domain: str = ""
    ccache: str = ""


class HolderError(RuntimeError):
    """The helper could not open its sessions (the message carries the helper's stderr)."""


class SessionHolder:
    """Holds ``sessions`` open against ``server_address:port`` until ``stop()``.

    ``label`` is appended to the helper's command line, so that ``ps`` (and
    ``python -m tests.lab down``) can tell which lab a helper belongs to. ``server_name`` is the
    server's host name for Kerberos (default: its address); ``command_prefix`` runs the helper
    through another command, e.g. ``ip netns exec NAME`` for a server in a network namespace.
    """

    def __init__(self, server_address: str, port: int, sessions: list[SessionSpec],
                 label: str | None = None, server_name: str | None = None,
                 command_prefix: list[str] | None = None) -> None:
        self.server_address = require_loopback(server_address)
        self.server_name = server_name or server_address
        self.command_prefix = list(command_prefix or [])
        self.port = port
        for spec in sessions:
            require_loopback(spec.source_address)
        self.sessions = list(sessions)
        self.label = label
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float | None = None) -> None:
        """Start the helper and wait until every session is up, or raise ``HolderError``.

        The default timeout grows with the number of sessions (about 12 ms each measured here).
        """
        if self._process is not None:
            raise HolderError("holder already started")
        if timeout is None:
            timeout = 15.0 + 0.05 * len(self.sessions)
        argv = self.command_prefix + [sys.executable, "-I", str(_HELPER)] \
            + (["--label", self.label] if self.label else [])
        # stderr goes to a file: a pipe nobody reads could fill up and block the helper.
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr)
        request = {"server": self.server_address, "server_name": self.server_name,
                   "port": self.port, "share": SHARE_NAME,
                   # names the files this helper creates, unique across helpers and runs
                   "tag": uuid.uuid4().hex[:12],
                   "sessions": [asdict(spec) for spec in self.sessions]}
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
            reply = read_json_line(self._process, timeout)
        except (OSError, ValueError, TimeoutError, EOFError) as exc:
            self._fail(f"session helper: {exc}")
        if reply.get("ready") != len(self.sessions):
            self._fail(reply.get("error", f"unexpected helper reply {reply!r}"))

    def _fail(self, reason: str) -> NoReturn:
        """Stop the helper and raise ``HolderError`` with ``reason`` and the helper's stderr."""
        stderr = self._helper_stderr()
        self.stop()
        raise HolderError(f"{reason}\nhelper stderr:\n{stderr}")

    def _helper_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float | None = None) -> None:
        """Close the helper's stdin (it logs off and exits), then TERM, then KILL; idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if timeout is None:
                timeout = 10.0 + 0.01 * len(self.sessions)
            try:
                if process.stdin:
                    process.stdin.close()
            except OSError:
                pass  # BrokenPipe: the helper is already gone, there is nothing to tell it
            for signum, wait in ((None, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
                if signum is not None:
                    process.send_signal(signum)
                try:
                    process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if process.stdout:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> SessionHolder:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
