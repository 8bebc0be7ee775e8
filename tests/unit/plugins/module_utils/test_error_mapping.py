"""What each transport makes of its library's exceptions (``_failures_as`` of _smb and _winrm).

Each case raises the exception the library raises (constructed as the library constructs it)
inside the mapping, and checks the code, its name and the detail the task reports. A failure
that is neither the server's nor the way to it must come through unchanged: execute() then
reports it as the collection's own, with its traceback.
"""

from __future__ import annotations

import socket

import pytest
import requests
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.krb5.kerberosv5 import KerberosError
from impacket.smbconnection import SessionError
from urllib3.exceptions import MaxRetryError, NewConnectionError
from winrm.exceptions import (
    InvalidCredentialsError, WinRMError, WinRMOperationTimeoutError, WinRMTransportError,
    WSManFaultError,
)
from winrm.vendor.requests_kerberos.exceptions import KerberosExchangeError

from ansible_collections.lanman.server.plugins.module_utils import _smb, _winrm
from ansible_collections.lanman.server.plugins.module_utils._errors import NetSessionError


def _smb_mapped(error: BaseException) -> NetSessionError:
    with pytest.raises(NetSessionError) as caught:
        with _smb._failures_as('NTLM logon', 'fs1', 7):
            raise error
    return caught.value


def _winrm_mapped(error: BaseException) -> NetSessionError:
    with pytest.raises(NetSessionError) as caught:
        with _winrm._failures_as('open a WinRM shell (http port 5985)', 'fs1', 30):
            raise error
    return caught.value


def _refused(address: str) -> requests.exceptions.ConnectionError:
    """requests' error for a connection that was never made, as it wraps urllib3's."""
    new = NewConnectionError(None, f'Failed to establish a new connection to {address}')  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, '/wsman', new))  # type: ignore[arg-type]


@pytest.mark.parametrize('error, code, name, detail', [
    (SessionError(0xC000006D), 0xC000006D, 'STATUS_LOGON_FAILURE', None),
    (KerberosError(error=24), 24, 'KDC_ERR_PREAUTH_FAILED',
     'Kerberos: Pre-authentication information was invalid (RFC 4120 7.5.9)'),
    (DCERPCException(error_code=5), 5, 'ERROR_ACCESS_DENIED', None),
    (TimeoutError('timed out'), 121, 'ERROR_SEM_TIMEOUT', 'no answer within connect_timeout (7 s)'),
    (OSError('Connection error (fs1:445)', ConnectionRefusedError(111, 'refused')), 53,
     'ERROR_BAD_NETPATH', 'connection refused'),
    (socket.gaierror(-2, 'Name or service not known'), 53, 'ERROR_BAD_NETPATH',
     'name not resolved (Name or service not known)'),
    (ConnectionResetError(104, 'reset'), 64, 'ERROR_NETNAME_DELETED', 'connection lost'),
    (Exception('No answer!'), 64, 'ERROR_NETNAME_DELETED',
     'connection lost (no answer to the SMB negotiation)'),
    (_smb._Undecodable('an answer of 2 bytes'), 1728, 'RPC_S_PROTOCOL_ERROR',
     'undecodable answer (an answer of 2 bytes)'),
])
def test_smb_failures_keep_their_code(error, code, name, detail):
    mapped = _smb_mapped(error)
    assert (mapped.code, mapped.name, mapped.detail) == (code, name, detail)
    assert mapped.operation == 'NTLM logon' and mapped.server == 'fs1'


@pytest.mark.parametrize('error', [KeyError('ServerOSMajor'), TypeError('bug'), Exception('other')])
def test_smb_does_not_blame_the_server_for_what_it_did_not_do(error):
    with pytest.raises(type(error)):
        with _smb._failures_as('NetrSessionEnum (level 1)', 'fs1', 7):
            raise error


@pytest.mark.parametrize('error, code, name, detail', [
    (InvalidCredentialsError('the specified credentials were rejected by the server'), 1326,
     'ERROR_LOGON_FAILURE', 'the WinRM service refused the credentials: a wrong user name or password, an '
     'account not allowed to log on, or a local account other than the built-in Administrator, which UAC'),
    (InvalidCredentialsError('auth method ntlm requires a password'), 87,
     'ERROR_INVALID_PARAMETER', 'pywinrm: auth method ntlm requires a password'),
    (WinRMError('requested auth method is kerberos, but pykerberos is not installed'), 50,
     'ERROR_NOT_SUPPORTED', 'pywinrm: requested auth method is kerberos, but pykerberos is not installed'),
    (WinRMTransportError('http', 500, 'Bad HTTP response'), 500, 'HTTP_500',
     'the WinRM service answered with an HTTP error'),
    (WSManFaultError(500, 'fault', '<r/>', 'Access is denied.', wsman_fault_code=5), 5,
     'ERROR_ACCESS_DENIED', 'Access is denied. (the WinRM service refused this account a command shell'),
    (WSManFaultError(500, 'fault', '<r/>', 'This program is blocked by group policy.', wsman_fault_code=1260),
     1260, 'ERROR_ACCESS_DISABLED_BY_POLICY', 'This program is blocked by group policy. (a software restriction'),
    (WSManFaultError(500, 'fault', '<r/>', 'The WS-Management service cannot process the request.',
                     wsman_fault_code=0x803381A6), 0x803381A6, 'WSMAN_FAULT',
     'The WS-Management service cannot process the request.'),
    (WinRMOperationTimeoutError(), 121, 'ERROR_SEM_TIMEOUT', 'no answer within the WinRM timeouts (30 s)'),
    (requests.exceptions.ReadTimeout('read timed out'), 121, 'ERROR_SEM_TIMEOUT',
     'no answer within the WinRM timeouts (30 s)'),
    (requests.exceptions.SSLError('certificate verify failed'), 0x80090325, 'SEC_E_UNTRUSTED_ROOT',
     'the server certificate could not be verified (winrm_ca_trust_path, or '
     'winrm_server_cert_validation=ignore)'),
    (_refused('fs1'), 53, 'ERROR_BAD_NETPATH', 'could not connect to the WinRM service'),
    (requests.exceptions.ConnectionError('Connection aborted.'), 64, 'ERROR_NETNAME_DELETED',
     'the WinRM service dropped the connection'),
    (KerberosExchangeError("authGSSClientInit() failed: (('No credentials were supplied, or the "
                           "credentials were unavailable or inaccessible', 458752), ('', 0))"),
     0x8009030E, 'SEC_E_NO_CREDENTIALS', None),
    (KerberosExchangeError("authGSSClientStep() failed: (('Unspecified GSS failure', 851968), "
                           "('Server not found in Kerberos database', -1765328377))"),
     0x8009030C, 'SEC_E_LOGON_DENIED', None),
])
def test_winrm_failures_keep_their_code_and_pywinrms_message(error, code, name, detail):
    mapped = _winrm_mapped(error)
    assert (mapped.code, mapped.name) == (code, name)
    if detail is None:  # Kerberos: the detail is pywinrm's whole message
        assert mapped.detail == f'Kerberos: {error}'
    else:  # the message, then (for a refusal an administrator can act on) what to do
        assert mapped.detail.startswith(detail)
