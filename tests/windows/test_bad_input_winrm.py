"""The bad-input matrix (tests/bad_input_cases.py) over WinRM, against the Windows model.

One ansible-playbook runs every case of both modules against a Windows inventory host managed
over WinRM (backend auto = winrm), served by the loopback WS-Management endpoint with the
packaged shim and the Windows model behind it. After every case a listing logs on as another
account; the endpoint tells the two accounts' requests apart, so each case's own requests are
known: a bad input must send none, and the model itself (not the module) shows after every
case that no session outside the valid, normalised request was closed.
"""

from __future__ import annotations

import pytest

from tests.bad_input_cases import ALL, BOTH, CASES, DELETE, pairs_of, playbook, runs, verify
from tests.e2e.conftest import BIN, _run

from .model import ADMIN, WindowsSessionModel
from .shim_model import shim_host, shim_responder
from .test_smb_model import PASSWORDS, SESSIONS, pairs

NAMES = {'<c1>': '192.0.2.15', '<c2>': '192.0.2.16', '<c3>': 'WKS01'}
LISTER = ('lister', 'L1st-only!pass')


@pytest.fixture
def windows(tmp_path):
    model = WindowsSessionModel(SESSIONS, {'admin': ADMIN, LISTER[0]: ADMIN})
    events: list[tuple[str, str, set]] = []
    answer = shim_responder(model)

    def respond(request, user):
        result = answer(request, user=user)
        events.append((user, request['operation'], set(pairs(model.snapshot()))))
        return result

    users = dict(PASSWORDS, **{LISTER[0]: LISTER[1]})
    with shim_host(respond, users, tmp_path) as (endpoint, inv):
        yield model, endpoint, events, inv


def test_bad_input_matrix_over_winrm(windows, tmp_path):
    model, endpoint, events, inv = windows
    assert set(pairs(SESSIONS)) == pairs_of(ALL, NAMES)  # the layout the cases expect
    listing = {'connection_username': LISTER[0], 'connection_password': LISTER[1]}
    play = playbook(CASES, NAMES, listing, hosts='windows', listing_after=BOTH)
    path = tmp_path / 'bad-input.yml'
    path.write_text(play)
    run = _run([str(BIN / 'ansible-playbook'), '-i', str(inv), str(path)], tmp_path,
               {'NO_PROXY': '127.0.0.1'}, timeout=300)

    assert 'Traceback' not in run.output, run.output[-3000:]
    assert endpoint.errors == []
    results = {item['task']: dict(item['result'], failed=item['status'] == 'failed')
               for item in run.results if item['host'] == 'win1'}
    for result in results.values():
        assert result.get('backend', 'winrm') == 'winrm'
    problems = verify(CASES, results, NAMES, lambda records: set(pairs(records)))

    # What the endpoint saw: the lister's requests split the admin's into one group per case.
    groups: list[list[tuple[str, str]]] = [[]]
    states = []
    for user, operation, state in events:
        if user == LISTER[0]:
            groups.append([])
            states.append(state)
        else:
            groups[-1].append(operation)
    assert groups[0] == [] and len(states) == sum(1 for _run in runs(CASES)) + 1, (len(states), groups)
    state = states[0]
    assert state == set(pairs(SESSIONS))
    for (_number, case, module), sent, after in zip(runs(CASES), groups[1:], states[1:], strict=False):
        closed = pairs_of(case.match, NAMES) & state if (
            case.option is None and module == DELETE and not case.check) else set()
        if case.option is not None and sent:
            problems.append(f'{case.id} ({module}): bad input, yet sent {sent}')
        if case.option is None and 'enum' not in sent:
            problems.append(f'{case.id} ({module}): valid, yet sent {sent}')
        if ('delete' in sent) != bool(closed):
            problems.append(f'{case.id} ({module}): sent {sent}, expected to close {closed}')
        if after != state - closed:
            problems.append(f'{case.id} ({module}): the model holds {sorted(after)}, '
                            f'expected {sorted(state - closed)}')
        state = after
    assert not problems, '\n'.join(problems)
    assert state == set(pairs(model.snapshot()))
    for secret in (PASSWORDS['admin'], LISTER[1]):
        assert secret not in run.output
