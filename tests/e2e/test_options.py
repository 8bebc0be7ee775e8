"""Options not exercised elsewhere, and argument validation in the action plugin."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN, inventory, mine

INFO = 'lanman.server.netsession_info'
DELETE = 'lanman.server.netsession_delete'


def test_explicit_backend_level_and_domain(servers, clients, ansible, tmp_path):
    held = clients.hold(servers[0], [(1, 'alice', 1)])
    run = ansible(inventory(tmp_path, servers[:1]), INFO,
                  'backend=smb level=1 connection_domain=WORKGROUP connect_timeout=5')
    assert run.rc == 0, run.output
    result = run.by_host()['fs1']
    assert (result['backend'], result['level']) == ('smb', 1)
    assert mine(result['sessions'], clients) == held


def test_domain_backslash_user_logs_on(servers, ansible, tmp_path):
    inv = inventory(tmp_path, servers[:1], user=(f'WORKGROUP\\{ADMIN[0]}', ADMIN[1]))
    run = ansible(inv, INFO)
    assert run.status() == {'fs1': 'ok'}, run.output


@pytest.mark.parametrize('module, args, fragment', [
    (INFO, 'level=3', 'level must be one of'),
    (INFO, 'client=x colour=blue', 'colour'),
    (INFO, 'connect_timeout=soon', 'connect_timeout'),
    (INFO, 'connect_timeout=0', 'connect_timeout: 0 is out of range'),
    (INFO, 'port=70000', 'port: 70000 is out of range'),
    (INFO, 'level=0 username=alice', 'level 0 records carry no user name'),
    (INFO, 'auth=ntlm connection_username=""', 'connection_username: is required'),
    (INFO, 'connection_nt_hash=xyz', 'connection_nt_hash: must be 32 hexadecimal digits'),
    (INFO, 'kdc_host=127.0.0.1', 'kdc_host: is only used with auth=kerberos'),
    (DELETE, 'all_sessions=maybe', 'all_sessions'),
    (DELETE, 'username=bob exclude_usernames=""', 'exclude_usernames: must not be empty'),
])
def test_bad_arguments_fail_with_the_option_named(servers, ansible, tmp_path, module, args,
                                                  fragment):
    run = ansible(inventory(tmp_path, servers[:1]), module, args + ' port=1'
                  if 'port=' not in args else args)
    assert run.status() == {'fs1': 'failed'}, run.output
    message = run.by_host()['fs1']['msg']
    assert fragment in message, message
    assert 'ERROR_BAD_NETPATH' not in message  # refused before connecting to port 1
