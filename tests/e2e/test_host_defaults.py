"""Where the action plugin takes the file server's address and credentials from.

Each case points a host at the server only through the variables under test; a wrong choice
connects somewhere else (nothing listens on 127.0.0.254) or as someone else, and fails.
"""

from __future__ import annotations

from tests.e2e.conftest import ADMIN, inventory, mine

NOWHERE = '127.0.0.254'


def listed_ok(run, host='fs1'):
    assert run.status() == {host: 'ok'}, run.output
    return run.by_host()[host]


def test_winrm_names_win_over_the_generic_ones(servers, clients, ansible, tmp_path):
    held = clients.hold(servers[0], [(1, 'bob', 0)])
    inv = tmp_path / 'winrm.ini'
    inv.write_text(f'fs1 ansible_connection=winrm ansible_host={NOWHERE} '
                   f'ansible_winrm_host={servers[0].address} ansible_user=nobody '
                   f'ansible_winrm_user={ADMIN[0]} ansible_password=wrong '
                   f'ansible_winrm_password={ADMIN[1]}\n')
    # backend=smb: this host is managed over WinRM, but the test server is Samba.
    result = listed_ok(ansible(inv, 'lanman.server.netsession_info', 'backend=smb', pattern='fs1'))
    assert result['server'] == servers[0].address
    assert mine(result['sessions'], clients) == held


def test_ssh_names_are_honoured(servers, ansible, tmp_path):
    inv = tmp_path / 'ssh.ini'
    inv.write_text(f'fs1 ansible_ssh_host={servers[0].address} ansible_ssh_user={ADMIN[0]} '
                   f'ansible_ssh_pass={ADMIN[1]}\n')
    assert listed_ok(ansible(inv, 'lanman.server.netsession_info', pattern='fs1'))['server'] == \
        servers[0].address


def test_play_vars_and_remote_user_keyword(servers, playbook, tmp_path):
    inv = tmp_path / 'bare.ini'
    inv.write_text(f'fs1 ansible_host={servers[0].address} ansible_connection=winrm\n')
    play = f'''
- hosts: fs1
  gather_facts: false
  remote_user: {ADMIN[0]}
  vars:
    ansible_password: "{ADMIN[1]}"
  tasks:
    - name: listed
      lanman.server.netsession_info:
        backend: smb
'''
    run = playbook(inv, play)
    assert run.rc == 0, run.output
    assert run.task('listed')['fs1']['server'] == servers[0].address


def test_delegation_never_takes_the_delegates_address(servers, playbook, tmp_path):
    # fs1 has no ansible_host of its own: its inventory name is the server, never 'localhost'.
    inv = tmp_path / 'named.ini'
    inv.write_text(f'{servers[0].address} ansible_connection=winrm ansible_user={ADMIN[0]} '
                   f'ansible_password={ADMIN[1]}\n')
    play = '''
- hosts: all
  gather_facts: false
  tasks:
    - name: listed
      lanman.server.netsession_info:
        backend: smb
      delegate_to: localhost
'''
    run = playbook(inv, play)
    assert run.rc == 0, run.output
    assert run.task('listed')[servers[0].address]['server'] == servers[0].address


def test_explicit_arguments_beat_host_vars(servers, ansible, tmp_path):
    inv = inventory(tmp_path, servers[:1], user=('nobody', 'wrong'))
    run = ansible(inv, 'lanman.server.netsession_info',
                  f'connection_username={ADMIN[0]} connection_password={ADMIN[1]}')
    listed_ok(run)
