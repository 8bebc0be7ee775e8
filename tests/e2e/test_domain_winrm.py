"""WinRM with Kerberos: the real pywinrm client, a real ticket from the domain lab's KDC.

The loopback WS-Management endpoint (tests/wsman/endpoint.py) listens inside the domain's
network namespace as ws1.lab.test (127.0.50.2) and accepts Kerberos with the keytab of
HTTP/ws1.lab.test exported from the lab's domain controller; the Windows model answers behind
it. Ansible runs inside the namespace with a ticket cache from kinit holding only a TGT, as an
AWX Kerberos credential leaves it; pywinrm asks the KDC for the HTTP/ service ticket itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.lab import domain as ad
from tests.windows.model import ADMIN, WindowsSessionModel
from tests.windows.shim_model import shim_responder
from tests.windows.test_smb_model import SESSIONS, pairs
from tests.wsman.endpoint import WsmanEndpoint

INFO = 'lanman.server.netsession_info'
DELETE = 'lanman.server.netsession_delete'
PRINCIPAL = f'labadmin@{ad.REALM}'


@pytest.fixture
def kerberos_endpoint(domain):
    """The endpoint in the domain's namespace, Kerberos only, message encryption required."""
    model = WindowsSessionModel(SESSIONS, {'labadmin': ADMIN})  # the shim model's account name
    with domain.inside():
        endpoint = WsmanEndpoint(shim_responder(model), users={PRINCIPAL: 'not used by Kerberos'},
                                 address=ad.WSMAN_ADDRESS, keytab=str(domain.keytab),
                                 expected_script=SHIM_SCRIPT, expected_bootstrap=BOOTSTRAP,
                                 allow_basic=False, encryption='required').start()
    try:
        yield endpoint, model
    finally:
        endpoint.stop()
    assert endpoint.errors == []


def winrm_inventory(tmp_path: Path, port: int, host_line: str) -> Path:
    path = tmp_path / 'winrm-kerberos.ini'
    path.write_text(f'[windows]\n{host_line} ansible_port={port}\n\n[windows:vars]\n'
                    'ansible_connection=winrm\nansible_winrm_scheme=http\n'
                    f'ansible_winrm_transport=kerberos\nansible_user={PRINCIPAL}\n')
    return path


@pytest.fixture
def ticket_cache(domain, tmp_path):
    cache = domain.kinit(next(a for a in ad.ACCOUNTS if a.name == 'labadmin'), tmp_path / 'tgt.cc')
    assert 'HTTP/' not in domain.run(['klist', '-c', str(cache)])
    return {'KRB5CCNAME': f'FILE:{cache}', 'NO_PROXY': '*'}


@pytest.mark.parametrize('host_line', [
    f'{ad.WSMAN_FQDN} ansible_host={ad.WSMAN_ADDRESS}',  # named by FQDN, reached by address
    f'{ad.WSMAN_ADDRESS} ansible_winrm_kerberos_hostname_override={ad.WSMAN_FQDN}',
    ad.WSMAN_FQDN,  # the name resolves (the namespace's hosts file)
], ids=['fqdn-and-address', 'hostname-override', 'name-only'])
def test_list_and_close_over_winrm_with_kerberos(kerberos_endpoint, domain_ansible, ticket_cache,
                                                 tmp_path, host_line):
    endpoint, model = kerberos_endpoint
    inventory = winrm_inventory(tmp_path, endpoint.port, host_line)
    host = host_line.split()[0]
    listing = domain_ansible(inventory, INFO, pattern='windows', env=ticket_cache)
    assert listing.rc == 0, listing.output
    result = listing.by_host()[host]
    assert result['backend'] == 'winrm' and result['level'] == 502
    assert sorted(pairs(result['sessions'])) == sorted(pairs(SESSIONS))
    close = domain_ansible(inventory, DELETE, 'username=LAB\\carol', pattern='windows', env=ticket_cache)
    assert close.rc == 0, close.output
    assert pairs(close.by_host()[host]['closed']) == [('WKS01', 'carol')]
    assert ('WKS01', 'carol') not in pairs(model.snapshot())
    # Every request was Kerberos-authenticated as the cache's principal, and every body encrypted.
    authenticated = [x for x in endpoint.exchanges if x['status'] != 401]
    assert authenticated and {x['auth'] for x in authenticated} == {'kerberos'}
    assert {x['user'] for x in authenticated} == {PRINCIPAL}
    assert all(x['encrypted'] for x in authenticated if x['size'])


def test_winrm_kerberos_failures_are_named(kerberos_endpoint, domain_ansible, tmp_path):
    endpoint, _model = kerberos_endpoint
    by_address = winrm_inventory(tmp_path, endpoint.port, ad.WSMAN_ADDRESS)
    run = domain_ansible(by_address, INFO, pattern='windows', env={'NO_PROXY': '*'})
    result = run.by_host()[ad.WSMAN_ADDRESS]
    assert run.rc != 0 and result['option'] == 'kerberos_hostname'
    no_cache = winrm_inventory(tmp_path, endpoint.port, ad.WSMAN_FQDN)
    run = domain_ansible(no_cache, INFO, pattern='windows',
                         env={'KRB5CCNAME': f'FILE:{tmp_path}/none', 'NO_PROXY': '*'})
    result = run.by_host()[ad.WSMAN_FQDN]
    assert run.rc != 0 and 'Traceback' not in result['msg'], result
    assert (result['code'], result['code_name']) == (0x8009030E, 'SEC_E_NO_CREDENTIALS'), result
