"""The same scenarios over both transports must give the same module results.

Each scenario runs twice on a fresh copy of the Windows model: once through the SMB backend
(impacket, \\pipe\\srvsvc of ModelSmbServer) and once through the WinRM backend (pywinrm, the
packaged shim checked byte for byte by the loopback WS-Management endpoint, which answers as the
shim would from the model). Results must be equal but for the backend's name and the name of
the API in a failure message (NetrSessionEnum over RPC is NetSessionEnum on the host).
"""

from __future__ import annotations

import copy
import itertools

import pytest

from ansible_collections.lanman.server.plugins.module_utils._options import (
    DELETE_ARGUMENT_SPEC, INFO_ARGUMENT_SPEC,
)
from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_delete, netsession_info
from ansible_collections.lanman.server.plugins.module_utils import _winrm as winrm_transport
from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import WsmanEndpoint

from .model import ADMIN, USER, WindowsSessionModel
from .shim_model import shim_responder
from .smb_server import ModelSmbServer
from .test_smb_model import PASSWORDS, SESSIONS, pairs

_ports = itertools.count(4600)
_hosts = itertools.cycle(range(170, 200))

INFO, DELETE = netsession_info, netsession_delete
SCENARIOS = [
    pytest.param(INFO, 'admin', {}, False, True, id='list-auto'),
    *[pytest.param(INFO, 'admin', {'level': str(level)}, False, True, id=f'list-level-{level}')
      for level in (0, 1, 2, 10, 502)],
    pytest.param(INFO, 'admin', {'username': 'ALICE'}, False, True, id='list-user'),
    pytest.param(INFO, 'admin', {'client': '\\\\192.0.2.16'}, False, True, id='list-client'),
    pytest.param(INFO, 'admin', {'client': '192.0.2.16', 'username': 'alice'}, False, True, id='list-both'),
    pytest.param(INFO, 'admin', {'client': '192.0.2.16', 'username': 'alice', 'level': '502'}, False, True,
                 id='list-both-502'),
    pytest.param(INFO, 'admin', {'client': '198.51.100.1'}, False, True, id='list-no-client'),
    pytest.param(INFO, 'admin', {'username': "o'neil$(x)`y"}, False, True, id='list-hostile-user'),
    pytest.param(INFO, 'plain', {}, False, True, id='list-plain-hardened'),
    pytest.param(INFO, 'plain', {}, False, False, id='list-plain-unhardened-falls-back-to-10'),
    pytest.param(INFO, 'plain', {'level': '1'}, False, False, id='list-plain-level-1'),
    pytest.param(DELETE, 'admin', {'username': 'alice'}, False, True, id='close-user'),
    pytest.param(DELETE, 'admin', {'client': '192.0.2.15'}, False, True, id='close-client'),
    pytest.param(DELETE, 'admin', {'client': 'wks01', 'username': 'CAROL'}, False, True, id='close-both'),
    pytest.param(DELETE, 'admin', {'username': 'alice'}, True, True, id='close-check-mode'),
    pytest.param(DELETE, 'admin', {'all_sessions': True, 'min_idle_seconds': 3600}, False, True, id='close-idle'),
    pytest.param(DELETE, 'admin', {'all_sessions': True, 'exclude_usernames': ['bob']}, False, True,
                 id='close-all-but-bob'),
    pytest.param(DELETE, 'admin', {'username': 'nobody'}, False, True, id='close-nothing'),
    pytest.param(DELETE, 'plain', {'username': 'bob'}, False, False, id='close-plain-denied'),
]


def _defaults(spec: dict) -> dict:
    return {name: (list(option['default']) if isinstance(option.get('default'), list)
                   else option.get('default')) for name, option in spec.items()}


def _run(operation, params: dict, check_mode: bool) -> dict:
    spec = INFO_ARGUMENT_SPEC if operation is INFO else DELETE_ARGUMENT_SPEC
    return execute(operation, dict(_defaults(spec), **params), check_mode=check_mode, diff=True)


def _comparable(result: dict) -> dict:
    result = copy.deepcopy(result)
    result.pop('backend', None)
    server = result.pop('server', None)
    for key in ('msg', 'operation'):
        if key in result:
            result[key] = result[key].replace('NetrSession', 'NetSession').replace('NetrFile', 'NetFile').replace(f"'{server}'", 'SERVER')
    return result


def _model(hardened: bool) -> WindowsSessionModel:
    return WindowsSessionModel(SESSIONS, {'admin': ADMIN, 'plain': USER}, hardened=hardened)


def over_smb(operation, user, task, check_mode, hardened):
    model = _model(hardened)
    server = ModelSmbServer(model, f'127.0.0.{next(_hosts)}', next(_ports), PASSWORDS, user)
    with server:
        result = _run(operation, dict(
            task, server=server.address, port=server.port, backend='smb', connection_username=user,
            connection_password=PASSWORDS[user], connect_timeout=5), check_mode)
    return result, pairs(model.snapshot())


def over_winrm(operation, user, task, check_mode, hardened, encryption='always'):
    model = _model(hardened)
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP) as endpoint:
        result = _run(operation, dict(
            task, server='127.0.0.1', backend='winrm', connection_username=user,
            connection_password=PASSWORDS[user], winrm_scheme='http', winrm_port=endpoint.port,
            winrm_message_encryption=encryption, winrm_operation_timeout=5, winrm_read_timeout=10),
            check_mode)
        assert endpoint.errors == []
    return result, pairs(model.snapshot())


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # requests would send loopback WinRM traffic to a proxy named in the environment.
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


@pytest.mark.parametrize('operation, user, task, check_mode, hardened', SCENARIOS)
def test_same_results_over_smb_and_winrm(operation, user, task, check_mode, hardened):
    smb_result, smb_left = over_smb(operation, user, task, check_mode, hardened)
    winrm_result, winrm_left = over_winrm(operation, user, task, check_mode, hardened)
    assert (smb_result.get('backend'), winrm_result.get('backend')) in (('smb', 'winrm'), (None, None))
    assert _comparable(winrm_result) == _comparable(smb_result)
    assert winrm_left == smb_left


def test_winrm_without_message_encryption_gives_the_same_records():
    encrypted, _left = over_winrm(INFO, 'admin', {}, False, True, encryption='always')
    plain, _left = over_winrm(INFO, 'admin', {}, False, True, encryption='never')
    assert plain == encrypted and len(plain['sessions']) == len(SESSIONS)


def test_winrm_wrong_password_is_a_logon_failure():
    model = _model(True)
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS) as endpoint:
        result = _run(INFO, dict(server='127.0.0.1', backend='winrm', connection_username='admin',
                                 connection_password='Not-Adm1n-pass', winrm_scheme='http',
                                 winrm_port=endpoint.port), False)
    assert (result['failed'], result['code'], result['code_name']) == (True, 1326, 'ERROR_LOGON_FAILURE')
    assert 'Not-Adm1n-pass' not in repr(result)


def test_stdin_arrives_whole_over_several_chunks(monkeypatch):
    # The shim is ~12 KB, one chunk; a smaller chunk size proves the reassembly path.
    monkeypatch.setattr(winrm_transport, 'STDIN_CHUNK_BYTES', 1000)
    model = _model(True)
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP) as endpoint:
        result = _run(INFO, dict(server='127.0.0.1', backend='winrm', connection_username='admin',
                                 connection_password=PASSWORDS['admin'], winrm_scheme='http',
                                 winrm_port=endpoint.port), False)
        assert endpoint.commands[0]['stdin_chunks'] > 10
    assert len(result['sessions']) == len(SESSIONS)
