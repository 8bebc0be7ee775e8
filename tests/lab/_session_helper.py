"""The process behind ``SessionHolder`` (tests/lab/holder.py); run as a script, not imported.

Protocol: one JSON line on stdin, ``{"server", "port", "share", "tag", "sessions": [SessionSpec as a
dict, ...]}``.  The helper opens every session, then prints ``{"ready": N, "files": [[name, ...],
...]}`` (the share-relative names of each session's held files) or ``{"error": "..."}`` and exits
1.  It then answers commands, one JSON line each, with one JSON line each, until its stdin
closes; then it logs every session off and exits 0.  Closing stdin is also what happens when the
parent dies, so a helper never outlives its parent by more than the log-off.  Commands:

* ``{"op": "probe_file", "session": i, "file": j, "operation": "read" | "query_info",
  "timeout": s}``: use held handle ``j`` of session ``i`` (an SMB2 READ of one byte at offset 0,
  or an SMB2 QUERY_INFO for FileStandardInformation) -> ``{"status": "STATUS_..."}``;
* ``{"op": "probe_session", "session": i, "timeout": s}``: an SMB2 ECHO, then a create, write,
  read and close of a probe file on the session's tree -> ``{"status": ..., "step": ...}`` (the
  step that failed, or the last one);
* ``{"op": "open", "spec": {...}}``: open one more session -> ``{"session": i, "files": [...]}``;
* ``{"op": "close", "session": i}``: log that session off -> ``{"closed": i}``.

A status is the NT status name the server answered with, or ``NO_ANSWER`` (with ``detail``) when
the connection failed or timed out.  A command that cannot be carried out gets ``{"error": ...}``.

The server sees a session's client name (``cname``) as the source address of its TCP
connection, so every client socket is bound to the spec's ``source_address`` before it
connects.  impacket's ``nmb`` module creates and connects its socket in one function, so
``nmb`` is given a ``socket`` module whose ``socket`` class binds first.

Only the standard library and impacket are imported; the parent runs this file isolated
(``python -I``) so nothing from its working directory shadows a module.  Extra command-line
arguments are ignored: they only label the process for ``ps``.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import impacket.nmb
from impacket import nt_errors, smb, smb3, smbconnection
from impacket.krb5.ccache import CCache
from impacket.smb3structs import (FILE_DIRECTORY_FILE, FILE_NON_DIRECTORY_FILE, FILE_READ_ATTRIBUTES,
                                  FILE_READ_DATA, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
                                  FILE_WRITE_DATA, SMB2_0_INFO_FILE, SMB2_FILE_STANDARD_INFO, SMB2_LOCK,
                                  SMB2_LOCK_ELEMENT, SMB2_LOCKFLAG_EXCLUSIVE_LOCK,
                                  SMB2_LOCKFLAG_FAIL_IMMEDIATELY, SMB2Lock)
from impacket.smbconnection import SMBConnection

# Sessions are opened by a few threads: client CPU is only about 8 ms of the 20 ms a logon takes
# here, the rest is the server forking and answering, so 4 threads open them twice as fast.
_WORKERS = 4
_CONNECT_TIMEOUT = 30  # seconds: impacket's per-answer timeout while logging on
# The source address for the socket the current thread is connecting.
_source = threading.local()

# [MS-SMB2] 2.2.13.1: FILE_LIST_DIRECTORY and FILE_ADD_FILE are the same bits as FILE_READ_DATA
# and FILE_WRITE_DATA; Samba's fi3_permissions is the open's access mask & (READ_DATA|WRITE_DATA).
_ACCESS = {"read": FILE_READ_DATA, "write": FILE_WRITE_DATA, "readwrite": FILE_READ_DATA | FILE_WRITE_DATA}
_SHARE_ALL = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE
_FILE_OPEN, _FILE_CREATE, _FILE_OPEN_IF = 1, 2, 3  # [MS-SMB2] 2.2.13 CreateDisposition
_STATUS_OBJECT_NAME_COLLISION = 0xC0000035
_CONTENT = b"held by tests.lab\n"  # what a created file holds, so that a 1-byte read succeeds
# Byte-range locks of session i's held file n: 1 byte each from 4096 * i + 256 * n (holder.py).
_LOCK_SESSION_STRIDE, _LOCK_FILE_STRIDE = 4096, 256
_SESSION_ERRORS = (smb3.SessionError, smbconnection.SessionError, smb.SessionError)


class _SourceBoundSocket(socket.socket):
    def connect(self, address: Any) -> None:
        source_address = getattr(_source, "address", None)
        if source_address:
            # Let connect() choose the port, so thousands of sessions from one source address
            # do not exhaust bind()'s own port choice (Linux IP_BIND_ADDRESS_NO_PORT = 24).
            self.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
            self.bind((source_address, 0))
        super().connect(address)


def _install_source_binding() -> None:
    """Give impacket.nmb (only) a socket module whose sockets bind to the thread's ``_source.address``."""
    module = ModuleType("socket")
    module.__dict__.update(socket.__dict__)
    module.socket = _SourceBoundSocket  # type: ignore[attr-defined]
    impacket.nmb.socket = module


@dataclass
class _HeldFile:
    name: str  # share-relative, with backslashes
    file_id: bytes
    spec: dict[str, Any]


@dataclass
class _Session:
    index: int
    connection: SMBConnection
    tree: int | None = None
    files: list[_HeldFile] = field(default_factory=list)


def _held_file_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A session's files to hold: ``open_files`` read/write files first, then ``files``."""
    plain = {"name": "", "access": "readwrite", "locks": 0, "directory": False}
    return [dict(plain) for _count in range(spec.get("open_files", 0))] + list(spec.get("files", []))


def _error_code(exc: Exception) -> int:
    """The NT status of an impacket ``SessionError`` (smb3's and smbconnection's spell it apart)."""
    method = getattr(exc, "getErrorCode", None) or exc.get_error_code  # type: ignore[attr-defined]
    return int(method())


def _status_name(code: int) -> str:
    return nt_errors.ERROR_MESSAGES.get(code, (f"0x{code:08X}",))[0]


def _create(session: _Session, name: str, access: int, directory: bool, disposition: int) -> bytes:
    assert session.tree is not None
    server = session.connection.getSMBServer()
    return server.create(session.tree, name, access, _SHARE_ALL,
                         FILE_DIRECTORY_FILE if directory else FILE_NON_DIRECTORY_FILE, disposition, 0)


def _make(session: _Session, name: str, directory: bool) -> None:
    """Create ``name`` (a file with ``_CONTENT``, or a directory) unless it exists already."""
    assert session.tree is not None
    server = session.connection.getSMBServer()
    try:
        handle = _create(session, name, FILE_WRITE_DATA | FILE_READ_ATTRIBUTES, directory, _FILE_CREATE)
    except _SESSION_ERRORS as exc:
        if _error_code(exc) == _STATUS_OBJECT_NAME_COLLISION:
            return
        raise
    try:
        if not directory:
            server.write(session.tree, handle, _CONTENT, 0, len(_CONTENT))
    finally:
        server.close(session.tree, handle)


def _lock(session: _Session, file_id: bytes, offsets: list[int]) -> None:
    """Take exclusive 1-byte locks at ``offsets`` in one SMB2 LOCK request.

    Not impacket's ``SMB3.lock``: it joins ``str()`` of its lock elements (a text dump, not their
    bytes).  Several elements in one request need FAIL_IMMEDIATELY ([MS-SMB2] 3.3.5.14; Samba
    answers STATUS_INVALID_PARAMETER otherwise).
    """
    server = session.connection.getSMBServer()
    if not isinstance(server, smb3.SMB3):
        raise RuntimeError("byte-range locks need SMB2 or later")
    elements = []
    for offset in offsets:
        element = SMB2_LOCK_ELEMENT()
        element["Offset"] = offset
        element["Length"] = 1
        element["Flags"] = SMB2_LOCKFLAG_EXCLUSIVE_LOCK | SMB2_LOCKFLAG_FAIL_IMMEDIATELY
        elements.append(element.getData())
    request = SMB2Lock()
    request["FileID"] = file_id
    request["LockCount"] = len(elements)
    request["LockSequence"] = 0
    request["Locks"] = b"".join(elements)
    packet = server.SMB_PACKET()
    packet["Command"] = SMB2_LOCK
    packet["TreeID"] = session.tree
    packet["Data"] = request
    answer = server.recvSMB(server.sendSMB(packet))
    answer.isValidAnswer(nt_errors.STATUS_SUCCESS)  # raises smb3.SessionError on any other status


def _hold_files(session: _Session, request: dict[str, Any], spec: dict[str, Any]) -> None:
    """Create (as needed), open and lock the session's files; the handles stay open."""
    for number, file_spec in enumerate(_held_file_specs(spec)):
        directory = bool(file_spec.get("directory"))
        # One name per helper, session and file unless given: no two sessions contend for a file.
        default = f"held-{request['tag']}-{session.index}-{number}{'.dir' if directory else '.txt'}"
        name = (file_spec.get("name") or default).replace("/", "\\").strip("\\")
        parts = name.split("\\")
        for depth in range(1, len(parts)):
            _make(session, "\\".join(parts[:depth]), directory=True)
        _make(session, name, directory)
        file_id = _create(session, name, _ACCESS[file_spec.get("access", "readwrite")] | FILE_READ_ATTRIBUTES,
                          directory, _FILE_OPEN)
        session.files.append(_HeldFile(name, file_id, file_spec))
        if file_spec.get("locks"):
            base = _LOCK_SESSION_STRIDE * session.index + _LOCK_FILE_STRIDE * number
            _lock(session, file_id, [base + k for k in range(file_spec["locks"])])


def _open_session(request: dict[str, Any], spec: dict[str, Any], index: int) -> _Session:
    """Log on as ``spec`` from its source address and open its files on the share."""
    _source.address = spec["source_address"]
    server_name = request.get("server_name") or request["server"]
    connection = SMBConnection(server_name, request["server"], sess_port=request["port"],
                               timeout=_CONNECT_TIMEOUT)
    session = _Session(index, connection)
    try:
        if spec.get("ccache"):
            # The cache holds the service ticket already (kinit + kvno): no KDC exchange here.
            cache = CCache.loadFile(spec["ccache"])
            realm = cache.principal.realm["data"].decode()
            principal = f"cifs/{server_name}@{realm}"
            credential = cache.getCredential(principal)
            if credential is None:
                raise RuntimeError(f"no {principal} ticket in {spec['ccache']}")
            connection.kerberosLogin(spec["username"], "", realm, TGS=credential.toTGS(principal),
                                     useCache=False)
        else:
            connection.login(spec["username"], spec["password"], spec.get("domain", ""))
        if _held_file_specs(spec):
            session.tree = connection.connectTree(request["share"])
            _hold_files(session, request, spec)
    except BaseException:
        connection.close()  # dropping the connection ends whatever the server set up for it
        raise
    return session


def _close_session(session: _Session) -> None:
    try:
        session.connection.logoff()
    except Exception as exc:  # e.g. closed by NetrSessionDel: note it, close the others anyway
        print(f"logoff of session {session.index} failed: {exc!r}", file=sys.stderr)
    session.connection.close()


def _describe(spec: dict[str, Any], index: int, exc: BaseException) -> str:
    return f"session {index} ({spec['username']} from {spec['source_address']}): {type(exc).__name__}: {exc}"


def _open_all(pool: ThreadPoolExecutor, request: dict[str, Any]) -> tuple[list[_Session], str | None]:
    """Open every session; return those that opened and the first failure, if any."""
    specs = request["sessions"]
    futures = [pool.submit(_open_session, request, spec, index) for index, spec in enumerate(specs)]
    sessions: list[_Session] = []
    error = None
    for index, (spec, future) in enumerate(zip(specs, futures, strict=False)):
        try:
            sessions.append(future.result())
        except Exception as exc:  # any impacket or socket failure: report the first one
            if error is None:
                error = _describe(spec, index, exc)
    return sessions, error


# ---- commands after "ready" --------------------------------------------------------------------

@contextmanager
def _answer_timeout(session: _Session, seconds: float) -> Iterator[None]:
    """Wait at most ``seconds`` for each answer of the session while the block runs."""
    session.connection.setTimeout(seconds)
    try:
        yield
    finally:
        session.connection.setTimeout(_CONNECT_TIMEOUT)


def _status_of(action: Callable[[], object]) -> dict[str, Any]:
    try:
        action()
    except _SESSION_ERRORS as exc:
        return {"status": _status_name(_error_code(exc))}
    except Exception as exc:  # no answer: connection reset, closed or timed out
        return {"status": "NO_ANSWER", "detail": f"{type(exc).__name__}: {exc}"}
    return {"status": "STATUS_SUCCESS"}


def _probe_file(session: _Session, command: dict[str, Any]) -> dict[str, Any]:
    held = session.files[command["file"]]
    server = session.connection.getSMBServer()
    operation = command.get("operation", "read")
    if operation == "read":
        def action() -> object:
            return server.read(session.tree, held.file_id, 0, 1)
    elif operation == "query_info":
        def action() -> object:
            return server.queryInfo(session.tree, held.file_id, infoType=SMB2_0_INFO_FILE,
                                    fileInfoClass=SMB2_FILE_STANDARD_INFO)
    else:
        return {"error": f"unknown probe operation {operation!r}"}
    with _answer_timeout(session, command["timeout"]):
        return _status_of(action)


def _probe_session(session: _Session, request: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    server = session.connection.getSMBServer()
    name = f"probe-{request['tag']}-{session.index}.txt"
    with _answer_timeout(session, command["timeout"]):
        result = _status_of(server.echo)
        result["step"] = "echo"
        if result["status"] != "STATUS_SUCCESS":
            return result
        if session.tree is None:
            result = _status_of(lambda: setattr(session, "tree", session.connection.connectTree(request["share"])))
            result["step"] = "tree_connect"
            if result["status"] != "STATUS_SUCCESS":
                return result
        handle: list[bytes] = []
        steps: list[tuple[str, Callable[[], object]]] = [
            ("create", lambda: handle.append(_create(session, name, FILE_READ_DATA | FILE_WRITE_DATA,
                                                     False, _FILE_OPEN_IF))),
            ("write", lambda: server.write(session.tree, handle[0], b"x", 0, 1)),
            ("read", lambda: server.read(session.tree, handle[0], 0, 1)),
            ("close", lambda: server.close(session.tree, handle[0])),
        ]
        for step, action in steps:
            result = _status_of(action)
            result["step"] = step
            if result["status"] != "STATUS_SUCCESS":
                return result
    return result


def _serve(sessions: list[_Session | None], request: dict[str, Any]) -> None:
    """Answer commands until stdin closes (the parent's ``stop()``, or its death)."""
    for line in sys.stdin:
        reply: dict[str, Any]
        try:
            command = json.loads(line)
            op = command.get("op")
            if op == "open":
                index = len(sessions)
                sessions.append(None)  # the index is taken even if the logon fails
                try:
                    opened = _open_session(request, command["spec"], index)
                except Exception as exc:
                    reply = {"error": _describe(command["spec"], index, exc)}
                else:
                    sessions[index] = opened
                    reply = {"session": index, "files": [held.name for held in opened.files]}
            elif op in ("probe_file", "probe_session", "close"):
                index = command["session"]
                session = sessions[index] if 0 <= index < len(sessions) else None
                if session is None:
                    reply = {"error": f"no session {index} is held"}
                elif op == "probe_file":
                    reply = _probe_file(session, command)
                elif op == "probe_session":
                    reply = _probe_session(session, request, command)
                else:
                    _close_session(session)
                    sessions[index] = None
                    reply = {"closed": index}
            else:
                reply = {"error": f"unknown command {op!r}"}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            reply = {"error": f"bad command {line.strip()!r}: {type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


def main() -> int:
    # One socket per session: use every descriptor this process is allowed.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _install_source_binding()

    request = json.loads(sys.stdin.readline())
    with ThreadPoolExecutor(_WORKERS) as pool:
        opened, error = _open_all(pool, request)
        sessions: list[_Session | None] = list(opened)
        try:
            if error is not None:
                print(json.dumps({"error": error}), flush=True)
                return 1
            print(json.dumps({"ready": len(opened), "files": [[held.name for held in session.files]
                                                              for session in opened]}), flush=True)
            _serve(sessions, request)
        finally:
            list(pool.map(_close_session, [session for session in sessions if session is not None]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
