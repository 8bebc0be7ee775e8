"""The bad-input matrix (tests/bad_input_cases.py) against a real Samba server, backend=smb.

One ansible-playbook runs every case of both modules with ignore_errors; the server holds live
sessions of several users from three clients, and after every delete case a separate listing,
as another account, shows that no session outside the (valid, normalised) request was closed.
"""

from __future__ import annotations

from tests.bad_input_cases import CASES, playbook as bad_input_play, runs
from tests.bad_input_cases import verify
from tests.e2e.conftest import ADMIN, OPERATOR, USERS, inventory, mine


def test_bad_input_matrix_over_smb(servers, clients, playbook, tmp_path):
    server = servers[0]
    held = clients.hold(server, [(1, 'alice', 1), (1, 'bob', 0), (2, 'alice', 0), (3, 'carol', 2)])
    assert len(held) == 4
    names = {f'<c{host}>': clients.address(host) for host in (1, 2, 3)}
    # The listing logs on as the operator: another account than the cases' (the admin).
    listing = {'backend': 'smb', 'connection_username': OPERATOR[0],
               'connection_password': OPERATOR[1]}
    play = bad_input_play(CASES, names, listing, hosts='fs1')
    run = playbook(inventory(tmp_path, servers[:1]), play)

    assert 'Traceback' not in run.output, run.output[-3000:]
    results = {item['task']: dict(item['result'], failed=item['status'] == 'failed')
               for item in run.results if item['host'] == 'fs1'}
    problems = verify(CASES, results, names, lambda records: set(mine(records, clients)))
    assert not problems, '\n'.join(problems)
    # Every case was run; the failing ones and only those failed.
    statuses = {item['task']: item['status'] for item in run.results}
    failed = {name for name, status in statuses.items() if status == 'failed'}
    expected_failed = {f'case {number} {module.rpartition(".")[2]} {case.id}'
                       for number, case, module in runs(CASES) if case.option is not None}
    assert failed == expected_failed
    assert len(expected_failed) >= 40
    for secret in (ADMIN[1], OPERATOR[1], *USERS.values()):
        assert secret not in run.output
