"""Signing and encryption: the modules work against Samba servers that demand them, and
``smb_encrypt: true`` refuses a server that will not encrypt, before any RPC is sent.

The traffic goes through the relay of ``smbproxy``, which records the first bytes of every
frame the module sent: ``\\xfdSMB`` is an SMB 3 transform header (encrypted), ``\\xfeSMB`` a
plain SMB 2 header whose flags show whether it was signed.
"""

from __future__ import annotations

import struct

import pytest

from tests.e2e.conftest import ADMIN, USERS, start_server
from tests.e2e.smbproxy import SmbRelay
from tests.e2e.test_faults import pairs, relay_inventory, wait_sessions
from tests.e2e.test_failures import assert_clean_failure
from tests.lab.holder import SessionHolder, SessionSpec

INFO = 'lanman.server.netsession_info'
CONFIGS = {
    'signing': {'server signing': 'mandatory', 'server smb encrypt': 'off'},
    'encryption': {'server signing': 'mandatory', 'server smb encrypt': 'required'},
    'smb2.1': {'server max protocol': 'SMB2_10'},
}
# Negotiate (an SMB1 frame offering SMB2, then SMB2) and the two session set-up legs go out
# before a session key exists; everything after them is protected.
_SETUP_FRAMES = 4
_SMB2_FLAGS_SIGNED = 0x8


@pytest.fixture(scope='module')
def secured(request):
    started = {}
    try:
        yield lambda name: started.get(name) or started.setdefault(
            name, start_server(name, CONFIGS[name]))
    finally:
        for server in started.values():
            server.samba.stop()


def protection(connections: list[list[bytes]]) -> set[str]:
    """How the frames after each connection's session set-up were protected."""
    kinds = set()
    for head in (head for frames in connections for head in frames[_SETUP_FRAMES:]):
        if head[:4] == b'\xfdSMB':
            kinds.add('encrypted')
        elif head[:4] == b'\xfeSMB' and struct.unpack_from('<I', head, 16)[0] & _SMB2_FLAGS_SIGNED:
            kinds.add('signed')
        else:
            kinds.add('plain')
    return kinds


@pytest.mark.parametrize('name, smb_encrypt, expected', [
    ('signing', False, {'signed'}),
    ('encryption', True, {'encrypted'}),
])
def test_list_and_close_when_the_server_demands_it(
        secured, playbook, tmp_path, name, smb_encrypt, expected):
    server = secured(name)
    alice, bob = ('127.0.252.1', 'alice'), ('127.0.252.2', 'bob')
    holder = SessionHolder(server.address, 445, [
        SessionSpec(client, user, USERS[user]) for client, user in (alice, bob)])
    holder.start()
    try:
        with SmbRelay((server.address, 445)) as relay:
            play = f'''
- hosts: relay
  gather_facts: false
  module_defaults:
    group/lanman.server.netsession: {{port: {relay.port}, smb_encrypt: {str(smb_encrypt).lower()}}}
  tasks:
    - name: list
      lanman.server.netsession_info:
    - name: close
      lanman.server.netsession_delete: {{username: alice}}
'''
            run = playbook(relay_inventory(tmp_path), play)
        assert run.rc == 0, run.output
        assert {alice, bob} <= set(pairs(run.task('list')['relay']['sessions']))
        assert pairs(run.task('close')['relay']['closed']) == [alice]
        assert len(relay.client_frames) == 2  # one connection per task
        assert protection(relay.client_frames) == expected
        now = wait_sessions(server.samba, lambda now: alice not in now)
        assert alice not in now and bob in now
    finally:
        holder.stop()


@pytest.mark.parametrize('name, shown', [('signing', 'SMB 3.1.1'), ('smb2.1', 'SMB 2.1')])
def test_smb_encrypt_refuses_a_server_that_will_not_encrypt(secured, ansible, tmp_path, name, shown):
    server = secured(name)
    with SmbRelay((server.address, 445)) as relay:
        run = ansible(relay_inventory(tmp_path), INFO, f'port={relay.port} smb_encrypt=true',
                      pattern='relay')
    assert_clean_failure(run, 'relay', 0xC0000022, 'STATUS_ACCESS_DENIED')
    result = run.by_host()['relay']
    assert result['operation'] == 'require encryption (smb_encrypt)'
    assert f'does not encrypt this session ({shown})' in result['msg']
    # Nothing but a log-off went out after the logon: no pipe opened, no RPC sent in the clear.
    assert [len(frames) <= _SETUP_FRAMES + 1 for frames in relay.client_frames] == [True]
    # Without the demand the same server is used as it is.
    with SmbRelay((server.address, 445)) as relay:
        plain = ansible(relay_inventory(tmp_path), INFO, f'port={relay.port}', pattern='relay')
    assert plain.rc == 0, plain.output
    assert 'encrypted' not in protection(relay.client_frames)


def test_smb_encrypt_is_refused_with_winrm(ansible, tmp_path):
    run = ansible(relay_inventory(tmp_path), INFO, 'backend=winrm smb_encrypt=true', pattern='relay')
    assert run.status() == {'relay': 'failed'}
    result = run.by_host()['relay']
    assert result['option'] == 'smb_encrypt' and 'backend=smb only' in result['msg']
    assert ADMIN[1] not in run.output
