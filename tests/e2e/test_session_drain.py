"""roles/session_drain against a real Samba server of its own (a drain closes everything)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.conftest import ADMIN, USERS, Server, mine
from tests.lab.holder import FileSpec, SessionHolder, SessionSpec
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


def play(module_defaults: str = '', **role_vars) -> str:
    lines = ''.join(f'      {name}: {value}\n' for name, value in role_vars.items())
    defaults = f'  module_defaults:\n{module_defaults}' if module_defaults else ''
    return f'''
- hosts: fs9
  gather_facts: false
{defaults}  roles:
    - role: lanman.server.session_drain
{lines}'''


# Closes nothing: Samba reports every session as idle 0 s.
CLOSE_NOTHING = '    lanman.server.netsession_delete:\n      min_idle_seconds: 100000\n'
# The open files cannot be listed: nothing answers on this port.
NO_FILE_LISTING = '    lanman.server.netfile_info:\n      port: 4459\n'


def listed(ansible, inv, clients):
    return mine(ansible(inv, 'lanman.server.netsession_info', pattern='fs9').by_host()['fs9']['sessions'], clients)


def open_paths(ansible, inv):
    """The paths of every file open on the server, as netfile_info lists them."""
    return sorted(f['path'] for f in ansible(inv, 'lanman.server.netfile_info', pattern='fs9').by_host()['fs9']['files'])


def statuses(run, task):
    """The status of each run of a task of the role: ok, failed, skipped ..."""
    return [item['status'] for item in run.results if item['task'].endswith(' : ' + task)]


@pytest.fixture
def hold_files(clients):
    """Hold sessions with chosen open files: (client host number, user, FileSpecs); returns the
    holder and the paths of each session's files as netfile_info lists them."""
    holders = []

    def hold(server, specs):
        holder = SessionHolder(server.address, 445, [
            SessionSpec(clients.address(host), user, USERS[user], files=tuple(files)) for host, user, files in specs])
        holders.append(holder)
        holder.start()
        share = server.samba.share_path
        paths = [['C:' + str(share / name.replace('\\', '/')).replace('/', '\\') for name in holder.file_names(index)]
                 for index in range(len(specs))]
        return holder, paths

    yield hold
    for holder in holders:
        holder.stop()


def test_check_mode_previews_and_closes_nothing(drained, clients, playbook, ansible, tmp_path):
    held = clients.hold(drained, [(1, 'alice', 1), (2, 'bob', 0)])
    inv = inventory_for(drained, tmp_path)
    run = playbook(inv, play(session_drain_wait_for='no_open_files'), '--check')
    assert run.rc == 0, run.output
    closing = run.task('Close the remaining sessions')['fs9']
    assert closing['changed'] is True and mine(closing['closed'], clients) == held
    assert listed(ansible, inv, clients) == held


def test_drain_with_exclusion_and_hook(drained, clients, hold_files, playbook, ansible, tmp_path):
    # alice holds one file from each of two clients: the server cannot say which session holds
    # which; bob's one session holds his file; carol is excluded, her file stays open.
    _holder, paths = hold_files(drained, [(1, 'alice', [FileSpec()]), (2, 'bob', [FileSpec(locks=1)]),
                                          (3, 'carol', [FileSpec()]), (4, 'alice', [FileSpec()])])
    inv = inventory_for(drained, tmp_path)
    hook = tmp_path / 'notify.yml'
    notified = tmp_path / 'notified.json'
    hook.write_text(f'''
- name: Tell the users
  ansible.builtin.copy:
    content: "{{{{ {{'sessions': _session_drain_to_close, 'text': _session_drain_to_close_description,
                   'excluded_files': _session_drain_excluded_files}} | to_json }}}}"
    dest: {notified}
    mode: "0644"
  delegate_to: localhost
''')
    run = playbook(inv, play(session_drain_exclude_usernames='[CAROL]', session_drain_notify_tasks=str(hook)))
    assert run.rc == 0, run.output
    notice = json.loads(notified.read_text())
    sessions = {(s['client'], s['username']): s for s in notice['sessions'] if s['client'].startswith(f'127.0.{clients.block}.')}
    assert sorted(sessions) == [(clients.address(1), 'alice'), (clients.address(2), 'bob'), (clients.address(4), 'alice')]
    bob = sessions[(clients.address(2), 'bob')]
    assert [(f['path'], f['locks'], f['client']) for f in bob['files']] == [(paths[1][0], 1, clients.address(2))]
    assert bob['user_files'] == []
    for host in (1, 4):
        alice = sessions[(clients.address(host), 'alice')]
        assert alice['files'] == [] and sorted(f['path'] for f in alice['user_files']) == sorted(paths[0] + paths[3])
    assert f'bob@{clients.address(2)} (holding {paths[1][0]})' in notice['text']
    assert f"alice@{clients.address(1)} (no open files; alice's files from a session not known: " in notice['text']
    assert 'carol' not in notice['text']
    assert [f['path'] for f in notice['excluded_files'] if f['path'] in paths[2]] == paths[2]
    shown = run.task('Show what will be closed')['fs9']['msg']
    assert f'bob@{clients.address(2)} (holding {paths[1][0]})' in shown and 'files of excluded users' not in shown
    assert statuses(run, 'Close the files that excluded users hold open') == ['skipped']
    assert listed(ansible, inv, clients) == [(clients.address(3), 'carol')]
    assert paths[2][0] in open_paths(ansible, inv)  # off by default: carol's file is still open


def test_excluded_users_files_are_closed_when_asked(drained, clients, hold_files, playbook, ansible, tmp_path):
    tag = uuid.uuid4().hex[:8]
    holder, paths = hold_files(drained, [(1, 'carol', [FileSpec(f"carol's {{{{ 40 + 2 }}}} & co {tag}.txt", locks=2),
                                                       FileSpec(access='read')]),
                                         (2, 'alice', [FileSpec()]), (3, 'bob', [FileSpec()])])
    inv = inventory_for(drained, tmp_path)
    asked = play(session_drain_exclude_usernames='[carol, bob]', session_drain_close_excluded_files='true',
                 session_drain_client=clients.address(1))

    # Check mode previews the files it would close and closes nothing.
    run = playbook(inv, asked, '--check')
    assert run.rc == 0, run.output
    previewed = run.task('Close the files that excluded users hold open')['fs9']['results']
    assert sorted(item['closed'][0]['path'] for item in previewed) == sorted(paths[0])
    assert set(paths[0]) <= set(open_paths(ansible, inv))

    # Within the drained client only: carol's session and bob's file (another client) stay.
    run = playbook(inv, asked)
    assert run.rc == 0, run.output
    closed = run.task('Close the files that excluded users hold open')['fs9']['results']
    assert sorted(item['closed'][0]['path'] for item in closed) == sorted(paths[0])
    assert "{{ 40 + 2 }}" in paths[0][0]  # closed by its path as listed, never templated
    left = open_paths(ansible, inv)
    assert not set(paths[0]) & set(left) and paths[2][0] in left and paths[1][0] in left
    assert holder.probe_file(0, 0) == 'STATUS_FILE_CLOSED'
    assert listed(ansible, inv, clients) == [(clients.address(1), 'carol'), (clients.address(2), 'alice'),
                                             (clients.address(3), 'bob')]

    # Nothing left to close: the second drain changes nothing.
    run = playbook(inv, asked)
    assert run.rc == 0, run.output
    assert statuses(run, 'Close the files that excluded users hold open') == ['skipped']  # no file to close


def test_waiting_times_out_naming_what_is_busy(drained, clients, hold_files, playbook, ansible, tmp_path):
    _holder, paths = hold_files(drained, [(1, 'alice', [FileSpec(), FileSpec(access='read')])])
    held = [(clients.address(1), 'alice')]
    inv = inventory_for(drained, tmp_path)
    run = playbook(inv, play(session_drain_wait_for='no_open_files', session_drain_timeout=2,
                             session_drain_poll_interval=1))
    assert run.rc != 0
    message = run.task('Fail if the wait timed out')['fs9']['msg']
    assert message.startswith('still busy after 2 s') and f'alice@{clients.address(1)} (holding ' in message
    assert all(path in message for path in paths[0]), message
    assert listed(ansible, inv, clients) == held  # nothing was closed
    assert set(paths[0]) <= set(open_paths(ansible, inv))


def test_failure_names_the_files_remaining_sessions_hold(drained, clients, hold_files, playbook, ansible, tmp_path):
    _holder, paths = hold_files(drained, [(1, 'alice', [FileSpec()]), (2, 'alice', []), (3, 'bob', [FileSpec()])])
    inv = inventory_for(drained, tmp_path)
    run = playbook(inv, play(module_defaults=CLOSE_NOTHING))
    assert run.rc != 0
    message = run.task('Fail if sessions remain')['fs9']['msg']
    assert message.startswith('sessions remain after the drain:')
    assert f'bob@{clients.address(3)} (holding {paths[2][0]})' in message
    assert (f"alice@{clients.address(2)} (no open files; alice's files from a session not known: {paths[0][0]})"
            in message)

    # A server that refuses to list the open files is drained all the same; the messages say
    # why they do not name any file.
    run = playbook(inv, play(module_defaults=CLOSE_NOTHING + NO_FILE_LISTING))
    assert run.rc != 0
    message = run.task('Fail if sessions remain')['fs9']['msg']
    assert f'bob@{clients.address(3)}' in message and paths[2][0] not in message
    assert '(the open files could not be listed: ERROR_BAD_NETPATH' in message
    assert '(the open files could not be listed: ERROR_BAD_NETPATH' in run.task('Show what will be closed')['fs9']['msg']

    # Closing excluded users' files needs them listed: nothing is closed, not even a session.
    run = playbook(inv, play(module_defaults=NO_FILE_LISTING, session_drain_exclude_usernames='[bob]',
                             session_drain_close_excluded_files='true'))
    assert run.rc != 0
    assert 'open files could not be listed: ERROR_BAD_NETPATH' in run.task(
        'Fail if the files of excluded users cannot be listed')['fs9']['msg']
    assert len(listed(ansible, inv, clients)) == 3 and set(paths[0] + paths[2]) <= set(open_paths(ansible, inv))


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
