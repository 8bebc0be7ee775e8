"""Open files: the same scenarios over both transports must give the same module results.

Each scenario runs twice on a fresh copy of the Windows model with open files: once through the
SMB backend (impacket against ModelSmbServer's \\pipe\\srvsvc, which also lists the module's own
srvsvc pipe as Windows does) and once through the WinRM backend (pywinrm, the packaged shim
checked byte for byte by the loopback endpoint, answered from the model).
"""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._options import (
    FILE_CLOSE_ARGUMENT_SPEC, FILE_INFO_ARGUMENT_SPEC,
)
from ansible_collections.lanman.server.plugins.module_utils._tasks import netfile_close, netfile_info
from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import WsmanEndpoint

from .model import ADMIN, PERM_FILE_READ, PERM_FILE_WRITE, USER, OpenFile, WindowsSessionModel
from .shim_model import shim_responder
from .smb_server import ModelSmbServer
from .test_both_transports import _comparable, _defaults
from .test_smb_model import PASSWORDS, SESSIONS

_ports = itertools.count(4800)
_hosts = itertools.cycle(range(140, 170))

BUDGET = 'D:\\Shares\\Finance\\budget.xlsx'
FILES = (
    OpenFile(101, BUDGET, 'alice', PERM_FILE_READ | PERM_FILE_WRITE, 2, client='192.0.2.16'),
    OpenFile(102, 'D:\\Shares\\Finance\\plan.docx', 'bob', PERM_FILE_READ, 0, client='192.0.2.15'),
    OpenFile(103, 'D:\\Shares\\Projects\\x.txt', 'carol', PERM_FILE_READ, 0, client='wks01'),
    OpenFile(104, '\\PIPE\\lsarpc', 'carol', PERM_FILE_READ, 0, client='wks01'),
)
INFO, CLOSE = netfile_info, netfile_close
SCENARIOS = [
    pytest.param(INFO, 'admin', {}, False, id='list-all'),
    pytest.param(INFO, 'admin', {'path': BUDGET.lower()}, False, id='list-path'),
    pytest.param(INFO, 'admin', {'path_prefix': 'D:\\Shares\\Finance\\'}, False, id='list-prefix'),
    pytest.param(INFO, 'admin', {'username': 'CAROL'}, False, id='list-user'),
    pytest.param(INFO, 'admin', {'file_id': 102}, False, id='list-id'),
    pytest.param(INFO, 'plain', {}, False, id='list-plain-denied'),
    pytest.param(CLOSE, 'admin', {'path': BUDGET}, False, id='close-path'),
    pytest.param(CLOSE, 'admin', {'file_id': 103}, False, id='close-id'),
    pytest.param(CLOSE, 'admin', {'path_prefix': 'D:\\Shares\\', 'max_files': 3}, False, id='close-prefix'),
    pytest.param(CLOSE, 'admin', {'path_prefix': 'D:\\Shares\\'}, False, id='close-too-many'),
    pytest.param(CLOSE, 'admin', {'username': 'alice'}, True, id='close-check-mode'),
    pytest.param(CLOSE, 'admin', {'path': 'D:\\nothing'}, False, id='close-nothing'),
    pytest.param(CLOSE, 'admin', {'path_prefix': '\\PIPE\\'}, False, id='close-pipes-never'),
    pytest.param(CLOSE, 'plain', {'path': BUDGET}, False, id='close-plain-denied'),
]


def _model() -> WindowsSessionModel:
    return WindowsSessionModel(SESSIONS, {'admin': ADMIN, 'plain': USER}, hardened=False, files=FILES)


def _run(operation, params: dict, check_mode: bool) -> dict:
    spec = FILE_INFO_ARGUMENT_SPEC if operation is INFO else FILE_CLOSE_ARGUMENT_SPEC
    return execute(operation, dict(_defaults(spec), **params), check_mode=check_mode, diff=True)


def over_smb(operation, user, task, check_mode):
    model = _model()
    server = ModelSmbServer(model, f'127.0.0.{next(_hosts)}', next(_ports), PASSWORDS, user, own_files=True)
    with server:
        result = _run(operation, dict(task, server=server.address, port=server.port, backend='smb',
                                      connection_username=user, connection_password=PASSWORDS[user],
                                      connect_timeout=5), check_mode)
    return result, sorted(f.id for f in model.file_snapshot())


def over_winrm(operation, user, task, check_mode):
    model = _model()
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP) as endpoint:
        result = _run(operation, dict(task, server='127.0.0.1', backend='winrm', connection_username=user,
                                      connection_password=PASSWORDS[user], winrm_scheme='http',
                                      winrm_port=endpoint.port), check_mode)
        assert endpoint.errors == []
        processes = len(endpoint.commands)
    return result, sorted(f.id for f in model.file_snapshot()), processes


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


@pytest.mark.parametrize('operation, user, task, check_mode', SCENARIOS)
def test_same_results_over_smb_and_winrm(operation, user, task, check_mode):
    smb_result, smb_left = over_smb(operation, user, task, check_mode)
    winrm_result, winrm_left, processes = over_winrm(operation, user, task, check_mode)
    assert _comparable(winrm_result) == _comparable(smb_result)
    assert winrm_left == smb_left
    assert processes <= 4  # files, sessions, the close, the confirming listing: whatever the count


def test_the_records_and_what_is_left():
    result, left = over_smb(INFO, 'admin', {}, False)
    assert [rec['id'] for rec in result['files']] == [101, 102, 103]  # no pipe, the module's own neither
    assert result['files'][0] == {'id': 101, 'path': BUDGET, 'username': 'alice', 'domain': None,
                                  'permissions': 3, 'permission_names': ['read', 'write'], 'locks': 2,
                                  'client': None}  # alice has sessions from two clients
    assert result['files'][2]['client'] == 'WKS01'  # carol's one client, as the server names it
    closed, left = over_smb(CLOSE, 'admin', {'path_prefix': 'D:\\Shares\\', 'max_files': 3}, False)
    assert [rec['id'] for rec in closed['closed']] == [101, 102, 103] and 104 in left
    again, _left = over_smb(CLOSE, 'admin', {'file_id': 5}, False)
    assert again['changed'] is False and again['closed'] == []
