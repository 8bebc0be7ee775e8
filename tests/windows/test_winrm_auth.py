"""The collection's WinRM backend with every authentication pywinrm offers, over HTTP and HTTPS.

Each row runs netsession_info through the module code (``execute``, as test_winrm_failures.py
does) against the loopback WS-Management endpoint serving the packaged shim with the Windows
model behind it, over an HTTPS listener whose certificates are made at test time
(tests/wsman/tls.py). A row that connects must list the model's sessions; a row that fails must
fail cleanly, with the code Windows would give, its name and the cause, and no secret.

Basic and certificate authentication over http are refused by the options check before anything
is sent: tests/windows/test_winrm_failures.py (test_bad_winrm_options_are_refused_before_connecting).
Kerberos needs a KDC: tests/e2e/test_domain_winrm.py runs it in the AD lab.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import CertificateMapping, WsmanEndpoint
from tests.wsman.tls import Issued, TestPki, make_pki

from .shim_model import shim_responder
from .test_both_transports import INFO, _model, _run
from .test_smb_model import PASSWORDS, SESSIONS

pytest.importorskip('requests_credssp', reason="pywinrm's CredSSP needs requests-credssp")

# [MS-ERREF] 2.1 (winerror.h): Schannel's names for the TLS failures.
SEC_E_WRONG_PRINCIPAL = 0x80090322
SEC_E_UNTRUSTED_ROOT = 0x80090325
SEC_E_ILLEGAL_MESSAGE = 0x80090326
SEC_E_CERT_EXPIRED = 0x80090328
SEC_E_LOGON_DENIED = 0x8009030C
ERROR_LOGON_FAILURE = 1326
ERROR_NOT_SUPPORTED = 50


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


@pytest.fixture(scope='module')
def pki(tmp_path_factory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp('pki'))


@contextlib.contextmanager
def windows_host(pki: TestPki, server: Issued | None = None, **options: Any) -> Iterator[WsmanEndpoint]:
    """The WinRM service of a Windows host with the model behind it: an HTTPS listener with
    ``server``'s certificate (None: HTTP), CredSSP and certificate authentication enabled, the
    test client certificate mapped to admin."""
    settings: dict[str, Any] = {
        'allow_credssp': True, 'allow_certificate': True, 'client_ca': pki.ca.cert_path,
        'certificate_mappings': [CertificateMapping('admin@localhost', pki.ca.thumbprint, 'admin')],
        **options}
    https = (server.cert_path, server.key_path) if server is not None else None
    with WsmanEndpoint(shim_responder(_model(True)), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP, https=https, **settings) as endpoint:
        yield endpoint
        assert endpoint.errors == []


def listing(endpoint: WsmanEndpoint, pki: TestPki, **task: Any) -> dict[str, Any]:
    params = dict(server='127.0.0.1', backend='winrm', connection_username='admin',
                  connection_password=PASSWORDS['admin'], winrm_scheme=endpoint.scheme, winrm_port=endpoint.port,
                  winrm_ca_trust_path=str(pki.ca.cert_path), winrm_operation_timeout=2, winrm_read_timeout=5)
    params.update(task)
    return _run(INFO, params, False)


def certificate(issued: Issued) -> dict[str, Any]:
    return dict(winrm_transport='certificate', connection_username=None, connection_password=None,
                winrm_cert_pem=str(issued.cert_path), winrm_cert_key_pem=str(issued.key_path))


def assert_listed(result: dict[str, Any], endpoint: WsmanEndpoint, auth: str, encrypted: bool) -> None:
    assert result.get('failed') is not True, result
    assert result['backend'] == 'winrm' and len(result['sessions']) == len(SESSIONS), result
    shell = [x for x in endpoint.exchanges if x['action']]
    assert {x['action'] for x in shell} >= {'Create', 'Command', 'Send', 'Receive', 'Delete'}
    assert {(x['auth'], x['encrypted'], x['user'], x['status']) for x in shell} == {(auth, encrypted, 'admin', 200)}
    assert PASSWORDS['admin'] not in repr(result)


def assert_failed(result: dict[str, Any], code: int, name: str, *fragments: str) -> None:
    assert result['failed'] is True, result
    assert 'failed unexpectedly' not in result['msg'], result['msg']  # a clean failure, not a crash
    assert (result.get('code'), result.get('code_name')) == (code, name), result['msg']
    for fragment in fragments:
        assert fragment in result['msg'], result['msg']
    assert PASSWORDS['admin'] not in repr(result)


# -- rows that connect ---------------------------------------------------------------------------------

def test_https_ntlm_with_the_test_ca(pki):
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki)
        assert_listed(result, endpoint, 'ntlm', False)  # message_encryption=auto: TLS only over https
        assert {(x['tls'], x['channel_binding']) for x in endpoint.logons} == {(True, 'checked')}


def test_https_with_validation_ignored_reaches_an_unknown_ca(pki):
    with windows_host(pki, pki.untrusted_server) as endpoint:
        result = listing(endpoint, pki, winrm_server_cert_validation='ignore')
        assert_listed(result, endpoint, 'ntlm', False)


def test_https_credssp(pki):
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki, winrm_transport='credssp')
        assert_listed(result, endpoint, 'credssp', False)


def test_https_certificate(pki):
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki, **certificate(pki.client))
        assert_listed(result, endpoint, 'certificate', False)
        assert {(x['kind'], x['certificate']) for x in endpoint.logons} == {('certificate', pki.client.thumbprint)}


def test_https_basic_with_allow_unencrypted_false(pki):
    with windows_host(pki, pki.server, encryption='required') as endpoint:
        result = listing(endpoint, pki, winrm_transport='basic')
        assert_listed(result, endpoint, 'basic', False)


@pytest.mark.parametrize('encryption', ['auto', 'always'])
def test_http_ntlm_message_encryption(pki, encryption):
    with windows_host(pki, None, encryption='required') as endpoint:
        result = listing(endpoint, pki, winrm_scheme='http', winrm_message_encryption=encryption)
        assert_listed(result, endpoint, 'ntlm', True)  # every shell request sealed


# -- rows that fail --------------------------------------------------------------------------------------

@pytest.mark.parametrize('served, server, code, name, fragment', [
    ('untrusted_server', '127.0.0.1', SEC_E_UNTRUSTED_ROOT, 'SEC_E_UNTRUSTED_ROOT', 'winrm_ca_trust_path'),
    ('server', 'localhost', SEC_E_WRONG_PRINCIPAL, 'SEC_E_WRONG_PRINCIPAL', "not valid for 'localhost'"),
    ('wrong_name_server', '127.0.0.1', SEC_E_WRONG_PRINCIPAL, 'SEC_E_WRONG_PRINCIPAL', "not valid for '127.0.0.1'"),
    ('expired_server', '127.0.0.1', SEC_E_CERT_EXPIRED, 'SEC_E_CERT_EXPIRED', 'expired'),
], ids=['unknown-ca', 'name-mismatch', 'address-mismatch', 'expired'])
def test_https_server_certificate_failures_are_named(pki, served, server, code, name, fragment):
    with windows_host(pki, getattr(pki, served)) as endpoint:
        result = listing(endpoint, pki, server=server)
        assert endpoint.exchanges == []  # refused in the handshake: no credentials sent
    assert_failed(result, code, name, 'open a WinRM shell (https port', fragment)


def test_https_unknown_ca_without_a_trust_path(pki, monkeypatch):
    """No winrm_ca_trust_path: the system's trust store does not hold the test CA."""
    for name in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):  # requests' own bundle, not one of the environment's
        monkeypatch.delenv(name, raising=False)
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki, winrm_ca_trust_path=None)
        assert endpoint.exchanges == []
    assert_failed(result, SEC_E_UNTRUSTED_ROOT, 'SEC_E_UNTRUSTED_ROOT')


def test_https_unmapped_certificate_is_a_logon_failure(pki):
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki, **certificate(pki.unmapped_client))
        assert endpoint.open_shells == 0 and endpoint.requests == []
    assert_failed(result, ERROR_LOGON_FAILURE, 'ERROR_LOGON_FAILURE', 'refused the credentials')


def test_https_certificate_from_an_untrusted_issuer(pki):
    """The server refuses the client certificate in the handshake: a TLS failure, not the
    server's certificate (the client trusts that one)."""
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki, **certificate(pki.stranger_client))
        assert endpoint.exchanges == []
    assert_failed(result, SEC_E_ILLEGAL_MESSAGE, 'SEC_E_ILLEGAL_MESSAGE', 'TLS handshake')


def test_https_credssp_wrong_password(pki):
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki, winrm_transport='credssp', connection_password='wrong')
        assert endpoint.open_shells == 0 and endpoint.logons == []
    assert_failed(result, SEC_E_LOGON_DENIED, 'SEC_E_LOGON_DENIED', 'CredSSP')
    assert 'wrong' not in result['msg']


def test_https_credssp_off_on_the_host(pki):
    """Service\\Auth\\CredSSP is off by default: the host does not offer it."""
    with windows_host(pki, pki.server, allow_credssp=False) as endpoint:
        result = listing(endpoint, pki, winrm_transport='credssp')
        assert endpoint.logons == []
    assert_failed(result, ERROR_NOT_SUPPORTED, 'ERROR_NOT_SUPPORTED', 'CredSSP')


def test_https_ntlm_wrong_password(pki):
    with windows_host(pki, pki.server) as endpoint:
        result = listing(endpoint, pki, connection_password='wrong')
    assert_failed(result, ERROR_LOGON_FAILURE, 'ERROR_LOGON_FAILURE')
