"""No password or NT hash anywhere: output, results, the log file, or files a run leaves.

Both modules, both transports, on success and on every failure path (wrong password or hash,
nothing listening, a stalled server, access denied, bad input), with the password given as a
module argument, as ansible_password and as connection_nt_hash, under -vvvv, ANSIBLE_DEBUG=1,
--diff and --check. Each run is one ansible-playbook whose tasks all have ignore_errors; then
everything it printed or wrote is searched for every secret (NT hashes in lower and upper case).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from impacket.ntlm import compute_nthash

from tests.e2e.conftest import ADMIN, BIN, OPERATOR, USERS, _run, inventory
from tests.windows.model import ADMIN as WIN_ADMIN, USER as WIN_USER, WindowsSessionModel
from tests.windows.shim_model import shim_host, shim_responder
from tests.windows.test_smb_model import PASSWORDS, SESSIONS

INFO = 'lanman.server.netsession_info'
DELETE = 'lanman.server.netsession_delete'
WRONG = 'Wr0ng!secret-e2e'
MODES = [
    pytest.param(['-vvvv', '--diff'], {}, id='vvvv-diff'),
    pytest.param(['-vvvv', '--check', '--diff'], {'ANSIBLE_DEBUG': '1'}, id='debug-check-diff'),
]


def nt_hashes(*passwords: str) -> list[str]:
    hashes = [compute_nthash(password).hex() for password in passwords]
    return hashes + [value.upper() for value in hashes]


def secret_tasks(tasks: list[tuple[str, str, dict]]) -> str:
    return json.dumps([{'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': name, module: args, 'ignore_errors': True} for name, module, args in tasks]}])


def run_and_search(tmp_path: Path, inv: Path, tasks, extra: list[str], env: dict,
                   secrets: list[str]):
    """Run the play; return the run and every place a secret turned up."""
    play = tmp_path / 'secrets.yml'
    play.write_text(secret_tasks(tasks))
    log = tmp_path / 'ansible.log'
    home = tmp_path / 'ansible-home'
    written_before = {inv, play}
    env = dict(env, ANSIBLE_LOG_PATH=str(log), ANSIBLE_HOME=str(home), NO_PROXY='127.0.0.1')
    run = _run([str(BIN / 'ansible-playbook'), '-i', str(inv), str(play), *extra], tmp_path, env,
               timeout=240)
    assert log.exists() and run.results, run.output[-2000:]
    places = {'output': run.output.encode(), 'results': json.dumps(run.results).encode()}
    files = [path for path in tmp_path.rglob('*') if path.is_file() and path not in written_before]
    assert log in files
    for path in files:
        places[str(path)] = path.read_bytes()
    # The search sees what it should: the runs' results and a log that shows the tasks.
    assert b'connection_username' in places['results'] and b'info ok argument' in places[str(log)]
    hits = [(secret, where) for secret in secrets for where, data in places.items()
            if secret.encode() in data or secret.encode('utf-16-le') in data]
    return run, hits


def statuses(run) -> dict[str, str]:
    return {item['task']: item['status'] for item in run.results}


@pytest.mark.parametrize('extra, env', MODES)
def test_no_secret_over_smb(servers, clients, tmp_path, silent_server, extra, env):
    clients.hold(servers[0], [(1, 'bob', 0), (2, 'carol', 0), (3, 'alice', 0)])
    inv = inventory(tmp_path, servers[:1])  # ansible_password is the admin's
    admin_hash = compute_nthash(ADMIN[1]).hex()
    wrong_hash = compute_nthash(WRONG).hex()
    as_admin = {'connection_username': ADMIN[0], 'connection_password': ADMIN[1]}
    stalled = {'server': '127.0.0.1', 'port': silent_server, 'connect_timeout': 2}
    tasks = [
        ('info ok ansible_password', INFO, {}),
        ('info ok argument', INFO, as_admin),
        ('info ok nt_hash', INFO, {'connection_nt_hash': admin_hash}),
        ('delete ok ansible_password', DELETE, {'username': 'bob'}),
        ('delete ok nt_hash', DELETE, {'client': clients.address(2), 'connection_nt_hash': admin_hash.upper()}),
        ('info wrong password', INFO, {'connection_password': WRONG}),
        ('delete wrong password', DELETE, {'username': 'bob', 'connection_password': WRONG}),
        ('info wrong nt_hash', INFO, {'connection_nt_hash': wrong_hash}),
        ('delete wrong nt_hash', DELETE, {'username': 'bob', 'connection_nt_hash': wrong_hash}),
        ('info unreachable', INFO, dict(as_admin, port=1)),
        ('delete unreachable', DELETE, dict(as_admin, port=1, username='bob')),
        ('info stalled', INFO, dict(as_admin, **stalled)),
        ('delete stalled', DELETE, dict(as_admin, username='bob', **stalled)),
        ('delete access denied', DELETE, {'username': 'alice', 'connection_username': OPERATOR[0],
                                          'connection_password': OPERATOR[1]}),
        ('info bad input', INFO, dict(as_admin, client='x\x00')),
        ('delete bad input', DELETE, dict(as_admin, username='*')),
        ('delete password and hash', DELETE, dict(as_admin, username='bob', connection_nt_hash=admin_hash)),
        ('info password of a wrong type', INFO, {'connection_password': [ADMIN[1]]}),
        ('info bad hash', INFO, {'connection_nt_hash': admin_hash + 'zz'}),
    ]
    secrets = [ADMIN[1], OPERATOR[1], WRONG, *USERS.values(), *nt_hashes(ADMIN[1], WRONG)]
    run, hits = run_and_search(tmp_path, inv, tasks, extra, env, secrets)
    assert hits == [], hits
    got = statuses(run)
    # The operator may list: in check mode nothing is closed, so nothing is denied.
    ok = {name for name, *_rest in tasks if ' ok ' in name or ('--check' in extra and 'denied' in name)}
    assert [name for name, *_rest in tasks if got.get(name) != ('ok' if name in ok else 'failed')] \
        == [], got
    assert 'Traceback' not in run.output


@pytest.fixture
def windows_host(tmp_path):
    model = WindowsSessionModel(SESSIONS, {'admin': WIN_ADMIN, 'plain': WIN_USER})
    with shim_host(shim_responder(model), PASSWORDS, tmp_path) as (endpoint, inv):
        yield endpoint, inv


@pytest.mark.parametrize('extra, env', MODES)
def test_no_secret_over_winrm(windows_host, tmp_path, silent_server, extra, env):
    endpoint, inv = windows_host
    as_admin = {'connection_username': 'admin', 'connection_password': PASSWORDS['admin']}
    admin_hash = compute_nthash(PASSWORDS['admin']).hex()
    tasks = [
        ('info ok ansible_password', INFO, {}),
        ('info ok argument', INFO, as_admin),
        ('delete ok ansible_password', DELETE, {'username': 'bob'}),
        ('delete ok argument', DELETE, dict(as_admin, client='WKS01')),
        ('info wrong password', INFO, {'connection_password': WRONG}),
        ('delete wrong password', DELETE, {'username': 'alice', 'connection_password': WRONG}),
        ('info unreachable', INFO, dict(as_admin, winrm_port=1)),
        ('delete unreachable', DELETE, dict(as_admin, winrm_port=1, username='alice')),
        ('info stalled', INFO, dict(as_admin, winrm_port=silent_server, winrm_operation_timeout=1,
                                    winrm_read_timeout=2)),
        ('delete access denied', DELETE, {'username': 'alice', 'connection_username': 'plain',
                                          'connection_password': PASSWORDS['plain']}),
        ('info bad input', INFO, dict(as_admin, username='al\x00ice')),
        ('delete bad input', DELETE, dict(as_admin, client='//WKS01')),
        ('info nt_hash refused', INFO, {'connection_nt_hash': admin_hash}),
        ('info password of a wrong type', INFO, {'connection_password': {'p': PASSWORDS['admin']}}),
    ]
    secrets = [*PASSWORDS.values(), WRONG, *nt_hashes(*PASSWORDS.values())]
    run, hits = run_and_search(tmp_path, inv, tasks, extra, env, secrets)
    assert hits == [], hits
    got = statuses(run)
    assert [name for name, *_rest in tasks if got.get(name) != ('ok' if ' ok ' in name else 'failed')] \
        == [], got
    assert 'Traceback' not in run.output
    assert endpoint.errors == []
