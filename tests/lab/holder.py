"""Hold real SMB sessions open against a lab server, from chosen loopback source addresses.

``SessionHolder`` starts ONE helper process (``_session_helper.py``, same interpreter) that opens
every session with impacket's ``SMBConnection`` from the spec's source address (127.0.1.x, so
the server sees distinct client names), keeps the requested files open on the ``data`` share
(``FileSpec``: read, write or read/write handles, byte-range locks, directories), and holds
everything until ``stop()``.  The helper lives only as long as its stdin, so it also goes away
when the process that started it dies.

While it holds them, the holder can probe a held handle or a session (``probe_file``,
``probe_session``: the NT status the server answers, e.g. ``STATUS_FILE_CLOSED`` after
NetrFileClose) and open or close more sessions (``add_session``, ``close_session``).
``add_sessions_sharing_file_ids`` opens sessions whose open files Samba gives one and the same
``fi3_id`` (docs/dev/labs.md, "Open files").
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, NoReturn

from .samba import SHARE_NAME, SambaServer, require_loopback

__all__ = ["ACCESS_MODES", "FILE_ID_PID_PERIOD", "MAX_LOCKS", "FileSpec", "HolderError", "SessionHolder",
           "SessionSpec", "add_sessions_sharing_file_ids", "read_json_line", "split_file_id"]

Access = Literal["read", "write", "readwrite"]
ACCESS_MODES: tuple[Access, ...] = ("read", "write", "readwrite")
MAX_LOCKS = 256  # per held file: lock k of file n of session i is the byte at (i << 20) + (n << 8) + k
# Samba's fi3_id is (smbd's pid << 16 | a per-process counter) cut to 32 bits: processes whose
# pids differ by a multiple of this give their opens the same ids (docs/dev/labs.md).
FILE_ID_PID_PERIOD = 1 << 16

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


def split_file_id(file_id: int) -> tuple[int, int]:
    """Samba's ``fi3_id`` as (low 16 bits of the smbd pid, per-process counter).

    Exact while the counter is below 65536: it is or'ed into the pid's bits, not added.
    """
    return file_id >> 16, file_id & 0xFFFF


@dataclass(frozen=True)
class FileSpec:
    """One file (or directory) a held session keeps open on the share, through a handle of its own.

    ``name`` is relative to the share, parts separated by ``/`` or ``\\``; empty: a name of the
    helper's own, unique per holder, session and file.  The helper creates what is missing, as
    the session's user: a file with one line in it (so that a 1-byte read through a handle with
    read access succeeds), missing parent directories, the directory itself.  ``access`` is what
    the handle is opened for (Samba lists it as ``fi3_permissions`` 1, 2 or 3; every handle also
    has FILE_READ_ATTRIBUTES).  ``locks`` exclusive 1-byte byte-range locks are taken through
    the handle, at offsets that differ between sessions and files (see ``MAX_LOCKS``), so
    sessions holding one file do not conflict.
    """

    name: str = ""
    access: Access = "readwrite"
    locks: int = 0
    directory: bool = False

    def __post_init__(self) -> None:
        if self.access not in ACCESS_MODES:
            raise ValueError(f"access {self.access!r} is not one of {ACCESS_MODES}")
        if not 0 <= self.locks <= MAX_LOCKS:
            raise ValueError(f"locks must be 0 .. {MAX_LOCKS}, not {self.locks}")
        if self.directory and self.locks:
            raise ValueError("byte-range locks need a file, not a directory")


@dataclass(frozen=True)
class SessionSpec:
    """One SMB session to hold: who logs on, from which loopback address, with which open files.

    ``open_files`` plain read/write files (``FileSpec()``) and then ``files`` are held open, in
    that order (``held_files``, which ``SessionHolder.probe_file`` counts in).  ``domain`` is the
    account's domain for an NTLM logon; with ``ccache`` (a ticket cache that holds a
    ``cifs/<server name>`` ticket, e.g. from kinit and kvno) the session logs on with Kerberos
    instead, and ``password`` is not used.
    """

    source_address: str
    username: str
    password: str
    open_files: int = 0
    domain: str = ""
    ccache: str = ""
    files: tuple[FileSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))  # a list given: still hashable

    @property
    def held_files(self) -> tuple[FileSpec, ...]:
        return (FileSpec(),) * self.open_files + self.files


class HolderError(RuntimeError):
    """The helper could not open its sessions, or a command to it failed.

    When the helper itself failed (it is stopped then), the message carries its stderr.
    """


class SessionHolder:
    """Holds ``sessions`` open against ``server_address:port`` until ``stop()``.

    ``label`` is appended to the helper's command line, so that ``ps`` (and
    ``python -m tests.lab down``) can tell which lab a helper belongs to. ``server_name`` is the
    server's host name for Kerberos (default: its address); ``command_prefix`` runs the helper
    through another command, e.g. ``ip netns exec NAME`` for a server in a network namespace.

    Once started: ``probe_file`` and ``probe_session`` tell what the server answers to a held
    handle and to a session, ``add_session`` and ``close_session`` open and log off sessions,
    ``file_names`` gives the share-relative names of a session's held files.  Sessions are
    numbered in the order of ``sessions``, then of ``add_session``.
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
        self._file_names: list[list[str]] = []  # per session: its held files' share-relative names
        self.last_reply: dict[str, Any] = {}  # the helper's last answer (a failed probe's step, ...)

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
        self._file_names = [list(names) for names in reply.get("files", [[] for _session in self.sessions])]

    # -- while holding -------------------------------------------------------------------------
    def _command(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one command to the helper and return its answer.

        A helper that does not answer within ``timeout`` seconds is stopped (``HolderError``);
        an answer ``{"error": ...}`` raises ``HolderError`` and leaves the helper running.
        """
        if self._process is None or self._process.stdin is None:
            raise HolderError("holder not started")
        try:
            self._process.stdin.write(json.dumps(command).encode() + b"\n")
            self._process.stdin.flush()
            reply = read_json_line(self._process, timeout)
        except (OSError, ValueError, TimeoutError, EOFError) as exc:
            self._fail(f"session helper, {command.get('op')}: {exc}")
        self.last_reply = reply
        if "error" in reply:
            raise HolderError(f"session helper, {command.get('op')}: {reply['error']}")
        return reply

    def file_names(self, session: int) -> list[str]:
        """The share-relative names (``\\`` between parts) of ``session``'s held files, in order."""
        return list(self._file_names[session])

    def probe_file(self, session: int, file: int, operation: Literal["read", "query_info"] = "read",
                   timeout: float = 5.0) -> str:
        """Use held handle ``file`` (an index into the spec's ``held_files``) of ``session``.

        ``read``: an SMB2 READ of 1 byte at offset 0 (needs read access; a directory answers
        STATUS_INVALID_DEVICE_REQUEST); ``query_info``: an SMB2 QUERY_INFO for
        FileStandardInformation, which any handle may do.  Returns the NT status name the server
        answered, e.g. ``STATUS_SUCCESS`` or ``STATUS_FILE_CLOSED`` (after NetrFileClose), or
        ``NO_ANSWER`` if the connection failed or no answer came within ``timeout`` seconds.
        """
        command = {"op": "probe_file", "session": session, "file": file, "operation": operation,
                   "timeout": timeout}
        return str(self._command(command, timeout + 5.0)["status"])

    def probe_session(self, session: int, timeout: float = 5.0) -> str:
        """Whether ``session`` still works: an SMB2 ECHO, then (on its tree, connected if it has
        none) a create, a 1-byte write and read and a close of a probe file of its own.

        Returns ``STATUS_SUCCESS``, or the first other status (``NO_ANSWER`` as in
        ``probe_file``); ``last_reply["step"]`` names the step.  Each answer is awaited at most
        ``timeout`` seconds.
        """
        command = {"op": "probe_session", "session": session, "timeout": timeout}
        return str(self._command(command, 6 * timeout + 5.0)["status"])

    def add_session(self, spec: SessionSpec, timeout: float = 15.0) -> int:
        """Open one more session (with its files) now; return its index for the probes.

        A failed logon raises ``HolderError``; the index it would have had stays unused.
        """
        require_loopback(spec.source_address)
        self.sessions.append(spec)
        self._file_names.append([])
        reply = self._command({"op": "open", "spec": asdict(spec)}, timeout)
        index = int(reply["session"])
        if index != len(self.sessions) - 1:
            self._fail(f"session helper opened session {index}, expected {len(self.sessions) - 1}")
        self._file_names[index] = list(reply["files"])
        return index

    def close_session(self, session: int, timeout: float = 10.0) -> None:
        """Log ``session`` off and close its connection (its files close with it)."""
        self._command({"op": "close", "session": session}, timeout)

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


def add_sessions_sharing_file_ids(holder: SessionHolder, server: SambaServer, specs: Sequence[SessionSpec],
                                  tries: int = 3) -> list[int]:
    """Open ``specs`` as new sessions of ``holder`` whose open files share their ``fi3_id``s.

    Samba's ``fi3_id`` is ``(pid << 16 | counter)`` cut to 32 bits, ``pid`` that of the smbd
    process serving the session (one fork per connection) and ``counter`` one of that process,
    which the same requests advance the same way.  So the n-th held file of every session gets
    the same id when their smbd pids are equal modulo ``FILE_ID_PID_PERIOD`` and the specs hold
    the same kinds of files in the same order (names may differ; a name with parent
    directories costs more requests than one without).

    The first session's smbd takes whatever pid comes; before each further session the next
    pid is set (``server.set_next_pid``) to the first one plus a multiple of 65536.  A session
    that still got another pid (a process forked first, or the pid was taken) is closed and
    tried again at the next multiple, ``tries`` times per spec; then ``HolderError``.  This
    needs pids above 65536: a server in a pid namespace of its own
    (``SambaServer(pid_namespace=True)``, Linux 6.14 or later) or a machine whose ``pid_max`` is
    large enough.  Returns the new sessions' indexes, in the order of ``specs``.
    """
    indexes: list[int] = []
    first_pid: int | None = None
    multiple = 0
    for spec in specs:
        failures = []
        for _attempt in range(tries):
            target = None
            if first_pid is not None:
                multiple += 1
                target = first_pid + multiple * FILE_ID_PID_PERIOD
                pid_max = server.pid_max()
                if target > pid_max:
                    raise HolderError(
                        f"smbd pid {target} (= {first_pid} + {multiple} * {FILE_ID_PID_PERIOD}) is above pid_max "
                        f"{pid_max} of {server!r}; run it with pid_namespace=True (Linux 6.14 or later)")
                server.set_next_pid(target)
            before = set(server.smbd_pids())
            index = holder.add_session(spec)
            new = sorted(own for pid, own in server.smbd_pids().items() if pid not in before)
            if len(new) == 1 and target in (None, new[0]):
                indexes.append(index)
                first_pid = new[0] if first_pid is None else first_pid
                break
            failures.append(f"wanted {target if target is not None else 'any pid'}, new smbd pids {new}")
            holder.close_session(index)
        else:
            raise HolderError(f"could not place a session of {spec.username} at an smbd pid that gives shared "
                              f"file ids after {tries} tries: {'; '.join(failures)}")
    return indexes
