"""netsession_delete through Ansible against real Samba servers with real client sessions."""

from __future__ import annotations

import time

from tests.e2e.conftest import ADMIN, OPERATOR, USERS, inventory, mine
from tests.lab.holder import SessionHolder, SessionSpec
from tests.lab.samba import SambaServer, allocate_server_address

INFO = 'lanman.server.netsession_info'
DELETE = 'lanman.server.netsession_delete'


def wait_gone(ansible, inv, clients, gone, host='fs1'):
    """The test's sessions still listed, once the closed ones are gone (Samba drops a closed
    session's connection about 0.2 s after NetrSessionDel returns); bounded to 5 s."""
    deadline = time.monotonic() + 5
    while True:
        run = ansible(inv, INFO, pattern=host)
        listed = mine(run.by_host()[host]['sessions'], clients)
        if not set(gone) & set(listed) or time.monotonic() > deadline:
            return listed
        time.sleep(0.2)


def test_close_a_users_sessions_then_nothing_changes(servers, clients, ansible, tmp_path):
    fs1 = servers[0]
    clients.hold(fs1, [(1, 'alice', 2), (2, 'bob', 0), (3, 'alice', 0)])
    inv = inventory(tmp_path, [fs1])
    run = ansible(inv, DELETE, 'username=alice')
    assert run.rc == 0, run.output
    result = run.by_host()['fs1']
    alices = [(clients.address(1), 'alice'), (clients.address(3), 'alice')]
    assert result['changed'] is True
    assert mine(result['closed'], clients) == alices
    assert wait_gone(ansible, inv, clients, alices) == [(clients.address(2), 'bob')]

    again = ansible(inv, DELETE, 'username=alice')
    assert again.rc == 0, again.output
    assert again.by_host()['fs1']['changed'] is False
    assert mine(again.by_host()['fs1']['closed'], clients) == []


def test_close_by_client_and_by_both(servers, clients, playbook, ansible, tmp_path):
    fs1 = servers[0]
    clients.hold(fs1, [(1, 'alice', 0), (1, 'bob', 0), (2, 'alice', 0), (3, 'carol', 0)])
    play = f'''
- hosts: fs1
  gather_facts: false
  tasks:
    - name: by client
      lanman.server.netsession_delete: {{client: '{clients.address(1)}'}}
    - name: by both
      lanman.server.netsession_delete: {{client: '{clients.address(2)}', username: ALICE}}
    - name: client of nobody
      lanman.server.netsession_delete: {{client: '127.0.0.254'}}
'''
    inv = inventory(tmp_path, [fs1])
    run = playbook(inv, play)
    assert run.rc == 0, run.output
    assert mine(run.task('by client')['fs1']['closed'], clients) == [
        (clients.address(1), 'alice'), (clients.address(1), 'bob')]
    assert mine(run.task('by both')['fs1']['closed'], clients) == [(clients.address(2), 'alice')]
    nobody = run.task('client of nobody')['fs1']
    assert (nobody['changed'], nobody['closed']) == (False, [])
    gone = [(clients.address(1), 'alice'), (clients.address(1), 'bob'), (clients.address(2), 'alice')]
    assert wait_gone(ansible, inv, clients, gone) == [(clients.address(3), 'carol')]


def test_check_mode_closes_nothing_and_diff_shows_the_change(servers, clients, ansible, tmp_path):
    fs1 = servers[0]
    held = clients.hold(fs1, [(1, 'bob', 0), (2, 'carol', 0)])
    inv = inventory(tmp_path, [fs1])
    run = ansible(inv, DELETE, 'username=bob', '--check', '--diff')
    assert run.rc == 0, run.output
    result = run.by_host()['fs1']
    assert result['changed'] is True
    assert mine(result['closed'], clients) == [(clients.address(1), 'bob')]
    assert mine(result['diff']['before']['sessions'], clients) == [(clients.address(1), 'bob')]
    assert mine(result['diff']['after']['sessions'], clients) == []
    assert '"username": "bob"' in run.output  # the diff is shown to the user
    time.sleep(0.5)
    assert mine(ansible(inv, INFO).by_host()['fs1']['sessions'], clients) == sorted(held)


def test_all_sessions_needs_opt_in_and_honours_exclusions(servers, clients, ansible, tmp_path):
    fs2 = servers[1]
    clients.hold(fs2, [(1, 'alice', 0), (2, 'bob', 0), (3, 'carol', 1)])
    inv = inventory(tmp_path, [fs2])
    refused = ansible(inv, DELETE, pattern='fs2')
    assert refused.status() == {'fs2': 'failed'}
    assert 'set all_sessions=true' in refused.by_host()['fs2']['msg']
    run = ansible(inv, DELETE, 'all_sessions=true exclude_usernames=carol,Bob', pattern='fs2')
    assert run.rc == 0, run.output
    assert mine(run.by_host()['fs2']['closed'], clients) == [(clients.address(1), 'alice')]
    assert wait_gone(ansible, inv, clients, [(clients.address(1), 'alice')], host='fs2') == [
        (clients.address(2), 'bob'), (clients.address(3), 'carol')]


def test_own_client_and_user_pair_is_never_closed(servers, ansible, tmp_path):
    fs2 = servers[1]
    # Another session of the module's own pair: same address (127.0.0.1) and same user.
    with SessionHolder(fs2.address, 445, [SessionSpec('127.0.0.1', *ADMIN)]):
        inv = inventory(tmp_path, [fs2])
        run = ansible(inv, DELETE, f'username={ADMIN[0]}', pattern='fs2')
        assert run.rc == 0, run.output
        result = run.by_host()['fs2']
        assert (result['changed'], result['closed']) == (False, [])
        assert "module's own" in run.output  # the warning says why
        listed = ansible(inv, INFO, f'username={ADMIN[0]}', pattern='fs2').by_host()['fs2']
        assert [(rec['client'], rec['username']) for rec in listed['sessions']] == [
            ('127.0.0.1', ADMIN[0])]


def test_idle_filter_matches_nothing_on_samba(servers, clients, ansible, tmp_path):
    fs1 = servers[0]
    held = clients.hold(fs1, [(1, 'carol', 0)])
    inv = inventory(tmp_path, [fs1])
    run = ansible(inv, DELETE, 'username=carol min_idle_seconds=1')
    assert run.rc == 0, run.output
    assert (run.by_host()['fs1']['changed'], run.by_host()['fs1']['closed']) == (False, [])
    assert mine(ansible(inv, INFO).by_host()['fs1']['sessions'], clients) == held


def test_list_only_operator_cannot_close(servers, clients, ansible, tmp_path):
    fs1 = servers[0]
    held = clients.hold(fs1, [(1, 'alice', 0)])
    run = ansible(inventory(tmp_path, [fs1], user=OPERATOR), DELETE, f'client={clients.address(1)}')
    assert run.status() == {'fs1': 'failed'}
    result = run.by_host()['fs1']
    assert (result['code'], result['code_name']) == (5, 'ERROR_ACCESS_DENIED')
    assert result['closed'] == [] and mine(result['not_closed'], clients) == held
    assert mine(ansible(inventory(tmp_path, [fs1]), INFO).by_host()['fs1']['sessions'],
                clients) == held


def test_bad_input_is_refused_before_any_connection(servers, ansible, tmp_path):
    # Port 1 has no listener: an option error, not ERROR_BAD_NETPATH, proves nothing was sent.
    inv = inventory(tmp_path, servers[:1])
    for args, fragment in (("client='' port=1", 'client: must not be empty'),
                           ("username=' ' port=1", 'username: must not be empty'),
                           ("client='a b' port=1", 'not an IP address or host name'),
                           ("all_sessions=true username=bob port=1", 'cannot be combined'),
                           ("username=bob min_idle_seconds=-1 port=1", 'min_idle_seconds: -1')):
        run = ansible(inv, DELETE, args)
        assert run.status() == {'fs1': 'failed'}, args
        assert fragment in run.by_host()['fs1']['msg'], (args, run.by_host()['fs1']['msg'])


def test_own_session_over_port_139_is_neither_listed_nor_closed(clients, ansible, tmp_path):
    # Over NetBIOS (port 139) Samba names the client by the name it sent, not its address.
    samba = SambaServer(address=allocate_server_address(), port=139)
    samba.add_user(*ADMIN, role='admin')
    samba.add_user('bob', USERS['bob'], role='user')
    with samba:
        with SessionHolder(samba.address, 139, [SessionSpec(clients.address(1), 'bob', USERS['bob'])]):
            inv = tmp_path / 'netbios.ini'
            inv.write_text(f'nb ansible_host={samba.address} ansible_user={ADMIN[0]} '
                           f'ansible_password={ADMIN[1]} ansible_connection=local\n')
            listed = ansible(inv, INFO, 'port=139', pattern='nb')
            assert listed.rc == 0, listed.output
            assert [rec['username'] for rec in listed.by_host()['nb']['sessions']] == ['bob']
            run = ansible(inv, DELETE, f'username={ADMIN[0]} port=139', pattern='nb')
            assert run.rc == 0, run.output
            assert (run.by_host()['nb']['changed'], run.by_host()['nb']['closed']) == (False, [])
