"""netfile_info and netfile_close through Ansible against a real Samba server with real open files.

The lab users' sessions hold named files open (tests/lab/holder.py: read, write or read/write
handles, some with byte-range locks) in folders of each test's own, ``<tag>-<user>``; what a
module says it closed is checked against the holder's probes of the same handles (a closed
handle answers STATUS_FILE_CLOSED, the session and its other handles keep working).

The tests share a server of this module (no other test's sessions on it): a user's files get a
client only when the user has sessions from exactly one client, so sessions of other tests
must not mix in. The shared-id case has a server in a pid namespace of its own.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path, PurePosixPath

import pytest
from impacket.ntlm import compute_nthash

from tests.bad_input_cases import Case, check_failure
from tests.e2e.conftest import ADMIN, OPERATOR, USERS, Clients, Server, inventory, start_server
from tests.e2e.smbproxy import SmbRelay
from tests.e2e.test_faults import relay_inventory
from tests.e2e.test_secrets import nt_hashes, run_and_search, statuses
from tests.lab.holder import FILE_ID_PID_PERIOD, FileSpec, SessionHolder, SessionSpec, add_sessions_sharing_file_ids
from tests.lab.samba import SambaServer, allocate_server_address

INFO = 'lanman.server.netfile_info'
CLOSE = 'lanman.server.netfile_close'
OK, CLOSED = 'STATUS_SUCCESS', 'STATUS_FILE_CLOSED'
HOST = 'files'
# Every record has exactly these keys (the modules' RETURN).
KEYS = {'id', 'path', 'username', 'domain', 'permissions', 'permission_names', 'locks', 'client'}
PERMISSIONS = {'read': (1, ['read']), 'write': (2, ['write']), 'readwrite': (3, ['read', 'write'])}
WRONG = 'Wr0ng!files-e2e'


@pytest.fixture(scope='module')
def fserver():
    # Unencrypted, so that the relay of the race test can see which call a frame carries.
    server = start_server(HOST, {'server smb encrypt': 'off'})
    yield server
    server.samba.stop()


class FileClients(Clients):
    """Per-test client addresses and sessions that hold files in folders of the test's own."""

    def __init__(self) -> None:
        super().__init__()
        self.tag = uuid.uuid4().hex[:10]

    def folder(self, user: str) -> str:
        return f'{self.tag}-{user}'

    def hold_files(self, server: Server, specs: list[tuple[int, str, tuple[FileSpec, ...]]]) -> SessionHolder:
        """Sessions (client host number, user, files named relative to the user's folder).

        Each user creates files in a folder of their own: Samba creates folders writable by
        their owner only, so another user could not create a file in it.
        """
        sessions = [SessionSpec(self.address(host), user, USERS[user],
                                files=tuple(dataclasses.replace(spec, name=f'{self.folder(user)}/{spec.name}')
                                            for spec in files))
                    for host, user, files in specs]
        holder = SessionHolder(server.address, 445, sessions)
        self._holders.append(holder)
        holder.start()
        return holder


@pytest.fixture
def fclients():
    held = FileClients()
    yield held
    held.stop()


def local_path(root: Path, name: str) -> str:
    """How Samba names a share-relative file (backslashes) in fi3_pathname: C: and the Unix path."""
    return 'C:' + str(root / PurePosixPath(*name.split('\\'))).replace('/', '\\')


def held_paths(server: Server | SambaServer, holder: SessionHolder, session: int) -> list[str]:
    samba = server.samba if isinstance(server, Server) else server
    return [local_path(samba.share_path, name) for name in holder.file_names(session)]


def record(path: str, user: str, access: str, locks: int, client: str | None, domain: str | None = None) -> dict:
    """A record as the modules return it, without its id."""
    permissions, names = PERMISSIONS[access]
    return {'path': path, 'username': user, 'domain': domain, 'permissions': permissions,
            'permission_names': names, 'locks': locks, 'client': client}


def no_id(records: list[dict]) -> list[dict]:
    return sorted(({key: value for key, value in rec.items() if key != 'id'} for rec in records),
                  key=lambda rec: rec['path'])


def mine(records: list[dict], clients: FileClients) -> list[dict]:
    """The records of this test's files (in its own folders), without ids, sorted by path."""
    return no_id([rec for rec in records if f'\\{clients.tag}-' in rec['path']])


def ids_by_path(records: list[dict]) -> dict[str, int]:
    return {rec['path']: rec['id'] for rec in records}


def wait_status(probe, expected: str, timeout: float = 5.0) -> str:
    """Probe until it answers ``expected`` (Samba closes through a message to the owning smbd);
    bounded; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        status = probe()
        if status == expected or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def probes(holder: SessionHolder, session: int, count: int) -> list[str]:
    """What each held handle of ``session`` answers to a query of its information (any access may)."""
    return [holder.probe_file(session, index, 'query_info') for index in range(count)]


def json_play(tasks: list[dict], hosts: str = HOST, play_vars: dict | None = None) -> str:
    """A play as JSON (which is YAML): backslashes, NUL and control characters arrive as given."""
    return json.dumps([{'hosts': hosts, 'gather_facts': False, 'vars': play_vars or {}, 'tasks': tasks}])


def results_of(run) -> dict[str, dict]:
    """Task name -> the host's result, with ``failed`` from the task's status."""
    return {item['task']: dict(item['result'], failed=item['status'] == 'failed') for item in run.results}


# ---- listing ------------------------------------------------------------------------------------

def test_lists_held_files_with_paths_users_permissions_locks_and_client(fserver, fclients, ansible, tmp_path):
    c = fclients
    holder = c.hold_files(fserver, [
        (1, 'alice', (FileSpec('plan.txt', 'read'), FileSpec('budget.txt', 'readwrite', 2))),
        (2, 'bob', (FileSpec('notes.txt', 'write', 1),)),
        (3, 'carol', (FileSpec('x.txt', 'readwrite', 3),)),
        (4, 'carol', ()),  # carol has sessions from two clients: her file's client is unknown
    ])
    plan, budget = held_paths(fserver, holder, 0)
    [notes] = held_paths(fserver, holder, 1)
    [x] = held_paths(fserver, holder, 2)
    assert plan.endswith(f'\\data\\{c.folder("alice")}\\plan.txt')
    run = ansible(inventory(tmp_path, [fserver]), INFO)
    assert run.rc == 0, run.output
    result = run.by_host()[HOST]
    assert (result['changed'], result['backend'], result['server']) == (False, 'smb', fserver.address)
    assert mine(result['files'], c) == no_id([
        record(plan, 'alice', 'read', 0, c.address(1)),
        record(budget, 'alice', 'readwrite', 2, c.address(1)),
        record(notes, 'bob', 'write', 1, c.address(2)),
        record(x, 'carol', 'readwrite', 3, None),
    ])
    for rec in result['files']:
        assert set(rec) == KEYS, rec
        assert isinstance(rec['id'], int) and 0 <= rec['id'] <= 0xFFFFFFFF
    ids = [rec['id'] for rec in result['files']]
    assert len(set(ids)) == len(ids)
    # Samba lists no named pipes, and the module never shows one (its own \PIPE\srvsvc)
    assert not [rec for rec in result['files'] if 'pipe' in rec['path'].lower()]
    assert 'warnings' not in result


def test_each_filter_gives_exactly_the_expected_files(fserver, fclients, playbook, tmp_path):
    c = fclients
    holder = c.hold_files(fserver, [
        (1, 'alice', (FileSpec('plan.txt', 'read'), FileSpec('budget.txt', 'readwrite', 2))),
        (2, 'bob', (FileSpec('notes.txt', 'write', 1),)),
    ])
    plan, budget = held_paths(fserver, holder, 0)
    [notes] = held_paths(fserver, holder, 1)
    root = local_path(fserver.samba.share_path, '')
    alice_folder = f'{root}\\{c.folder("alice")}\\'
    id_of_notes = "{{ all.files | selectattr('path', 'equalto', notes) | map(attribute='id') | first }}"
    tasks = [{'name': 'all', INFO: {}, 'register': 'all'}] + [
        {'name': name, INFO: args} for name, args in [
            ('user', {'username': 'ALICE'}),
            ('qualified user', {'username': 'WORKGROUP\\alice'}),
            ('user with no files', {'username': 'carol'}),
            ('path', {'path': budget.upper()}),
            ('path of a folder', {'path': alice_folder.rstrip('\\')}),
            ('prefix', {'path_prefix': alice_folder.swapcase()}),
            ('prefix of the test', {'path_prefix': f'{root}\\{c.tag}'}),
            ('prefix of nothing', {'path_prefix': 'C:\\nowhere\\'}),
            ('id', {'file_id': id_of_notes}),
            ('id and user', {'file_id': id_of_notes, 'username': 'bob'}),
            ('id and another path', {'file_id': id_of_notes, 'path': budget}),
            ('id and another user', {'file_id': id_of_notes, 'username': 'alice'}),
            ('path and prefix', {'path': plan, 'path_prefix': alice_folder}),
            ('unknown id', {'file_id': 0}),
        ]]
    run = playbook(inventory(tmp_path, [fserver]), json_play(tasks, play_vars={'notes': notes}))
    assert run.rc == 0, run.output
    files = {name: result['files'] for name, result in results_of(run).items()}
    alice = [record(plan, 'alice', 'read', 0, c.address(1)), record(budget, 'alice', 'readwrite', 2, c.address(1))]
    bob = [record(notes, 'bob', 'write', 1, c.address(2))]
    assert mine(files['all'], c) == no_id(alice + bob)
    for name in ('user', 'qualified user'):
        assert mine(files[name], c) == no_id(alice), name
        assert {rec['username'] for rec in files[name]} == {'alice'}, name
    # (files of this module's other tests may still be closing: only this test's count here)
    assert mine(files['user with no files'], c) == [] and {rec['username'] for rec in files['user with no files']} <= {'carol'}
    # Samba ignores BasePath: every filter below is the module's own; the whole answer is compared
    assert no_id(files['path']) == no_id(alice[1:])
    assert files['path of a folder'] == []
    assert no_id(files['prefix']) == no_id(alice)
    assert no_id(files['prefix of the test']) == no_id(alice + bob)
    assert files['prefix of nothing'] == []
    for name in ('id', 'id and user'):
        assert no_id(files[name]) == no_id(bob), name
        assert files[name][0]['id'] == ids_by_path(files['all'])[notes]
    assert files['id and another path'] == [] and files['id and another user'] == []
    assert no_id(files['path and prefix']) == no_id(alice[:1])
    assert files['unknown id'] == []


def test_samba_ignores_the_base_path_and_the_module_filters_anyway(fserver, fclients):
    """Through the module code: the premise of the filters above, on the server itself."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.lanman.server.plugins.module_utils._open_files import FileFilters, list_files
    from ansible_collections.lanman.server.plugins.module_utils._options import FILE_INFO_ARGUMENT_SPEC
    from ansible_collections.lanman.server.plugins.module_utils._tasks import open_transport

    holder = fclients.hold_files(fserver, [(1, 'bob', (FileSpec('kept.txt', 'read'),))])
    [kept] = held_paths(fserver, holder, 0)
    params = ArgumentSpecValidator(FILE_INFO_ARGUMENT_SPEC).validate(
        {'server': fserver.address, 'backend': 'smb', 'connection_username': ADMIN[0],
         'connection_password': ADMIN[1]}).validated_parameters
    with open_transport(params) as transport:
        answered = transport.enumerate_files('C:\\nowhere\\', None)
        assert kept in [entry['pathname'].rstrip('\x00') for entry in answered]
        assert list_files(transport, FileFilters(None, None, 'C:\\nowhere\\', None)).files == []
        assert list_files(transport, FileFilters(None, 'C:\\nowhere', None, None)).files == []
        listed = list_files(transport, FileFilters(None, kept.lower(), None, None)).files
        assert no_id(listed) == no_id([record(kept, 'bob', 'read', 0, fclients.address(1))])


# ---- closing ------------------------------------------------------------------------------------

def test_close_by_id_and_by_path_closes_exactly_that_file(fserver, fclients, playbook, tmp_path):
    c = fclients
    holder = c.hold_files(fserver, [
        (1, 'alice', (FileSpec('a.txt', 'readwrite', 1), FileSpec('b.txt'), FileSpec('c.txt', 'read'))),
        (2, 'bob', (FileSpec('d.txt', 'read'),)),
    ])
    a, b, cc = held_paths(fserver, holder, 0)
    folder = f'{local_path(fserver.samba.share_path, c.folder("alice"))}\\'
    id_of_a = "{{ (listed.files | selectattr('path', 'equalto', a) | first).id }}"
    tasks = [
        {'name': 'list', INFO: {'path_prefix': folder}, 'register': 'listed'},
        {'name': 'close by id', CLOSE: {'file_id': id_of_a}, 'diff': True},
        {'name': 'close by path', CLOSE: {'path': b.lower()}},
        {'name': 'close by path again', CLOSE: {'path': b.lower()}},
        {'name': 'close by id again', CLOSE: {'file_id': id_of_a}},
        {'name': 'left', INFO: {'path_prefix': folder}},
    ]
    run = playbook(inventory(tmp_path, [fserver]), json_play(tasks, play_vars={'a': a}))
    assert run.rc == 0, run.output
    results = results_of(run)
    listed = {rec['path']: rec for rec in results['list']['files']}
    assert no_id(list(listed.values())) == no_id([
        record(a, 'alice', 'readwrite', 1, c.address(1)), record(b, 'alice', 'readwrite', 0, c.address(1)),
        record(cc, 'alice', 'read', 0, c.address(1))])
    by_id, by_path = results['close by id'], results['close by path']
    assert (by_id['changed'], by_id['closed'], by_id['already_gone'], by_id['not_closed']) == (True, [listed[a]], [], [])
    assert by_id['diff']['before']['files'] == [listed[a]] and by_id['diff']['after']['files'] == []
    assert (by_path['changed'], by_path['closed'], by_path['already_gone']) == (True, [listed[b]], [])
    for name in ('close by path again', 'close by id again'):
        again = results[name]
        assert (again['changed'], again['closed'], again['already_gone'], again['not_closed']) == (False, [], [], []), name
    assert results['left']['files'] == [listed[cc]]
    # The server agrees: exactly those two handles are closed; the session and its third file
    # work on, and bob's file was never touched.
    assert wait_status(lambda: holder.probe_file(0, 0), CLOSED) == CLOSED, holder.last_reply
    assert probes(holder, 0, 3) == [CLOSED, CLOSED, OK]
    assert holder.probe_file(0, 2) == OK  # a read through the handle that is left
    assert holder.probe_session(0) == OK
    assert holder.probe_file(1, 0) == OK


def test_check_mode_closes_nothing_and_reports_what_it_would(fserver, fclients, ansible, tmp_path):
    c = fclients
    holder = c.hold_files(fserver, [(1, 'carol', (FileSpec('report.txt', 'readwrite', 2), FileSpec('other.txt')))])
    report, _other = held_paths(fserver, holder, 0)
    run = ansible(inventory(tmp_path, [fserver]), CLOSE, json.dumps({'path': report}), '--check', '--diff')
    assert run.rc == 0, run.output
    result = run.by_host()[HOST]
    expected = no_id([record(report, 'carol', 'readwrite', 2, c.address(1))])
    assert result['changed'] is True
    assert no_id(result['closed']) == expected and result['already_gone'] == [] and result['not_closed'] == []
    assert no_id(result['diff']['before']['files']) == expected and result['diff']['after']['files'] == []
    time.sleep(0.3)  # a close would have reached the owning smbd by now (4 ms measured)
    assert probes(holder, 0, 2) == [OK, OK]
    assert holder.probe_file(0, 0) == OK


def test_more_matches_than_max_files_fail_before_anything_is_closed(fserver, fclients, playbook, tmp_path):
    c = fclients
    holder = c.hold_files(fserver, [(1, 'alice', (FileSpec('1.txt', locks=1), FileSpec('2.txt'), FileSpec('3.txt', 'read')))])
    folder = f'{local_path(fserver.samba.share_path, c.folder("alice"))}\\'
    tasks = [
        {'name': 'default max', CLOSE: {'path_prefix': folder}, 'ignore_errors': True},
        {'name': 'max 2', CLOSE: {'path_prefix': folder, 'max_files': 2}, 'ignore_errors': True},
        {'name': 'by user, max 2', CLOSE: {'username': 'alice', 'path_prefix': folder, 'max_files': 2},
         'ignore_errors': True},
        {'name': 'still listed', INFO: {'path_prefix': folder}},
        {'name': 'max 3', CLOSE: {'path_prefix': folder, 'max_files': 3}},
    ]
    run = playbook(inventory(tmp_path, [fserver]), json_play(tasks))
    results = results_of(run)
    for name, limit in (('default max', 1), ('max 2', 2), ('by user, max 2', 2)):
        result = results[name]
        assert result['failed'] is True and result['changed'] is False, (name, result)
        assert result['option'] == 'max_files', result
        assert result['msg'].startswith('max_files: 3 open files match'), result['msg']
        assert f'more than max_files ({limit})' in result['msg'] and 'nothing was closed' in result['msg']
        assert 'code' not in result and 'closed' not in result
    # the server still had all three open after the refusals, and max_files=3 closed them
    listed = {rec['path']: rec for rec in results['still listed']['files']}
    assert sorted(listed) == sorted(held_paths(fserver, holder, 0))
    closed = results['max 3']
    assert closed['failed'] is False and closed['changed'] is True, closed
    assert sorted(closed['closed'], key=lambda rec: rec['path']) == [listed[path] for path in sorted(listed)]
    assert closed['already_gone'] == [] and closed['not_closed'] == []
    assert wait_status(lambda: holder.probe_file(0, 2, 'query_info'), CLOSED) == CLOSED
    assert probes(holder, 0, 3) == [CLOSED] * 3
    assert holder.probe_session(0) == OK


def test_an_id_the_server_lists_for_two_files_is_never_closed(playbook, tmp_path):
    """Samba's ids are (smbd pid << 16 | counter): two sessions whose smbd pids differ by 65536
    hold files with one id (a server in a pid namespace of its own). NetrFileClose of that id
    would close both, so netfile_close refuses, whatever selects the file."""
    samba = SambaServer(allocate_server_address(), pid_namespace=True)
    try:
        samba.add_user(*ADMIN, role='admin')
        for name in ('alice', 'bob'):
            samba.add_user(name, USERS[name], role='user')
        samba.start()
        if samba.pid_max() <= 2 * FILE_ID_PID_PERIOD:
            pytest.skip(f'pid_max in a pid namespace is {samba.pid_max()} (per-namespace pid_max needs Linux 6.14)')
        server = Server('twins', samba.address, samba)
        bystander = SessionSpec('127.0.249.3', 'alice', USERS['alice'], files=(FileSpec('bystander.txt'),))
        twins = [SessionSpec('127.0.249.1', 'alice', USERS['alice'], files=(FileSpec(locks=1),)),
                 SessionSpec('127.0.249.2', 'bob', USERS['bob'], files=(FileSpec(locks=1),))]
        with SessionHolder(samba.address, samba.port, [bystander]) as holder:
            first, second = add_sessions_sharing_file_ids(holder, samba, twins)
            [alice_path] = held_paths(samba, holder, first)
            [bob_path] = held_paths(samba, holder, second)
            [bystander_path] = held_paths(samba, holder, 0)
            shared_id = "{{ listed.files | selectattr('path', 'equalto', alice) | map(attribute='id') | first }}"
            tasks = [{'name': 'list', INFO: {}, 'register': 'listed'}] + [
                {'name': name, CLOSE: args, 'ignore_errors': True} for name, args in [
                    ('by id', {'file_id': shared_id, 'max_files': 5}),
                    ('by path', {'path': alice_path}),
                    ('by user', {'username': 'bob'}),
                    ('by prefix', {'path_prefix': local_path(samba.share_path, ''), 'max_files': 10}),
                ]] + [{'name': 'bystander', CLOSE: {'path': bystander_path}}]
            run = playbook(inventory(tmp_path, [server]), json_play(tasks, hosts='twins', play_vars={'alice': alice_path}))
            results = results_of(run)
            ids = ids_by_path(results['list']['files'])
            shared = ids[alice_path]
            assert ids[bob_path] == shared and ids[bystander_path] != shared, ids
            for name, option in (('by id', 'file_id'), ('by path', 'path'), ('by user', 'username'),
                                 ('by prefix', 'path_prefix')):
                result = results[name]
                assert result['failed'] is True and result['changed'] is False, (name, result)
                assert result['option'] == option, (name, result)
                assert f'file id(s) {shared} for more than one open file' in result['msg'], result['msg']
                assert 'nothing was closed' in result['msg'] and 'code' not in result
            # A file of its own id is closed as usual.
            assert results['bystander']['failed'] is False, results['bystander']
            assert [rec['path'] for rec in results['bystander']['closed']] == [bystander_path]
            assert [holder.probe_file(index, 0) for index in (first, second)] == [OK, OK]
            assert [holder.probe_session(index) for index in (first, second)] == [OK, OK]
            assert wait_status(lambda: holder.probe_file(0, 0), CLOSED) == CLOSED
    finally:
        samba.stop()


OPNUM_FILE_CLOSE = 11  # NetrFileClose ([MS-SRVS] 3.1.4.4)


@pytest.mark.parametrize('gone_at', [1, 2])
def test_files_closed_by_their_client_after_the_listing_are_already_gone(fserver, fclients, ansible, tmp_path, gone_at):
    """Each of two files is held by a session of its own; when the module's n-th NetrFileClose
    is on its way, both sessions log off (their files close with them). Samba answers the
    closes of files it no longer has with ERROR_FILE_NOT_FOUND: already_gone, not a failure."""
    c = fclients
    holder = c.hold_files(fserver, [(1, 'alice', (FileSpec('one.txt'),)), (2, 'alice', (FileSpec('two.txt'),))])
    paths = held_paths(fserver, holder, 0) + held_paths(fserver, holder, 1)
    folder = f'{local_path(fserver.samba.share_path, c.folder("alice"))}\\'

    def log_off(call: int) -> None:
        if call == gone_at:
            holder.close_session(0)
            holder.close_session(1)

    with SmbRelay((fserver.address, 445), OPNUM_FILE_CLOSE, log_off) as relay:
        run = ansible(relay_inventory(tmp_path), CLOSE, json.dumps({'port': relay.port, 'path_prefix': folder,
                                                                   'max_files': 2}), pattern='relay')
    assert relay.errors == [] and relay.calls == 2
    assert run.rc == 0, run.output
    result = run.by_host()['relay']
    closed, gone = [rec['path'] for rec in result['closed']], [rec['path'] for rec in result['already_gone']]
    assert sorted(closed + gone) == sorted(paths) and result['not_closed'] == []
    assert (len(closed), len(gone)) == ((0, 2) if gone_at == 1 else (1, 1)), result
    assert result['changed'] is (gone_at == 2)


# ---- rights -------------------------------------------------------------------------------------

def test_operator_lists_and_closes_a_plain_user_can_do_neither(fserver, fclients, playbook, tmp_path):
    """Samba: listing needs BUILTIN\\Administrators, which the lab's operator has; closing needs
    root or SeDiskOperatorPrivilege, which Samba grants BUILTIN\\Administrators. A plain user is
    refused the listing that every close starts with."""
    c = fclients
    holder = c.hold_files(fserver, [(1, 'alice', (FileSpec('x.txt', locks=1),)), (2, 'bob', (FileSpec('y.txt', 'read'),))])
    [x] = held_paths(fserver, holder, 0)
    [y] = held_paths(fserver, holder, 1)
    secrets = tmp_path / 'credentials.json'
    secrets.write_text(json.dumps({'op_user': OPERATOR[0], 'op_password': OPERATOR[1],
                                   'carol_password': USERS['carol']}))
    as_operator = {'connection_username': '{{ op_user }}', 'connection_password': '{{ op_password }}'}
    as_user = {'connection_username': 'carol', 'connection_password': '{{ carol_password }}'}
    tasks = [
        {'name': 'user lists', INFO: as_user, 'ignore_errors': True},
        {'name': 'user closes', CLOSE: dict(as_user, path=x), 'ignore_errors': True},
        {'name': 'operator lists', INFO: dict(as_operator, path_prefix=local_path(fserver.samba.share_path, c.tag))},
        {'name': 'operator closes', CLOSE: dict(as_operator, path=x)},
    ]
    run = playbook(inventory(tmp_path, [fserver]), json_play(tasks), '-e', f'@{secrets}')
    results = results_of(run)
    for name in ('user lists', 'user closes'):
        result = results[name]
        assert result['failed'] is True and result['changed'] is False, (name, result)
        assert (result['code'], result['code_name']) == (5, 'ERROR_ACCESS_DENIED'), result
        assert result['operation'].startswith('NetrFileEnum'), result
        assert 'ERROR_ACCESS_DENIED (5)' in result['msg']
        assert 'closed' not in result and 'files' not in result
    listed = results['operator lists']
    assert listed['failed'] is False, listed
    assert no_id(listed['files']) == no_id([record(x, 'alice', 'readwrite', 1, c.address(1)),
                                            record(y, 'bob', 'read', 0, c.address(2))])
    closed = results['operator closes']
    assert closed['failed'] is False and closed['changed'] is True, closed
    # x was still open when the operator closed it: the plain user's attempt closed nothing
    assert [rec['path'] for rec in closed['closed']] == [x] and closed['already_gone'] == []
    assert wait_status(lambda: holder.probe_file(0, 0), CLOSED) == CLOSED
    assert holder.probe_file(1, 0) == OK and holder.probe_session(0) == OK
    assert 'Traceback' not in run.output
    for secret in (OPERATOR[1], USERS['carol'], ADMIN[1]):
        assert secret not in run.output


# ---- secrets ------------------------------------------------------------------------------------

def test_no_secret_in_anything_a_run_prints_or_writes(fserver, fclients, silent_server, tmp_path):
    """Under -vvvv, --diff and ANSIBLE_DEBUG=1: success, wrong password or hash, access denied,
    too many files, nothing listening, a stalled server, bad input (test_secrets.py's search:
    output, results, the log and every file the run wrote)."""
    c = fclients
    holder = c.hold_files(fserver, [(1, 'bob', (FileSpec('a.txt'), FileSpec('b.txt'), FileSpec('c.txt'), FileSpec('d.txt')))])
    a, b, cc, _d = held_paths(fserver, holder, 0)
    admin_hash = compute_nthash(ADMIN[1]).hex()
    as_admin = {'connection_username': ADMIN[0], 'connection_password': ADMIN[1]}
    tasks = [
        ('info ok ansible_password', INFO, {}),
        ('info ok argument', INFO, dict(as_admin, username='bob')),
        ('info ok nt_hash', INFO, {'connection_nt_hash': admin_hash, 'path': a}),
        ('close ok argument', CLOSE, dict(as_admin, path=a)),
        ('close ok nt_hash', CLOSE, {'path': b, 'connection_nt_hash': admin_hash.upper()}),
        ('info wrong password', INFO, {'connection_password': WRONG}),
        ('close wrong password', CLOSE, {'path': cc, 'connection_password': WRONG}),
        ('close wrong nt_hash', CLOSE, {'path': cc, 'connection_nt_hash': compute_nthash(WRONG).hex()}),
        ('close access denied', CLOSE, {'path': cc, 'connection_username': 'carol',
                                        'connection_password': USERS['carol']}),
        ('close too many', CLOSE, dict(as_admin, path_prefix=local_path(fserver.samba.share_path, c.tag))),
        ('close unreachable', CLOSE, dict(as_admin, path=cc, port=1)),
        ('info stalled', INFO, dict(as_admin, server='127.0.0.1', port=silent_server, connect_timeout=2)),
        ('info bad input', INFO, dict(as_admin, path='x\x00')),
        ('close bad input', CLOSE, dict(as_admin, username='*')),
        ('close password and hash', CLOSE, dict(as_admin, path=cc, connection_nt_hash=admin_hash)),
    ]
    secrets = [ADMIN[1], OPERATOR[1], WRONG, *USERS.values(), *nt_hashes(ADMIN[1], WRONG)]
    run, hits = run_and_search(tmp_path, inventory(tmp_path, [fserver]), tasks, ['-vvvv', '--diff'],
                               {'ANSIBLE_DEBUG': '1'}, secrets)
    assert hits == [], hits
    got = statuses(run)
    assert [name for name, *_rest in tasks if got.get(name) != ('ok' if ' ok ' in name else 'failed')] == [], got
    assert 'Traceback' not in run.output
    # What was closed: a and b; c and d never
    assert wait_status(lambda: holder.probe_file(0, 0, 'query_info'), CLOSED) == CLOSED
    assert probes(holder, 0, 4) == [CLOSED, CLOSED, OK, OK]


# ---- bad input ----------------------------------------------------------------------------------

BOTH = (INFO, CLOSE)


def bad(id_: str, args: dict, option: str, fragment: str, modules: tuple[str, ...] = BOTH) -> Case:
    return Case(id_, modules, args, option, fragment)


def bad_cases(a: str, folder: str) -> list[Case]:
    """Bad input of the file modules; ``a`` is a held file's path, ``folder`` the prefix of every
    held file. Where a case gives a valid selector too, accepting the bad value would close it."""
    return [
        bad('file-id-negative', {'file_id': -1}, 'file_id', 'allowed: 0 to 4294967295'),
        bad('file-id-beyond-dword', {'file_id': 2 ** 32, 'path': a}, 'file_id', 'allowed: 0 to 4294967295'),
        bad('file-id-text', {'file_id': 'abc'}, 'file_id', 'unable to convert to int'),
        bad('file-id-boolean', {'file_id': True}, 'file_id', 'expected an integer, got a boolean'),
        bad('file-id-list', {'file_id': [1]}, 'file_id', 'unable to convert to int'),
        bad('path-empty', {'path': ''}, 'path', 'must not be empty'),
        bad('path-blank', {'path': ' \t '}, 'path', 'must not be empty'),
        bad('path-newline', {'path': a + '\nx'}, 'path', 'U+000A'),
        bad('path-nul', {'path': a + '\x00'}, 'path', 'U+0000'),
        bad('path-nul-inside', {'path': 'C:\\x\x00\\y'}, 'path', 'U+0000'),
        bad('path-zero-width', {'path': a.replace('\\', '\\\u200b', 1)}, 'path', 'U+200B'),
        bad('path-trailing-space', {'path': a + ' '}, 'path', 'white space'),
        bad('path-list', {'path': [a]}, 'path', 'expected a string, got a list'),
        bad('path-too-long', {'path': 'C:\\' + 'x' * 32767}, 'path', 'at most 32767'),
        bad('prefix-empty', {'path_prefix': '', 'username': 'alice'}, 'path_prefix', 'must not be empty'),
        bad('prefix-blank', {'path_prefix': '   ', 'username': 'alice'}, 'path_prefix', 'must not be empty'),
        bad('prefix-tab', {'path_prefix': '\t' + folder}, 'path_prefix', 'U+0009'),
        bad('prefix-nul', {'path_prefix': folder + '\x00'}, 'path_prefix', 'U+0000'),
        bad('prefix-bidi', {'path_prefix': '\u202e' + folder}, 'path_prefix', 'U+202E'),
        bad('prefix-leading-space', {'path_prefix': ' ' + folder}, 'path_prefix', 'white space'),
        bad('prefix-dict', {'path_prefix': {'p': folder}}, 'path_prefix', 'expected a string, got a dict'),
        bad('username-empty', {'username': '', 'path': a}, 'username', 'must not be empty'),
        bad('username-blank', {'username': '  ', 'path': a}, 'username', 'must not be empty'),
        bad('username-nul', {'username': 'ali\x00ce'}, 'username', 'U+0000'),
        bad('username-control', {'username': 'alice\x1b'}, 'username', 'U+001B'),
        bad('username-star', {'username': '*', 'path': a}, 'username', 'cannot be part of a Windows user name'),
        bad('username-both-forms', {'username': 'LAB\\alice@lab.test'}, 'username', 'both a DOMAIN\\ prefix'),
        bad('no-selector', {}, 'file_id', 'needs file_id, path, path_prefix or username', (CLOSE,)),
        bad('no-selector-only-max', {'max_files': 5}, 'file_id', 'at least one', (CLOSE,)),
        bad('max-files-zero', {'path': a, 'max_files': 0}, 'max_files', 'is below 1', (CLOSE,)),
        bad('max-files-negative', {'username': 'alice', 'max_files': -1}, 'max_files', 'is below 1', (CLOSE,)),
        bad('max-files-text', {'path': a, 'max_files': 'all'}, 'max_files', 'unable to convert to int', (CLOSE,)),
        bad('max-files-boolean', {'path': a, 'max_files': True}, 'max_files', 'expected an integer, got a boolean', (CLOSE,)),
        bad('max-files-for-info', {'path': a, 'max_files': 1}, 'max_files', 'Supported parameters include', (INFO,)),
        bad('unknown-option', {'path': a, 'files': 'all'}, 'files', 'Supported parameters include'),
    ]


def test_bad_input_is_refused_naming_the_option_and_closes_nothing(fserver, fclients, playbook, tmp_path):
    c = fclients
    holder = c.hold_files(fserver, [(1, 'alice', (FileSpec('a.txt', locks=1), FileSpec('b.txt', 'read')))])
    a, b = held_paths(fserver, holder, 0)
    folder = f'{local_path(fserver.samba.share_path, c.folder("alice"))}\\'
    cases = bad_cases(a, folder)
    tasks = [
        {'name': f'{module.rpartition(".")[2]} {case.id}', module: case.args, 'ignore_errors': True}
        for case in cases for module in case.modules]
    tasks.append({'name': 'left', INFO: {'path_prefix': folder}})
    run = playbook(inventory(tmp_path, [fserver]), json_play(tasks))
    assert 'Traceback' not in run.output, run.output[-3000:]
    results = results_of(run)
    problems = []
    for case in cases:
        for module in case.modules:
            name = f'{module.rpartition(".")[2]} {case.id}'
            if name not in results:
                problems.append(f'{name}: no result')
                continue
            problems += [f'{problem} ({module})' for problem in check_failure(case, results[name])]
            if 'closed' in results[name]:
                problems.append(f'{name}: closed {results[name]["closed"]}')
    assert not problems, '\n'.join(problems)
    assert len(tasks) - 1 == sum(len(case.modules) for case in cases) >= 60
    assert {rec['path'] for rec in results['left']['files']} == {a, b}
    assert probes(holder, 0, 2) == [OK, OK]
    assert holder.probe_file(0, 0) == OK and holder.probe_session(0) == OK
    assert ADMIN[1] not in run.output
