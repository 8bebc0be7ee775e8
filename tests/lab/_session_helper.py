"""The process behind ``SessionHolder`` (tests/lab/holder.py); run as a script, not imported.

Protocol: one JSON line on stdin, ``{"server", "port", "share", "tag", "sessions": [SessionSpec as a
dict, ...]}``.  The helper opens every session, then prints ``{"ready": N}`` (or
``{"error": "..."}`` and exits 1) and holds the sessions until its stdin closes; then it logs
them off and exits 0.  Closing stdin is also what happens when the parent dies, so a helper
never outlives its parent by more than the log-off.

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
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import impacket.nmb
from impacket.krb5.ccache import CCache
from impacket.smbconnection import SMBConnection

# Sessions are opened by a few threads: client CPU is only about 8 ms of the 20 ms a logon takes
# here, the rest is the server forking and answering, so 4 threads open them twice as fast.
_WORKERS = 4
# The source address for the socket the current thread is connecting.
_source = threading.local()


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


def _open_session(request: dict[str, Any], spec: dict[str, Any], index: int) -> SMBConnection:
    """Log on as ``spec`` from its source address and open its files on the share."""
    _source.address = spec["source_address"]
    server_name = request.get("server_name") or request["server"]
    connection = SMBConnection(server_name, request["server"], sess_port=request["port"], timeout=30)
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
    if spec["open_files"]:
        tree = connection.connectTree(request["share"])
        for number in range(spec["open_files"]):
            # One name per helper, session and file: no two sessions contend for a file.
            # The handles stay open until the session is logged off.
            connection.createFile(tree, f"held-{request['tag']}-{index}-{number}.txt")
    return connection


def _close_session(connection: SMBConnection) -> None:
    try:
        connection.logoff()
    except Exception as exc:  # e.g. closed by NetrSessionDel: note it, close the others anyway
        print(f"logoff failed: {exc!r}", file=sys.stderr)
    connection.close()


def _open_all(pool: ThreadPoolExecutor, request: dict[str, Any]) -> tuple[list[SMBConnection], str | None]:
    """Open every session; return those that opened and the first failure, if any."""
    specs = request["sessions"]
    futures = [pool.submit(_open_session, request, spec, index) for index, spec in enumerate(specs)]
    connections: list[SMBConnection] = []
    error = None
    for index, (spec, future) in enumerate(zip(specs, futures, strict=False)):
        try:
            connections.append(future.result())
        except Exception as exc:  # any impacket or socket failure: report the first one
            if error is None:
                error = f"session {index} ({spec['username']} from {spec['source_address']}): " \
                        f"{type(exc).__name__}: {exc}"
    return connections, error


def main() -> int:
    # One socket per session: use every descriptor this process is allowed.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _install_source_binding()

    request = json.loads(sys.stdin.readline())
    with ThreadPoolExecutor(_WORKERS) as pool:
        connections, error = _open_all(pool, request)
        try:
            if error is not None:
                print(json.dumps({"error": error}), flush=True)
                return 1
            print(json.dumps({"ready": len(connections)}), flush=True)
            sys.stdin.read()  # hold everything until the parent closes stdin
        finally:
            list(pool.map(_close_session, connections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
