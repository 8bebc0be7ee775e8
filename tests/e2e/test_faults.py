"""Faults against real Samba: servers dying, stalling or resetting in the middle of a call,
refused rights, sessions vanishing between the listing and the close.

The exact point of a fault is chosen by the relay in ``smbproxy``: it holds the module's request
for the watched call (NetrSessionEnum or the n-th NetrSessionDel) until the test has killed or
stopped the server, so nothing here depends on timing. Samba runs its RPC services in a worker
(``rpcd_classic``) that smbd hands every pipe request to: stopping that worker stalls a call
after the connection was set up, killing it breaks the pipe of a call while smbd lives on.

Every failure must be ``failed`` with the code and its name, no traceback and no secret; a
close that fails part-way must say exactly what it closed and what it did not.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from tests.e2e.conftest import ADMIN, OPERATOR, USERS, inventory, mine, start_server
from tests.e2e.smbproxy import OPNUM_SESSION_DEL, OPNUM_SESSION_ENUM, SmbRelay
from tests.e2e.test_failures import assert_clean_failure
from tests.lab.holder import SessionHolder, SessionSpec
from tests.lab.samba import cmdline, signal_all

INFO = 'lanman.server.netsession_info'
DELETE = 'lanman.server.netsession_delete'
# The relay must read which call a frame carries: no encryption (signing stays on).
UNENCRYPTED = {'server smb encrypt': 'off'}
# What smbd answers when the RPC worker behind the pipe dies: a pipe read gets
# STATUS_PIPE_BROKEN, a pipe transceive (FSCTL_PIPE_TRANSCEIVE) STATUS_CONNECTION_RESET; once
# smbd has noticed the death (how soon depends on the load), STATUS_PIPE_DISCONNECTED or
# STATUS_CONNECTION_DISCONNECTED. Any of them is the server's own answer, passed on as it is.
PIPE_GONE = {0xC000014B: 'STATUS_PIPE_BROKEN', 0xC000020D: 'STATUS_CONNECTION_RESET',
             0xC00000B0: 'STATUS_PIPE_DISCONNECTED', 0xC000020C: 'STATUS_CONNECTION_DISCONNECTED'}


@pytest.fixture(scope='module')
def plain():
    """An unencrypted server whose RPC worker the tests stop and kill (smbd itself survives)."""
    server = start_server('plain', UNENCRYPTED)
    yield server
    server.samba.stop()


@pytest.fixture
def doomed():
    """A server of its own, for a test that kills it."""
    server = start_server('doomed', UNENCRYPTED)
    yield server
    server.samba.stop()


def rpc_workers(samba) -> list[int]:
    """The pids of the server's rpcd_classic workers (they serve \\pipe\\srvsvc)."""
    return [pid for pid in samba.processes() if cmdline(pid)[0].endswith('rpcd_classic')]


def sessions_on(samba) -> set[tuple[str, str]]:
    """(client, user) of every session the server holds, from its own session table."""
    done = subprocess.run(['smbstatus', '-s', str(samba.conf_path), '-b', '-j'], capture_output=True,
                          text=True, timeout=30, check=True)
    return {(rec['remote_machine'], rec['username'])
            for rec in json.loads(done.stdout).get('sessions', {}).values()}


def wait_sessions(samba, predicate, timeout=5.0) -> set[tuple[str, str]]:
    """Poll the session table (bounded) until ``predicate(sessions)``; return the last one."""
    deadline = time.monotonic() + timeout
    while True:
        current = sessions_on(samba)
        if predicate(current) or time.monotonic() > deadline:
            return current
        time.sleep(0.1)


def queued_for(pid: int) -> bool:
    """Whether a unix socket of ``pid`` has unread data (a request waiting for the process)."""
    done = subprocess.run(['ss', '-xHpn'], capture_output=True, text=True, timeout=10, check=False)
    return any(f'pid={pid},' in line and int(line.split()[2]) > 0
               for line in done.stdout.splitlines() if len(line.split()) > 2)


def relay_inventory(tmp_path, user=ADMIN):
    """One host reached through the relay on 127.0.0.1 (the relay's port goes in the task)."""
    path = tmp_path / 'relay.ini'
    path.write_text(f'relay ansible_host=127.0.0.1 ansible_connection=local '
                    f'ansible_user={user[0]} ansible_password={user[1]}\n')
    return path


def pairs(records) -> list[tuple[str, str]]:
    return sorted((rec['client'], rec['username']) for rec in records)


# -- the server dies or stalls in the middle of an enumeration ---------------------------------

def test_server_killed_in_the_middle_of_an_enumeration(doomed, ansible, tmp_path):
    with SmbRelay((doomed.address, 445), OPNUM_SESSION_ENUM, lambda n: doomed.samba.kill()) as relay:
        run = ansible(relay_inventory(tmp_path), INFO, f'port={relay.port}', pattern='relay')
    assert relay.errors == [] and relay.calls == 1
    assert_clean_failure(run, 'relay', 64, 'ERROR_NETNAME_DELETED')
    assert run.by_host()['relay']['operation'].startswith('NetrSessionEnum')


def test_rpc_worker_killed_in_the_middle_of_an_enumeration(plain, ansible, tmp_path):
    killed = []

    def kill_once_queued() -> None:
        # The request waits in the stopped worker's socket: kill the worker with it unread.
        deadline = time.monotonic() + 10
        while not any(queued_for(pid) for pid in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        signal_all(killed, signal.SIGKILL)

    def stop_worker(_call: int) -> None:
        killed.extend(rpc_workers(plain.samba))
        signal_all(killed, signal.SIGSTOP)
        threading.Thread(target=kill_once_queued, daemon=True).start()

    with SmbRelay((plain.address, 445), OPNUM_SESSION_ENUM, stop_worker) as relay:
        run = ansible(relay_inventory(tmp_path), INFO, f'port={relay.port} connect_timeout=20',
                      pattern='relay')
    assert relay.errors == [] and killed
    code = run.by_host()['relay'].get('code')
    assert code in PIPE_GONE, run.output
    assert_clean_failure(run, 'relay', code, PIPE_GONE[code])
    # samba-dcerpcd starts a new worker: the next run works again.
    again = ansible(inventory(tmp_path, [plain]), INFO, pattern='plain')
    assert again.rc == 0, again.output


def test_stall_in_the_middle_of_a_call_ends_after_connect_timeout(plain, ansible, tmp_path):
    stopped = []
    stalled_at = []

    def stall(_call: int) -> None:
        stopped.extend(rpc_workers(plain.samba))
        signal_all(stopped, signal.SIGSTOP)
        stalled_at.append(time.monotonic())

    try:
        with SmbRelay((plain.address, 445), OPNUM_SESSION_ENUM, stall) as relay:
            run = ansible(relay_inventory(tmp_path), INFO, f'port={relay.port} connect_timeout=2',
                          pattern='relay')
            ended = time.monotonic()
    finally:
        signal_all(stopped, signal.SIGCONT)
    assert stopped and stalled_at
    assert_clean_failure(run, 'relay', 121, 'ERROR_SEM_TIMEOUT')
    assert run.by_host()['relay']['operation'].startswith('NetrSessionEnum')
    # From the stall to the end of the run: the 2 s of connect_timeout plus Ansible's wind-down
    # (measured from the stall, so Ansible's start-up on a busy machine does not count); far
    # below impacket's default of 60 s.
    assert 2 - 0.2 < ended - stalled_at[0] < 2 + 5, ended - stalled_at[0]


# -- connection reset -------------------------------------------------------------------------

@pytest.fixture(params=['at once', 'after the first request'])
def resetting_server(request):
    """Accepts TCP connections on 127.0.0.1 and resets each (SO_LINGER 0), at once or after
    the client's first request (the SMB negotiation) arrived."""
    listener = socket.create_server(('127.0.0.1', 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection = listener.accept()[0]
            except OSError:
                continue
            if request.param != 'at once':
                connection.settimeout(5)
                try:
                    connection.recv(4)
                except OSError:
                    pass
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_connection_reset_at_connect(resetting_server, ansible, tmp_path):
    inv = relay_inventory(tmp_path)
    run = ansible(inv, INFO, f'port={resetting_server}', pattern='relay')
    assert_clean_failure(run, 'relay', 64, 'ERROR_NETNAME_DELETED')
    assert 'connection lost' in run.by_host()['relay']['msg']
    assert run.by_host()['relay']['operation'] == f'connect (SMB port {resetting_server})'


def test_connection_reset_in_the_middle_of_a_call(plain, ansible, tmp_path):
    # on_call returning False: the relay answers the request with an RST.
    with SmbRelay((plain.address, 445), OPNUM_SESSION_ENUM, lambda n: False) as relay:
        run = ansible(relay_inventory(tmp_path), INFO, f'port={relay.port}', pattern='relay')
    assert_clean_failure(run, 'relay', 64, 'ERROR_NETNAME_DELETED')
    assert run.by_host()['relay']['operation'].startswith('NetrSessionEnum')


# -- credentials and rights ---------------------------------------------------------------------

def test_logon_failures_of_a_close(servers, clients, playbook, tmp_path):
    held = clients.hold(servers[0], [(1, 'alice', 0)])
    play = '''
- hosts: fs1
  gather_facts: false
  tasks:
    - name: wrong password
      lanman.server.netsession_delete: {username: alice, connection_password: '{{ wrong }}'}
      ignore_errors: true
    - name: unknown user
      lanman.server.netsession_delete: {username: alice, connection_username: nosuchuser}
      ignore_errors: true
'''
    # From a file: -vvv shows the source of a failed task, and a password in it would count.
    secrets = tmp_path / 'wrong.json'
    secrets.write_text(json.dumps({'wrong': 'wrong-' + ADMIN[1]}))
    run = playbook(inventory(tmp_path, servers[:1]), play, '-vvv', '-e', f'@{secrets}')
    for task in ('wrong password', 'unknown user'):
        assert run.status(task) == {'fs1': 'failed'}, run.output
        result = run.task(task)['fs1']
        assert (result['code'], result['code_name'], result['operation']) == (
            0xC000006D, 'STATUS_LOGON_FAILURE', 'NTLM logon')
        assert 'closed' not in result and result['changed'] is False
    assert 'Traceback' not in run.output and ADMIN[1] not in run.output
    assert held[0] in sessions_on(servers[0].samba)


def test_operator_lists_but_cannot_close_and_a_user_can_do_neither(
        servers, clients, playbook, tmp_path):
    held = clients.hold(servers[0], [(1, 'alice', 0), (2, 'bob', 0)])
    as_operator = "connection_username: '{{ op_user }}', connection_password: '{{ op_password }}'"
    as_user = "connection_username: carol, connection_password: '{{ carol_password }}'"
    # From a file: Ansible shows the source of a failed task, and a password in it would count.
    secrets = tmp_path / 'credentials.json'
    secrets.write_text(json.dumps({'op_user': OPERATOR[0], 'op_password': OPERATOR[1],
                                   'carol_password': USERS['carol']}))
    play = f'''
- hosts: fs1
  gather_facts: false
  tasks:
    - name: operator lists
      lanman.server.netsession_info: {{{as_operator}}}
    - name: operator closes
      lanman.server.netsession_delete: {{username: alice, {as_operator}}}
      ignore_errors: true
    - name: user lists
      lanman.server.netsession_info: {{{as_user}}}
      ignore_errors: true
    - name: user closes
      lanman.server.netsession_delete: {{username: alice, {as_user}}}
      ignore_errors: true
'''
    run = playbook(inventory(tmp_path, servers[:1]), play, '-e', f'@{secrets}')
    assert run.status('operator lists') == {'fs1': 'ok'}, run.output
    assert mine(run.task('operator lists')['fs1']['sessions'], clients) == sorted(held)
    refused = run.task('operator closes')['fs1']
    assert run.status('operator closes') == {'fs1': 'failed'}
    assert (refused['code'], refused['code_name']) == (5, 'ERROR_ACCESS_DENIED')
    assert refused['operation'].startswith('NetrSessionDel')
    assert (refused['closed'], refused['already_gone']) == ([], [])
    assert mine(refused['not_closed'], clients) == [held[0]]
    assert refused['changed'] is False
    for task, operation in (('user lists', 'NetrSessionEnum'), ('user closes', 'NetrSessionEnum')):
        assert run.status(task) == {'fs1': 'failed'}, run.output
        result = run.task(task)['fs1']
        assert (result['code'], result['code_name']) == (5, 'ERROR_ACCESS_DENIED')
        assert result['operation'].startswith(operation)
    assert 'Traceback' not in run.output
    assert OPERATOR[1] not in run.output and USERS['carol'] not in run.output
    assert set(held) <= sessions_on(servers[0].samba)


# -- closing: a session vanishing, the server dying part-way -----------------------------------

def test_session_gone_between_listing_and_close_is_already_gone(plain, ansible, tmp_path):
    alice = SessionSpec('127.0.250.1', 'alice', USERS['alice'])
    holder = SessionHolder(plain.address, 445, [alice])
    holder.start()

    def log_alice_off(call: int) -> None:
        # The module has listed alice and is about to close her pair: she leaves first.
        if call == 1:
            holder.stop()
            wait_sessions(plain.samba, lambda now: ('127.0.250.1', 'alice') not in now)

    try:
        with SmbRelay((plain.address, 445), OPNUM_SESSION_DEL, log_alice_off) as relay:
            run = ansible(relay_inventory(tmp_path), DELETE, f'port={relay.port} username=alice',
                          pattern='relay')
    finally:
        holder.stop()
    assert relay.errors == [] and relay.calls == 1
    assert run.rc == 0, run.output
    result = run.by_host()['relay']
    assert (result['changed'], result['closed']) == (False, [])
    assert pairs(result['already_gone']) == [('127.0.250.1', 'alice')]


TARGETS = [('127.0.250.11', 'alice'), ('127.0.250.12', 'alice'), ('127.0.250.13', 'alice')]
# With only a user named, one NetSessionDel closes all three pairs; an idle filter (every Samba
# session is idle 0 s) makes the module close pair by pair, so a fault can fall between two.
PER_PAIR = 'username=alice min_idle_seconds=0'
BYSTANDER = ('127.0.250.14', 'bob')


def hold_targets(server) -> SessionHolder:
    holder = SessionHolder(server.address, 445, [
        SessionSpec(client, user, USERS[user]) for client, user in TARGETS + [BYSTANDER]])
    holder.start()
    return holder


def assert_partial(run, code, name):
    """Failed after exactly one pair was closed; the result says which one and which not."""
    assert_clean_failure(run, 'relay', code, name)
    result = run.by_host()['relay']
    assert result['operation'].startswith('NetrSessionDel')
    closed, not_closed = pairs(result['closed']), pairs(result['not_closed'])
    assert len(closed) == 1 and len(not_closed) == 2, result
    assert sorted(closed + not_closed) == TARGETS and result['already_gone'] == []
    assert result['changed'] is True
    return closed, not_closed


def test_rpc_worker_killed_after_the_first_close(plain, ansible, tmp_path):
    holder = hold_targets(plain)

    def kill_worker(call: int) -> None:
        if call == 2:  # the first NetrSessionDel has been answered
            signal_all(rpc_workers(plain.samba), signal.SIGKILL)

    try:
        with SmbRelay((plain.address, 445), OPNUM_SESSION_DEL, kill_worker) as relay:
            run = ansible(relay_inventory(tmp_path), DELETE, f'port={relay.port} {PER_PAIR}',
                          pattern='relay')
        assert relay.errors == [] and relay.calls == 2
        code = run.by_host()['relay'].get('code')
        assert code in PIPE_GONE, run.output
        closed, not_closed = assert_partial(run, code, PIPE_GONE[code])
        # What the result says is what happened: the closed pair is gone, the others are not.
        now = wait_sessions(plain.samba, lambda now: not set(closed) & now)
        assert not set(closed) & now
        assert set(not_closed) | {BYSTANDER} <= now
    finally:
        holder.stop()


def test_server_killed_after_the_first_close(doomed, ansible, tmp_path):
    holder = hold_targets(doomed)

    def kill_server(call: int) -> None:
        if call == 2:
            doomed.samba.kill()

    try:
        with SmbRelay((doomed.address, 445), OPNUM_SESSION_DEL, kill_server) as relay:
            run = ansible(relay_inventory(tmp_path), DELETE, f'port={relay.port} {PER_PAIR}',
                          pattern='relay')
    finally:
        holder.stop()
    assert relay.errors == [] and relay.calls == 2
    assert_partial(run, 64, 'ERROR_NETNAME_DELETED')
