"""A loopback WS-Management (WinRM) endpoint for tests, reached by the real pywinrm client.

``WsmanEndpoint`` is an HTTP server (stdlib ``http.server``, one thread per connection) that
answers POST ``/wsman`` the way the WinRM service of Windows answers pywinrm 0.5.0, and behind
it a model of ``powershell.exe -EncodedCommand <bootstrap>`` that reads a script and a JSON
request from stdin and answers through a ``responder`` callable.

Modelled after Windows (the source of each rule is named where it is defined):

* HTTP: ``Server: Microsoft-HTTPAPI/2.0``; an unauthenticated request gets 401 with
  ``WWW-Authenticate: Negotiate`` (and ``Basic realm="WSMAN"`` when Basic is allowed,
  ``CredSSP`` when CredSSP is); NTLM authenticates the TCP connection (raw NTLM tokens under
  the ``Negotiate`` or ``NTLM`` scheme, checked by pyspnego's acceptor against an
  ``NTLM_USER_FILE``); Basic authenticates each request; a wrong user or password gets 401.
* Message encryption ([MS-WSMV] 2.2.9.1.1, the framing of pywinrm's ``winrm/encryption.py``):
  an encrypted request is answered encrypted, faults included; a plain one plainly.
  ``encryption='auto'`` is ``AllowUnencrypted=true``; ``'required'`` is ``AllowUnencrypted=false``:
  an unencrypted NTLM body gets HTTP 500 with an empty body and Basic gets 401 (over HTTP;
  see HTTPS below).
* Limits: an HTTP body over MaxEnvelopeSizekb 150 (153,600 bytes) gets HTTP 413 with an empty
  body, as the WinRM service answers (pywinrm raises ``WinRMTransportError`` with code 413);
  ``oversize_answer='fault'`` answers instead with HTTP 500 and an s:Sender / w:EncodingLimit
  fault (WSManFault 2150858824), which is *not* what Windows was seen to do.
  A command line (Command + " " + Arguments) over 8191 characters, run through cmd.exe
  (``WINRS_SKIP_CMD_SHELL=FALSE``, pywinrm's default), starts, writes ``The command line is
  too long.`` on stderr and exits with 1, as cmd.exe does.
* Shell operations: Create, Command, Send (several chunks, ``End="true"`` on the last),
  Receive (base64 streams, CommandState Done + ExitCode, output split over several Receives
  when large, w:TimedOut fault 2150858793 when nothing arrives within OperationTimeout),
  Signal (terminate), Delete; faults are SOAP 1.2 faults with a ``WSManFault`` detail, HTTP 500.
* PowerShell: ``powershell[.exe]`` with ``-EncodedCommand <base64 of UTF-16LE>`` (PowerShell
  5.1 parameter prefixes and aliases accepted); errors are CLIXML on stderr
  (``#< CLIXML\\r\\n<Objs ...><S S="Error">..._x000D__x000A_</S>...</Objs>``) with exit code 1.

Checks of the model itself, not Windows behaviour (a fault with a reason starting
``[model]`` and WSManFault code ``MODEL_REFUSED``): any program other than powershell, any
PowerShell mode other than -EncodedCommand, a bootstrap other than ``expected_bootstrap``,
-EncodedCommand text that is not base64 of UTF-16LE. ``expected_script`` is checked the way a
shim would: a different script makes "PowerShell" fail with exit code 1 and a CLIXML error.

Unverified against Windows (chosen, not observed): 400 for a body that does not decrypt, the
fault for a command line over 32,767 characters with ``WINRS_SKIP_CMD_SHELL=TRUE``, the faults
for Receive after Done, Send after End and an unknown CommandId, and most fault subcodes.

* HTTPS (``https=(certificate PEM, key PEM)``): the listening socket wrapped with TLS 1.2 or
  later; each connection's handshake runs in its own thread, bounded by
  ``tls_handshake_timeout`` (a failed one is recorded in ``tls_failures``). The server's
  certificate is what the client checks (``ca_trust_path``, name and address, validity); over
  HTTPS AllowUnencrypted does not apply (a plain body is accepted) and Basic is offered whatever
  ``encryption`` says, as the WinRM service does; pywinrm's ``message_encryption='auto'`` does not
  encrypt over HTTPS ('always' still does, and is answered sealed).
* Channel binding for NTLM over HTTPS (``cbt_hardening``, Service\\Auth\\CbtHardeningLevel):
  the client's MsvAvChannelBindings must be the MD5 of RFC 5929 ``tls-server-end-point`` of the
  listener's certificate; 'relaxed' (Windows' default) checks it when the client sent one,
  'strict' always, 'none' never.
* Certificate authentication (``allow_certificate``, Service\\Auth\\Certificate, off by default
  as on Windows; over HTTPS only): the server asks for a client certificate in the handshake and
  verifies its chain against ``client_ca`` (a certificate from another issuer fails the
  handshake); a request with ``Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual``
  is then mapped to a local account by ``certificate_mappings`` (``CertificateMapping``: the
  ClientCertificate entries' Subject = the UPN in the certificate's subject alternative names,
  or ``*``; Issuer = the SHA-1 thumbprint of the issuing CA); Client Authentication EKU needed;
  unmapped or over HTTP: 401.
* CredSSP (``allow_credssp``, Service\\Auth\\CredSSP, off by default as on Windows; offered in
  the 401 challenge only when on): [MS-CSSP] with pyspnego's acceptor, one 401 per leg
  (``WWW-Authenticate: CredSSP <token>``): TLS inside the HTTP, SPNEGO with NTLM against the same
  users, the public key binding, then the delegated credentials, which must log on (a wrong
  password is refused inside CredSSP with a TSRequest errorCode, SEC_E_LOGON_DENIED, as
  pyspnego's acceptor sends it). CredSSP authenticates the connection, as NTLM does.

* Kerberos (with ``keytab``): a raw Kerberos token under ``Negotiate`` (what pywinrm sends,
  through pykerberos) is accepted by the GSSAPI acceptor of pyspnego with the keys of the
  keytab (``HTTP/<name>`` principals exported from a KDC); the AP-REP goes back in
  ``WWW-Authenticate`` for mutual authentication, the user is the client principal
  (``user@REALM``), and message encryption uses the GSSAPI IOV wrapping of [MS-WSMV] 2.2.9.1.1.

* The operation quota (``max_operations``): a shell that has run that many commands refuses the
  next Command with fault 2150859174 (0x803381A6, "This user is allowed a maximum number of N
  concurrent operations ..."; the code and text as public reports show them, the SOAP subcode
  chosen). Windows counts operations per user across its shells; the model counts per shell,
  which is what makes a new shell the remedy pywinrm's users apply.

* What a process costs (``cost``, a ``ProcessCost``): each PowerShell command waits the start-up
  of powershell.exe, and one that gets a request also Add-Type's compile of the shim's C# (a
  fresh process has no compiled copy), before it answers; the defaults are public figures for a
  warm Windows Server (docs/dev/winrm.md). Each command's ``charged`` seconds are recorded.

* Hosts that refuse scripts: ``language_mode='ConstrainedLanguage'`` (AppLocker or App Control
  enforcing it; about_Language_Modes): reading ``$ExecutionContext.SessionState.LanguageMode``
  works, ``[scriptblock]::Create`` fails with MethodInvocationNotSupportedInConstrainedLanguage
  (exit 1); a bootstrap that checks the mode first (in the one statement shape the model
  recognises) answers as its check says. ``blocked_programs`` (an AppLocker or software
  restriction rule): a Command of such a program gets a fault with code 1260
  (ERROR_ACCESS_DISABLED_BY_POLICY; cmd.exe counts when WINRS_SKIP_CMD_SHELL is FALSE).
  ``shell_denied_users`` (not allowed by the RootSDDL, which governs the command shell: JEA-only
  or Remote Management Users accounts): Create gets HTTP 500 with WSManFault 5, "Access is
  denied." (pywinrm#336). ``uac_filtered_users`` (local administrators other than the built-in
  one, LocalAccountTokenFilterPolicy 0): a correct logon gets 401 (pywinrm#188).
  ``execution_policy`` is recorded and changes nothing: it governs script files, and
  -EncodedCommand runs none (about_Execution_Policies).

Unverified against Windows (chosen, not observed), refusing hosts: the fault's subcode and text
for a blocked program (and that WinRS reports CreateProcess's 1260 as the fault code), the exact
Access-denied text for a JEA-only account's shell.

Unverified against Windows (chosen, not observed), HTTPS: the 401 challenge's exact list of
schemes (Negotiate, Basic, CredSSP; no header for certificates), the TLS alert for a client
certificate of an untrusted issuer, how a CredSSP ``errorCode`` for a wrong password reads
on the wire, and that HTTP.sys asks for the client certificate in the first handshake
(``netsh http ... clientcertnegotiation=enable``) rather than by renegotiation.

Not modelled: CredSSP message encryption (``application/HTTP-CredSSP-session-encrypted``, what
pywinrm does with CredSSP over HTTP: such a body gets 400), channel binding for Kerberos and
CredSSP, Kerberos over HTTPS as a tested path, certificate revocation, TLS settings beyond the
minimum version (cipher suites, renegotiation), SPNEGO-wrapped NTLM tokens
(raw NTLM only), quotas (MaxShellsPerUser and friends), idle shell timeouts, shell
ownership checks, other users' shells, code pages (output is always UTF-8), PowerShell's
``-Command``/``-File``, console-mode stdin (recorded, not enforced), Windows' exact fault texts
(codes follow the SDK's winerror.h; texts are paraphrased), and anything an actual script does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import http.server
import inspect
import ipaddress
import json
import ntpath
import os
import re
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import uuid
from xml.etree import ElementTree
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from spnego.channel_bindings import GssChannelBindings

__all__ = ['WsmanEndpoint', 'ProcessCost', 'CertificateMapping', 'clixml_error', 'MAX_ENVELOPE_SIZE', 'CMD_LINE_LIMIT',
           'MODEL_REFUSED', 'MUTUAL_AUTH']

# [MS-WSMV] 2.2.4.10: MaxEnvelopeSizekb "SHOULD be 500 but MAY be 150"; 150 KiB is what
# pywinrm announces (w:MaxEnvelopeSize 153600) and the limit the collection must respect.
MAX_ENVELOPE_SIZE = 150 * 1024
# cmd.exe: "The maximum length of the string that you can use at the command prompt is 8191
# characters" (Microsoft KB 830473). CreateProcess: 32,767 characters.
CMD_LINE_LIMIT = 8191
CREATE_PROCESS_LIMIT = 32767
# Hard cap on what the test server reads at all (memory bound, not a Windows limit).
BODY_READ_CAP = 16 * 1024 * 1024
STDIN_CAP = 64 * 1024 * 1024  # per command, memory bound of the model
STALL_CAP_SECONDS = 60.0
COST_CAP_SECONDS = 10.0  # per charge, so that a test cannot stall for long
OPERATION_TIMEOUT_CAP_SECONDS = 60.0
IDLE_CONNECTION_SECONDS = 30.0
TLS_HANDSHAKE_SECONDS = 5.0  # a client that stalls in the TLS handshake is dropped (test bound)

# [MS-WSMV] 2.2.9.2 / pywinrm's certificate transport: the Authorization header of a request whose
# TLS connection carries the client certificate.
MUTUAL_AUTH = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual'
# Microsoft's otherName for the User Principal Name (szOID_NT_PRINCIPAL_NAME).
_UPN_OID = x509.ObjectIdentifier('1.3.6.1.4.1.311.20.2.3')
# [MS-NLMP] 2.2.2.1: MsvAvChannelBindings, the MD5 of the client's gss_channel_bindings_struct.
_MSV_AV_CHANNEL_BINDINGS = 0x000A
_CBT_LEVELS = ('none', 'relaxed', 'strict')

# winerror.h (ERROR_WSMAN_*), as pywinrm reports them in WSManFaultError.wsman_fault_code.
ERROR_WSMAN_INVALID_ACTIONURI = 2150858753
ERROR_WSMAN_PROVIDER_FAILURE = 2150858755
ERROR_WSMAN_OPERATION_TIMEDOUT = 2150858793
ERROR_WSMAN_INVALID_PARAMETER = 2150858810
ERROR_WSMAN_INVALID_RESOURCE_URI = 2150858811
ERROR_WSMAN_INVALID_XML = 2150858819
ERROR_WSMAN_MAX_ENVELOPE_SIZE_EXCEEDED = 2150858824
ERROR_WSMAN_UNEXPECTED_SELECTORS = 2150858843  # "... the shell was not found on the server"
ERROR_WSMAN_MIN_ENVELOPE_SIZE = 2150858878
ERROR_WSMAN_QUOTA_MAX_OPERATIONS = 0x803381A6  # 2150859174: MaxConcurrentOperationsPerUser reached
ERROR_ACCESS_DENIED = 5
ERROR_ACCESS_DISABLED_BY_POLICY = 1260  # winerror.h: "This program is blocked by group policy."
LANGUAGE_MODES = ('FullLanguage', 'ConstrainedLanguage')  # the two modelled
ERROR_FILENAME_EXCED_RANGE = 206  # [MS-ERREF] 2.2; that WinRM faults with it over 32,767 is unverified
# The endpoint's own refusals (not Windows behaviour) carry ERROR_WSMAN_INVALID_PARAMETER.
MODEL_REFUSED = ERROR_WSMAN_INVALID_PARAMETER

NS = {
    's': 'http://www.w3.org/2003/05/soap-envelope',
    'a': 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
    'w': 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
    'rsp': 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
    'x': 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
    'p': 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
    'f': 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
}
SHELL_URI = NS['rsp']
CMD_RESOURCE_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous'
FAULT_ACTION = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault'
ACTIONS = {
    'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create': 'Create',
    'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete': 'Delete',
    SHELL_URI + '/Command': 'Command',
    SHELL_URI + '/Send': 'Send',
    SHELL_URI + '/Receive': 'Receive',
    SHELL_URI + '/Signal': 'Signal',
}
RESPONSE_ACTIONS = {
    'Create': 'http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse',
    'Delete': 'http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse',
    'Command': SHELL_URI + '/CommandResponse',
    'Send': SHELL_URI + '/SendResponse',
    'Receive': SHELL_URI + '/ReceiveResponse',
    'Signal': SHELL_URI + '/SignalResponse',
}
STATE_DONE = SHELL_URI + '/CommandState/Done'
STATE_RUNNING = SHELL_URI + '/CommandState/Running'
SIGNAL_TERMINATE = SHELL_URI + '/signal/terminate'

# [MS-WSMV] 2.2.9.1.1 (Negotiate encryption), byte for byte as pywinrm 0.5.0 frames it.
ENCRYPTED_PROTOCOL = 'application/HTTP-SPNEGO-session-encrypted'
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";boundary="Encrypted Boundary"'
SOAP_CONTENT_TYPE = 'application/soap+xml;charset=UTF-8'
_BOUNDARY = b'--Encrypted Boundary'
_ENCRYPTED_HEAD = re.compile(
    rb'--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n'
    rb'\tOriginalContent: type=application/soap\+xml;charset=UTF-8;Length=(\d+)\r\n'
    rb'--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n', re.IGNORECASE)

CLIXML_HEADER = b'#< CLIXML\r\n'
_CLIXML_OBJS = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
# What Windows PowerShell 5.1 writes on stderr the first time it builds its module cache.
_CLIXML_PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for '
    'first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD>'
    '</PR></MS></Obj>')
CMD_TOO_LONG = b'The command line is too long.\r\n'

# PowerShell 5.1 command-line parameters: name -> takes a value. Unique prefixes are accepted.
_PS_PARAMETERS = {
    'noprofile': False, 'noninteractive': False, 'nologo': False, 'sta': False, 'mta': False,
    'executionpolicy': True, 'inputformat': True, 'outputformat': True, 'windowstyle': True,
    'encodedcommand': True, 'version': True, 'configurationname': True, 'psconsolefile': True,
    'noexit': False, 'command': True, 'file': True,
}
_PS_ALIASES = {'ep': 'executionpolicy', 'ex': 'executionpolicy', 'e': 'encodedcommand',
               'ec': 'encodedcommand', 'enc': 'encodedcommand', 'nop': 'noprofile',
               'noni': 'noninteractive', 'w': 'windowstyle', 'c': 'command', 'f': 'file'}
_PS_REFUSED = {'noexit', 'command', 'file', 'psconsolefile', 'configurationname', 'version'}

_ENV_LOCK: Any = spnego.__dict__.setdefault('_lanman_tests_ntlm_user_file_lock', threading.Lock())
"""One lock per process, whichever name this module is imported under: NTLM_USER_FILE is
process-wide and pyspnego's acceptor reads it while it steps."""

_FAIL_KEYS = frozenset({'http_status', 'fault', 'stall', 'drop', 'stdout', 'stderr', 'exit_code'})


@contextlib.contextmanager
def _acceptor_env(name: str, value: str) -> Any:
    """``name=value`` in the environment while an acceptor steps (under the process-wide lock)."""
    with _ENV_LOCK:
        previous = os.environ.get(name)
        os.environ[name] = value
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def _thumbprint(certificate: x509.Certificate) -> str:
    """Windows' certificate thumbprint: SHA-1 of the DER, upper-case hex."""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


def _upns(certificate: x509.Certificate) -> list[str]:
    """The User Principal Names (otherName, a DER UTF8String each) in the subject alternative names."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found = []
    for name in names.get_values_for_type(x509.OtherName):
        value = name.value
        if name.type_id != _UPN_OID or len(value) < 2 or value[0] != 0x0C:
            continue
        size, offset = value[1], 2
        if size & 0x80:
            offset = 2 + (size & 0x7F)
            size = int.from_bytes(value[2:offset], 'big')
        found.append(value[offset:offset + size].decode('utf-8', 'replace'))
    return found


def _end_point_hash(certificate: x509.Certificate) -> bytes:
    """RFC 5929 4.1: the certificate hashed with its signature's hash (SHA-256 for MD5 and SHA-1)."""
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None or algorithm.name in ('md5', 'sha1'):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(certificate.public_bytes(serialization.Encoding.DER))
    return digest.finalize()


def _sent_channel_bindings(authenticate: bytes) -> bool:
    """Whether an NTLMv2 AUTHENTICATE message carries a non-zero MsvAvChannelBindings."""
    from spnego._ntlm_raw.messages import Authenticate, NTClientChallengeV2  # pyspnego's own parser

    try:
        response = Authenticate.unpack(authenticate).nt_challenge_response or b''
        if len(response) <= 24:  # NTLMv1: no AV pairs at all
            return False
        value = NTClientChallengeV2.unpack(response[16:]).av_pairs.get(_MSV_AV_CHANNEL_BINDINGS)
    except (ValueError, struct.error, KeyError, IndexError):
        return False
    return bool(value) and value != b'\x00' * 16


@dataclasses.dataclass(frozen=True)
class CertificateMapping:
    """One ``WSMan:\\localhost\\ClientCertificate`` entry (``New-Item -Path WSMan:\\localhost\\ClientCertificate
    -Subject <UPN> -Issuer <thumbprint> -URI * -Credential <local account>``): a client certificate whose
    subject alternative name holds the User Principal Name ``subject`` (``*`` for any) and that
    ``issuer`` (the SHA-1 thumbprint of the issuing CA, or of the certificate itself) issued logs
    on as ``user``, one of the endpoint's ``users``."""

    subject: str
    issuer: str
    user: str


@dataclasses.dataclass(frozen=True)
class ProcessCost:
    """What a command costs a real Windows server, in seconds; the endpoint charges it as a delay.

    The defaults are public figures for Windows PowerShell 5.1 on a warm server (docs/dev/winrm.md
    names the sources): ``powershell_start`` 0.2-0.6 s, taken as 0.5; ``add_type_compile`` (the
    shim's Add-Type of C# source, csc.exe in a fresh process) about 1-1.25 s, taken as 1.0. A slow
    or cloud host is several times that (2-6 s to start PowerShell).
    """

    powershell_start: float = 0.5
    add_type_compile: float = 1.0

    def __post_init__(self) -> None:
        for name in ('powershell_start', 'add_type_compile'):
            if not 0 <= getattr(self, name) <= COST_CAP_SECONDS:
                raise ValueError(f"{name} must be within [0, {COST_CAP_SECONDS}] seconds")


class _Fault(Exception):
    """A WS-Man fault to answer with (HTTP 500, SOAP 1.2 fault, WSManFault detail)."""

    def __init__(self, code: str, subcode: str, reason: str, wsman_code: int, detail: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.wsman_code = wsman_code
        self.detail = detail  # a w:FaultDetail URI


def _refuse(reason: str) -> _Fault:
    return _Fault('s:Sender', 'w:InvalidParameter', f'[model] {reason}', MODEL_REFUSED)


def _shell_not_found(shell_id: str) -> _Fault:
    return _Fault('s:Sender', 'w:InvalidSelectors',
                  f'The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell '
                  'was not found on the server. Possible causes are: the specified ShellId is incorrect or the '
                  'shell no longer exists on the server. Provide the correct ShellId or create a new shell and '
                  'retry the operation.', ERROR_WSMAN_UNEXPECTED_SELECTORS)


def _clixml_escape(text: str) -> str:
    """PowerShell's string serialisation: control characters and a literal ``_x`` as _xHHHH_."""
    out = []
    for index, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f'_x{code:04X}_')
        elif char == '_' and text[index + 1:index + 2] in ('x', 'X'):
            out.append('_x005F_')
        else:
            out.append(char)
    return escape(''.join(out))


def clixml_error(message: str, *, category: str = 'NotSpecified: (:) [], RuntimeException',
                 error_id: str = 'RuntimeException', progress: bool = False) -> bytes:
    """stderr of powershell.exe for an uncaught error: ``#< CLIXML`` and one <S S="Error"> a line."""
    lines = [*(message.splitlines() or ['']), f'    + CategoryInfo          : {category}',
             f'    + FullyQualifiedErrorId : {error_id}', ' ']
    parts = ''.join(f'<S S="Error">{_clixml_escape(line + chr(13) + chr(10))}</S>' for line in lines)
    return CLIXML_HEADER + (_CLIXML_OBJS + (_CLIXML_PROGRESS if progress else '') + parts + '</Objs>').encode('utf-8')


# The bootstrap statement that reads the language mode and stops outside FullLanguage, in the one
# shape the model recognises: $m = $ExecutionContext.SessionState.LanguageMode, then
# if ($m -ne 'FullLanguage') { "<text with $m>"; exit <n> }.
_LANGUAGE_CHECK = re.compile(
    r"^\$(\w+) = \$ExecutionContext\.SessionState\.LanguageMode\n"
    r"if \(\$\1 -ne 'FullLanguage'\) \{ \"([^\"\n]*)\"; exit (\d+) \}$", re.MULTILINE)


def _constrained_run(bootstrap: str, mode: str) -> tuple[bytes, bytes, int]:
    """powershell.exe -EncodedCommand <bootstrap> outside FullLanguage (about_Language_Modes):
    reading $ExecutionContext.SessionState.LanguageMode is allowed there, a method of a type that
    is not a core type ([scriptblock]::Create) is not, and Add-Type is never reached. A bootstrap
    that checks the mode first answers as its check says; any other fails at [scriptblock]::Create."""
    check = _LANGUAGE_CHECK.search(bootstrap)
    create = bootstrap.find('[scriptblock]::Create')
    if check is not None and (create < 0 or check.start() < create):
        variable, text, code = check.groups()
        return (text.replace(f'${variable}', mode) + '\r\n').encode('utf-8'), b'', int(code)
    return b'', clixml_error('Cannot invoke method. Method invocation is supported only on core types in this '
                             'language mode.', category='InvalidOperation: (:) [], RuntimeException',
                             error_id='MethodInvocationNotSupportedInConstrainedLanguage'), 1


def _clixml_progress_only() -> bytes:
    return CLIXML_HEADER + (_CLIXML_OBJS + _CLIXML_PROGRESS + '</Objs>').encode('utf-8')


def _duration_seconds(text: str | None, default: float) -> float:
    match = re.fullmatch(r'PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?', (text or '').strip())
    if not match or not any(match.groups()):
        return default
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


class _Command:
    def __init__(self, command_id: str, line: str, kind: str, bootstrap: str | None, options: dict[str, str]) -> None:
        self.id = command_id
        self.line = line
        self.kind = kind  # 'powershell' or 'too_long'
        self.bootstrap = bootstrap
        self.options = options
        self.stdin = bytearray()
        self.stdin_chunks = 0
        self.stdin_ended = kind != 'powershell'
        self.state = 'pending'  # pending -> running -> done
        self.pieces: list[tuple[str, bytes]] = []
        self.exit_code = 0
        self.record: dict[str, Any] = {}


class _Shell:
    def __init__(self, shell_id: str, owner: str, options: dict[str, str], input_streams: list[str],
                 output_streams: list[str]) -> None:
        self.id = shell_id
        self.owner = owner
        self.options = options
        self.input_streams = input_streams
        self.output_streams = output_streams
        self.commands: dict[str, _Command] = {}
        self.ran_powershell = False
        self.operations = 0  # Commands started in this shell, cleaned up or not (see max_operations)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], endpoint: WsmanEndpoint, tls: ssl.SSLContext | None = None) -> None:
        self.endpoint = endpoint
        self.handler_threads: set[threading.Thread] = set()
        self.connections: set[socket.socket] = set()
        self.tracking = threading.Lock()
        super().__init__(address, _Handler)
        if tls is not None:
            # Accepted connections are SSLSockets; each does its handshake in its own thread
            # (bounded by TLS_HANDSHAKE_SECONDS), so a silent client holds up no one else.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address), daemon=True,
                                  name='wsman-endpoint-connection')
        with self.tracking:
            self.handler_threads.add(thread)
            self.connections.add(request)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket) and not self.endpoint._tls_handshake(request):
                self.shutdown_request(request)
                return
            self.process_request_thread(request, client_address)
        finally:
            with self.tracking:
                self.handler_threads.discard(threading.current_thread())
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, socket.timeout, OSError)):
            return  # the client went away (read timeout, dropped connection, stop())
        self.endpoint.errors.append(repr(error))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'Microsoft-HTTPAPI/2.0'
    timeout = IDLE_CONNECTION_SECONDS
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.auth_user: str | None = None
        self.auth_kind: str | None = None
        self.context: Any = None  # the completed NTLM or Kerberos acceptor context of this connection
        self.ntlm_pending: Any = None
        self.credssp_pending: Any = None  # a CredSSP acceptor between its legs
        self.reply_headers: list[tuple[str, str]] = []  # sent with the next answer (Kerberos AP-REP)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.endpoint._handle_post(self)

    def _not_allowed(self) -> None:
        self.server.endpoint._discard_body(self)
        self.server.endpoint._send(self, 405, headers=[('Allow', 'POST')])

    do_GET = do_PUT = do_DELETE = do_OPTIONS = _not_allowed


class WsmanEndpoint:
    """A WinRM service on loopback for pywinrm, with a PowerShell model behind it.

    ``responder(request) -> result`` is called with the JSON request read from stdin (after the
    script and a NUL) and its result is written to stdout as ``json.dumps(result) + "\\r\\n"``.
    A responder with a ``user`` parameter is called as ``responder(request, user=...)`` with the
    ``users`` key the shell's owner logged on as (for per-user access rules).
    ``users`` maps user names (``alice``, ``DOMAIN\\bob`` or ``carol@REALM``) to passwords.
    """

    def __init__(self, responder: Callable[..., Any], *, users: Mapping[str, str],
                 address: str = '127.0.0.1', port: int = 0, encryption: str = 'auto',
                 expected_script: str | None = None, expected_bootstrap: str | None = None,
                 allow_basic: bool = True, hostname: str = 'WIN-LANMAN', receive_chunk_size: int | None = None,
                 progress_on_stderr: bool = False, max_envelope_size: int = MAX_ENVELOPE_SIZE,
                 oversize_answer: str = 'http413', keytab: str | None = None,
                 max_operations: int | None = None, cost: ProcessCost | None = None,
                 language_mode: str = 'FullLanguage', execution_policy: str = 'RemoteSigned',
                 blocked_programs: Iterable[str] = (), shell_denied_users: Iterable[str] = (),
                 uac_filtered_users: Iterable[str] = (),
                 https: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
                 allow_certificate: bool = False, client_ca: str | os.PathLike[str] | None = None,
                 certificate_mappings: Iterable[CertificateMapping] = (), allow_credssp: bool = False,
                 cbt_hardening: str = 'relaxed', tls_handshake_timeout: float = TLS_HANDSHAKE_SECONDS) -> None:
        if ipaddress.ip_address(address) not in ipaddress.ip_network('127.0.0.0/8'):
            raise ValueError(f"the test endpoint binds only to 127.0.0.0/8, not {address!r}")
        if port in (445, 5985, 5986) or not 0 <= port <= 65535:
            raise ValueError(f"pick another port than {port} (0 picks a free one)")
        if encryption not in ('auto', 'required', 'off'):
            raise ValueError(f"encryption must be 'auto', 'required' or 'off', not {encryption!r}")
        if oversize_answer not in ('http413', 'fault'):
            raise ValueError(f"oversize_answer must be 'http413' or 'fault', not {oversize_answer!r}")
        if not users:
            raise ValueError('at least one user is needed')
        if cbt_hardening not in _CBT_LEVELS:
            raise ValueError(f"cbt_hardening must be one of {_CBT_LEVELS}, not {cbt_hardening!r}")
        if not 0 < tls_handshake_timeout <= 30:
            raise ValueError('tls_handshake_timeout must be within (0, 30] seconds')
        if allow_certificate and https is not None and client_ca is None:
            raise ValueError('allow_certificate over https needs client_ca: the CAs trusted to issue client certificates')
        mappings = list(certificate_mappings)
        for mapping in mappings:
            if mapping.user not in users:
                raise ValueError(f"certificate mapping to {mapping.user!r}, which is not one of the users")
        self.responder = responder
        try:
            parameters = inspect.signature(responder).parameters
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        self._pass_user = 'user' in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        self.users = dict(users)
        self.address = address
        self.encryption = encryption
        self.expected_script = expected_script
        self.expected_bootstrap = expected_bootstrap
        self.allow_basic = allow_basic
        self.hostname = hostname
        self.receive_chunk_size = receive_chunk_size
        self.progress_on_stderr = progress_on_stderr
        self.max_envelope_size = max_envelope_size
        self.oversize_answer = oversize_answer
        self.keytab = keytab
        """A keytab of HTTP/<name> service keys: Kerberos is accepted for those names."""
        self.max_operations = max_operations
        self.cost = cost
        if language_mode not in LANGUAGE_MODES:
            raise ValueError(f"language_mode must be one of {LANGUAGE_MODES}, not {language_mode!r}")
        self.language_mode = language_mode
        """PowerShell's language mode for the users: ConstrainedLanguage is what an AppLocker or
        App Control policy enforces."""
        self.execution_policy = execution_policy
        """The effective execution policy (also when Group Policy sets it): it governs script files
        only, so -EncodedCommand and a scriptblock built from stdin run whatever it is."""
        self.blocked_programs = frozenset(name.lower() for name in blocked_programs)
        """Programs an AppLocker / software restriction rule does not let start (e.g. powershell.exe)."""
        self.shell_denied_users = {name.lower() for name in shell_denied_users}
        """Users the RootSDDL does not allow a command shell (JEA-only or Remote Management Users)."""
        self.uac_filtered_users = {name.lower() for name in uac_filtered_users}
        """Local administrators other than the built-in one, filtered by UAC remote restrictions."""
        """What each PowerShell process costs, charged as a delay before it answers (None: nothing)."""
        """MaxConcurrentOperationsPerUser as a shell meets it: the Command that would be its
        (max_operations + 1)-th gets the quota fault (None: no limit)."""
        self.https = (os.fspath(https[0]), os.fspath(https[1])) if https is not None else None
        """(certificate PEM, key PEM) of an HTTPS listener; None: HTTP."""
        self.allow_certificate = allow_certificate
        """Service\\Auth\\Certificate (off by default on Windows): client certificates, over HTTPS only."""
        self.client_ca = os.fspath(client_ca) if client_ca is not None else None
        """PEM of the CAs trusted to issue client certificates (the host's Trusted Root store)."""
        self.certificate_mappings = mappings
        self.allow_credssp = allow_credssp
        """Service\\Auth\\CredSSP (off by default on Windows)."""
        self.cbt_hardening = cbt_hardening
        """Service\\Auth\\CbtHardeningLevel for NTLM over HTTPS: 'none', 'relaxed' (Windows' default)
        or 'strict'."""
        self.tls_handshake_timeout = tls_handshake_timeout
        self.logons: list[dict[str, Any]] = []
        """One record per successful authentication (per connection for NTLM, Kerberos and CredSSP,
        per request for Basic and certificates): kind, user, tls, channel_binding, certificate, upn."""
        self.tls_failures: list[str] = []
        """TLS handshakes that failed, as the server's ssl module saw them (alerts included)."""
        self._bindings: GssChannelBindings | None = None
        self._client_cas: list[x509.Certificate] = []
        self._requested_port = port
        self.requests: list[Any] = []
        """Every JSON request handed to the responder, in order."""
        self.commands: list[dict[str, Any]] = []
        """One record per command: line, bootstrap, script, request, exit_code, stdout, stderr..."""
        self.exchanges: list[dict[str, Any]] = []
        """One record per HTTP request: action, status, encrypted, auth, user, size."""
        self.errors: list[str] = []
        """Unexpected exceptions inside the server (should stay empty)."""
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._shells: dict[str, _Shell] = {}
        self._hooks: list[dict[str, Any]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: str | None = None
        self._user_file: str | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> WsmanEndpoint:
        if self._server is not None:
            raise RuntimeError('the endpoint is already running')
        self._stop.clear()
        self._tempdir = tempfile.mkdtemp(prefix='lanman-wsman-')
        self._user_file = os.path.join(self._tempdir, 'ntlm_users')
        with open(os.open(self._user_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w', encoding='utf-8') as handle:
            handle.write(self._ntlm_user_lines())
        try:
            self._server = _Server((self.address, self._requested_port), self, self._tls_context())
        except BaseException:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
                                        daemon=True, name='wsman-endpoint')
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop every connection, join every thread (bounded), remove the temp files."""
        server, self._server = self._server, None
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if server is not None:
            server.shutdown()
            with server.tracking:
                connections = list(server.connections)
                threads = list(server.handler_threads)
            for connection in connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            server.server_close()
            for thread in threads:
                thread.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
        with self._lock:
            self._shells.clear()

    def __enter__(self) -> WsmanEndpoint:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError('the endpoint is not running')
        return self._server.server_address[1]

    @property
    def scheme(self) -> str:
        return 'https' if self.https is not None else 'http'

    @property
    def url(self) -> str:
        return self.url_for(self.address)

    def url_for(self, host: str) -> str:
        """The endpoint's URL with another name for its address (``localhost``: a name mismatch)."""
        return f'{self.scheme}://{host}:{self.port}/wsman'

    @property
    def open_shells(self) -> int:
        with self._lock:
            return len(self._shells)

    @property
    def open_commands(self) -> int:
        with self._lock:
            return sum(len(shell.commands) for shell in self._shells.values())

    def fail_next(self, action: str | None = None, **what: Any) -> None:
        """Make the next matching request (or command) misbehave, once.

        ``action``: 'Create', 'Command', 'Send', 'Receive', 'Signal', 'Delete' or None (any).
        Request faults: ``http_status`` (500 comes with a WS-Man fault body, ``fault=dict(code=,
        subcode=, reason=, wsman_code=)`` to change it; other statuses have an empty body),
        ``stall`` (seconds to wait before answering, at most 60; stop() cuts it short),
        ``drop=True`` (close the connection without an answer).
        Output faults, for the next command that finishes: ``stdout``, ``stderr`` (bytes),
        ``exit_code``.
        """
        unknown = set(what) - _FAIL_KEYS
        if unknown or not what:
            raise TypeError(f"fail_next takes {sorted(_FAIL_KEYS)}, got {sorted(unknown) or 'nothing'}")
        if action is not None and action not in RESPONSE_ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if 'stall' in what and not 0 < float(what['stall']) <= STALL_CAP_SECONDS:
            raise ValueError(f"stall must be within (0, {STALL_CAP_SECONDS}] seconds")
        with self._lock:
            request_part = {key: what[key] for key in ('http_status', 'fault', 'stall', 'drop') if key in what}
            output_part = {key: what[key] for key in ('stdout', 'stderr', 'exit_code') if key in what}
            if request_part:
                self._hooks.append({'kind': 'request', 'action': action, **request_part})
            if output_part:
                self._hooks.append({'kind': 'output', **output_part})

    # -- accounts --------------------------------------------------------------------------

    def _ntlm_user_lines(self) -> str:
        """pyspnego's Heimdal format ``DOMAIN:USER:PASSWORD``; a local user answers to no domain,
        ``.`` and the host name, as a local account of a Windows host does."""
        lines = []
        for name, password in self.users.items():
            if ':' in name or '\n' in name or '\n' in password:
                raise ValueError(f"user name {name!r} or its password cannot go in an NTLM user file")
            if '\\' in name:
                domain, user = name.split('\\', 1)
                lines.append(f'{domain}:{user}:{password}')
            elif '@' in name:
                lines.append(f':{name}:{password}')
            else:
                lines.extend(f'{domain}:{name}:{password}' for domain in ('', '.', self.hostname))
        return '\n'.join(lines) + '\n'

    def _known_user(self, name: str) -> str | None:
        """The ``users`` key that ``name`` logs on as (case-insensitive; ``.`` or the host name
        as the domain of a local user), or None."""
        domain, _sep, user = name.rpartition('\\')
        for known in self.users:
            known_domain, _sep, known_user = known.rpartition('\\')
            if known_user.lower() != user.lower():
                continue
            if known_domain.lower() == domain.lower() or (not known_domain and domain.lower() in ('.', self.hostname.lower())):
                return known
        return None

    def _check_basic(self, token: str) -> str | None:
        try:
            name, _sep, password = base64.b64decode(token, validate=True).decode('utf-8').partition(':')
        except (binascii.Error, UnicodeDecodeError):
            return None
        known = self._known_user(name)
        return known if known is not None and self.users[known] == password else None

    def _user_file_env(self) -> Any:
        return _acceptor_env('NTLM_USER_FILE', self._user_file or '')

    # -- HTTP ------------------------------------------------------------------------------

    def _send(self, handler: _Handler, status: int, body: bytes = b'', content_type: str | None = None,
              headers: list[tuple[str, str]] | None = None) -> None:
        handler.send_response(status)
        reply_headers, handler.reply_headers = handler.reply_headers, []
        for name, value in list(headers or []) + reply_headers:
            handler.send_header(name, value)
        if content_type:
            handler.send_header('Content-Type', content_type)
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    def _discard_body(self, handler: _Handler) -> None:
        length = int(handler.headers.get('Content-Length') or 0)
        if length > BODY_READ_CAP:
            handler.close_connection = True
        elif length:
            handler.rfile.read(length)

    def _challenge_headers(self) -> list[tuple[str, str]]:
        headers = [('WWW-Authenticate', 'Negotiate')]
        if self.allow_basic and (self.https is not None or self.encryption != 'required'):
            headers.append(('WWW-Authenticate', 'Basic realm="WSMAN"'))
        if self.allow_credssp:
            headers.append(('WWW-Authenticate', 'CredSSP'))
        return headers

    def _log(self, **record: Any) -> None:
        with self._lock:
            self.exchanges.append(record)

    def _handle_post(self, handler: _Handler) -> None:
        if handler.path.split('?', 1)[0].rstrip('/').lower() != '/wsman':
            self._discard_body(handler)
            self._send(handler, 404)
            return
        try:
            length = int(handler.headers.get('Content-Length', ''))
        except ValueError:
            handler.close_connection = True
            self._send(handler, 411)
            return
        if length > BODY_READ_CAP:
            handler.close_connection = True
            self._log(action=None, status=413, encrypted=False, auth=None, user=None, size=length)
            self._send(handler, 413)
            return
        body = handler.rfile.read(length) if length else b''
        if len(body) != length:
            handler.close_connection = True
            return
        user = self._authenticate(handler, body)
        if user is None:
            return
        if user.lower() in self.uac_filtered_users:
            # LocalAccountTokenFilterPolicy 0: the logon itself succeeds, but the filtered token is
            # no administrator's, and the WinRM service answers 401 (pywinrm#188).
            self._unauthorized(handler)
            return
        encrypted = (handler.headers.get('Content-Type') or '').lower().startswith('multipart/')
        record = {'action': None, 'status': 200, 'encrypted': encrypted, 'auth': handler.auth_kind, 'user': user,
                  'size': length}
        if not body:
            # The empty POST that completes authentication (pywinrm sends one before encrypting).
            self._log(**record)
            self._send(handler, 200)
            return
        if encrypted:
            if self.encryption == 'off' or handler.context is None:
                record['status'] = 500
                self._log(**record)
                self._send(handler, 500)
                return
            try:
                envelope = self._decrypt(handler.context, body, handler.headers.get('Content-Type') or '')
            except (ValueError, struct.error, spnego.exceptions.SpnegoError):
                record['status'] = 400
                self._log(**record)
                self._send(handler, 400)
                return
        else:
            if self.encryption == 'required' and self.https is None and handler.auth_kind in ('ntlm', 'kerberos', 'credssp'):
                # AllowUnencrypted=false: the WinRM service refuses the plain body with a bare 500
                # (over HTTP only: TLS protects an HTTPS body).
                record['status'] = 500
                self._log(**record)
                self._send(handler, 500)
                return
            envelope = body
        if length > self.max_envelope_size or len(envelope) > self.max_envelope_size:
            if self.oversize_answer == 'http413':
                # The WinRM service answers a request over MaxEnvelopeSizekb with HTTP 413 and no body
                # (ansible.windows#391, #620, ansible#78263; the Windows client calls it
                # ERROR_WSMAN_HTTP_REQUEST_TOO_LARGE_STATUS).
                record['status'] = 413
                self._log(**record)
                self._send(handler, 413)
                return
            answer: bytes | None
            status, answer, action = 500, self._fault_envelope(_Fault(
                's:Sender', 'w:EncodingLimit', f'The request of {length} bytes exceeds MaxEnvelopeSize ({self.max_envelope_size}).',
                ERROR_WSMAN_MAX_ENVELOPE_SIZE_EXCEEDED, 'http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize'),
                self._message_id(envelope)), None
        else:
            status, answer, action = self._process(envelope, user, handler)
        record.update(action=action, status=status)
        self._log(**record)
        if answer is None:  # dropped on purpose
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if self._stop.is_set():
            handler.close_connection = True
            return
        if encrypted and answer:
            self._send(handler, status, self._encrypt(handler.context, answer), ENCRYPTED_CONTENT_TYPE)
        else:
            self._send(handler, status, answer, SOAP_CONTENT_TYPE if answer else None)

    def _unauthorized(self, handler: _Handler, headers: list[tuple[str, str]] | None = None) -> None:
        handler.auth_user = handler.auth_kind = handler.context = handler.ntlm_pending = None
        handler.credssp_pending = None
        self._log(action=None, status=401, encrypted=False, auth=None, user=None, size=0)
        self._send(handler, 401, headers=headers if headers is not None else self._challenge_headers())

    def _authenticate(self, handler: _Handler, body: bytes) -> str | None:
        """The user this request runs as, or None once a 401 has been sent."""
        scheme, _sep, token = (handler.headers.get('Authorization') or '').strip().partition(' ')
        scheme_lower = scheme.lower()
        tls = isinstance(handler.connection, ssl.SSLSocket)
        if scheme_lower == MUTUAL_AUTH:
            return self._accept_certificate(handler)
        if scheme_lower == 'basic':
            # Basic over HTTP needs AllowUnencrypted=true; over HTTPS TLS protects it.
            allowed = self.allow_basic and (tls or self.encryption != 'required')
            user = self._check_basic(token.strip()) if allowed else None
            if user is None:
                self._unauthorized(handler)
                return None
            handler.auth_user, handler.auth_kind, handler.context = user, 'basic', None
            self._logon(handler, 'basic', user)
            return user
        if scheme_lower == 'credssp':
            return self._accept_credssp(handler, token, len(body))
        if scheme_lower in ('negotiate', 'ntlm'):
            try:
                blob = base64.b64decode(token.strip(), validate=True)
            except binascii.Error:
                self._unauthorized(handler)
                return None
            if self.keytab is not None and not blob.startswith(b'NTLMSSP\x00'):
                return self._accept_kerberos(handler, blob, len(body))
            message_type = struct.unpack('<I', blob[8:12])[0] if blob[:8] == b'NTLMSSP\x00' and len(blob) >= 12 else 0
            challenge = None
            bindings = None
            try:
                with self._user_file_env():  # the acceptor reads NTLM_USER_FILE while it steps
                    if message_type == 1:
                        context = spnego.server(hostname=self.hostname, service='http', protocol='ntlm',
                                                options=spnego.NegotiateOptions.use_ntlm)
                        challenge = context.step(blob) or b''
                    elif message_type == 3 and handler.ntlm_pending is not None:
                        context, handler.ntlm_pending = handler.ntlm_pending, None
                        bindings = self._ntlm_bindings(blob) if tls else None
                        context.step(blob, channel_bindings=bindings)
                        if not context.complete:
                            raise ValueError('NTLM did not complete')
                    else:
                        raise ValueError('not a raw NTLM negotiate or authenticate message')
            except (spnego.exceptions.SpnegoError, ValueError, struct.error):
                self._unauthorized(handler)
                return None
            if challenge is not None:
                handler.ntlm_pending, handler.context, handler.auth_user = context, None, None
                self._log(action=None, status=401, encrypted=False, auth='ntlm', user=None, size=len(body))
                self._send(handler, 401, headers=[('WWW-Authenticate', f'{scheme} {base64.b64encode(challenge).decode()}')])
                return None
            principal = context.client_principal or ''
            principal = self._known_user(principal) or principal
            handler.auth_user, handler.auth_kind, handler.context = principal, 'ntlm', context
            self._logon(handler, 'ntlm', principal, channel_binding=('checked' if bindings is not None else 'not checked') if tls else None)
            return principal
        if handler.auth_kind in ('ntlm', 'kerberos', 'credssp') and handler.auth_user is not None:
            return handler.auth_user  # NTLM, Kerberos or CredSSP authenticated this connection
        self._unauthorized(handler)
        return None

    def _logon(self, handler: _Handler, kind: str, user: str, **details: Any) -> None:
        record = {'kind': kind, 'user': user, 'tls': isinstance(handler.connection, ssl.SSLSocket), **details}
        with self._lock:
            self.logons.append(record)

    # -- TLS, channel binding, certificates, CredSSP -----------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        """The HTTPS listener's TLS (1.2 or later, as Windows' defaults since Server 2019); None
        for HTTP. With certificate authentication the server asks for a client certificate and
        checks its chain against ``client_ca`` (the Trusted Root store of the host)."""
        self._bindings = None
        self._client_cas = []
        if self.https is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(*self.https)
        with open(self.https[0], 'rb') as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
        # RFC 5929 4.1 tls-server-end-point: what an NTLM client binds to over HTTPS.
        self._bindings = GssChannelBindings(application_data=b'tls-server-end-point:' + _end_point_hash(certificate))
        if self.allow_certificate and self.client_ca is not None:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cafile=self.client_ca)
            with open(self.client_ca, 'rb') as handle:
                self._client_cas = x509.load_pem_x509_certificates(handle.read())
        return context

    def _tls_handshake(self, connection: ssl.SSLSocket) -> bool:
        """The TLS handshake of a new connection, bounded; False (and recorded) when it fails."""
        try:
            connection.settimeout(self.tls_handshake_timeout)
            connection.do_handshake()
        except (ssl.SSLError, OSError) as error:  # a refused certificate, a timeout, a dropped client
            with self._lock:
                self.tls_failures.append(f'{type(error).__name__}: {error}')
            return False
        return True

    def _ntlm_bindings(self, authenticate: bytes) -> GssChannelBindings | None:
        """The channel bindings an NTLM AUTHENTICATE over HTTPS must carry, per CbtHardeningLevel:
        'strict' always, 'relaxed' when the client sent any ([MS-NLMP] MsvAvChannelBindings not
        zero), 'none' never."""
        if self.cbt_hardening == 'none':
            return None
        if self.cbt_hardening == 'relaxed' and not _sent_channel_bindings(authenticate):
            return None
        return self._bindings

    def _accept_certificate(self, handler: _Handler) -> str | None:
        """Certificate authentication: the client certificate of the TLS connection, mapped to a
        local account by a ClientCertificate entry (UPN subject and issuer thumbprint)."""
        connection = handler.connection
        der = connection.getpeercert(binary_form=True) if isinstance(connection, ssl.SSLSocket) else None
        if not self.allow_certificate or der is None:
            self._unauthorized(handler)
            return None
        certificate = x509.load_der_x509_certificate(der)
        upns = [upn.lower() for upn in _upns(certificate)]
        issuers = {_thumbprint(certificate)} | {_thumbprint(ca) for ca in self._client_cas if ca.subject == certificate.issuer}
        try:
            usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            client_auth = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
        except x509.ExtensionNotFound:
            client_auth = True
        user = next((mapping.user for mapping in self.certificate_mappings
                     if client_auth and upns and mapping.issuer.replace(' ', '').upper() in issuers
                     and (mapping.subject == '*' or mapping.subject.lower() in upns)), None)
        if user is None:
            self._unauthorized(handler)
            return None
        handler.auth_user, handler.auth_kind, handler.context = user, 'certificate', None
        self._logon(handler, 'certificate', user, certificate=_thumbprint(certificate), upn=upns[0])
        return user

    def _accept_credssp(self, handler: _Handler, token: str, size: int) -> str | None:
        """[MS-CSSP] with pyspnego's acceptor: the TLS handshake, SPNEGO (NTLM against the user
        file) and the public key binding of CredSSP's own TLS channel, one leg a 401; then the
        delegated credentials must log on (the WinRM service logs the user on with them)."""
        if not self.allow_credssp:
            self._unauthorized(handler)
            return None
        try:
            blob = base64.b64decode(token.strip(), validate=True)
        except binascii.Error:
            self._unauthorized(handler)
            return None
        context = handler.credssp_pending
        if context is None:
            context = spnego.server(hostname=self.hostname, service='http', protocol='credssp',
                                    options=spnego.NegotiateOptions.use_negotiate)
        try:
            with self._user_file_env():
                answer = context.step(blob)
        except (spnego.exceptions.SpnegoError, ValueError, ssl.SSLError):
            self._unauthorized(handler)
            return None
        if not context.complete:
            failed = context.get_extra_info('auth_stage') == 'Authentication failure'
            handler.credssp_pending = None if failed else context
            handler.auth_user = handler.auth_kind = handler.context = None
            self._log(action=None, status=401, encrypted=False, auth='credssp', user=None, size=size)
            self._send(handler, 401, headers=[('WWW-Authenticate', f'CredSSP {base64.b64encode(answer or b"").decode()}')])
            return None
        handler.credssp_pending = None
        delegated = context.get_extra_info('client_credential')
        name = getattr(delegated, 'username', '') or ''
        domain = getattr(delegated, 'domain_name', '') or ''
        user = self._known_user(f'{domain}\\{name}' if domain else name)
        if user is None or self.users[user] != getattr(delegated, 'password', None):
            self._unauthorized(handler)  # the delegated credentials do not log on
            return None
        handler.auth_user, handler.auth_kind, handler.context = user, 'credssp', context
        self._logon(handler, 'credssp', user, principal=context.client_principal)
        return user

    def _accept_kerberos(self, handler: _Handler, token: bytes, size: int) -> str | None:
        """Accept a Kerberos AP-REQ (what pywinrm sends under ``Negotiate``) with the keytab; the
        AP-REP goes back with the answer, for pywinrm's mutual authentication."""
        try:
            with self._keytab_env():  # the GSSAPI acceptor reads KRB5_KTNAME
                context = spnego.server(service='http', protocol='kerberos')
                answer = context.step(token)
            if not context.complete:
                raise ValueError('Kerberos did not complete in one step')
        except (spnego.exceptions.SpnegoError, ValueError):
            self._unauthorized(handler)
            return None
        principal = context.client_principal or ''
        principal = self._known_user(principal) or principal
        handler.auth_user, handler.auth_kind, handler.context = principal, 'kerberos', context
        self._logon(handler, 'kerberos', principal)
        if answer:
            handler.reply_headers = [('WWW-Authenticate', f'Negotiate {base64.b64encode(answer).decode()}')]
        return principal

    def _keytab_env(self) -> Any:
        return _acceptor_env('KRB5_KTNAME', f'FILE:{self.keytab}')

    @staticmethod
    def _decrypt(context: Any, body: bytes, content_type: str) -> bytes:
        if f'protocol="{ENCRYPTED_PROTOCOL.lower()}"' not in content_type.lower().replace(' ', ''):
            raise ValueError('not SPNEGO session encryption')
        match = _ENCRYPTED_HEAD.match(body)
        if not match:
            raise ValueError('not the Encrypted Boundary framing')
        length = int(match.group(1))
        rest = body[match.end():]
        signature_length = struct.unpack('<I', rest[:4])[0]
        signature = rest[4:4 + signature_length]
        sealed = rest[4 + signature_length:4 + signature_length + length]
        if len(sealed) != length or rest[4 + signature_length + length:] != _BOUNDARY + b'--\r\n':
            raise ValueError('the sealed part does not match its length')
        return context.unwrap_winrm(signature, sealed)

    @staticmethod
    def _encrypt(context: Any, message: bytes) -> bytes:
        wrapped = context.wrap_winrm(message)  # NTLM: a 16-byte signature; Kerberos: the IOV header
        signature, sealed = wrapped.header, wrapped.data
        return (_BOUNDARY + b'\r\n\tContent-Type: ' + ENCRYPTED_PROTOCOL.encode() + b'\r\n'
                b'\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=' + str(len(message)).encode() + b'\r\n'
                + _BOUNDARY + b'\r\n\tContent-Type: application/octet-stream\r\n'
                + struct.pack('<I', len(signature)) + signature + sealed + _BOUNDARY + b'--\r\n')

    # -- WS-Management ---------------------------------------------------------------------

    @staticmethod
    def _message_id(envelope: bytes) -> str | None:
        match = re.search(rb'<(?:\w+:)?MessageID[^>]*>\s*([^<\s]+)\s*<', envelope)
        return match.group(1).decode('utf-8', 'replace') if match else None

    def _process(self, envelope: bytes, user: str, handler: _Handler) -> tuple[int, bytes | None, str | None]:
        """(HTTP status, SOAP answer or None to drop the connection, short action name)."""
        relates_to = None
        action = None
        try:
            try:
                root = ElementTree.fromstring(envelope)
            except ElementTree.ParseError as error:
                raise _Fault('s:Sender', 'w:SchemaValidationError',
                             f'The WS-Management service cannot process the request because the XML is invalid: {error}',
                             ERROR_WSMAN_INVALID_XML) from None
            header = root.find('s:Header', NS)
            body = root.find('s:Body', NS)
            if root.tag != f'{{{NS["s"]}}}Envelope' or header is None:
                raise _Fault('s:Sender', 'w:SchemaValidationError', 'The SOAP envelope is not a SOAP 1.2 envelope.',
                             ERROR_WSMAN_INVALID_XML)
            relates_to = header.findtext('a:MessageID', None, NS)
            action_uri = (header.findtext('a:Action', '', NS) or '').strip()
            action = ACTIONS.get(action_uri)
            hook = self._take_hook('request', action)
            if hook is not None:
                answer = self._apply_request_hook(hook, relates_to)
                if answer is not ...:
                    return answer[0], answer[1], action
            if action is None:
                raise _Fault('s:Sender', 'a:ActionNotSupported',
                             f'The WS-Management service cannot process the request because the action {action_uri!r} '
                             'is not supported.', ERROR_WSMAN_INVALID_ACTIONURI)
            resource_uri = (header.findtext('w:ResourceURI', '', NS) or '').strip()
            if resource_uri.lower() != CMD_RESOURCE_URI:
                raise _Fault('s:Sender', 'w:DestinationUnreachable',
                             f'The WS-Management service cannot process the request. The resource URI {resource_uri!r} '
                             'was not found.', ERROR_WSMAN_INVALID_RESOURCE_URI)
            max_size = header.findtext('w:MaxEnvelopeSize', None, NS)
            if max_size is not None and max_size.strip().isdigit() and int(max_size) < 8192:
                # [MS-WSMAN] 3.1.4.1.9: a MaxEnvelopeSize under 8,192 octets MUST get EncodingLimit.
                raise _Fault('s:Sender', 'w:EncodingLimit', 'The MaxEnvelopeSize requested is below 8192 bytes.',
                             ERROR_WSMAN_MIN_ENVELOPE_SIZE)
            response_limit = min(int(max_size), self.max_envelope_size) if max_size and max_size.strip().isdigit() \
                else self.max_envelope_size
            options = {option.get('Name', ''): (option.text or '').strip()
                       for option in header.findall('w:OptionSet/w:Option', NS)}
            shell_id = None
            for selector in header.findall('w:SelectorSet/w:Selector', NS):
                if selector.get('Name') == 'ShellId':
                    shell_id = (selector.text or '').strip()
            timeout = min(_duration_seconds(header.findtext('w:OperationTimeout', None, NS), 60.0),
                          OPERATION_TIMEOUT_CAP_SECONDS)
            if action == 'Create':
                content = self._create(body, options, user)
            else:
                shell = self._shell(shell_id)
                if action == 'Command':
                    content = self._command(shell, body, options)
                elif action == 'Send':
                    content = self._send_input(shell, body)
                elif action == 'Receive':
                    content = self._receive(shell, body, timeout, response_limit)
                elif action == 'Signal':
                    content = self._signal(shell, body)
                else:
                    content = self._delete(shell)
            return 200, self._envelope(RESPONSE_ACTIONS[action], relates_to, content), action
        except _Fault as fault:
            return 500, self._fault_envelope(fault, relates_to), action

    def _take_hook(self, kind: str, action: str | None) -> dict[str, Any] | None:
        with self._lock:
            for index, hook in enumerate(self._hooks):
                if hook['kind'] == kind and (kind == 'output' or hook['action'] in (None, action)):
                    return self._hooks.pop(index)
        return None

    def _apply_request_hook(self, hook: dict[str, Any], relates_to: str | None) -> Any:
        if hook.get('stall'):
            if self._stop.wait(min(float(hook['stall']), STALL_CAP_SECONDS)):
                return 0, None
        if hook.get('drop'):
            return 0, None
        status = hook.get('http_status')
        if status is None:
            return ...
        if status == 500:
            fault = {'code': 's:Receiver', 'subcode': 'w:InternalError',
                     'reason': 'The WS-Management service cannot process the request (fault injected by the test).',
                     'wsman_code': ERROR_WSMAN_PROVIDER_FAILURE, **(hook.get('fault') or {})}
            return 500, self._fault_envelope(_Fault(**fault), relates_to)
        return int(status), b''

    def _shell(self, shell_id: str | None) -> _Shell:
        with self._lock:
            shell = self._shells.get((shell_id or '').upper())
        if shell is None:
            raise _shell_not_found(shell_id or '')
        return shell

    @staticmethod
    def _command_of(shell: _Shell, command_id: str | None) -> _Command:
        command = shell.commands.get((command_id or '').upper())
        if command is None:
            raise _Fault('s:Sender', 'w:InvalidParameter',
                         f'The WinRM Shell client cannot process the request: the command {command_id} was not found in '
                         f'shell {shell.id}.', ERROR_WSMAN_INVALID_PARAMETER)
        return command

    def _create(self, body: ElementTree.Element | None, options: dict[str, str], user: str) -> str:
        shell_node = body.find('rsp:Shell', NS) if body is not None else None
        if shell_node is None:
            raise _Fault('s:Sender', 'w:SchemaValidationError', 'The Create request has no rsp:Shell.', ERROR_WSMAN_INVALID_XML)
        if user.lower() in self.shell_denied_users:
            # The RootSDDL (Administrators only by default) governs the cmd shell; JEA and Remote
            # Management Users reach PowerShell endpoints only: HTTP 500, WSManFault 5 (pywinrm#336).
            raise _Fault('s:Sender', 'w:AccessDenied', 'Access is denied. ', ERROR_ACCESS_DENIED)
        inputs = (shell_node.findtext('rsp:InputStreams', 'stdin', NS) or '').split()
        outputs = (shell_node.findtext('rsp:OutputStreams', 'stdout stderr', NS) or '').split()
        shell_id = str(uuid.uuid4()).upper()
        with self._lock:
            self._shells[shell_id] = _Shell(shell_id, user, options, inputs, outputs)
        return (
            f'<x:ResourceCreated><a:Address>{escape(self.url)}</a:Address><a:ReferenceParameters>'
            f'<w:ResourceURI>{CMD_RESOURCE_URI}</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">{shell_id}'
            f'</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>'
            f'<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:ResourceUri>{CMD_RESOURCE_URI}</rsp:ResourceUri>'
            f'<rsp:Owner>{escape(user)}</rsp:Owner><rsp:ClientIP>{escape(self.address)}</rsp:ClientIP>'
            f'<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>{escape(" ".join(inputs))}</rsp:InputStreams>'
            f'<rsp:OutputStreams>{escape(" ".join(outputs))}</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>'
            f'<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>')

    def _command(self, shell: _Shell, body: ElementTree.Element | None, options: dict[str, str]) -> str:
        line_node = body.find('rsp:CommandLine', NS) if body is not None else None
        if line_node is None:
            raise _Fault('s:Sender', 'w:SchemaValidationError', 'The Command request has no rsp:CommandLine.',
                         ERROR_WSMAN_INVALID_XML)
        command = (line_node.findtext('rsp:Command', '', NS) or '').strip()
        arguments = ' '.join((node.text or '') for node in line_node.findall('rsp:Arguments', NS))
        line = f'{command} {arguments}' if arguments else command
        skip_cmd = options.get('WINRS_SKIP_CMD_SHELL', 'FALSE').upper() == 'TRUE'
        command_id = str(uuid.uuid4()).upper()
        if skip_cmd and len(line) > CREATE_PROCESS_LIMIT:
            raise _Fault('s:Receiver', 'w:InternalError', 'The filename or extension is too long.', ERROR_FILENAME_EXCED_RANGE)
        program = ntpath.basename(command.strip('"')).lower()
        if program in self.blocked_programs or (not skip_cmd and 'cmd.exe' in self.blocked_programs):
            # CreateProcess refused by the policy; the fault's shape is chosen, not observed.
            raise _Fault('s:Receiver', 'w:InternalError', 'This program is blocked by group policy. For more '
                         'information, contact your system administrator.', ERROR_ACCESS_DISABLED_BY_POLICY)
        if not skip_cmd and len(line) > CMD_LINE_LIMIT:
            new = _Command(command_id, line, 'too_long', None, options)
        else:
            new = _Command(command_id, line, 'powershell', self._bootstrap_of(line), options)
        new.record = {'command_id': command_id, 'shell_id': shell.id, 'line': line, 'length': len(line),
                      'bootstrap': new.bootstrap, 'options': dict(options), 'kind': new.kind,
                      'language_mode': self.language_mode, 'execution_policy': self.execution_policy}
        with self._lock:
            if shell.id not in self._shells:
                raise _shell_not_found(shell.id)
            if self.max_operations is not None and shell.operations >= self.max_operations:
                # The WinRM service counts a shell's operations even after their cleanup
                # (pywinrm#124); past the quota every Command of that shell is refused.
                raise _Fault('s:Receiver', 'w:InternalError',
                             'The WS-Management service cannot process the request. This user is allowed a maximum '
                             f'number of {self.max_operations} concurrent operations, which has been exceeded. Close '
                             'existing operations for this user, or raise the quota for this user.',
                             ERROR_WSMAN_QUOTA_MAX_OPERATIONS)
            shell.operations += 1
            shell.commands[command_id] = new
            self.commands.append(new.record)
        return f'<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>'

    def _bootstrap_of(self, line: str) -> str:
        """The decoded -EncodedCommand text of a powershell.exe command line (model refusals otherwise)."""
        tokens = line.split()
        program = ntpath.basename(tokens[0].strip('"')).lower() if tokens else ''
        if program not in ('powershell', 'powershell.exe'):
            raise _refuse(f'only powershell.exe -EncodedCommand runs here, not {program or "an empty command"!r}')
        encoded = None
        index = 1
        while index < len(tokens):
            token = tokens[index]
            if token[:1] not in ('-', '/') or len(token) < 2:
                raise _refuse(f'unexpected powershell.exe argument {token[:40]!r}')
            name = token[1:].lower()
            name = _PS_ALIASES.get(name, name)
            if name not in _PS_PARAMETERS:
                matches = [known for known in _PS_PARAMETERS if known.startswith(name)]
                if len(matches) != 1:
                    raise _refuse(f'powershell.exe parameter {token[:40]!r} is unknown or ambiguous')
                name = matches[0]
            if name in _PS_REFUSED:
                raise _refuse(f'powershell.exe -{name} is not modelled: use -EncodedCommand')
            if _PS_PARAMETERS[name]:
                if index + 1 >= len(tokens):
                    raise _refuse(f'powershell.exe -{name} needs a value')
                if name == 'encodedcommand':
                    encoded = tokens[index + 1]
                    if index + 2 != len(tokens):
                        raise _refuse('-EncodedCommand must be the last powershell.exe parameter')
                index += 2
            else:
                index += 1
        if encoded is None:
            raise _refuse('powershell.exe without -EncodedCommand would read commands from stdin: not modelled')
        try:
            raw = base64.b64decode(encoded, validate=True)
            text = raw.decode('utf-16-le')
        except (binascii.Error, UnicodeDecodeError):
            raise _refuse('-EncodedCommand is not base64 of UTF-16LE text') from None
        if self.expected_bootstrap is not None and raw != self.expected_bootstrap.encode('utf-16-le'):
            raise _refuse('the -EncodedCommand bootstrap is not the expected one')
        return text

    def _send_input(self, shell: _Shell, body: ElementTree.Element | None) -> str:
        streams = body.findall('rsp:Send/rsp:Stream', NS) if body is not None else []
        if not streams:
            raise _Fault('s:Sender', 'w:SchemaValidationError', 'The Send request has no rsp:Stream.', ERROR_WSMAN_INVALID_XML)
        with self._changed:
            for stream in streams:
                name = stream.get('Name', '')
                if name not in shell.input_streams:
                    raise _Fault('s:Sender', 'w:InvalidParameter', f'The shell has no input stream {name!r}.',
                                 ERROR_WSMAN_INVALID_PARAMETER)
                command = self._command_of(shell, stream.get('CommandId'))
                if command.stdin_ended:
                    raise _Fault('s:Sender', 'w:InvalidParameter',
                                 'The WinRM Shell client cannot send input: the input stream of the command is closed.',
                                 ERROR_WSMAN_INVALID_PARAMETER)
                try:
                    command.stdin += base64.b64decode((stream.text or '').strip(), validate=True)
                except binascii.Error:
                    raise _Fault('s:Sender', 'w:SchemaValidationError', 'The stdin stream is not base64.',
                                 ERROR_WSMAN_INVALID_XML) from None
                if len(command.stdin) > STDIN_CAP:
                    raise _refuse(f'more than {STDIN_CAP} bytes of stdin for one command')
                command.stdin_chunks += 1
                if stream.get('End', '').lower() in ('true', '1'):
                    command.stdin_ended = True
                    self._changed.notify_all()
        return '<rsp:SendResponse/>'

    def _receive(self, shell: _Shell, body: ElementTree.Element | None, timeout: float, response_limit: int) -> str:
        desired = body.find('rsp:Receive/rsp:DesiredStream', NS) if body is not None else None
        if desired is None:
            raise _Fault('s:Sender', 'w:SchemaValidationError', 'The Receive request has no rsp:DesiredStream.',
                         ERROR_WSMAN_INVALID_XML)
        with self._changed:
            command = self._command_of(shell, desired.get('CommandId'))
            if command.state == 'delivered':
                raise _Fault('s:Sender', 'w:InvalidParameter',
                             f'The command {command.id} has already completed and its output was received.',
                             ERROR_WSMAN_INVALID_PARAMETER)
            ready = self._changed.wait_for(lambda: command.stdin_ended or self._stop.is_set(), timeout=timeout)
            if not ready or self._stop.is_set():
                raise _Fault('s:Receiver', 'w:TimedOut',
                             'The WS-Management service cannot complete the operation within the time specified in '
                             'OperationTimeout.', ERROR_WSMAN_OPERATION_TIMEDOUT)
            run = command.state == 'pending'
            if run:
                command.state = 'running'
        if run:
            pieces, exit_code = self._execute(shell, command)
            with self._changed:
                command.pieces, command.exit_code, command.state = pieces, exit_code, 'done'
                self._changed.notify_all()
        with self._changed:
            if not self._changed.wait_for(lambda: command.state == 'done' or self._stop.is_set(), timeout=timeout) \
                    or self._stop.is_set():
                raise _Fault('s:Receiver', 'w:TimedOut',
                             'The WS-Management service cannot complete the operation within the time specified in '
                             'OperationTimeout.', ERROR_WSMAN_OPERATION_TIMEDOUT)
            budget = self.receive_chunk_size or max(3, (response_limit - 4096) * 3 // 4)
            parts = []
            while command.pieces and budget > 0:
                stream, data = command.pieces[0]
                taken, rest = data[:budget], data[budget:]
                budget -= len(taken)
                parts.append(f'<rsp:Stream Name="{stream}" CommandId="{command.id}">{base64.b64encode(taken).decode()}</rsp:Stream>')
                if rest:
                    command.pieces[0] = (stream, rest)
                else:
                    command.pieces.pop(0)
            if command.pieces:
                state = f'<rsp:CommandState CommandId="{command.id}" State="{STATE_RUNNING}"/>'
            else:
                parts += [f'<rsp:Stream Name="{stream}" CommandId="{command.id}" End="true"></rsp:Stream>'
                          for stream in shell.output_streams]
                state = (f'<rsp:CommandState CommandId="{command.id}" State="{STATE_DONE}">'
                         f'<rsp:ExitCode>{command.exit_code}</rsp:ExitCode></rsp:CommandState>')
                command.state = 'delivered'
        return '<rsp:ReceiveResponse>' + ''.join(parts) + state + '</rsp:ReceiveResponse>'

    def _signal(self, shell: _Shell, body: ElementTree.Element | None) -> str:
        signal = body.find('rsp:Signal', NS) if body is not None else None
        if signal is None:
            raise _Fault('s:Sender', 'w:SchemaValidationError', 'The Signal request has no rsp:Signal.', ERROR_WSMAN_INVALID_XML)
        code = (signal.findtext('rsp:Code', '', NS) or '').strip()
        with self._changed:
            command = self._command_of(shell, signal.get('CommandId'))
            if code == SIGNAL_TERMINATE:
                shell.commands.pop(command.id, None)
                command.stdin_ended = True
                command.record['terminated'] = True
                self._changed.notify_all()
        return '<rsp:SignalResponse/>'

    def _delete(self, shell: _Shell) -> str:
        with self._changed:
            if self._shells.pop(shell.id, None) is None:
                raise _shell_not_found(shell.id)
            shell.commands.clear()
            self._changed.notify_all()
        return ''

    # -- the PowerShell model ----------------------------------------------------------------

    def _charge(self, record: dict[str, Any], what: str) -> None:
        """Wait what ``what`` costs a real server (cut short by stop()), and record it."""
        seconds = getattr(self.cost, what) if self.cost is not None else 0.0
        record.setdefault('charged', {})[what] = seconds
        if seconds:
            self._stop.wait(seconds)

    def _execute(self, shell: _Shell, command: _Command) -> tuple[list[tuple[str, bytes]], int]:
        """Run the command: stdout, stderr and exit code, as powershell.exe (or cmd.exe) would."""
        record = command.record
        stdout, stderr, exit_code = b'', b'', 1
        if command.kind == 'too_long':
            stderr = CMD_TOO_LONG
        else:
            data = bytes(command.stdin)
            record.update(stdin_size=len(data), stdin_chunks=command.stdin_chunks)
            script, separator, request_bytes = data.partition(b'\0')
            record['script'] = script.decode('utf-8', 'replace')
            progress = self.progress_on_stderr and not shell.ran_powershell
            shell.ran_powershell = True
            self._charge(record, 'powershell_start')
            expected = self.expected_script.encode('utf-8') if self.expected_script is not None else None
            if self.language_mode != 'FullLanguage':
                stdout, stderr, exit_code = _constrained_run(command.bootstrap or '', self.language_mode)
            elif expected is not None and script != expected:
                at = next((i for i, (a, b) in enumerate(zip(script, expected, strict=False)) if a != b), min(len(script), len(expected)))
                stderr = clixml_error(f'The script on stdin is not the expected shim: it differs at byte {at} '
                                      f'({len(script)} bytes, expected {len(expected)}).', progress=progress)
            elif not separator:
                stderr = clixml_error('No request on stdin: the script is not followed by a NUL and a JSON request.',
                                      progress=progress)
            else:
                try:
                    request = json.loads(request_bytes.decode('utf-8'))
                except (UnicodeDecodeError, ValueError) as error:
                    stderr = clixml_error(f'Conversion from JSON failed with error: {error}',
                                          category='NotSpecified: (:) [ConvertFrom-Json], ArgumentException',
                                          error_id='System.ArgumentException,Microsoft.PowerShell.Commands.'
                                                   'ConvertFromJsonCommand', progress=progress)
                else:
                    record['request'] = request
                    with self._lock:
                        self.requests.append(request)
                    self._charge(record, 'add_type_compile')  # a fresh process compiles the shim's C#
                    try:
                        result = self.responder(request, user=shell.owner) if self._pass_user else self.responder(request)
                        stdout = (json.dumps(result) + '\r\n').encode('utf-8')
                        exit_code = 0
                        if progress:
                            stderr = _clixml_progress_only()
                    except Exception as error:  # the "script" failed: PowerShell reports it on stderr
                        stderr = clixml_error(f'{type(error).__name__}: {error}', progress=progress)
        hook = self._take_hook('output', None)
        if hook is not None:
            stdout = hook.get('stdout', stdout)
            stderr = hook.get('stderr', stderr)
            exit_code = hook.get('exit_code', exit_code)
            record['injected'] = sorted(hook.keys() - {'kind'})
        record.update(stdout=stdout, stderr=stderr, exit_code=exit_code)
        pieces: list[tuple[str, bytes]] = []
        if stdout and 'stdout' in shell.output_streams:
            pieces.append(('stdout', stdout))
        if stderr and 'stderr' in shell.output_streams:
            if stderr.startswith(CLIXML_HEADER):  # Windows sends the header in a Stream of its own
                pieces += [('stderr', CLIXML_HEADER), ('stderr', stderr[len(CLIXML_HEADER):])]
            else:
                pieces.append(('stderr', stderr))
        return [piece for piece in pieces if piece[1]], exit_code

    # -- envelopes -------------------------------------------------------------------------

    @staticmethod
    def _envelope(action: str, relates_to: str | None, body: str) -> bytes:
        relates = f'<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>' if relates_to else ''
        return (
            '<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{a}" xmlns:x="{x}" xmlns:w="{w}" xmlns:rsp="{rsp}" '
            'xmlns:p="{p}"><s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{mid}</a:MessageID>'
            '<a:To>{anon}</a:To>{relates}</s:Header><s:Body>{body}</s:Body></s:Envelope>'
        ).format(action=action, mid=str(uuid.uuid4()).upper(), anon=ANONYMOUS, relates=relates, body=body,
                 **NS).encode('utf-8')

    def _fault_envelope(self, fault: _Fault, relates_to: str | None) -> bytes:
        body = (f'<s:Fault><s:Code><s:Value>{escape(fault.code)}</s:Value><s:Subcode><s:Value>{escape(fault.subcode)}'
                f'</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text>'
                f'</s:Reason><s:Detail><f:WSManFault xmlns:f="{NS["f"]}" Code={quoteattr(str(fault.wsman_code))} '
                f'Machine={quoteattr(self.hostname)}><f:Message>{escape(fault.reason)}</f:Message></f:WSManFault>'
                '</s:Detail></s:Fault>')
        if fault.detail:
            body = body.replace('<s:Detail>', f'<s:Detail><w:FaultDetail>{escape(fault.detail)}</w:FaultDetail>', 1)
        return self._envelope(FAULT_ACTION, relates_to, body)
