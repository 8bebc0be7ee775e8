"""A loopback TCP relay in front of a lab server that can stop at a chosen DCE/RPC call.

The modules talk SMB to the relay; the relay talks to the real server.  Every NetBIOS frame the
client sends is looked at before it is passed on: when it carries a DCE/RPC request with the
watched operation number (NetrSessionEnum 12, NetrSessionDel 13), ``on_call`` runs in the relay
thread *before* the frame goes on, so a test can kill, stop or rearrange the server at exactly
that point of the protocol, with no timing guess.

The server must not encrypt (``server smb encrypt = off``): an encrypted frame hides the
operation number.  Signing is fine: it leaves the payload readable.  The relay connects out from
127.0.0.1, so the server sees the module's own session under the module's own address.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

__all__ = ['SmbRelay', 'OPNUM_SESSION_ENUM', 'OPNUM_SESSION_DEL']

OPNUM_SESSION_ENUM = 12
OPNUM_SESSION_DEL = 13
# DCE/RPC connection-oriented request header ([C706] 12.6.4.9): version 5.0, type 0 (request),
# first and last fragment, little-endian data representation; the opnum is at offset 22.
_REQUEST_HEADER = b'\x05\x00\x00\x03\x10\x00\x00\x00'
_MAX_CONNECTIONS = 64
_IO_TIMEOUT = 30.0


def rpc_opnums(frame: bytes) -> list[int]:
    """The operation numbers of the DCE/RPC requests inside one SMB frame."""
    found = []
    start = frame.find(_REQUEST_HEADER)
    while start != -1 and start + 24 <= len(frame):
        found.append(struct.unpack_from('<H', frame, start + 22)[0])
        start = frame.find(_REQUEST_HEADER, start + 1)
    return found


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b''
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError('closed')
        data += chunk
    return data


class SmbRelay:
    """Relay 127.0.0.1:<port> to ``target``; call ``on_call(n)`` at the n-th watched request.

    Without ``opnum`` it only relays, and records what the clients sent (``client_frames``).

    ``on_call`` gets the 1-based count of watched requests seen so far (over all connections);
    when it returns False the frame is dropped and the client's connection is reset instead.
    """

    def __init__(self, target: tuple[str, int], opnum: int | None = None,
                 on_call: Callable[[int], bool | None] = lambda call: None) -> None:
        self.target = target
        self.opnum = opnum
        self.on_call = on_call
        self.calls = 0
        # Per connection, the first 20 bytes of every frame the client sent, in order (SMB2
        # header or transform header: shows whether a frame was signed or encrypted).
        self.client_frames: list[list[bytes]] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(('127.0.0.1', 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> SmbRelay:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._acceptor.join(5)
        for sock in list(self._sockets):
            _close(sock)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set() and len(self._threads) < _MAX_CONNECTIONS:
            try:
                client, _address = self._listener.accept()
            except OSError:
                continue
            server = socket.create_connection(self.target, timeout=_IO_TIMEOUT,
                                              source_address=('127.0.0.1', 0))
            client.settimeout(_IO_TIMEOUT)
            self._sockets += [client, server]
            frames: list[bytes] = []
            self.client_frames.append(frames)
            for source, sink, seen in ((client, server, frames), (server, client, None)):
                thread = threading.Thread(target=self._pump, args=(source, sink, seen), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, seen: list[bytes] | None) -> None:
        watch = seen is not None
        try:
            while not self._stop.is_set():
                header = _read_exactly(source, 4)  # NetBIOS session header: type, 24-bit length
                frame = _read_exactly(source, struct.unpack('>I', header)[0] & 0xFFFFFF)
                if seen is not None:
                    seen.append(frame[:20])
                if watch and self.opnum is not None and self.opnum in rpc_opnums(frame):
                    with self._lock:
                        self.calls += 1
                        number = self.calls
                    try:
                        forward = self.on_call(number)
                    except BaseException as error:  # reported by the test, not lost in a thread
                        self.errors.append(error)
                        forward = False
                    if forward is False:
                        _reset(source)
                        _close(sink)
                        return
                sink.sendall(header + frame)
        except OSError:
            pass
        # One side is gone: so is the other (what the client of a dead server sees).
        _close(sink)
        _close(source)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero time-out)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    except OSError:
        pass
    sock.close()
