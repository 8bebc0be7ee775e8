# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DCE/RPC over an SMB2/3 named pipe, one FSCTL_PIPE_TRANSCEIVE per call; fast SESSION_INFO and
FILE_INFO_3 decoding.

Private to the lanman.server collection: not a public API; used by ``_smb`` only.

impacket's DCE/RPC layer writes a request and then reads the answer (two round trips per call),
binds with 4280-byte fragments and decodes NDR slowly (about 0.1 ms per session entry). Here a
bind or a call is one transceive (as Windows and Samba's own clients do), the bind offers the
largest fragments ([C706] 12.6.3.1 allows 65535; the server picks), and NetrSessionEnum and
NetrFileEnum (level 3) answers are decoded with ``struct``. Anything these decoders do not
expect falls back to impacket's decoding of the same bytes, so odd answers fail exactly as before.
"""

from __future__ import annotations

import codecs
import struct
import uuid
from typing import Any

try:
    from impacket.dcerpc.v5.rpcrt import DCERPCException, rpc_status_codes
    from impacket.nt_errors import STATUS_CONNECTION_DISCONNECTED
    from impacket.smb3 import SessionError
except ImportError:
    pass  # only _smb uses this module, and only once it has imported impacket itself

__all__ = ['TransceivePipe', 'decode_file_enum', 'decode_session_enum']

# [C706] 14.1 / [MS-RPCE] 2.2.4.12: the NDR 2.0 transfer syntax, as a bind's p_syntax_id_t.
_NDR_SYNTAX = uuid.UUID('8a885d04-1ceb-11c9-9fe8-08002b104860').bytes_le + struct.pack('<HH', 2, 0)
_BIND, _BIND_ACK, _BIND_NAK, _REQUEST, _RESPONSE, _FAULT = 11, 12, 13, 0, 2, 3
_FIRST_FRAG, _LAST_FRAG = 0x01, 0x02
_HEADER = struct.Struct('<BBBB4sHHI')  # version, minor, type, flags, data rep, frag_len, auth_len, call_id
_LITTLE_ENDIAN_ASCII_IEEE = b'\x10\x00\x00\x00'
_MAX_FRAGMENT = 65535
# The answer's size bounds the fragments anyway; this bounds the loop against a broken server.
_MAX_FRAGMENTS = 100000
_READ_SIZE = 65536


class TransceivePipe:
    """An open SMB2/3 named pipe bound to one interface; ``call`` returns the answer's stub."""

    def __init__(self, smb3: Any, tree_id: Any, file_id: Any) -> None:
        self._smb3 = smb3  # impacket's SMB3 object (SMBConnection.getSMBServer())
        self._tree_id = tree_id
        self._file_id = file_id
        self._call_id = 1
        self._max_send = 4280

    def bind(self, interface: bytes) -> None:
        """Bind to ``interface`` (impacket's 20-byte UUID and version), offering 64 KiB fragments."""
        body = struct.pack('<HHIB3xHB1x', _MAX_FRAGMENT, _MAX_FRAGMENT, 0, 1, 0, 1) + interface + _NDR_SYNTAX
        answer = self._transceive(_BIND, body)
        kind = answer[2]
        if kind == _BIND_NAK:
            reason = struct.unpack_from('<H', answer, 16)[0] if len(answer) >= 18 else None
            raise DCERPCException(f"Bind context rejected: reason {reason}")
        if kind != _BIND_ACK:
            raise DCERPCException(f"unexpected answer to bind (PDU type {kind})")
        _max_send, max_receive = struct.unpack_from('<HH', answer, 16)
        address_length = struct.unpack_from('<H', answer, 24)[0]
        offset = 26 + address_length
        offset += -offset % 4
        results, = struct.unpack_from('<B', answer, offset)
        result, reason = struct.unpack_from('<HH', answer, offset + 4)
        if results < 1 or result != 0:
            raise DCERPCException(f"Bind context rejected: result {result}, reason {reason}")
        # The server's max_recv_frag bounds what we send; our requests are far smaller anyway.
        self._max_send = max(max_receive, 1)

    def call(self, opnum: int, stub: bytes) -> bytes:
        """One request (a single fragment) and its whole answer's stub, reassembled."""
        body = struct.pack('<IHH', len(stub), 0, opnum) + stub
        if _HEADER.size + len(body) > self._max_send:
            raise DCERPCException(f"request of {len(body)} bytes exceeds the server's fragment size")
        call_id = self._call_id
        data = self._transceive(_REQUEST, body)
        stub_parts = []
        offset = 0
        for _fragment in range(_MAX_FRAGMENTS):
            while len(data) - offset < _HEADER.size or len(data) - offset < _frag_length(data, offset):
                more = self._smb3.read(self._tree_id, self._file_id, 0, _READ_SIZE)
                if not more:
                    raise DCERPCException('the pipe closed in the middle of an answer')
                data = data[offset:] + more
                offset = 0
            _version, _minor, kind, flags, _rep, frag_length, auth_length, answer_id = \
                _HEADER.unpack_from(data, offset)
            if kind == _FAULT:
                raise _fault(struct.unpack_from('<L', data, offset + 24)[0])
            if kind != _RESPONSE or auth_length or answer_id != call_id or frag_length < 24:
                raise DCERPCException(f"unexpected answer PDU (type {kind}, call {answer_id})")
            stub_parts.append(data[offset + 24:offset + frag_length])
            offset += frag_length
            if flags & _LAST_FRAG:
                return b''.join(stub_parts)
        raise DCERPCException(f"answer still incomplete after {_MAX_FRAGMENTS} fragments")

    def _transceive(self, kind: int, body: bytes) -> bytes:
        call_id = self._call_id
        self._call_id += 1
        pdu = _HEADER.pack(5, 0, kind, _FIRST_FRAG | _LAST_FRAG, _LITTLE_ENDIAN_ASCII_IEEE,
                           _HEADER.size + len(body), 0, call_id) + body
        try:
            answer = self._smb3.TransactNamedPipe(self._tree_id, self._file_id, pdu)
        except SessionError as error:
            if error.get_error_code() != STATUS_CONNECTION_DISCONNECTED:  # smb3's: no getErrorCode
                raise
            # Samba fails the transceive this way when the RPC server behind the pipe died; a
            # read reports the pipe's own state (STATUS_PIPE_BROKEN), as a write did before.
            self._smb3.read(self._tree_id, self._file_id, 0, _READ_SIZE)
            raise
        if not answer:
            # Samba answers the transceive with nothing when the RPC server behind the pipe
            # died; a read then reports the pipe's state (STATUS_PIPE_BROKEN), as it did when
            # requests were written and their answers read.
            answer = self._smb3.read(self._tree_id, self._file_id, 0, _READ_SIZE)
        if not answer or len(answer) < _HEADER.size:
            raise DCERPCException('empty or truncated answer from the pipe')
        return answer


def _frag_length(data: bytes, offset: int) -> int:
    return struct.unpack_from('<H', data, offset + 8)[0]


def _fault(status: int) -> DCERPCException:
    """The exception impacket raises for a fault PDU (DCERPC_v5.recv), for the same handling."""
    if status in rpc_status_codes:
        return DCERPCException(rpc_status_codes[status])
    if status & 0xffff in rpc_status_codes:
        return DCERPCException(rpc_status_codes[status & 0xffff])
    return DCERPCException(f"Unknown DCE RPC fault status code: {status:08x}")


# [MS-SRVS] 2.2.4.11-15: the members of SESSION_INFO_<level>; 's' a string pointer, 'i' a DWORD.
_LEVEL_FIELDS = {
    0: (('cname', 's'),),
    1: (('cname', 's'), ('username', 's'), ('num_opens', 'i'), ('time', 'i'), ('idle_time', 'i'),
        ('user_flags', 'i')),
    2: (('cname', 's'), ('username', 's'), ('num_opens', 'i'), ('time', 'i'), ('idle_time', 'i'),
        ('user_flags', 'i'), ('cltype_name', 's')),
    10: (('cname', 's'), ('username', 's'), ('time', 'i'), ('idle_time', 'i')),
    502: (('cname', 's'), ('username', 's'), ('num_opens', 'i'), ('time', 'i'), ('idle_time', 'i'),
          ('user_flags', 'i'), ('cltype_name', 's'), ('transport', 's')),
}


_STRING_HEADER = struct.Struct('<III')  # a conformant varying string: maximum, offset, actual count


def decode_session_enum(stub: bytes, level: int) -> tuple[list[dict[str, Any]], int, int]:
    """A NetrSessionEnum answer (NDR, 32-bit, little-endian): entries, resume handle, status.

    Entries are dicts of the SESSION_INFO member names without their ``sesiN_`` prefix; a NULL
    string is None and strings keep their terminating NUL, as impacket gives them. Raises
    ValueError (or struct.error) on anything unexpected: the caller then lets impacket decode.
    """
    return _decode_enum(stub, level, _LEVEL_FIELDS[level])


# [MS-SRVS] 2.2.4.7: the members of FILE_INFO_3, as _file_page names them (MS-SRVS spells the
# path fi3_pathname, impacket fi3_path_name).
_FILE_INFO_3_FIELDS = (('id', 'i'), ('permissions', 'i'), ('num_locks', 'i'), ('pathname', 's'),
                       ('username', 's'))


def decode_file_enum(stub: bytes) -> tuple[list[dict[str, Any]], int, int]:
    """A NetrFileEnum answer at level 3 (NDR, 32-bit, little-endian): entries, resume handle, status.

    Entries are dicts of ``id``, ``permissions``, ``num_locks``, ``pathname`` and ``username``
    (the FILE_INFO_3 members without ``fi3_``); a NULL string is None and strings keep their
    terminating NUL, as impacket gives them. Raises ValueError (or struct.error,
    UnicodeDecodeError) on anything unexpected: the caller then lets impacket decode.
    """
    return _decode_enum(stub, 3, _FILE_INFO_3_FIELDS)


def _decode_enum(stub: bytes, level: int,
                 fields: tuple[tuple[str, str], ...]) -> tuple[list[dict[str, Any]], int, int]:
    """The NDR of an MS-SRVS enumeration answer, the same for sessions and files: the level, the
    union's tag and a pointer to the container {count, pointer to a conformant array of
    structures of DWORDs and string pointers}, whose strings follow the array in order; then
    the total, a pointer to the resume handle, and the status. Every loop is bounded by the
    answer's length."""
    unpack = struct.unpack_from
    answer_level, tag, container = unpack('<III', stub, 0)
    if answer_level != level or tag != level:
        raise ValueError('level mismatch')
    offset = 12
    entries: list[dict[str, Any]] = []
    if container:
        count, buffer = unpack('<II', stub, offset)
        offset += 8
        if buffer:
            max_count, = unpack('<I', stub, offset)
            offset += 4
            # impacket reads max_count structures whatever the count says; servers send both alike.
            if max_count != count or count * 4 * len(fields) > len(stub):
                raise ValueError('bad array size')
            width = len(fields)
            flat = unpack(f'<{count * width}I', stub, offset)
            offset += 4 * count * width
            names = [name for name, _kind in fields]
            strings = [index for index, (_name, kind) in enumerate(fields) if kind == 's']
            string_header = _STRING_HEADER.unpack_from
            # The codec itself: bytes.decode('utf-16-le') goes through a Python-level wrapper, 5
            # times slower. final=True: a cut-off character raises, as decode does.
            decode_utf16 = codecs.utf_16_le_decode
            size = len(stub)
            for start in range(0, count * width, width):
                values: list[Any] = list(flat[start:start + width])
                for index in strings:  # in the order NDR puts them, after the whole array
                    if not values[index]:
                        values[index] = None
                        continue
                    _maximum, first, actual = string_header(stub, offset)
                    offset += 12
                    end = offset + 2 * actual
                    if first != 0 or end > size:
                        raise ValueError('bad string')
                    values[index] = decode_utf16(stub[offset:end], 'strict', True)[0]
                    offset = end + (-end % 4)
                entries.append(dict(zip(names, values, strict=True)))
        elif count:
            raise ValueError('entries without a buffer')
    _total, resume_pointer = unpack('<II', stub, offset)
    offset += 8
    resume_handle = 0
    if resume_pointer:
        resume_handle, = unpack('<I', stub, offset)
        offset += 4
    status, = unpack('<I', stub, offset)
    if offset + 4 != len(stub):
        raise ValueError('trailing bytes')
    return entries, resume_handle, status
