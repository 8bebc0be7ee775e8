"""Failures through Ansible: each is `failed` with a code and its name, no traceback, no secret."""

from __future__ import annotations

import time

from impacket.ntlm import compute_nthash

from tests.e2e.conftest import ADMIN, inventory, mine

INFO = 'lanman.server.netsession_info'


def assert_clean_failure(run, host, code, name):
    assert run.status() == {host: 'failed'}, run.output
    result = run.by_host()[host]
    assert (result['code'], result['code_name']) == (code, name)
    assert f'{name} (' in result['msg']
    assert 'Traceback' not in run.output
    assert ADMIN[1] not in run.output


def test_wrong_password_is_a_logon_failure(servers, ansible, tmp_path):
    inv = inventory(tmp_path, servers[:1], user=(ADMIN[0], 'wrong-' + ADMIN[1]))
    run = ansible(inv, INFO, '', '-vvv')
    assert_clean_failure(run, 'fs1', 0xC000006D, 'STATUS_LOGON_FAILURE')
    assert 'wrong-' + ADMIN[1] not in run.output


def test_nothing_listening_is_a_bad_netpath(servers, ansible, tmp_path):
    run = ansible(inventory(tmp_path, servers[:1]), INFO, 'port=4451')
    assert_clean_failure(run, 'fs1', 53, 'ERROR_BAD_NETPATH')
    assert 'connection refused' in run.by_host()['fs1']['msg']


def test_stalled_server_times_out_within_connect_timeout(ansible, tmp_path, silent_server):
    inv = tmp_path / 'stalled.ini'
    inv.write_text(f'stalled ansible_host=127.0.0.1 ansible_user={ADMIN[0]} '
                   f'ansible_password={ADMIN[1]} ansible_connection=local\n')
    started = time.monotonic()
    run = ansible(inv, INFO, f'port={silent_server} connect_timeout=2', pattern='stalled')
    elapsed = time.monotonic() - started
    assert_clean_failure(run, 'stalled', 121, 'ERROR_SEM_TIMEOUT')
    # 2 s of waiting plus Ansible's own start-up (about 1 s here); far below impacket's 60 s.
    assert elapsed < 2 + 6, elapsed


def test_nt_hash_logs_on_instead_of_the_password(servers, clients, ansible, tmp_path):
    held = clients.hold(servers[0], [(1, 'bob', 0)])
    inv = tmp_path / 'hash.ini'
    inv.write_text(f'fs1 ansible_host={servers[0].address} ansible_connection=local\n')
    nt_hash = compute_nthash(ADMIN[1]).hex()
    run = ansible(inv, INFO, f'connection_username={ADMIN[0]} connection_nt_hash={nt_hash}',
                  '-vvv', pattern='fs1')
    assert run.rc == 0, run.output
    assert mine(run.by_host()['fs1']['sessions'], clients) == held
    assert nt_hash not in run.output


def test_kerberos_without_a_kdc_fails_cleanly(servers, ansible, tmp_path):
    run = ansible(inventory(tmp_path, servers[:1]), INFO,
                  'auth=kerberos connection_domain=LAB.TEST kdc_host=127.0.0.1 connect_timeout=3')
    assert run.status() == {'fs1': 'failed'}
    result = run.by_host()['fs1']
    assert (result['code_name'], result['operation']) == ('ERROR_BAD_NETPATH',
                                                          'Kerberos logon to cifs/fs1 (KDC 127.0.0.1)')
    assert 'Traceback' not in run.output
    assert ADMIN[1] not in run.output
