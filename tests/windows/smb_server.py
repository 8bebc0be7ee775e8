"""Serve a WindowsSessionModel over SMB: ``\\pipe\\srvsvc`` answering opnums 9-13.

``ModelSmbServer`` runs impacket's SMB server (``impacket.smbserver.SMBSERVER``, configured the
way ``SimpleSMBServer`` configures it, with SMB2 on) in background threads on a loopback
address, and puts a DCE/RPC endpoint of its own behind the ``srvsvc`` named pipe:
NetrSessionEnum (opnum 12) and NetrSessionDel (opnum 13), and for open files NetrFileEnum
(opnum 9), NetrFileGetInfo (opnum 10) and NetrFileClose (opnum 11), are decoded with impacket's
``srvs`` structures, answered by the model and encoded back with them, for every level, pages
with ERROR_MORE_DATA and a ResumeHandle included. Any other srvsvc opnum gets an RPC fault.

Why not ``SimpleSMBServer`` itself: it starts its own srvsvc/wkssvc ``DCERPCServer`` threads,
which cannot be stopped (their accept loop has no exit), and it cannot be told to refuse
anonymous logons. ``SMBSERVER`` is the class it wraps, given the same configuration here.

Who is calling: impacket's SMB server forwards the pipe's bytes to the DCE/RPC endpoint over a
local TCP socket and passes on nothing about the logon, so the model cannot learn who logged
on. Every request is therefore put to the model as ``caller``, fixed per server instance (an
account the model knows, with credentials). The logon itself is real, and only the model's
accounts pass it ([MS-ERREF] 2.3.1; RULES['unknown-account'] in model.py): ``credentials`` are
registered as NT hashes for the accounts the model knows, the others are left out, so a wrong
password or an account the model does not know fails at SMB session setup with
STATUS_LOGON_FAILURE, as on Windows. impacket's server would also let in, unchecked, a logon
with an empty user name (as guest) and an SMB1 logon without extended security; session setup
is wrapped so that any logon whose account the model does not know is refused the same way,
and a connection counts as authenticated only after a logon that passed. An account the model
does not know therefore never reaches the model's methods here.

Two things are repaired on the way, both in how impacket's server moves pipe bytes:

* Windows named pipes are message-mode: a read returns at most one DCE/RPC fragment. impacket's
  server reads the forwarding socket with ``recv(length)`` and could hand the client two
  fragments, or a fragment and a half, in one read; impacket's client then mis-parses the
  answer. Each pipe socket is wrapped so that a read returns at most one fragment.
* ``DCERPCServer.send`` keeps the whole PDU's ``frag_len`` on every fragment; answers larger
  than one fragment are fragmented here instead, at the client's ``max_rfrag``.

``page_bytes`` caps PreferedMaximumLength. The collection always asks for MAX_PREFERRED_LENGTH
([MS-SRVS] 3.1.4.5: the server "MUST attempt to return all entries"), so without the cap every
listing fits in one answer; with it, the server pages as a Windows server does when it cannot
return everything at once, and the client's ERROR_MORE_DATA loop is exercised for real. For
NetrFileEnum a cap smaller than one entry gives NERR_BufTooSmall (model.py, RULES['file-paging']).

Safety: only 127.0.0.0/8 addresses, never port 445; every loop ends at ``stop()`` or after
``lifetime`` seconds; ``stop()`` joins every thread it started (bounded) and closes every socket.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Mapping
from configparser import ConfigParser
from secrets import token_hex
from types import TracebackType
from typing import Any, NamedTuple

from impacket import smb, smb3structs as smb2
from impacket.dcerpc.v5 import srvs
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import (
    MSRPC_BIND, MSRPC_FAULT, MSRPC_REQUEST, MSRPC_RESPONSE, PFC_FIRST_FRAG, PFC_LAST_FRAG,
    DCERPCServer, MSRPCBind, MSRPCHeader, MSRPCRequestHeader, MSRPCRespHeader,
)
from impacket.nt_errors import STATUS_SUCCESS
from impacket.ntlm import compute_nthash
from impacket.smbserver import SMBSERVER

from .model import (
    LEVEL_FIELDS, NERR_SUCCESS, PERM_FILE_READ, PERM_FILE_WRITE, PIPE_PREFIX,
    STATUS_LOGON_FAILURE, EnumResult, Session, WindowsSessionModel,
)

__all__ = ['ModelSmbServer', 'ServedCall']

_SRVSVC = ('4B324FC8-1670-01D3-1278-5A47BF6EE188', '3.0')
_OPNUM_FILE_ENUM = 9
_OPNUM_FILE_GET_INFO = 10
_OPNUM_FILE_CLOSE = 11
_OPNUM_SESSION_ENUM = 12
_OPNUM_SESSION_DEL = 13
# [C706] / [MS-RPCE] fault codes.
_NCA_S_OP_RNG_ERROR = 0x1C010002
_RPC_X_BAD_STUB_DATA = 0x000006F7
_RESPONSE_HEADER = 24  # bytes before the stub in a response PDU (no auth)
_COMMON_HEADER = 16
_POLL = 0.1  # seconds between checks of the stop flag
_JOIN_SECONDS = 5.0

# Where a connection's own model session is kept in impacket's per-connection data.
_OWN_SESSION = 'lanman_model_session'
# Where an opened pipe's own model file id is kept in impacket's handle of it (own_files).
_OWN_FILE = 'lanman_model_file_id'

_INFO_STRUCT = {0: srvs.SESSION_INFO_0, 1: srvs.SESSION_INFO_1, 2: srvs.SESSION_INFO_2,
                10: srvs.SESSION_INFO_10, 502: srvs.SESSION_INFO_502}
_FILE_INFO_STRUCT = {2: srvs.FILE_INFO_2, 3: srvs.FILE_INFO_3}
# The model's FILE_INFO field names -> impacket's (which spells fi3_pathname "fi3_path_name").
_FILE_WIRE_NAMES = {2: {'id': 'fi2_id'},
                    3: {'id': 'fi3_id', 'permissions': 'fi3_permissions', 'num_locks': 'fi3_num_locks',
                        'pathname': 'fi3_path_name', 'username': 'fi3_username'}}


class ServedCall(NamedTuple):
    """One srvsvc call the server answered (for tests that check what went over the wire).

    Names as received (``\\\\`` kept, None for NULL); ``pref_max_len`` as given to the model,
    after ``page_bytes``; ``resume_handle`` None for a NULL pointer; ``entries`` in the answer.
    Open-file calls leave ``client_name`` None and fill ``base_path`` (NetrFileEnum) or
    ``file_id`` (NetrFileGetInfo, NetrFileClose).
    """

    opnum: int
    level: int | None
    client_name: str | None
    user_name: str | None
    pref_max_len: int | None
    resume_handle: int | None
    status: int
    entries: int
    base_path: str | None = None
    file_id: int | None = None


def _check_address(address: str, port: int) -> None:
    if ipaddress.ip_address(address) not in ipaddress.ip_network('127.0.0.0/8'):
        raise ValueError(f"{address!r} is not a loopback address; only 127.0.0.0/8 is allowed")
    if port == 445 or not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not allowed (never 445)")


class _Lifetime:
    """A stop flag with a deadline: every loop of the server ends at one or the other."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def over(self) -> bool:
        return self._stop.is_set() or time.monotonic() > self.deadline


def _recv_exact(sock: socket.socket, size: int, life: _Lifetime) -> bytes | None:
    """``size`` bytes, or None at end of stream / stop. ``sock`` must have a timeout."""
    data = b''
    while len(data) < size and not life.over:
        try:
            chunk = sock.recv(size - len(data))
        except TimeoutError:
            continue
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data if len(data) == size else None


def _read_pdu(sock: socket.socket, life: _Lifetime) -> bytes | None:
    header = _recv_exact(sock, _COMMON_HEADER, life)
    if header is None:
        return None
    frag_len = struct.unpack_from('<H', header, 8)[0]
    if frag_len < _COMMON_HEADER:
        return None
    rest = _recv_exact(sock, frag_len - _COMMON_HEADER, life)
    return None if rest is None else header + rest


class _MessageModePipe:
    """The SMB server's end of a pipe, read one DCE/RPC fragment at a time (message mode).

    impacket's server only calls ``send``/``sendall``/``recv``/``close`` on it. ``recv``
    blocks until the endpoint answers, as a read of a Windows pipe does.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._message = b''

    def send(self, data: bytes) -> int:
        return self._sock.send(data)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def recv(self, size: int) -> bytes:
        if not self._message:
            self._message = self._read_fragment()
        data, self._message = self._message[:size], self._message[size:]
        return data

    def _read_fragment(self) -> bytes:
        header = self._read(_COMMON_HEADER)
        if len(header) < _COMMON_HEADER:
            return header
        frag_len = struct.unpack_from('<H', header, 8)[0]
        return header + self._read(max(frag_len - _COMMON_HEADER, 0))

    def _read(self, size: int) -> bytes:
        data = b''
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _text(request: Any, field: str) -> str | None:
    """An ``[in, string, unique] WCHAR*`` argument: None for a NULL pointer, else its text."""
    if request.fields[field].fields['ReferentID'] == 0:
        return None
    value = request[field]
    return value[:-1] if value.endswith('\x00') else value


def _enum_response(level: int, result: EnumResult, resume_null: bool) -> bytes:
    answer = srvs.NetrSessionEnumResponse()
    answer['InfoStruct']['Level'] = level
    answer['InfoStruct']['SessionInfo']['tag'] = level
    container = answer['InfoStruct']['SessionInfo'][f'Level{level}']
    container['EntriesRead'] = len(result.entries)
    if result.entries:
        for entry in result.entries:
            info = _INFO_STRUCT[level]()
            for field in LEVEL_FIELDS[level]:
                value = entry[field]
                info[f'sesi{level}_{field}'] = value + '\x00' if isinstance(value, str) else value
            container['Buffer'].append(info)
    else:
        container['Buffer'] = NULL
    answer['TotalEntries'] = result.total_entries
    answer['ResumeHandle'] = NULL if resume_null else result.resume_handle
    answer['ErrorCode'] = result.status
    return answer.getData()


def _file_info(level: int, entry: dict[str, Any]) -> Any:
    info = _FILE_INFO_STRUCT[level]()
    for field, wire in _FILE_WIRE_NAMES[level].items():
        value = entry[field]
        info[wire] = value + '\x00' if isinstance(value, str) else value
    return info


def _file_enum_response(level: int, result: EnumResult, resume_null: bool) -> bytes:
    answer = srvs.NetrFileEnumResponse()
    answer['InfoStruct']['Level'] = level
    answer['InfoStruct']['FileInfo']['tag'] = level
    container = answer['InfoStruct']['FileInfo'][f'Level{level}']
    container['EntriesRead'] = len(result.entries)
    if result.entries:
        for entry in result.entries:
            container['Buffer'].append(_file_info(level, entry))
    else:
        container['Buffer'] = NULL
    answer['TotalEntries'] = result.total_entries
    answer['ResumeHandle'] = NULL if resume_null else result.resume_handle
    answer['ErrorCode'] = result.status
    return answer.getData()


def _file_get_info_response(level: int, result: EnumResult) -> bytes:
    if result.status != NERR_SUCCESS:
        # The FILE_INFO union's discriminant, a NULL pointer, the status: encoded by hand, as
        # impacket cannot encode a union whose tag (an invalid Level) has no arm. (What Windows'
        # stub sends for an invalid Level is UNVERIFIED.)
        return struct.pack('<LLL', level, 0, result.status)
    answer = srvs.NetrFileGetInfoResponse()
    answer['InfoStruct']['tag'] = level
    answer['InfoStruct'][f'FileInfo{level}'] = _file_info(level, result.entries[0])
    answer['ErrorCode'] = result.status
    return answer.getData()


class _SrvsvcConnection(DCERPCServer):
    """One DCE/RPC association over one srvsvc pipe instance, answered from the model.

    Uses ``DCERPCServer`` for the bind; reads, dispatch and fragmentation are its own (see the
    module docstring).
    """

    def __init__(self, sock: socket.socket, server: ModelSmbServer) -> None:
        DCERPCServer.__init__(self, client_socket=sock)
        self._server = server
        self._max_rfrag = 4280
        self._stubs: dict[int, bytes] = {}
        self.addCallbacks(_SRVSVC, '\\PIPE\\srvsvc', {
            _OPNUM_SESSION_ENUM: self._session_enum,
            _OPNUM_SESSION_DEL: self._session_del,
            _OPNUM_FILE_ENUM: self._file_enum,
            _OPNUM_FILE_GET_INFO: self._file_get_info,
            _OPNUM_FILE_CLOSE: self._file_close,
        })

    def serve(self, life: _Lifetime) -> None:
        while not life.over:
            pdu = _read_pdu(self._clientSock, life)
            if pdu is None:
                return
            header = MSRPCHeader(pdu)
            if header['type'] == MSRPC_BIND:
                bind = MSRPCBind(header['pduData'])
                self._max_rfrag = max(bind['max_rfrag'], 128)
                self.bind(header, bind)
            elif header['type'] == MSRPC_REQUEST:
                self._request(MSRPCRequestHeader(pdu))
            else:
                self._fault(header['call_id'], 0, _NCA_S_OP_RNG_ERROR)

    def _request(self, request: MSRPCRequestHeader) -> None:
        call_id = request['call_id']
        stub = self._stubs.pop(call_id, b'') + request['pduData']
        if not request['flags'] & PFC_LAST_FRAG:
            self._stubs[call_id] = stub
            return
        interface = self._listenUUIDS.get(self._boundUUID)
        handler = interface['CallBacks'].get(request['op_num']) if interface else None
        if handler is None:
            self._fault(call_id, request['ctx_id'], _NCA_S_OP_RNG_ERROR)
            return
        try:
            answer = handler(stub)
        except Exception:  # an undecodable request: what an RPC runtime answers
            logging.getLogger(__name__).debug('undecodable srvsvc request', exc_info=True)
            self._fault(call_id, request['ctx_id'], _RPC_X_BAD_STUB_DATA)
            return
        self._respond(call_id, request['ctx_id'], answer)

    def _respond(self, call_id: int, ctx_id: int, stub: bytes) -> None:
        """Send ``stub`` in fragments of at most the client's max_rfrag bytes."""
        chunk_size = max((self._max_rfrag - _RESPONSE_HEADER) // 8 * 8, 8)
        chunks = [stub[offset:offset + chunk_size] for offset in range(0, len(stub), chunk_size)] or [b'']
        for index, chunk in enumerate(chunks):
            flags = (PFC_FIRST_FRAG if index == 0 else 0) | (PFC_LAST_FRAG if index == len(chunks) - 1 else 0)
            self._send_pdu(MSRPC_RESPONSE, flags, call_id, ctx_id, chunk,
                           alloc_hint=len(stub) - index * chunk_size)

    def _fault(self, call_id: int, ctx_id: int, status: int) -> None:
        self._send_pdu(MSRPC_FAULT, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id, ctx_id,
                       struct.pack('<LL', status, 0), alloc_hint=8)

    def _send_pdu(self, pdu_type: int, flags: int, call_id: int, ctx_id: int, body: bytes, *,
                  alloc_hint: int) -> None:
        pdu = MSRPCRespHeader()
        pdu['type'] = pdu_type
        pdu['flags'] = flags
        pdu['call_id'] = call_id
        pdu['ctx_id'] = ctx_id
        pdu['alloc_hint'] = alloc_hint
        pdu['pduData'] = body
        pdu['pad'] = b''
        pdu['sec_trailer'] = b''
        pdu['auth_data'] = b''
        pdu['frag_len'] = _RESPONSE_HEADER + len(body)
        self._clientSock.sendall(pdu.getData())

    # -- the two session calls ----------------------------------------------------------------

    def _session_enum(self, stub: bytes) -> bytes:
        request = srvs.NetrSessionEnum(stub)
        level = request['InfoStruct']['Level']
        client, user = _text(request, 'ClientName'), _text(request, 'UserName')
        pref_max_len = request['PreferedMaximumLength']
        if self._server.page_bytes is not None:
            pref_max_len = min(pref_max_len, self._server.page_bytes)
        resume_null = request.fields['ResumeHandle'].fields['ReferentID'] == 0
        resume = 0 if resume_null else request['ResumeHandle']
        result = self._server.model.enum(self._server.caller, level, client, user, pref_max_len, resume)
        self._server.record(ServedCall(_OPNUM_SESSION_ENUM, level, client, user, pref_max_len,
                                       None if resume_null else resume, result.status,
                                       len(result.entries)))
        return _enum_response(level, result, resume_null)

    def _session_del(self, stub: bytes) -> bytes:
        request = srvs.NetrSessionDel(stub)
        client, user = _text(request, 'ClientName'), _text(request, 'UserName')
        status = self._server.model.delete(self._server.caller, client, user)
        self._server.record(ServedCall(_OPNUM_SESSION_DEL, None, client, user, None, None, status, 0))
        answer = srvs.NetrSessionDelResponse()
        answer['ErrorCode'] = status
        return answer.getData()

    # -- the open-file calls ------------------------------------------------------------------

    def _file_enum(self, stub: bytes) -> bytes:
        request = srvs.NetrFileEnum(stub)
        level = request['InfoStruct']['Level']
        base_path, user = _text(request, 'BasePath'), _text(request, 'UserName')
        pref_max_len = request['PreferedMaximumLength']
        if self._server.page_bytes is not None:
            pref_max_len = min(pref_max_len, self._server.page_bytes)
        resume_null = request.fields['ResumeHandle'].fields['ReferentID'] == 0
        resume = 0 if resume_null else request['ResumeHandle']
        result = self._server.model.file_enum(self._server.caller, level, base_path, user,
                                              pref_max_len, resume)
        self._server.record(ServedCall(_OPNUM_FILE_ENUM, level, None, user, pref_max_len,
                                       None if resume_null else resume, result.status,
                                       len(result.entries), base_path=base_path))
        return _file_enum_response(level, result, resume_null)

    def _file_get_info(self, stub: bytes) -> bytes:
        request = srvs.NetrFileGetInfo(stub)
        file_id, level = request['FileId'], request['Level']
        result = self._server.model.file_get_info(self._server.caller, file_id, level)
        self._server.record(ServedCall(_OPNUM_FILE_GET_INFO, level, None, None, None, None,
                                       result.status, len(result.entries), file_id=file_id))
        return _file_get_info_response(level, result)

    def _file_close(self, stub: bytes) -> bytes:
        request = srvs.NetrFileClose(stub)
        file_id = request['FileId']
        status = self._server.model.file_close(self._server.caller, file_id)
        self._server.record(ServedCall(_OPNUM_FILE_CLOSE, None, None, None, None, None, status, 0,
                                       file_id=file_id))
        answer = srvs.NetrFileCloseResponse()
        answer['ErrorCode'] = status
        return answer.getData()


class _ThreadTracker:
    """The threads and sockets of one server, so that stop() can end and join every one."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.sockets: dict[int, socket.socket] = {}

    def start(self, target: Callable[..., None], *args: Any,
              sock: socket.socket | None = None) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"{self._prefix}-{next(self._numbers)}")
        with self._lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            self.threads.append(thread)
            if sock is not None:
                self.sockets[id(sock)] = sock
        thread.start()
        return thread

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self.sockets.pop(id(sock), None)

    def shut_sockets(self) -> None:
        with self._lock:
            sockets = list(self.sockets.values())
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join(self, deadline: float) -> list[threading.Thread]:
        with self._lock:
            threads = list(self.threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(deadline - time.monotonic(), 0))
        return [thread for thread in threads if thread.is_alive()]


class _QuietSMBServer(SMBSERVER):
    """impacket's SMB server, with its connection threads tracked and its chatter kept quiet."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], config: ConfigParser, tracker: _ThreadTracker,
                 on_disconnect: Callable[[dict[str, Any]], None]) -> None:
        self.tracker = tracker
        self.on_disconnect = on_disconnect
        SMBSERVER.__init__(self, address, config_parser=config)

    def removeConnection(self, name: str) -> None:
        connection = self.getActiveConnections().get(name)
        if connection is not None:
            self.on_disconnect(connection)
        super().removeConnection(name)

    def process_request(self, request: Any, client_address: Any) -> None:
        # The thread's name is impacket's connection id: the tracker's names are unique.
        self.tracker.start(self.process_request_thread, request, client_address, sock=request)

    def shutdown_request(self, request: Any) -> None:
        self.tracker.forget(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logging.getLogger(__name__).debug('SMB connection from %s failed', client_address, exc_info=True)


class ModelSmbServer:
    """A loopback SMB server whose ``\\pipe\\srvsvc`` answers session and open-file calls from ``model``.

    ``credentials`` maps account names to passwords; those of the accounts the model knows are
    registered as NT hashes, the others are left out, so that a wrong password or an account the
    model does not know fails the SMB logon with STATUS_LOGON_FAILURE (ValueError if no account
    is left). impacket's server does not pass the logged-on account to the pipe, so the model
    is asked as ``caller`` for every call (one caller per server instance, an account of the
    model that has credentials); see the module docstring. ``page_bytes`` caps
    PreferedMaximumLength so that answers are paged.
    ``calls`` lists every srvsvc call answered. With ``own_sessions`` every successful SMB logon
    adds a session to the model (client address as cname, the logon name as username), removed
    again when the connection ends: a Windows server lists the caller's own session too. With
    ``own_files`` every srvsvc pipe a logged-on connection opens is an open file of the model
    (``\\PIPE\\srvsvc``, read and write, no locks, the logon name as username, the client
    address as client), gone when the pipe is closed or the connection ends: Windows lists an
    RPC client's own pipe among the open files (model.py, RULES['file-pipes']). Closing that
    file with NetrFileClose takes it out of the model but does not cut the pipe, as Windows
    would. Use as a context manager, or start()/stop().
    """

    def __init__(self, model: WindowsSessionModel, address: str, port: int,
                 credentials: Mapping[str, str], caller: str, *, page_bytes: int | None = None,
                 own_sessions: bool = False, own_files: bool = False, lifetime: float = 300.0,
                 start_timeout: float = 5.0) -> None:
        _check_address(address, port)
        known = {name: password for name, password in credentials.items() if model.knows(name)}
        if not known:
            # impacket's server lets anyone on (as guest) when it has no credentials at all.
            raise ValueError(f"none of the accounts {sorted(credentials)} is known to the model")
        if caller.casefold() not in {name.casefold() for name in known}:
            raise ValueError(f"caller {caller!r} must be an account of the model with credentials "
                             f"(known with credentials: {sorted(known)})")
        self.model = model
        self.address = address
        self.port = port
        self.caller = caller
        self.page_bytes = page_bytes
        self.own_sessions = own_sessions
        self.own_files = own_files
        self.calls: list[ServedCall] = []
        self._credentials = known
        self._accounts = frozenset(name.casefold() for name in known)
        self._lifetime_seconds = lifetime
        self._start_timeout = start_timeout
        self._calls_lock = threading.Lock()
        self._smb: _QuietSMBServer | None = None
        self._pipe_listener: socket.socket | None = None
        self._life: _Lifetime | None = None
        self._loops: list[threading.Thread] = []
        self._smb_threads = _ThreadTracker(f"model-smb-{address}:{port}")
        self._rpc_threads = _ThreadTracker(f"model-srvsvc-{address}:{port}")

    def record(self, call: ServedCall) -> None:
        with self._calls_lock:
            self.calls.append(call)

    # -- start / stop -------------------------------------------------------------------------

    def start(self) -> ModelSmbServer:
        if self._life is not None:
            raise RuntimeError('ModelSmbServer already started')
        logging.getLogger('impacket.smbserver').setLevel(logging.CRITICAL)
        self._life = _Lifetime(self._lifetime_seconds)
        try:
            self._pipe_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._pipe_listener.bind((self.address, 0))
            self._pipe_listener.listen(16)
            self._pipe_listener.settimeout(_POLL)
            self._smb = _QuietSMBServer((self.address, self.port), self._config(), self._smb_threads,
                                        self._disconnected)
            self._smb.processConfigFile()
            if self.own_sessions:
                self._smb.setAuthCallback(self._logged_on)
            for name, password in self._credentials.items():
                self._smb.addCredential(name, 0, '', compute_nthash(password).hex())
            self._smb.registerNamedPipe('srvsvc', self._pipe_listener.getsockname())
            # The hooks return the handler they replace: take it, then wrap it.
            for hook, command in ((self._smb.hookSmb2Command, smb2.SMB2_CREATE),
                                  (self._smb.hookSmbCommand, smb.SMB.SMB_COM_NT_CREATE_ANDX)):
                hook(command, self._message_mode(hook(command, None)))
            if self.own_files:
                for hook, command in ((self._smb.hookSmb2Command, smb2.SMB2_CLOSE),
                                      (self._smb.hookSmbCommand, smb.SMB.SMB_COM_CLOSE)):
                    hook(command, self._forget_closed_pipes(hook(command, None)))
            for hook, command in ((self._smb.hookSmb2Command, smb2.SMB2_SESSION_SETUP),
                                  (self._smb.hookSmbCommand, smb.SMB.SMB_COM_SESSION_SETUP_ANDX)):
                hook(command, self._known_accounts_only(hook(command, None)))
            self._loops = [self._rpc_threads.start(self._accept_pipes),
                           self._smb_threads.start(self._serve_smb)]
            self._wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _config(self) -> ConfigParser:
        config = ConfigParser()
        config.add_section('global')
        config.set('global', 'server_name', 'WINMODEL')
        config.set('global', 'server_os', 'Windows Server 2019 (model)')
        config.set('global', 'server_domain', 'WORKGROUP')
        config.set('global', 'log_file', 'None')
        config.set('global', 'rpc_apis', 'yes')
        config.set('global', 'credentials_file', '')
        config.set('global', 'challenge', token_hex(8))
        config.set('global', 'SMB2Support', 'True')
        config.set('global', 'anonymous_logon', 'False')
        config.add_section('IPC$')
        config.set('IPC$', 'comment', '')
        config.set('IPC$', 'read only', 'yes')
        config.set('IPC$', 'share type', '3')
        config.set('IPC$', 'path', '')
        return config

    def _message_mode(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a create handler so that the pipe sockets it opens are read in message mode
        (and, with ``own_files``, become open files of the model)."""
        def create(conn_id: str, smb_server: Any, *args: Any) -> Any:
            result = original(conn_id, smb_server, *args)
            data = smb_server.getConnectionData(conn_id, False)
            for handle in data.get('OpenedFiles', {}).values():
                sock = handle.get('Socket')
                if sock is not None and not isinstance(sock, _MessageModePipe):
                    handle['Socket'] = _MessageModePipe(sock)
                    self._own_pipe_opened(data, handle)
            return result
        return create

    def _own_pipe_opened(self, data: dict[str, Any], handle: dict[str, Any]) -> None:
        user = data.get('user_name')
        if self.own_files and data.get('Authenticated') and isinstance(user, str) and self.knows(user):
            handle[_OWN_FILE] = self.model.open_file(PIPE_PREFIX + 'srvsvc', user,
                                                     PERM_FILE_READ | PERM_FILE_WRITE, 0,
                                                     data.get('ClientIP', '')).id

    def _forget_closed_pipes(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a close handler: an own pipe file whose handle it closed leaves the model."""
        def close(conn_id: str, smb_server: Any, *args: Any) -> Any:
            opened = smb_server.getConnectionData(conn_id, False).get('OpenedFiles', {})
            before = {key: handle[_OWN_FILE] for key, handle in opened.items() if _OWN_FILE in handle}
            result = original(conn_id, smb_server, *args)
            opened = smb_server.getConnectionData(conn_id, False).get('OpenedFiles', {})
            for key, file_id in before.items():
                if key not in opened:
                    self.model.remove_file(file_id)
            return result
        return close

    def _disconnected(self, data: dict[str, Any]) -> None:
        """A connection ended: its own session and its own pipe files leave the model."""
        session = data.get(_OWN_SESSION)
        if session is not None:
            self.model.remove_session(session)
        for handle in data.get('OpenedFiles', {}).values():
            if _OWN_FILE in handle:
                self.model.remove_file(handle[_OWN_FILE])

    def knows(self, account: str | None) -> bool:
        """Whether ``account`` may log on: known to the model, with credentials registered."""
        return account is not None and account.casefold() in self._accounts and self.model.knows(account)

    def _known_accounts_only(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a session-setup handler: only a logon of an account the model knows succeeds.

        impacket's handlers accept a logon with an empty user name (guest) and an SMB1 logon
        without extended security without checking anything, and mark the connection
        authenticated after any session-setup round, failed ones included. Here a logon that
        impacket accepted for an account the model does not know becomes STATUS_LOGON_FAILURE,
        and the connection is authenticated only after a logon that passed.
        """
        def session_setup(conn_id: str, smb_server: Any, *args: Any) -> Any:
            responses, packets, status = original(conn_id, smb_server, *args)
            data = smb_server.getConnectionData(conn_id, False)
            if status == STATUS_SUCCESS and not self.knows(data.get('user_name')):
                for key in ('AUTHENTICATE_MESSAGE', 'user_name', 'user_domain_name'):
                    data.pop(key, None)
                status = STATUS_LOGON_FAILURE
            data['Authenticated'] = status == STATUS_SUCCESS
            return responses, packets, status
        return session_setup

    def _logged_on(self, *, connData: dict, user_name: str, **_details: Any) -> None:
        """impacket's auth callback, called after every NTLM AUTHENTICATE, good or bad."""
        # Only a successful logon stores the AUTHENTICATE message and the user name; a logon
        # of an account the model does not know is about to be refused (_known_accounts_only).
        if 'AUTHENTICATE_MESSAGE' not in connData or connData.get('user_name') != user_name \
                or not self.knows(user_name):
            return
        if connData.get(_OWN_SESSION) is None:
            session = Session(connData['ClientIP'], user_name, num_opens=1, cltype_name='',
                              transport='\\Device\\NetbiosSmb')
            connData[_OWN_SESSION] = session
            self.model.add_session(session)

    def wait_disconnected(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until no SMB connection is left, e.g. before checking the model."""
        deadline = time.monotonic() + timeout
        while self._smb is not None and self._smb.getActiveConnections():
            if time.monotonic() > deadline:
                raise RuntimeError(f"SMB connections still open after {timeout} s")
            time.sleep(_POLL / 10)

    def _serve_smb(self) -> None:
        assert self._smb is not None and self._life is not None
        self._smb.timeout = _POLL
        while not self._life.over:
            self._smb.handle_request()  # one connection, or nothing within _POLL

    def _accept_pipes(self) -> None:
        assert self._pipe_listener is not None and self._life is not None
        while not self._life.over:
            try:
                sock, _peer = self._pipe_listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(_POLL)
            self._rpc_threads.start(self._serve_pipe, sock, sock=sock)

    def _serve_pipe(self, sock: socket.socket) -> None:
        assert self._life is not None
        try:
            _SrvsvcConnection(sock, self).serve(self._life)
        except OSError:
            pass  # the SMB side went away mid-answer: nothing left to answer
        finally:
            self._rpc_threads.forget(sock)
            sock.close()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, self.port), timeout=_POLL):
                    return
            except OSError:
                time.sleep(_POLL)
        raise RuntimeError(f"SMB server on {self.address}:{self.port} did not start within "
                           f"{self._start_timeout} s")

    def stop(self) -> None:
        """Stop serving, close every socket and join every thread (bounded); idempotent."""
        if self._life is None:
            return
        self._life.stop()
        deadline = time.monotonic() + _JOIN_SECONDS
        for loop in self._loops:  # both see the stop flag within one _POLL
            loop.join(max(deadline - time.monotonic(), 0))
        if self._smb is not None:
            # The listening socket only: impacket's server_close would join its threads unbounded.
            socketserver.TCPServer.server_close(self._smb)
        if self._pipe_listener is not None:
            self._pipe_listener.close()
        self._rpc_threads.shut_sockets()
        self._smb_threads.shut_sockets()
        left = self._rpc_threads.join(deadline) + self._smb_threads.join(deadline)
        self._smb = None
        self._pipe_listener = None
        if left:
            raise RuntimeError(f"threads still running after stop(): {[t.name for t in left]}")

    def __enter__(self) -> ModelSmbServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
