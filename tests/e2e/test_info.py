"""netsession_info through Ansible against real Samba servers with real client sessions."""

from __future__ import annotations

from tests.e2e.conftest import ADMIN, OPERATOR, USERS, inventory, mine


def test_adhoc_lists_every_server_of_the_inventory(servers, clients, ansible, tmp_path):
    fs1, fs2 = servers
    on_fs1 = clients.hold(fs1, [(1, 'alice', 2), (2, 'bob', 0), (3, 'alice', 0)])
    on_fs2 = clients.hold(fs2, [(4, 'carol', 1)])
    run = ansible(inventory(tmp_path, servers), 'lanman.server.netsession_info')
    assert run.rc == 0, run.output
    results = run.by_host()
    assert mine(results['fs1']['sessions'], clients) == sorted(on_fs1)
    assert mine(results['fs2']['sessions'], clients) == sorted(on_fs2)
    for name, server in (('fs1', fs1), ('fs2', fs2)):
        assert results[name]['changed'] is False
        assert results[name]['server'] == server.address
        assert results[name]['backend'] == 'smb'
        assert results[name]['level'] == 1  # Samba serves levels 0 and 1 only
    alice = [rec for rec in results['fs1']['sessions'] if rec['client'] == clients.address(1)]
    assert alice[0]['open_files'] == 2 and alice[0]['guest'] is False
    assert set(alice[0]) == {'client', 'username', 'domain', 'open_files', 'active_seconds',
                             'idle_seconds', 'guest', 'password_encrypted', 'client_type', 'transport'}
    assert alice[0]['client_type'] is None and alice[0]['transport'] is None
    assert alice[0]['domain'] is None  # a standalone Samba server reports bare user names
    # The module's own connection (from 127.0.0.1 as labadmin) is never listed.
    assert not [rec for rec in results['fs1']['sessions'] if rec['username'] == ADMIN[0]]


def test_filters_level_and_module_defaults_in_a_playbook(servers, clients, playbook, tmp_path):
    fs1 = servers[0]
    clients.hold(fs1, [(1, 'alice', 0), (2, 'bob', 0), (2, 'alice', 0)])
    play = f'''
- hosts: fs1
  gather_facts: false
  module_defaults:
    group/lanman.server.netsession:
      connection_username: {ADMIN[0]}
      connection_password: "{ADMIN[1]}"
  tasks:
    - name: by user
      lanman.server.netsession_info: {{username: ALICE}}
    - name: by client
      lanman.server.netsession_info: {{client: '\\\\{clients.address(2)}'}}
    - name: by both
      lanman.server.netsession_info: {{client: '{clients.address(2)}', username: alice}}
    - name: level 0
      lanman.server.netsession_info: {{level: 0, client: '{clients.address(1)}'}}
    - name: nobody
      lanman.server.netsession_info: {{username: carol}}
'''
    # Inventory credentials are wrong on purpose: module_defaults must win over host vars.
    inv = inventory(tmp_path, [fs1], user=(ADMIN[0], 'not-the-password'))
    run = playbook(inv, play)
    assert run.rc == 0, run.output
    a1, a2, b2 = (clients.address(1), 'alice'), (clients.address(2), 'alice'), (clients.address(2), 'bob')
    assert mine(run.task('by user')['fs1']['sessions'], clients) == [a1, a2]
    assert mine(run.task('by client')['fs1']['sessions'], clients) == [a2, b2]
    assert mine(run.task('by both')['fs1']['sessions'], clients) == [a2]
    level0 = run.task('level 0')['fs1']
    assert level0['level'] == 0
    assert [rec['client'] for rec in level0['sessions']] == [clients.address(1)]
    assert level0['sessions'][0]['username'] is None
    assert run.task('nobody')['fs1']['sessions'] == []


def test_delegate_to_localhost_uses_the_file_servers_vars(servers, clients, playbook, tmp_path):
    fs1 = servers[0]
    held = clients.hold(fs1, [(1, 'bob', 0)])
    play = '''
- hosts: fileservers
  gather_facts: false
  tasks:
    - name: listed
      lanman.server.netsession_info:
      delegate_to: localhost
'''
    run = playbook(inventory(tmp_path, [fs1]), play)
    assert run.rc == 0, run.output
    result = run.task('listed')['fs1']
    assert result['server'] == fs1.address
    assert mine(result['sessions'], clients) == held


def test_level_samba_does_not_serve_fails_with_the_code(servers, ansible, tmp_path):
    run = ansible(inventory(tmp_path, servers[:1]), 'lanman.server.netsession_info', 'level=2')
    assert run.rc != 0
    result = run.by_host()['fs1']
    assert run.status() == {'fs1': 'failed'}
    assert (result['code'], result['code_name']) == (124, 'ERROR_INVALID_LEVEL')
    assert 'Traceback' not in run.output


def test_list_only_operator_may_list(servers, clients, ansible, tmp_path):
    held = clients.hold(servers[0], [(1, 'carol', 0)])
    run = ansible(inventory(tmp_path, servers[:1], user=OPERATOR), 'lanman.server.netsession_info')
    assert run.rc == 0, run.output
    assert mine(run.by_host()['fs1']['sessions'], clients) == held


def test_plain_user_is_refused_with_access_denied(servers, ansible, tmp_path):
    inv = inventory(tmp_path, servers[:1], user=('alice', USERS['alice']))
    run = ansible(inv, 'lanman.server.netsession_info')
    result = run.by_host()['fs1']
    assert run.status() == {'fs1': 'failed'}
    assert (result['code'], result['code_name']) == (5, 'ERROR_ACCESS_DENIED')
    assert 'ERROR_ACCESS_DENIED (5)' in result['msg']
    # Samba is asked for the levels it serves only: 1, then 0 (which needs another right).
    assert 'level auto tried 1, 0' in result['msg']


def test_samba_is_recognised_so_level_auto_asks_for_level_1_first(servers):
    """Samba announces itself as Windows 6.1 build 0 and serves levels 0 and 1 only."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.lanman.server.plugins.module_utils._operations import list_sessions
    from ansible_collections.lanman.server.plugins.module_utils._tasks import open_transport
    from ansible_collections.lanman.server.plugins.module_utils._options import INFO_ARGUMENT_SPEC

    params = ArgumentSpecValidator(INFO_ARGUMENT_SPEC).validate(
        {'server': servers[0].address, 'backend': 'smb', 'connection_username': ADMIN[0],
         'connection_password': ADMIN[1]}).validated_parameters
    with open_transport(params) as transport:
        assert transport.served_levels == frozenset({0, 1})
        assert list_sessions(transport, level='auto', client=None, username=None).level == 1
