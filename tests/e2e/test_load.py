"""Load: many concurrent listings of one server, and two controllers closing the same sessions."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.conftest import Server, USERS, inventory, mine, start_server
from tests.e2e.smbproxy import OPNUM_SESSION_DEL, SmbRelay
from tests.e2e.test_faults import UNENCRYPTED, pairs, relay_inventory, wait_sessions
from tests.lab.holder import SessionHolder, SessionSpec

INFO = 'lanman.server.netsession_info'
RUNS = 20


def test_twenty_concurrent_listings_of_one_server(servers, clients, ansible, tmp_path):
    fs1 = servers[0]
    held = clients.hold(fs1, [(1, 'alice', 1), (2, 'bob', 0), (3, 'carol', 2)])
    # 20 inventory hosts, one server: with -f 20 Ansible runs the 20 tasks at once, each in its
    # own worker process with its own SMB connection.
    aliases = [Server(f'alias{index:02}', fs1.address, fs1.samba) for index in range(RUNS)]
    run = ansible(inventory(tmp_path, aliases), INFO, '', '-f', str(RUNS))
    assert run.rc == 0, run.output
    assert run.status() == {alias.name: 'ok' for alias in aliases}
    for alias, result in run.by_host().items():
        assert mine(result['sessions'], clients) == sorted(held), alias
        assert result['level'] == 1
    assert 'Traceback' not in run.output


@pytest.fixture
def contested():
    server = start_server('contested', UNENCRYPTED)
    yield server
    server.samba.stop()


TARGETS = [('127.0.251.1', 'alice'), ('127.0.251.2', 'alice'), ('127.0.251.3', 'alice')]
BYSTANDERS = [('127.0.251.4', 'bob'), ('127.0.251.5', 'carol')]


def test_two_controllers_close_the_same_sessions_at_once(contested, playbook, tmp_path):
    holder = SessionHolder(contested.address, 445, [
        SessionSpec(client, user, USERS[user]) for client, user in TARGETS + BYSTANDERS])
    holder.start()
    # Each controller's first NetrSessionDel waits at the relay for the other's: both have
    # listed every target before either closes anything, and then both close at once.
    both_listed = threading.Barrier(2, timeout=60)

    def meet(call: int) -> None:
        if call <= 2:
            both_listed.wait()

    play = '''
- hosts: relay
  gather_facts: false
  tasks:
    - name: close alice
      lanman.server.netsession_delete: {username: alice, port: PORT}
'''
    runs = [None, None]
    try:
        with SmbRelay((contested.address, 445), OPNUM_SESSION_DEL, meet) as relay:
            inv = relay_inventory(tmp_path)
            text = play.replace('PORT', str(relay.port))

            def controller(index: int) -> None:
                runs[index] = playbook(inv, text)

            threads = [threading.Thread(target=controller, args=(index,)) for index in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(200)
        assert relay.errors == []
        results = []
        for run in runs:
            assert run is not None and run.rc == 0, run and run.output
            assert 'Traceback' not in run.output
            results.append(run.task('close alice')['relay'])
        closed = [pairs(result['closed']) for result in results]
        gone = [pairs(result['already_gone']) for result in results]
        for index in range(2):
            # Each controller accounts for every target exactly once: closed or already gone.
            assert sorted(closed[index] + gone[index]) == TARGETS, results[index]
            assert results[index]['changed'] is bool(closed[index])
        # Together they closed every target. Samba tears a closed session down a moment after
        # NetrSessionDel returns, and accepts a second NetrSessionDel for it until then, so a
        # pair both close at the same instant can be reported closed by both (Windows: the
        # second one is already_gone).
        assert set(closed[0]) | set(closed[1]) == set(TARGETS)
        now = wait_sessions(contested.samba, lambda now: not set(TARGETS) & now)
        assert not set(TARGETS) & now
        assert set(BYSTANDERS) <= now
    finally:
        holder.stop()
