# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WinRM transport: netapi32 on the server itself, through a PowerShell shim, with pywinrm.

Private to the lanman.server collection: not a public API. No pywinrm object or exception
leaves this file: answers become plain dicts, failures NetSessionError.

Every call runs the constant shim (``_winrm_shim.SHIM_SCRIPT``): a short bootstrap on the
command line reads the script and the request (JSON, as data, never as script text) from
stdin, in chunks that fit WinRM's envelope limit, and the shim answers one line of JSON.

Each call starts one ``powershell.exe`` (no ``cmd.exe``: WINRS_SKIP_CMD_SHELL), which costs
seconds on a real server (start-up, then Add-Type compiling the shim's C#). So a call carries
all of its work: a whole fallback plan of levels, or every pair to close. A module run makes
one call to list, and one more to close, whatever the number of pairs (docs/dev/winrm.md).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import ssl
from xml.etree import ElementTree
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ._errors import (
    ERROR_ACCESS_DENIED, ERROR_ACCESS_DISABLED_BY_POLICY, ERROR_BAD_NETPATH, ERROR_INVALID_PARAMETER,
    ERROR_LOGON_FAILURE, ERROR_NETNAME_DELETED, ERROR_NOT_SUPPORTED, ERROR_SEM_TIMEOUT, RPC_S_PROTOCOL_ERROR, SEC_E_LOGON_DENIED,
    SEC_E_NO_CREDENTIALS, Failure, NetSessionError, failures_as,
)
from ._transport import DELETE_GOES_ON_AFTER, FILE_CLOSE_GOES_ON_AFTER, Attempt, SessionTransport, Step
from ._winrm_shim import BOOTSTRAP, SHIM_SCRIPT

LIBRARY = 'pywinrm'
LIBRARY_IMPORT_ERROR: ImportError | None = None
try:
    import requests
    from urllib3.exceptions import NewConnectionError
    from winrm.exceptions import (
        InvalidCredentialsError, WinRMError, WinRMOperationTimeoutError, WinRMTransportError,
        WSManFaultError,
    )
    from winrm.protocol import Protocol
    from winrm.vendor.requests_kerberos.exceptions import KerberosExchangeError
except ImportError as import_error:  # reported by the factory (_tasks), only when WinRM is chosen
    LIBRARY_IMPORT_ERROR = import_error
_CREDSSP_REFUSED: tuple[type[Exception], ...] = ()
_CREDSSP_FAILED: tuple[type[Exception], ...] = ()
try:  # pywinrm[credssp]: requests-credssp is there only where CredSSP is installed
    from requests_credssp.exceptions import AuthenticationException, NTStatusException
    _CREDSSP_REFUSED, _CREDSSP_FAILED = (NTStatusException,), (AuthenticationException,)
except ImportError:
    pass

__all__ = ['WinrmTransport']

# Windows' default MaxEnvelopeSizekb is 150 (153,600 bytes); stdin travels base64-encoded in
# the envelope, so raw chunks of 96 KiB (128 KiB encoded) leave room for the SOAP around them.
STDIN_CHUNK_BYTES = 96 * 1024
POWERSHELL = 'powershell.exe'
POWERSHELL_ARGUMENTS = ('-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass',
                        '-EncodedCommand')
# WSManFault 2150859174: "This user is allowed a maximum number of N concurrent operations, which
# has been exceeded" (the WinRM service's MaxConcurrentOperationsPerUser, as public reports show it).
ERROR_WSMAN_QUOTA_MAX_OPERATIONS = 0x803381A6
# [MS-ERREF] 2.1: Schannel's names for what a TLS handshake refused.
SEC_E_WRONG_PRINCIPAL = 0x80090322
SEC_E_UNTRUSTED_ROOT = 0x80090325
SEC_E_ILLEGAL_MESSAGE = 0x80090326
SEC_E_CERT_EXPIRED = 0x80090328
# OpenSSL's X509_V_ERR_* codes, in ssl.SSLCertVerificationError.verify_code.
_X509_WRONG_NAME = (62, 64)  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_X509_EXPIRED = (9, 10)  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
_CLIXML_HEADER = b'#< CLIXML'
# What a failed close says when its answer was lost: the shim may have closed some pairs.
_OUTCOME_UNKNOWN = ('the request was sent but its answer was lost: the server may have closed some '
                    'of the pairs, so list the sessions again before retrying')
# What an administrator can do about each way a Windows host refuses the shim (also in the
# troubleshooting guide).
_GUIDE_LOGON = (
    'the WinRM service refused the credentials: a wrong user name or password, an account not '
    'allowed to log on, or a local account other than the built-in Administrator, which UAC '
    'remote restrictions filter (LocalAccountTokenFilterPolicy 0): use a domain account that is '
    'an administrator of the server')
_GUIDE_CONSTRAINED = (
    'an AppLocker or App Control policy holds PowerShell to this language mode, in which the shim '
    'cannot define its netapi32 calls: use backend: smb for this server (NetrSessionEnum over '
    'SMB needs no PowerShell), or have the policy trust the collection')
_FAULT_GUIDES = {
    ERROR_ACCESS_DENIED: (
        'the WinRM service refused this account a command shell: it is neither an administrator '
        'nor allowed by the service\'s RootSDDL, or it may use only a JEA endpoint, which pywinrm '
        'cannot reach; use backend: smb, or an account that may open a shell'),
    ERROR_ACCESS_DISABLED_BY_POLICY: (
        'a software restriction, AppLocker or App Control policy does not let powershell.exe '
        'start for this account: use backend: smb for this server'),
}
# pywinrm's InvalidCredentialsError for the server's HTTP 401 (its others are local checks).
_CREDENTIALS_REJECTED = 'the specified credentials were rejected by the server'


def encoded_command(script: str) -> str:
    """PowerShell's -EncodedCommand form: base64 of the UTF-16LE text."""
    return base64.b64encode(script.encode('utf-16-le')).decode('ascii')


def stdin_payload(request: Mapping[str, Any]) -> bytes:
    """What the bootstrap reads: the constant script, a NUL, then the request as JSON."""
    return (SHIM_SCRIPT + '\0' + json.dumps(request, separators=(',', ':'))).encode('utf-8')


def clixml_message(stderr: bytes) -> str:
    """The error text of PowerShell's CLIXML error stream, or the raw text if it is not CLIXML."""
    if not stderr.startswith(_CLIXML_HEADER):
        return stderr.decode('utf-8', 'replace').strip()
    try:
        root = ElementTree.fromstring(stderr.split(b'\n', 1)[1])
    except (IndexError, ElementTree.ParseError):
        return stderr.decode('utf-8', 'replace').strip()
    texts = [node.text or '' for node in root.iter() if node.tag.endswith('}S')
             and node.get('S') == 'Error']
    return re.sub(r'_x000D__x000A_', '\n', ''.join(texts)).strip()


def _failures_as(operation: str, server: str, timeout: int) -> contextlib.AbstractContextManager[None]:
    """What pywinrm or requests raises in the block becomes one NetSessionError."""
    return failures_as(_failure, operation, server, timeout)


def _failure(error: Exception, timeout: int) -> Failure | None:
    """The code for an exception of pywinrm or requests; None for any other."""
    if isinstance(error, InvalidCredentialsError):
        if str(error) == _CREDENTIALS_REJECTED:  # the server's 401, not a local complaint
            return Failure(ERROR_LOGON_FAILURE, None, _GUIDE_LOGON)
        return Failure(ERROR_INVALID_PARAMETER, None, f"pywinrm: {error}")
    if isinstance(error, KerberosExchangeError):
        # The GSSAPI major status says what Windows' SSPI would: no ticket to use, or a refusal.
        text = str(error)
        code = SEC_E_NO_CREDENTIALS if 'No credentials were supplied' in text else SEC_E_LOGON_DENIED
        return Failure(code, None, f"Kerberos: {text}")
    if isinstance(error, WSManFaultError):
        code = error.wsman_fault_code or error.wmierror_code or error.code
        if code in _FAULT_GUIDES:  # a Win32 code Windows puts in the fault: named, with what to do
            return Failure(code, None, f"{error.reason.strip()} ({_FAULT_GUIDES[code]})")
        return Failure(code, 'WSMAN_FAULT', error.reason)
    if isinstance(error, WinRMTransportError):
        return Failure(error.code, f'HTTP_{error.code}', 'the WinRM service answered with an HTTP error')
    if isinstance(error, (TimeoutError, WinRMOperationTimeoutError, requests.exceptions.Timeout)):
        return Failure(ERROR_SEM_TIMEOUT, None, f"no answer within the WinRM timeouts ({timeout} s)")
    if isinstance(error, requests.exceptions.SSLError):
        return _tls_failure(error)
    if isinstance(error, _CREDSSP_REFUSED):  # the TSRequest errorCode of the server (NTSTATUS)
        return Failure(int(error.args[0]), None, f"CredSSP: the WinRM service refused the logon ({error})")
    if isinstance(error, _CREDSSP_FAILED):
        offered = 'available authentication method' not in str(error)
        return Failure(ERROR_LOGON_FAILURE if offered else ERROR_NOT_SUPPORTED, None, f"CredSSP: {error}")
    if isinstance(error, requests.exceptions.ConnectionError):
        if not _never_connected(error):  # the same code as a lost SMB connection
            return Failure(ERROR_NETNAME_DELETED, None, 'the WinRM service dropped the connection')
        return Failure(ERROR_BAD_NETPATH, None, 'could not connect to the WinRM service')
    if isinstance(error, WinRMError):
        # pywinrm's own refusals (a missing Kerberos or CredSSP library, an encryption it cannot
        # do): not the server's answer, and not a logon failure. Its message says which.
        return Failure(ERROR_NOT_SUPPORTED, None, f"pywinrm: {error}")
    return None


def _tls_failure(error: Exception) -> Failure:
    """A refused TLS handshake, named as Schannel names it: the server certificate's issuer,
    name or validity, else the handshake itself (the server refused the client certificate,
    or the two had no TLS version or cipher suite in common)."""
    verify = _cause(error, ssl.SSLCertVerificationError)
    code = getattr(verify, 'verify_code', None)
    reason = str(getattr(verify, 'verify_message', '') or '').rstrip('.') or str(error)
    text = str(error)
    if code in _X509_WRONG_NAME or (verify is None and 'mismatch' in text):
        return Failure(SEC_E_WRONG_PRINCIPAL, 'SEC_E_WRONG_PRINCIPAL', 'the server certificate is not '
                       f'for the name connected to ({reason}): name the server as its certificate does')
    if code in _X509_EXPIRED or (verify is None and 'has expired' in text):
        return Failure(SEC_E_CERT_EXPIRED, 'SEC_E_CERT_EXPIRED', 'the server certificate is outside '
                       f'its validity period ({reason})')
    if verify is not None or 'certificate verify failed' in text:
        return Failure(SEC_E_UNTRUSTED_ROOT, 'SEC_E_UNTRUSTED_ROOT', 'the server certificate could not '
                       'be verified (winrm_ca_trust_path, or winrm_server_cert_validation=ignore)')
    return Failure(SEC_E_ILLEGAL_MESSAGE, 'SEC_E_ILLEGAL_MESSAGE', 'the TLS handshake with the WinRM '
                   f'service failed ({_cause(error, ssl.SSLError) or error})')


def _cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in the chain requests and urllib3 wrap (requests' SSLError
    > MaxRetryError > urllib3's SSLError > ssl's own), or None."""
    pending, seen = [error], 0
    while pending and seen < 20:  # bounded: a malformed chain must not loop
        item = pending.pop()
        seen += 1
        if isinstance(item, kind):
            return item
        pending += [arg for arg in getattr(item, 'args', ()) if isinstance(arg, BaseException)]
        reason = getattr(item, 'reason', None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return None


def _never_connected(error: BaseException) -> bool:
    """Whether a requests ConnectionError is a failure to connect (refused, unresolved), not a
    connection that was lost after it was made: urllib3 says NewConnectionError in the chain."""
    return _cause(error, NewConnectionError) is not None


def _protocol(params: Mapping[str, Any], endpoint: str, read_timeout: int) -> Protocol:
    """pywinrm's client for the endpoint, with the task's authentication and TLS settings."""
    return Protocol(
        endpoint=endpoint,
        transport=params['winrm_transport'],
        username=_logon_name(params),
        password=params['connection_password'],
        server_cert_validation=params['winrm_server_cert_validation'],
        ca_trust_path=params['winrm_ca_trust_path'] or 'legacy_requests',
        cert_pem=params['winrm_cert_pem'],
        cert_key_pem=params['winrm_cert_key_pem'],
        message_encryption=params['winrm_message_encryption'],
        operation_timeout_sec=params['winrm_operation_timeout'],
        read_timeout_sec=read_timeout,
        # The name in the Kerberos SPN (HTTP/<name>) when server is an address.
        kerberos_hostname_override=params['kerberos_hostname'],
    )


class WinrmTransport(SessionTransport):
    """One WinRM shell for the whole module run; one shim command (one PowerShell) per call."""

    backend = 'winrm'

    def __init__(self, server: str, timeout: int, protocol: Any, shell_id: str) -> None:
        super().__init__(server, timeout)
        self._protocol = protocol
        self._shell_id = shell_id

    @classmethod
    def connect(cls, params: Mapping[str, Any]) -> WinrmTransport:
        server = params['server']
        scheme = params['winrm_scheme']
        port = params['winrm_port'] or (5986 if scheme == 'https' else 5985)
        host = f'[{server}]' if ':' in server else server
        read_timeout = params['winrm_read_timeout']
        with _failures_as(f"set up pywinrm ({scheme} port {port})", server, read_timeout):
            protocol = _protocol(params, f'{scheme}://{host}:{port}/wsman', read_timeout)
        with _failures_as(f"open a WinRM shell ({scheme} port {port})", server, read_timeout):
            shell_id = protocol.open_shell()
        return cls(server, read_timeout, protocol, shell_id)

    @property
    def own_session(self) -> None:
        # WinRM is not an SMB session: nothing of ours appears in the list.
        return None

    def _call(self, operation: str, request: Mapping[str, Any], *,
              outcome_unknown: bool = False) -> dict[str, Any]:
        """Run the shim on one request; its JSON answer. ``outcome_unknown``: the request
        changes the server, so a failure once it was sent must say that it may have run."""
        payload = stdin_payload(request)
        try:
            command_id = self._start_command(operation)
        except NetSessionError as error:
            if error.code != ERROR_WSMAN_QUOTA_MAX_OPERATIONS:
                raise
            # The WinRM service counts a shell's operations even after they are cleaned up
            # (MaxConcurrentOperationsPerUser); a new shell starts from none. The refused command
            # never started, so it is started again, once, in the new shell.
            self._renew_shell()
            command_id = self._start_command(operation)
        try:
            with _failures_as(operation, self.server, self._timeout):
                try:
                    for offset in range(0, len(payload), STDIN_CHUNK_BYTES):
                        self._protocol.send_command_input(
                            self._shell_id, command_id, payload[offset:offset + STDIN_CHUNK_BYTES],
                            end=offset + STDIN_CHUNK_BYTES >= len(payload))
                    stdout, stderr, exit_code = self._protocol.get_command_output(self._shell_id,
                                                                                  command_id)
                finally:
                    with contextlib.suppress(Exception):
                        self._protocol.cleanup_command(self._shell_id, command_id)
        except NetSessionError as error:
            if outcome_unknown:
                error.detail = f"{error.detail}; {_OUTCOME_UNKNOWN}" if error.detail else _OUTCOME_UNKNOWN
            raise
        if exit_code == ERROR_ACCESS_DISABLED_BY_POLICY:  # the bootstrap's language-mode check
            said = stdout.decode('utf-8', 'replace').strip()
            raise NetSessionError(exit_code, None, operation=operation, server=self.server,
                                  detail=f"{said}: {_GUIDE_CONSTRAINED}" if said else _GUIDE_CONSTRAINED)
        if exit_code != 0:
            raise NetSessionError(exit_code, 'POWERSHELL_EXIT_CODE', operation=operation,
                                  server=self.server,
                                  detail=clixml_message(stderr) or 'the shim failed without a message')
        try:
            answer = json.loads(stdout.decode('utf-8').strip())
            status = answer['status']
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise NetSessionError(RPC_S_PROTOCOL_ERROR, None, operation=operation, server=self.server,
                                  detail='the shim answered something that is not its JSON') from None
        if not isinstance(status, int) or isinstance(status, bool):
            raise NetSessionError(RPC_S_PROTOCOL_ERROR, None, operation=operation, server=self.server,
                                  detail='the shim answered without a numeric status')
        return answer

    def _start_command(self, operation: str) -> str:
        with _failures_as(operation, self.server, self._timeout):
            return self._protocol.run_command(
                self._shell_id, POWERSHELL, [*POWERSHELL_ARGUMENTS, encoded_command(BOOTSTRAP)],
                console_mode_stdin=False, skip_cmd_shell=True)

    def _renew_shell(self) -> None:
        with contextlib.suppress(Exception):  # the old shell is of no further use either way
            self._protocol.close_shell(self._shell_id)
        with _failures_as('open a new WinRM shell (operation quota reached)', self.server,
                          self._timeout):
            self._shell_id = self._protocol.open_shell()

    def enumerate(self, plan: Sequence[Step]) -> list[Attempt]:
        # The whole plan in one PowerShell process: the shim walks it as walk_plan does.
        operation = f"NetSessionEnum (level {', '.join(str(step.level) for step in plan)})"
        answer = self._call(operation, {'operation': 'enum', 'plan': [
            {'level': step.level, 'client': step.unc_client, 'username': step.username,
             'fallback': [number for pair in step.fallback.items() for number in pair]}
            for step in plan]})
        steps, statuses, entries = (answer.get(key, []) for key in ('steps', 'statuses', 'entries'))
        if not (_numbers(steps) and _numbers(statuses) and len(steps) == len(statuses)
                and 0 < len(steps) <= len(plan) and steps == sorted(set(steps))
                and 0 <= steps[0] and steps[-1] < len(plan)
                and isinstance(entries, list) and all(isinstance(entry, dict) for entry in entries)):
            raise NetSessionError(RPC_S_PROTOCOL_ERROR, None, operation=operation, server=self.server,
                                  detail='the shim answered something other than a walk of the plan')
        attempts = []
        for index, status in zip(steps, statuses, strict=True):
            step = plan[index]
            both = step.unc_client is not None and step.username is not None and step.level != 502
            refusal = None if status == 0 else NetSessionError(
                status, None, operation=f"{'NetSessionGetInfo' if both else 'NetSessionEnum'} "
                                        f"(level {step.level})", server=self.server)
            attempts.append(Attempt(index, entries if status == 0 else [], refusal))
        return attempts

    def delete(self, pairs: Sequence[tuple[str | None, str]]) -> Iterator[NetSessionError | None]:
        return self._each({'operation': 'delete', 'pairs': [
            {'client': unc_client, 'username': username} for unc_client, username in pairs]},
            [f"NetSessionDel ({unc_client or 'NULL'}, {username})" for unc_client, username in pairs],
            DELETE_GOES_ON_AFTER, 'NetSessionDel', 'pair')

    def enumerate_files(self, base_path: str | None, username: str | None) -> list[dict[str, Any]]:
        operation = 'NetFileEnum (level 3)'
        answer = self._call(operation, {'operation': 'files', 'base_path': base_path,
                                        'username': username})
        if answer['status'] != 0:
            raise NetSessionError(answer['status'], None, operation=operation, server=self.server)
        entries = answer.get('entries')
        if not isinstance(entries, list) or not all(isinstance(entry, dict) and isinstance(entry.get('id'), int)
                                                    for entry in entries):
            raise NetSessionError(RPC_S_PROTOCOL_ERROR, None, operation=operation, server=self.server,
                                  detail='the shim answered entries that are not a list of files')
        return entries

    def close_files(self, file_ids: Sequence[int]) -> Iterator[NetSessionError | None]:
        return self._each({'operation': 'close_files', 'ids': list(file_ids)},
                          [f"NetFileClose ({file_id})" for file_id in file_ids],
                          FILE_CLOSE_GOES_ON_AFTER, 'NetFileClose', 'file')

    def _each(self, request: Mapping[str, Any], operations: Sequence[str], goes_on: frozenset[int],
              call: str, noun: str) -> Iterator[NetSessionError | None]:
        """Every item of ``request`` in one PowerShell process, answered as the interface says:
        the shim goes on past a status in ``goes_on`` and stops after any other. ``operations``
        names each item's own call, for its refusal."""
        operation = f"{call} ({len(operations)} {noun}{'s' if len(operations) != 1 else ''})"
        statuses = self._call(operation, request, outcome_unknown=True).get('statuses', [])
        # One status per item, in order, ending early only after a status that does not go on.
        if not (_numbers(statuses) and 0 < len(statuses) <= len(operations)
                and all(status in goes_on for status in statuses[:-1])
                and (len(statuses) == len(operations) or statuses[-1] not in goes_on)):
            raise NetSessionError(RPC_S_PROTOCOL_ERROR, None, operation=operation, server=self.server,
                                  detail=f"the shim answered something other than a status per {noun}")
        return iter([None if status == 0 else NetSessionError(status, None, operation=item, server=self.server)
                     for item, status in zip(operations, statuses, strict=False)])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._protocol.close_shell(self._shell_id)


def _numbers(value: Any) -> bool:
    """Whether a shim answer member is a list of integers (JSON true is not one)."""
    return isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value)


def _logon_name(params: Mapping[str, Any]) -> str | None:
    """WinRM takes the domain in the user name (DOMAIN\\user); pywinrm has no domain field."""
    user, domain = params['connection_username'], params['connection_domain']
    if user and domain and '\\' not in user and '@' not in user:
        return f'{domain}\\{user}'
    return user
