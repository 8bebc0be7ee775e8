"""roles/session_drain against a real Samba server of its own (a drain closes everything)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN, USERS, Server, mine
from tests.lab.samba import SambaServer, allocate_server_address


@pytest.fixture(scope='module')
def drained():
    samba = SambaServer(address=allocate_server_address())
    samba.add_user(*ADMIN, role='admin')
    for user, password in USERS.items():
        samba.add_user(user, password, role='user')
    with samba:
        yield Server('fs9', samba.address, samba)


def inventory_for(server, tmp_path):
    inv = tmp_path / 'drain.ini'
    inv.write_text(f'fs9 ansible_host={server.address} ansible_user={ADMIN[0]} ansible_password={ADMIN[1]}\n')
    return inv


def play(**role_vars) -> str:
    lines = ''.join(f'      {name}: {value}\n' for name, value in role_vars.items())
    return f'''
- hosts: fs9
  gather_facts: false
  roles:
    - role: lanman.server.session_drain
{lines}'''


def listed(ansible, inv, clients):
    return mine(ansible(inv, 'lanman.server.netsession_info', pattern='fs9').by_host()['fs9']['sessions'], clients)


def test_check_mode_previews_and_closes_nothing(drained, clients, playbook, ansible, tmp_path):
    held = clients.hold(drained, [(1, 'alice', 1), (2, 'bob', 0)])
    inv = inventory_for(drained, tmp_path)
    run = playbook(inv, play(session_drain_wait_for='no_open_files'), '--check')
    assert run.rc == 0, run.output
    closing = run.task('Close the remaining sessions')['fs9']
    assert closing['changed'] is True and mine(closing['closed'], clients) == held
    assert listed(ansible, inv, clients) == held


def test_drain_with_exclusion_and_hook(drained, clients, playbook, ansible, tmp_path):
    clients.hold(drained, [(1, 'alice', 1), (2, 'bob', 0), (3, 'carol', 0)])
    inv = inventory_for(drained, tmp_path)
    hook = tmp_path / 'notify.yml'
    notified = tmp_path / 'notified.txt'
    hook.write_text(f'''
- name: Tell the users
  ansible.builtin.copy:
    content: "{{{{ _session_drain_to_close | map(attribute='username') | sort | join(',') }}}}"
    dest: {notified}
    mode: "0644"
  delegate_to: localhost
''')
    run = playbook(inv, play(session_drain_exclude_usernames='[CAROL]', session_drain_notify_tasks=str(hook)))
    assert run.rc == 0, run.output
    assert 'alice' in notified.read_text() and 'carol' not in notified.read_text()
    assert listed(ansible, inv, clients) == [(clients.address(3), 'carol')]


def test_waiting_times_out_naming_what_is_busy(drained, clients, playbook, ansible, tmp_path):
    held = clients.hold(drained, [(1, 'alice', 2)])
    inv = inventory_for(drained, tmp_path)
    run = playbook(inv, play(session_drain_wait_for='no_open_files', session_drain_timeout=2,
                             session_drain_poll_interval=1))
    assert run.rc != 0
    assert 'still busy after 2 s' in run.output and f'alice@{clients.address(1)}' in run.output
    assert listed(ansible, inv, clients) == held  # nothing was closed


def test_text_survey_answers(drained, clients, playbook, ansible, tmp_path):
    """AWX text surveys send strings: "a, b" is a list of two users; an empty user or client
    name is refused before anything is listed, closed or notified, instead of draining everyone."""
    held = clients.hold(drained, [(1, 'alice', 0), (2, 'bob', 0), (3, 'carol', 0)])
    inv = inventory_for(drained, tmp_path)
    hook = tmp_path / 'notify.yml'
    hook.write_text('- name: Must not run\n  ansible.builtin.fail:\n')
    for blank in ('session_drain_client', 'session_drain_username'):
        run = playbook(inv, play(**{blank: '" "'}, session_drain_notify_tasks=str(hook)))
        assert run.rc != 0 and 'must name a client or a user' in run.output, run.output
        assert 'Must not run' not in run.output
        assert listed(ansible, inv, clients) == held

    run = playbook(inv, play(session_drain_exclude_usernames='"bob, Carol"'))
    assert run.rc == 0, run.output
    assert listed(ansible, inv, clients) == [(clients.address(2), 'bob'), (clients.address(3), 'carol')]
