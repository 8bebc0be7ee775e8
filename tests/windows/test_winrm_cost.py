"""A WinRM run does a constant amount of work on the server, whatever the number of pairs.

Every WinRM command starts a powershell.exe that compiles the shim's C# (seconds on a real
server: tests/wsman/endpoint.py ProcessCost). So a run must start at most two of them: one to
list the sessions (the whole level fallback inside it) and, for netsession_delete, one to close
every selected pair; never a cmd.exe in between. The loopback endpoint counts the commands and
shells; the Windows model behind it holds the sessions.
"""

from __future__ import annotations

import pytest

from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import WsmanEndpoint

from .model import ADMIN, USER, Session, WindowsSessionModel
from .shim_model import shim_responder
from .test_both_transports import DELETE, INFO, _run
from .test_smb_model import PASSWORDS


def _model(pairs: int, *, hardened: bool = True) -> WindowsSessionModel:
    """``pairs`` (client, user) pairs of alice, two sessions on the first, and one of bob."""
    sessions = [Session(f'192.0.2.{1 + index % 250}' if index < 250 else f'wks{index:04d}', 'alice',
                        time=600, idle_time=300) for index in range(pairs)]
    sessions.append(Session('192.0.2.1', 'alice', time=60, idle_time=30))
    sessions.append(Session('198.51.100.7', 'bob', time=60))
    return WindowsSessionModel(sessions, {'admin': ADMIN, 'plain': USER}, hardened=hardened)


def _served_run(model: WindowsSessionModel, operation, user: str = 'admin', *, check_mode: bool = False,
                **task: object) -> tuple[dict, WsmanEndpoint]:
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP) as endpoint:
        result = _run(operation, dict(
            task, server='127.0.0.1', backend='winrm', connection_username=user,
            connection_password=PASSWORDS[user], winrm_scheme='http', winrm_port=endpoint.port),
            check_mode)
        assert endpoint.errors == []
    return result, endpoint


def _shells(endpoint: WsmanEndpoint) -> int:
    return len([x for x in endpoint.exchanges if x['action'] == 'Create' and x['status'] == 200])


def _no_cmd_exe(endpoint: WsmanEndpoint) -> bool:
    return all(command['options'].get('WINRS_SKIP_CMD_SHELL') == 'TRUE' and command['kind'] == 'powershell'
               for command in endpoint.commands)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


@pytest.mark.parametrize('pairs', [1, 10, 100])
def test_closing_n_pairs_starts_two_powershell_processes_in_one_shell(pairs):
    model = _model(pairs)
    result, endpoint = _served_run(model, DELETE, username='alice')
    assert result.get('failed') is not True, result
    assert len({(rec['client'], rec['username']) for rec in result['closed']}) == pairs
    assert len(result['closed']) == pairs + 1 and result['changed'] is True
    assert [(s.cname, s.username) for s in model.snapshot()] == [('198.51.100.7', 'bob')]
    assert [command['request']['operation'] for command in endpoint.commands] == ['enum', 'delete']
    assert _shells(endpoint) == 1 and _no_cmd_exe(endpoint)


@pytest.mark.parametrize('pairs', [1, 10, 100])
def test_closing_n_pairs_by_client_or_idle_time_is_still_two_processes(pairs):
    model = _model(pairs)
    result, endpoint = _served_run(model, DELETE, all_sessions=True, min_idle_seconds=100)
    assert result.get('failed') is not True, result
    # alice's first pair has a session idle 30 s: the pair is kept whole; bob is idle 0 s.
    assert len(result['closed']) == pairs - 1
    assert len(endpoint.commands) == (2 if pairs > 1 else 1) and _shells(endpoint) == 1
    if pairs > 1:
        assert len(endpoint.commands[1]['request']['pairs']) == pairs - 1


def test_a_second_run_finds_nothing_and_starts_one_process():
    model = _model(10)
    _served_run(model, DELETE, username='alice')
    again, endpoint = _served_run(model, DELETE, username='alice')
    assert again['changed'] is False and again['closed'] == []
    assert len(endpoint.commands) == 1


def test_check_mode_starts_one_process_and_closes_nothing():
    model = _model(10)
    result, endpoint = _served_run(model, DELETE, check_mode=True, username='alice')
    assert result['changed'] is True and len(result['closed']) == 11
    assert len(model.snapshot()) == 12 and len(endpoint.commands) == 1


@pytest.mark.parametrize('user, hardened, level', [('admin', True, 502), ('plain', False, 10)])
def test_listing_is_one_process_with_the_level_fallback_inside(user, hardened, level):
    result, endpoint = _served_run(_model(10, hardened=hardened), INFO, user)
    assert result.get('failed') is not True, result
    assert result['level'] == level and len(result['sessions']) == 12
    [command] = endpoint.commands
    assert [step['level'] for step in command['request']['plan']] == [502, 2, 1, 10, 0]
    assert _shells(endpoint) == 1 and _no_cmd_exe(endpoint)


def test_a_listing_every_level_refuses_says_which_levels_were_tried_in_one_process():
    result, endpoint = _served_run(_model(3, hardened=True), INFO, 'plain')
    assert result['failed'] is True and result['code'] == 5, result
    assert 'level auto tried 502, 10; the server refused each' in result['msg']
    assert len(endpoint.commands) == 1


def test_a_refused_close_stops_there_and_says_what_was_not_closed():
    # plain may list (unhardened) but not close: the first pair's refusal leaves every pair open.
    model = _model(10, hardened=False)
    result, endpoint = _served_run(model, DELETE, 'plain', username='alice')
    assert result['failed'] is True and result['code'] == 5, result
    assert result['closed'] == [] and len(result['not_closed']) == 11
    assert len(model.snapshot()) == 12
    # list, close (refused at the first pair), and the re-check that the pair is still there
    assert [command['request']['operation'] for command in endpoint.commands] == ['enum', 'delete', 'enum']


@pytest.mark.parametrize('files', [1, 10, 100])
def test_closing_n_open_files_starts_four_powershell_processes(files):
    from ansible_collections.lanman.server.plugins.module_utils._options import FILE_CLOSE_ARGUMENT_SPEC
    from ansible_collections.lanman.server.plugins.module_utils._tasks import netfile_close
    from ansible_collections.lanman.server.plugins.module_utils._execute import execute

    from .model import OpenFile
    from .test_both_transports import _defaults

    model = WindowsSessionModel([Session('192.0.2.1', 'alice', time=60)], {'admin': ADMIN},
                                files=[OpenFile(500 + index, f'D:\\Shares\\x\\{index}.txt', 'alice', client='192.0.2.1')
                                       for index in range(files)])
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP) as endpoint:
        result = execute(netfile_close, dict(
            _defaults(FILE_CLOSE_ARGUMENT_SPEC), server='127.0.0.1', backend='winrm', connection_username='admin',
            connection_password=PASSWORDS['admin'], winrm_scheme='http', winrm_port=endpoint.port,
            path_prefix='D:\\Shares\\x\\', max_files=files), check_mode=False, diff=False)
        assert endpoint.errors == []
    assert result.get('failed') is not True, result
    assert len(result['closed']) == files and model.file_snapshot() == []
    assert [command['request']['operation'] for command in endpoint.commands] == ['files', 'enum', 'close_files', 'files']
    assert _shells(endpoint) == 1 and _no_cmd_exe(endpoint)
