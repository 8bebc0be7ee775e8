"""Every authentication pywinrm 0.5.0 offers, against the loopback endpoint, over HTTP and HTTPS.

Each row opens and closes a shell with the real ``winrm.protocol.Protocol`` and checks what the
endpoint recorded (``exchanges``: auth kind, encrypted flag, user; ``logons``: TLS, channel
binding, certificate; ``tls_failures``), or the exact failure the client raised. The X.509
material is made at test time (tests/wsman/tls.py); everything talks to 127.0.0.1 (``localhost``
for the name mismatch), every wait is bounded.

Kerberos (and its message encryption) needs a KDC: tests/e2e/test_domain_winrm.py runs it
against the AD lab (root, Samba's KDC), over HTTP with encryption required.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

winrm = pytest.importorskip('winrm', reason='the WinRM endpoint tests need pywinrm')
pytest.importorskip('spnego', reason='the WinRM endpoint needs pyspnego')
requests_credssp = pytest.importorskip('requests_credssp', reason="pywinrm's CredSSP needs requests-credssp")
from winrm.exceptions import InvalidCredentialsError  # noqa: E402
from winrm.protocol import Protocol  # noqa: E402

from .endpoint import MUTUAL_AUTH, CertificateMapping, WsmanEndpoint  # noqa: E402
from .tls import Issued, TestPki, make_pki  # noqa: E402

USER, PASSWORD = 'admin', 'Adm1n-Secret!'
USERS = {USER: PASSWORD, 'LAB\\bob': 'Other-2!'}


@pytest.fixture(scope='module')
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp('pki'))


def mapping(pki: TestPki) -> CertificateMapping:
    """New-Item WSMan:\\localhost\\ClientCertificate -Subject admin@localhost -Issuer <CA> -Credential admin."""
    return CertificateMapping(subject='admin@localhost', issuer=pki.ca.thumbprint, user=USER)


@contextlib.contextmanager
def serve(server: Issued | None = None, **options: Any) -> Iterator[WsmanEndpoint]:
    https = (server.cert_path, server.key_path) if server is not None else None
    with WsmanEndpoint(lambda request: {'status': 0}, users=USERS, https=https, **options) as endpoint:
        yield endpoint
        assert endpoint.errors == []


def client(endpoint: WsmanEndpoint, transport: str = 'ntlm', *, ca: Path | None = None, host: str | None = None,
           validation: str = 'validate', encryption: str = 'auto', cert: Issued | None = None,
           username: str = USER, password: str = PASSWORD, **extra: Any) -> Protocol:
    return Protocol(endpoint.url_for(host) if host else endpoint.url, transport=transport,  # type: ignore[arg-type]
                    username=username, password=password, server_cert_validation=validation,  # type: ignore[arg-type]
                    ca_trust_path=str(ca) if ca else None, message_encryption=encryption,  # type: ignore[arg-type]
                    cert_pem=str(cert.cert_path) if cert else None, cert_key_pem=str(cert.key_path) if cert else None,
                    read_timeout_sec=10, operation_timeout_sec=5, proxy=None, **extra)


def round_trip(protocol: Protocol) -> None:
    shell_id = protocol.open_shell()
    protocol.close_shell(shell_id)


def soap(endpoint: WsmanEndpoint) -> set[tuple[Any, ...]]:
    """(action, status, auth, encrypted, user) of every request that reached WS-Management."""
    return {(x['action'], x['status'], x['auth'], x['encrypted'], x['user']) for x in endpoint.exchanges if x['action']}


def tls_failure(endpoint: WsmanEndpoint, fragment: str, timeout: float = 3.0) -> bool:
    """Whether the server recorded a failed handshake with ``fragment`` (its thread may still be
    reading the client's alert when the client has already raised)."""
    deadline = time.monotonic() + timeout
    while True:
        if any(fragment in failure for failure in endpoint.tls_failures):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def shell_round(auth: str, encrypted: bool, user: str = USER) -> set[tuple[Any, ...]]:
    return {('Create', 200, auth, encrypted, user), ('Delete', 200, auth, encrypted, user)}


# -- HTTPS: the server certificate --------------------------------------------------------------

def test_https_ntlm_with_the_test_ca_trusted(pki: TestPki) -> None:
    with serve(pki.server) as endpoint:
        assert endpoint.url.startswith('https://127.0.0.1:')
        round_trip(client(endpoint, ca=pki.ca.cert_path))
        # message_encryption='auto' does not encrypt over HTTPS; NTLM bound to the TLS channel.
        assert soap(endpoint) == shell_round('ntlm', False)
        assert {(x['kind'], x['tls'], x['channel_binding']) for x in endpoint.logons} == {('ntlm', True, 'checked')}
        assert endpoint.tls_failures == []


@pytest.mark.parametrize('served, host, reason, alert', [
    ('untrusted_server', None, 'unable to get local issuer certificate', 'unknown ca'),
    ('server', 'localhost', "Hostname mismatch, certificate is not valid for 'localhost'", 'bad certificate'),
    ('wrong_name_server', None, "IP address mismatch, certificate is not valid for '127.0.0.1'", 'bad certificate'),
    ('expired_server', None, 'certificate has expired', 'certificate expired'),
], ids=['unknown-ca', 'name-mismatch', 'address-mismatch', 'expired'])
def test_https_server_certificate_refused(pki: TestPki, served: str, host: str | None, reason: str, alert: str) -> None:
    with serve(getattr(pki, served)) as endpoint:
        with pytest.raises(requests.exceptions.SSLError) as refused:
            round_trip(client(endpoint, ca=pki.ca.cert_path, host=host))
        assert 'certificate verify failed' in str(refused.value) and reason in str(refused.value)
        assert endpoint.exchanges == []  # nothing, not even the credentials' first leg, was sent
        assert tls_failure(endpoint, alert), endpoint.tls_failures


@pytest.mark.parametrize('served, host', [('untrusted_server', None), ('server', 'localhost'), ('expired_server', None)])
def test_https_validation_ignore_connects_anyway(pki: TestPki, served: str, host: str | None) -> None:
    with serve(getattr(pki, served)) as endpoint:
        round_trip(client(endpoint, validation='ignore', host=host))
        assert soap(endpoint) == shell_round('ntlm', False)


def test_https_ntlm_message_encryption_always_is_accepted(pki: TestPki) -> None:
    with serve(pki.server) as endpoint:
        round_trip(client(endpoint, ca=pki.ca.cert_path, encryption='always'))
        assert soap(endpoint) == shell_round('ntlm', True)


def test_https_satisfies_allow_unencrypted_false(pki: TestPki) -> None:
    """AllowUnencrypted=false concerns HTTP: plain bodies over HTTPS pass, NTLM and Basic alike."""
    with serve(pki.server, encryption='required') as endpoint:
        round_trip(client(endpoint, ca=pki.ca.cert_path))
        round_trip(client(endpoint, 'basic', ca=pki.ca.cert_path))
        assert soap(endpoint) == shell_round('ntlm', False) | shell_round('basic', False)


def test_https_challenge_offers_what_is_enabled(pki: TestPki) -> None:
    with serve(pki.server, allow_credssp=True, encryption='required') as endpoint, requests.Session() as session:
        session.trust_env = False
        answer = session.post(endpoint.url, data=b'', verify=str(pki.ca.cert_path), timeout=5)
        assert answer.status_code == 401 and answer.headers['Server'] == 'Microsoft-HTTPAPI/2.0'
        assert answer.headers['WWW-Authenticate'] == 'Negotiate, Basic realm="WSMAN", CredSSP'
    with serve(encryption='required') as plain, requests.Session() as session:
        session.trust_env = False
        assert session.post(plain.url, data=b'', timeout=5).headers['WWW-Authenticate'] == 'Negotiate'


# -- channel binding (CbtHardeningLevel) ----------------------------------------------------------

@pytest.mark.parametrize('level, send_cbt, accepted, binding', [
    ('relaxed', True, True, 'checked'), ('relaxed', False, True, 'not checked'),
    ('strict', True, True, 'checked'), ('strict', False, False, None),
    ('none', True, True, 'not checked'),
])
def test_https_ntlm_channel_binding(pki: TestPki, level: str, send_cbt: bool, accepted: bool, binding: str | None) -> None:
    with serve(pki.server, cbt_hardening=level) as endpoint:
        protocol = client(endpoint, ca=pki.ca.cert_path, send_cbt=send_cbt)
        if accepted:
            round_trip(protocol)
            assert {x['channel_binding'] for x in endpoint.logons} == {binding}
        else:
            with pytest.raises(InvalidCredentialsError):
                round_trip(protocol)
            assert endpoint.logons == [] and endpoint.open_shells == 0


def test_https_ntlm_bound_to_another_certificate_is_refused(pki: TestPki) -> None:
    """A relay that terminates TLS with its own certificate: the client binds NTLM to the relay's
    certificate, the server expects its own (here: the server is told to expect another one)."""
    with serve(pki.server) as endpoint:
        with serve(pki.untrusted_server) as other:
            endpoint._bindings = other._bindings
        with pytest.raises(InvalidCredentialsError):
            round_trip(client(endpoint, ca=pki.ca.cert_path))
        assert endpoint.logons == [] and endpoint.open_shells == 0


# -- Basic ------------------------------------------------------------------------------------------

def test_https_basic(pki: TestPki) -> None:
    with serve(pki.server) as endpoint:
        round_trip(client(endpoint, 'basic', ca=pki.ca.cert_path, username='lab\\BOB', password='Other-2!'))
        assert soap(endpoint) == shell_round('basic', False, 'LAB\\bob')
        assert {(x['kind'], x['tls']) for x in endpoint.logons} == {('basic', True)}
        with pytest.raises(InvalidCredentialsError):
            round_trip(client(endpoint, 'basic', ca=pki.ca.cert_path, password='wrong'))


def test_https_basic_when_basic_is_off(pki: TestPki) -> None:
    with serve(pki.server, allow_basic=False) as endpoint:
        with pytest.raises(InvalidCredentialsError):
            round_trip(client(endpoint, 'basic', ca=pki.ca.cert_path))
        assert endpoint.logons == []


# -- CredSSP ----------------------------------------------------------------------------------------

def test_https_credssp(pki: TestPki) -> None:
    with serve(pki.server, allow_credssp=True) as endpoint:
        round_trip(client(endpoint, 'credssp', ca=pki.ca.cert_path))
        assert soap(endpoint) == shell_round('credssp', False)
        logon, = endpoint.logons  # one CredSSP exchange authenticates the connection
        assert (logon['kind'], logon['user'], logon['tls'], logon['principal']) == ('credssp', USER, True, USER)
        legs = [x for x in endpoint.exchanges if x['auth'] == 'credssp' and x['status'] == 401]
        assert len(legs) >= 3  # TLS handshake, SPNEGO, public key binding: one 401 each


def test_https_credssp_wrong_password(pki: TestPki) -> None:
    with serve(pki.server, allow_credssp=True) as endpoint:
        with pytest.raises(requests_credssp.exceptions.NTStatusException) as refused:
            round_trip(client(endpoint, 'credssp', ca=pki.ca.cert_path, password='wrong'))
        assert refused.value.status == 0x8009030C  # SEC_E_LOGON_DENIED in the TSRequest errorCode
        assert endpoint.logons == [] and endpoint.open_shells == 0


def test_https_credssp_is_off_by_default(pki: TestPki) -> None:
    with serve(pki.server) as endpoint:
        with pytest.raises(requests_credssp.exceptions.AuthenticationException, match='CredSSP'):
            round_trip(client(endpoint, 'credssp', ca=pki.ca.cert_path))
        assert endpoint.logons == []


# -- certificates -------------------------------------------------------------------------------------

def test_https_certificate(pki: TestPki) -> None:
    with serve(pki.server, allow_certificate=True, client_ca=pki.ca.cert_path, certificate_mappings=[mapping(pki)]) as endpoint:
        round_trip(client(endpoint, 'certificate', ca=pki.ca.cert_path, cert=pki.client, username='', password=''))
        assert soap(endpoint) == shell_round('certificate', False)
        assert {(x['kind'], x['user'], x['certificate'], x['upn']) for x in endpoint.logons} == \
            {('certificate', USER, pki.client.thumbprint, 'admin@localhost')}


def test_https_certificate_mapped_by_wildcard_subject(pki: TestPki) -> None:
    by_issuer = CertificateMapping(subject='*', issuer=pki.ca.thumbprint, user='LAB\\bob')
    with serve(pki.server, allow_certificate=True, client_ca=pki.ca.cert_path, certificate_mappings=[by_issuer]) as endpoint:
        round_trip(client(endpoint, 'certificate', ca=pki.ca.cert_path, cert=pki.unmapped_client))
        assert soap(endpoint) == shell_round('certificate', False, 'LAB\\bob')


@pytest.mark.parametrize('cert, options', [
    ('unmapped_client', {}),  # UPN mallory@localhost: no mapping names it
    ('client', {'certificate_mappings': [CertificateMapping('admin@localhost', '00' * 20, USER)]}),  # another issuer
    ('client', {'allow_certificate': False}),  # Service\Auth\Certificate is off by default
], ids=['unmapped-upn', 'other-issuer', 'certificate-auth-off'])
def test_https_certificate_refused_with_401(pki: TestPki, cert: str, options: dict[str, Any]) -> None:
    settings: dict[str, Any] = {'allow_certificate': True, 'client_ca': pki.ca.cert_path, 'certificate_mappings': [mapping(pki)], **options}
    with serve(pki.server, **settings) as endpoint:
        with pytest.raises(InvalidCredentialsError):
            round_trip(client(endpoint, 'certificate', ca=pki.ca.cert_path, cert=getattr(pki, cert)))
        assert endpoint.logons == [] and endpoint.open_shells == 0
        assert [x['status'] for x in endpoint.exchanges] == [401]


def test_https_certificate_from_an_untrusted_issuer_fails_the_handshake(pki: TestPki) -> None:
    with serve(pki.server, allow_certificate=True, client_ca=pki.ca.cert_path, certificate_mappings=[mapping(pki)]) as endpoint:
        with pytest.raises(requests.exceptions.SSLError):  # the server's alert, or its close, in the handshake
            round_trip(client(endpoint, 'certificate', ca=pki.ca.cert_path, cert=pki.stranger_client))
        assert endpoint.exchanges == [] and endpoint.logons == []
        assert tls_failure(endpoint, 'unable to get local issuer certificate'), endpoint.tls_failures


def test_certificate_over_http_is_refused(pki: TestPki) -> None:
    """Certificate authentication is TLS: over HTTP the mutual header alone gets 401."""
    with serve(allow_certificate=True, certificate_mappings=[mapping(pki)]) as endpoint, requests.Session() as session:
        session.trust_env = False
        answer = session.post(endpoint.url, data=b'<x/>', headers={'Authorization': MUTUAL_AUTH}, timeout=5)
        assert answer.status_code == 401 and endpoint.logons == []


# -- HTTP message encryption --------------------------------------------------------------------------

def test_http_ntlm_message_encryption_on_every_request() -> None:
    with serve(encryption='required') as endpoint:
        round_trip(client(endpoint))  # 'auto' over HTTP encrypts
        assert soap(endpoint) == shell_round('ntlm', True)
        assert all(x['encrypted'] for x in endpoint.exchanges if x['action'])
        assert {(x['kind'], x['tls'], x['channel_binding']) for x in endpoint.logons} == {('ntlm', False, None)}


# -- bounds and refusals of the endpoint itself ---------------------------------------------------------

def test_a_silent_client_is_dropped_after_the_handshake_timeout(pki: TestPki) -> None:
    with serve(pki.server, tls_handshake_timeout=0.5) as endpoint:
        started = time.monotonic()
        with socket.create_connection(('127.0.0.1', endpoint.port), timeout=5) as silent:
            assert silent.recv(1) == b''  # the server gave up on the handshake and closed
        assert 0.4 < time.monotonic() - started < 3
        assert tls_failure(endpoint, 'timed out'), endpoint.tls_failures
        round_trip(client(endpoint, ca=pki.ca.cert_path))  # the listener serves on


def test_stop_does_not_wait_for_a_stalled_handshake(pki: TestPki) -> None:
    endpoint = WsmanEndpoint(lambda request: {}, users=USERS, https=(pki.server.cert_path, pki.server.key_path)).start()
    silent = socket.create_connection(('127.0.0.1', endpoint.port), timeout=5)
    try:
        time.sleep(0.2)
        started = time.monotonic()
        endpoint.stop()
        assert time.monotonic() - started < 3
    finally:
        silent.close()


@pytest.mark.parametrize('options', [
    {'allow_certificate': True},  # over https, without client_ca
    {'cbt_hardening': 'sometimes'},
    {'tls_handshake_timeout': 0},
    {'certificate_mappings': [CertificateMapping('x@localhost', '00' * 20, 'nobody')]},
])
def test_refuses_inconsistent_tls_settings(pki: TestPki, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WsmanEndpoint(lambda request: {}, users=USERS, https=(pki.server.cert_path, pki.server.key_path), **options)
