# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMB transport: MS-SRVS over ``\\pipe\\srvsvc`` with impacket.

Private to the lanman.server collection: not a public API. No impacket object or exception
leaves this file: answers become plain dicts, failures NetSessionError.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ._accounts import AccountName, check_account, kerberos_realm
from ._errors import (
    ERROR_BAD_NETPATH, ERROR_MORE_DATA, ERROR_NETNAME_DELETED, ERROR_SEM_TIMEOUT, NERR_SUCCESS,
    RPC_S_PROTOCOL_ERROR, SEC_E_NO_CREDENTIALS, Failure, NetSessionError, failures_as, status_name,
)
from ._own_session import OwnSession
from ._transport import (
    DELETE_GOES_ON_AFTER, FILE_CLOSE_GOES_ON_AFTER, Attempt, SessionTransport, Step, walk_plan,
)

LIBRARY = 'impacket'
LIBRARY_IMPORT_ERROR: ImportError | None = None
try:
    from impacket import nt_errors, smb as smb1, smb3, system_errors
    from impacket.dcerpc.v5 import srvs, transport as rpc_transport
    from impacket.dcerpc.v5.rpcrt import DCERPCException, rpc_status_codes
    from impacket.dcerpc.v5.dtypes import NULL
    from impacket.krb5 import constants as krb5_constants
    from impacket.krb5.kerberosv5 import KerberosError
    from impacket.nmb import NetBIOSError, NetBIOSTimeout
    from impacket.smb import SMB_DIALECT
    from impacket.smbconnection import SMBConnection, SessionError

    from impacket.smb3structs import SMB2_DIALECT_30, SMB2_SESSION_FLAG_ENCRYPT_DATA

    from ._rpc import TransceivePipe, decode_file_enum, decode_session_enum
    from ._smb_kerberos import TicketCacheError, service_ticket
except ImportError as import_error:  # reported by the factory (_tasks), only when SMB is chosen
    LIBRARY_IMPORT_ERROR = import_error

__all__ = ['SmbTransport']

# [MS-ERREF] 2.3.1: what an SMB 3 server answers a request that should have been encrypted.
STATUS_ACCESS_DENIED = 0xC0000022
_DIALECTS = {0x202: 'SMB 2.0.2', 0x210: 'SMB 2.1', 0x300: 'SMB 3.0', 0x302: 'SMB 3.0.2',
             0x311: 'SMB 3.1.1'}

# What Samba announces as its version in the NTLM CHALLENGE ([MS-NLMP] 2.2.2.10): Windows 6.1
# build 0. Windows itself sends its real build there (7600 and up for 6.1).
SAMBA_NTLM_VERSION = (6, 1, 0)
# docs/dev/protocol.md: Samba answers NetrSessionEnum at levels 0 and 1 only (124 for 2, 10, 502).
SAMBA_LEVELS = frozenset({0, 1})

# [MS-SRVS] 3.1.4.5: PreferedMaximumLength MAX_PREFERRED_LENGTH asks for every entry at once;
# a server that still pages answers ERROR_MORE_DATA with a resume handle.
MAX_PREFERRED_LENGTH = 0xFFFFFFFF
# Bound on ERROR_MORE_DATA round trips: far above any real server's session count per page.
_MAX_PAGES = 10000

_INFO_PREFIX = {0: 'sesi0_', 1: 'sesi1_', 2: 'sesi2_', 10: 'sesi10_', 502: 'sesi502_'}


def _wide(text: str | None) -> Any:
    """An NDR string argument: NUL-terminated, or NULL."""
    return NULL if text is None else text + '\x00'


def _value(field: Any) -> str | int | None:
    """A SESSION_INFO field as a plain value; a NULL string pointer becomes None."""
    return field if isinstance(field, (str, int)) else None


def _code_name(code: int) -> str | None:
    """A name for a Win32 code, NT status or RPC status: ours first, then impacket's tables."""
    name = status_name(code)
    if name is None and code in nt_errors.ERROR_MESSAGES:
        name = nt_errors.ERROR_MESSAGES[code][0]
    if name is None and code in system_errors.ERROR_MESSAGES:
        name = system_errors.ERROR_MESSAGES[code][0]
    if name is None and code in rpc_status_codes:
        name = rpc_status_codes[code]
    return name


def _failures_as(operation: str, server: str, timeout: int) -> contextlib.AbstractContextManager[None]:
    """What impacket or the socket raises in the block becomes one NetSessionError."""
    return failures_as(_failure, operation, server, timeout)


def _failure(error: Exception, timeout: int) -> Failure | None:
    """The code for an exception of impacket or the socket; None for any other."""
    if isinstance(error, KerberosError):
        code = int(error.getErrorCode())  # an ASN.1 integer in the KRB-ERROR: make it plain
        name, meaning = krb5_constants.ERROR_MESSAGES.get(code, ('KRB_ERROR', 'unknown error'))
        return Failure(code, name, f"Kerberos: {meaning} (RFC 4120 7.5.9)")
    if isinstance(error, (SessionError, smb3.SessionError, smb1.SessionError)):
        # smbconnection wraps the SMB 2/3 and SMB 1 errors; called directly, those raise their own.
        code = error.getErrorCode() if isinstance(error, SessionError) else error.get_error_code()
        return Failure(code, _code_name(code))
    if isinstance(error, DCERPCException):
        code = error.get_error_code()
        if code is None:
            return Failure(RPC_S_PROTOCOL_ERROR, None, str(error.error_string or error))
        return Failure(code, _code_name(code))
    if isinstance(error, _Undecodable):
        return Failure(RPC_S_PROTOCOL_ERROR, None, f"undecodable answer ({error})")
    if isinstance(error, (NetBIOSTimeout, NetBIOSError, OSError)):
        code, detail = _network_failure(error, timeout)
        return Failure(code, None, detail)
    if error.__class__ is Exception and error.args == ('No answer!',):
        # impacket's SMB negotiation: the server dropped the connection (twice) unanswered. A
        # plain Exception only: a subclass with those words would be something else.
        return Failure(ERROR_NETNAME_DELETED, None, 'connection lost (no answer to the SMB negotiation)')
    return None


def _network_failure(error: BaseException, timeout: int) -> tuple[int, str]:
    """The Win32 code a Windows client reports for a failed connection, and what happened."""
    # impacket's connect re-raises the socket's error as the second argument of its own.
    if isinstance(error, OSError) and len(error.args) == 2 and isinstance(error.args[1], OSError):
        error = error.args[1]
    if isinstance(error, (NetBIOSTimeout, socket.timeout, TimeoutError)):
        return ERROR_SEM_TIMEOUT, f"no answer within connect_timeout ({timeout} s)"
    if isinstance(error, ConnectionRefusedError):
        return ERROR_BAD_NETPATH, 'connection refused'
    if isinstance(error, socket.gaierror):
        return ERROR_BAD_NETPATH, f"name not resolved ({error.strerror})"
    if isinstance(error, (ConnectionError, NetBIOSError)):
        return ERROR_NETNAME_DELETED, 'connection lost'
    return ERROR_BAD_NETPATH, getattr(error, 'strerror', None) or type(error).__name__


class SmbTransport(SessionTransport):
    """One SMB connection, one bind to srvsvc, for the whole module run."""

    backend = 'smb'

    def __init__(self, server: str, timeout: int, smb: Any, pipe: Any, own: OwnSession) -> None:
        super().__init__(server, timeout)
        self._smb = smb
        self._pipe = pipe
        self._own = own

    @classmethod
    def connect(cls, params: Mapping[str, Any]) -> SmbTransport:
        server, timeout = params['server'], params['connect_timeout']
        account = _logon_account(params)
        kerberos = params['auth'] == 'kerberos'
        # The name in the Kerberos SPN (cifs/<name>); the connection itself goes to `server`.
        host_name = params['kerberos_hostname'] if kerberos else server
        with _failures_as(f"connect (SMB port {params['port']})", server, timeout):
            smb = SMBConnection(host_name, server, sess_port=params['port'], timeout=timeout)
        try:
            if kerberos:
                account = _kerberos_logon(smb, account, params, host_name)
            else:
                with _failures_as('NTLM logon', server, timeout):
                    smb.login(account.name, params['connection_password'] or '',
                              account.domain or '', '', params['connection_nt_hash'] or '')
            if params.get('smb_encrypt'):
                _require_encryption(smb, server)
            with _failures_as(r'bind to \pipe\srvsvc', server, timeout):
                pipe = _open_srvsvc(smb, server, params['port'], timeout)
                local_address = smb.getSMBServer().get_socket().getsockname()[0]
        except BaseException:
            _quietly_close(smb)
            raise
        # Over port 445 servers report the source address; over 139 Samba reports the NetBIOS
        # calling name, which impacket takes from the host name (at most 15 characters).
        local_name = socket.gethostname()
        own = OwnSession.of([local_address, local_name, local_name.split('.')[0][:15]],
                            account.name or None)
        transport = cls(server, timeout, smb, pipe, own)
        if _ntlm_version(smb) == SAMBA_NTLM_VERSION:
            # level auto then asks Samba for level 1 straight away, not after two refusals.
            transport.served_levels = SAMBA_LEVELS
        return transport

    @property
    def own_session(self) -> OwnSession:
        return self._own

    def enumerate(self, plan: Sequence[Step]) -> list[Attempt]:
        return walk_plan(plan, self._enumerate_step)

    def _enumerate_step(self, step: Step) -> list[dict[str, Any]]:
        level, prefix = step.level, _INFO_PREFIX[step.level]

        def request(resume_handle: int) -> Any:
            call = srvs.NetrSessionEnum()
            call['ServerName'] = NULL
            call['ClientName'] = _wide(step.unc_client)
            call['UserName'] = _wide(step.username)
            call['InfoStruct']['Level'] = level
            call['InfoStruct']['SessionInfo']['tag'] = level
            call['InfoStruct']['SessionInfo'][f'Level{level}']['Buffer'] = NULL
            call['PreferedMaximumLength'] = MAX_PREFERRED_LENGTH
            call['ResumeHandle'] = resume_handle
            return call

        return self._pages(f"NetrSessionEnum (level {level})", request,
                           lambda answer: _session_page(answer, level, prefix))

    def enumerate_files(self, base_path: str | None, username: str | None) -> list[dict[str, Any]]:
        def request(resume_handle: int) -> Any:
            call = srvs.NetrFileEnum()
            call['ServerName'] = NULL
            call['BasePath'] = _wide(base_path)
            call['UserName'] = _wide(username)
            call['InfoStruct']['Level'] = 3
            call['InfoStruct']['FileInfo']['tag'] = 3
            call['InfoStruct']['FileInfo']['Level3']['Buffer'] = NULL
            call['PreferedMaximumLength'] = MAX_PREFERRED_LENGTH
            call['ResumeHandle'] = resume_handle
            return call

        return self._pages('NetrFileEnum (level 3)', request, _file_page)

    def _pages(self, operation: str, request: Callable[[int], Any],
               decode: Callable[[bytes], tuple[list[dict[str, Any]], int, int]]) -> list[dict[str, Any]]:
        """Every page of an enumeration: ``request(resume_handle)`` is one call, ``decode`` its
        answer (entries, next resume handle, status)."""
        entries: list[dict[str, Any]] = []
        resume_handle = 0
        for _page in range(_MAX_PAGES):
            call = request(resume_handle)
            with _failures_as(operation, self.server, self._timeout):
                # The status is checked here for every code alike: ERROR_MORE_DATA carries a
                # page that must be read.
                answer = self._pipe.call(call.opnum, call.getData())
                page, next_handle, status = decode(answer)
            if status not in (NERR_SUCCESS, ERROR_MORE_DATA):
                raise NetSessionError(status, _code_name(status), operation=operation,
                                      server=self.server)
            if status == ERROR_MORE_DATA and not page:
                raise NetSessionError(ERROR_MORE_DATA, None, operation=operation, server=self.server,
                                      detail='the server asked to go on but sent no entries')
            entries.extend(page)
            resume_handle = next_handle
            if status == NERR_SUCCESS:
                return entries
        raise NetSessionError(ERROR_MORE_DATA, None, operation=operation, server=self.server,
                              detail=f"still more data after {_MAX_PAGES} pages")

    def delete(self, pairs: Sequence[tuple[str | None, str]]) -> Iterator[NetSessionError | None]:
        def calls() -> Iterator[tuple[str, Any]]:
            for unc_client, username in pairs:
                call = srvs.NetrSessionDel()
                call['ServerName'] = NULL
                call['ClientName'] = _wide(unc_client)
                call['UserName'] = _wide(username)
                yield f"NetrSessionDel ({unc_client or 'NULL'}, {username})", call

        return self._each(calls(), DELETE_GOES_ON_AFTER)

    def close_files(self, file_ids: Sequence[int]) -> Iterator[NetSessionError | None]:
        def calls() -> Iterator[tuple[str, Any]]:
            for file_id in file_ids:
                call = srvs.NetrFileClose()
                call['ServerName'] = NULL
                call['FileId'] = file_id
                yield f"NetrFileClose ({file_id})", call

        return self._each(calls(), FILE_CLOSE_GOES_ON_AFTER)

    def _each(self, calls: Iterator[tuple[str, Any]], goes_on: frozenset[int]) -> Iterator[NetSessionError | None]:
        """One call at a time, made only when the caller asks for the next answer: None once
        done, else the refusal; stops after a refusal whose status is not in ``goes_on``."""
        for operation, call in calls:
            with _failures_as(operation, self.server, self._timeout):
                status = _status(self._pipe.call(call.opnum, call.getData()))
            if status == NERR_SUCCESS:
                yield None
                continue
            yield NetSessionError(status, _code_name(status), operation=operation, server=self.server)
            if status not in goes_on:
                return

    def close(self) -> None:
        _quietly_close(self._smb)


def _logon_account(params: Mapping[str, Any]) -> AccountName:
    """The account to log on as: ``connection_domain`` wins over a domain in the user name."""
    user = params['connection_username']
    account = check_account('connection_username', user) if user else AccountName('')
    domain = params['connection_domain']
    return AccountName(account.name, domain) if domain else account


def _kerberos_logon(smb: Any, account: AccountName, params: Mapping[str, Any],
                    host_name: str) -> AccountName:
    """Log on with a service ticket for ``cifs/<host_name>``; returns who logged on.

    From the password or NT hash when given, else from the controller's ticket cache
    (``KRB5CCNAME``), which decides the user when the task names none.
    """
    server, timeout = params['server'], params['connect_timeout']
    given_realm, guessed_realm = kerberos_realm(account, params['connection_domain'], host_name)
    secret = params['connection_password'] or params['connection_nt_hash']
    kdc = params['kdc_host'] or "from krb5.conf, else the realm's DNS name"
    operation = f"Kerberos logon to cifs/{host_name} (KDC {kdc})"
    with _failures_as(operation, server, timeout):
        try:
            credentials = service_ticket(
                host_name=host_name, username=account.name or None,
                realm=given_realm or (guessed_realm if secret else None),
                password=params['connection_password'], nt_hash=params['connection_nt_hash'],
                kdc_host=params['kdc_host'], timeout=timeout)
        except TicketCacheError as error:
            raise NetSessionError(SEC_E_NO_CREDENTIALS, 'SEC_E_NO_CREDENTIALS', operation=operation,
                                  server=server, detail=str(error)) from None
        smb.kerberosLogin(credentials.username, '', credentials.realm, TGS=credentials.ticket,
                          useCache=False)
    return AccountName(credentials.username, credentials.realm)


def _ntlm_version(smb: Any) -> tuple[int, int, int] | None:
    """The server's version from its NTLM CHALLENGE; None after a Kerberos logon, which has none."""
    try:
        return smb.getServerOSMajor(), smb.getServerOSMinor(), smb.getServerOSBuild()
    except KeyError:
        return None


def _require_encryption(smb: Any, server: str) -> None:
    """Refuse to go on (before any RPC is sent) unless the session encrypts every message.

    impacket encrypts an SMB 3.x session whenever the server offers encryption, and says so in
    its session flags; it has no switch to demand it, so the demand is checked here. The flag
    and dialect are impacket internals (checked against impacket 0.12 and 0.13).
    """
    connection = smb.getSMBServer()
    session = getattr(connection, '_Session', None)
    dialect = smb.getDialect()
    encrypted = (isinstance(dialect, int) and dialect >= SMB2_DIALECT_30
                 and isinstance(session, dict)
                 and bool(session.get('SessionFlags', 0) & SMB2_SESSION_FLAG_ENCRYPT_DATA)
                 and bool(getattr(connection, '_Connection', {}).get('SupportsEncryption')))
    if not encrypted:
        shown = _DIALECTS.get(dialect, f"dialect 0x{dialect:04X}") if isinstance(dialect, int) \
            else 'SMB 1'
        raise NetSessionError(STATUS_ACCESS_DENIED, 'STATUS_ACCESS_DENIED',
                              operation='require encryption (smb_encrypt)', server=server,
                              detail=f"the server does not encrypt this session ({shown}); "
                                     "smb_encrypt=true needs SMB 3.0 or later with encryption "
                                     "enabled on the server")


def _open_srvsvc(smb: Any, server: str, port: int, timeout: int) -> Any:
    """Open and bind ``\\pipe\\srvsvc``: an object whose ``call(opnum, stub)`` returns the answer's stub.

    SMB2/3: one FSCTL_PIPE_TRANSCEIVE per bind and per call (see ``_rpc``). SMB1 (servers that
    speak nothing newer): impacket's own DCE/RPC, which writes and then reads.
    """
    if smb.getDialect() != SMB_DIALECT:
        tree = smb.connectTree('IPC$')
        pipe = TransceivePipe(smb.getSMBServer(), tree, smb.openFile(tree, r'\srvsvc'))
        pipe.bind(srvs.MSRPC_UUID_SRVS)
        return pipe
    rpc = rpc_transport.SMBTransport(server, port, r'\srvsvc', smb_connection=smb)
    rpc.set_connect_timeout(timeout)
    dce = rpc.get_dce_rpc()
    dce.connect()
    dce.bind(srvs.MSRPC_UUID_SRVS)
    return _ImpacketPipe(dce)


class _ImpacketPipe:
    """impacket's DCE/RPC: the request, then the (reassembled) answer's stub."""

    def __init__(self, dce: Any) -> None:
        self._dce = dce

    def call(self, opnum: int, stub: bytes) -> bytes:
        self._dce.call(opnum, stub)
        return self._dce.recv()


class _Undecodable(Exception):
    """The server's answer is not a well-formed NetrSessionEnum / NetrSessionDel answer."""


def _status(answer: bytes) -> int:
    """The Win32 status that ends every MS-SRVS answer."""
    if len(answer) < 4:
        raise _Undecodable(f"an answer of {len(answer)} bytes")
    return struct.unpack('<L', answer[-4:])[0]


def _session_page(answer: bytes, level: int, prefix: str) -> tuple[list[dict[str, Any]], int, int]:
    """One NetrSessionEnum answer: its entries (only if the status says there are), resume handle, status."""
    status = _status(answer)
    if status not in (NERR_SUCCESS, ERROR_MORE_DATA):
        return [], 0, status
    try:
        return decode_session_enum(answer, level)
    except (ValueError, struct.error, UnicodeDecodeError):
        pass  # not what the fast decoder expects: let impacket decode it (or fail) as it always did
    try:
        response = srvs.NetrSessionEnumResponse(answer)
        page = response['InfoStruct']['SessionInfo'][f'Level{level}']['Buffer'] or []
        entries = [{field[len(prefix):]: _value(item[field]) for field in item.fields
                    if field.startswith(prefix)} for item in page]
        return entries, response['ResumeHandle'], response['ErrorCode']
    except Exception as error:  # impacket's NDR decoder raises plain Exceptions for bad input
        raise _Undecodable(type(error).__name__) from None


def _file_page(answer: bytes) -> tuple[list[dict[str, Any]], int, int]:
    """One NetrFileEnum answer at level 3: entries (FILE_INFO_3 names without ``fi3_``), resume
    handle, status."""
    status = _status(answer)
    if status not in (NERR_SUCCESS, ERROR_MORE_DATA):
        return [], 0, status
    try:
        return decode_file_enum(answer)
    except (ValueError, struct.error, UnicodeDecodeError):
        pass  # not what the fast decoder expects: let impacket decode it (or fail) as it always did
    try:
        response = srvs.NetrFileEnumResponse(answer)
        page = response['InfoStruct']['FileInfo']['Level3']['Buffer'] or []
        # impacket calls the path fi3_path_name; MS-SRVS 2.2.4.7 says fi3_pathname.
        entries = [{'id': item['fi3_id'], 'permissions': item['fi3_permissions'],
                    'num_locks': item['fi3_num_locks'], 'pathname': _value(item['fi3_path_name']),
                    'username': _value(item['fi3_username'])} for item in page]
        return entries, response['ResumeHandle'], response['ErrorCode']
    except Exception as error:  # impacket's NDR decoder raises plain Exceptions for bad input
        raise _Undecodable(type(error).__name__) from None


def _quietly_close(smb: Any) -> None:
    """Drop the connection without an SMB LOGOFF: the server ends the session with the TCP
    connection anyway, and a logoff would wait for an answer (after a large NetrSessionDel,
    Samba is busy ending the sessions for a good part of a second) that changes nothing."""
    with contextlib.suppress(Exception):
        smb.getSMBServer().close_session()
