"""Windows hosts that refuse the WinRM backend's PowerShell: each fails with its own code and says
what the administrator can do, and nothing is changed on the server.

Modelled by the loopback endpoint from documented behaviour (tests/wsman/endpoint.py): Constrained
Language Mode under AppLocker or App Control (about_Language_Modes), a policy that does not let
powershell.exe start, an account the WinRM RootSDDL refuses a command shell (JEA-only, Remote
Management Users: pywinrm#336), a local administrator filtered by UAC remote restrictions
(pywinrm#188), and a Group Policy execution policy, which does not apply to the module's
encoded command (about_Execution_Policies).
"""

from __future__ import annotations

import base64

import pytest
from winrm.protocol import Protocol

from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import WsmanEndpoint

from .shim_model import shim_responder
from .test_both_transports import DELETE, INFO, _model, _run
from .test_smb_model import PASSWORDS, pairs


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


def _against(operation, user='admin', **host):
    """Run ``operation`` (closing alice's sessions, or listing) against a host with ``host``'s rules."""
    model = _model(True)
    before = pairs(model.snapshot())
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP, **host) as endpoint:
        task = {'username': 'alice'} if operation is DELETE else {}
        result = _run(operation, dict(task, server='127.0.0.1', backend='winrm', connection_username=user,
                                      connection_password=PASSWORDS[user], winrm_scheme='http',
                                      winrm_port=endpoint.port), False)
        assert endpoint.errors == []
    return result, endpoint, before == pairs(model.snapshot())


def assert_refused(result, code, name, *fragments):
    assert result['failed'] is True and result.get('changed') is False, result
    assert (result['code'], result['code_name']) == (code, name), result
    for fragment in fragments:
        assert fragment in result['msg'], result['msg']
    assert 'Traceback' not in repr(result) and PASSWORDS['admin'] not in repr(result)


@pytest.mark.parametrize('operation', [INFO, DELETE])
def test_constrained_language_mode_is_named_before_anything_runs(operation):
    result, endpoint, unchanged = _against(operation, language_mode='ConstrainedLanguage')
    assert_refused(result, 1260, 'ERROR_ACCESS_DISABLED_BY_POLICY',
                   'lanman.server: PowerShell runs in ConstrainedLanguage mode', 'backend: smb')
    assert unchanged and len(endpoint.commands) == 1 and endpoint.requests == []


def test_without_the_language_check_the_same_host_fails_where_it_points_nowhere():
    # What the bootstrap's first statement saves the administrator from: the bare CLM error.
    bare = BOOTSTRAP.replace(BOOTSTRAP.splitlines()[1] + '\n' + BOOTSTRAP.splitlines()[2] + '\n', '')
    assert 'LanguageMode' in BOOTSTRAP and 'LanguageMode' not in bare
    with WsmanEndpoint(shim_responder(_model(True)), users=PASSWORDS,
                       language_mode='ConstrainedLanguage') as endpoint:
        protocol = Protocol(endpoint.url, transport='ntlm', username='admin', password=PASSWORDS['admin'],
                            message_encryption='always')
        shell = protocol.open_shell()
        encoded = base64.b64encode(bare.encode('utf-16-le')).decode()
        command = protocol.run_command(shell, 'powershell.exe', ['-NoProfile', '-EncodedCommand', encoded],
                                       console_mode_stdin=False, skip_cmd_shell=True)
        protocol.send_command_input(shell, command, SHIM_SCRIPT.encode() + b'\0{}', end=True)
        _stdout, stderr, exit_code = protocol.get_command_output(shell, command)
        protocol.close_shell(shell)
    assert exit_code == 1 and b'MethodInvocationNotSupportedInConstrainedLanguage' in stderr


@pytest.mark.parametrize('operation', [INFO, DELETE])
def test_a_policy_that_blocks_powershell_is_named(operation):
    result, endpoint, unchanged = _against(operation, blocked_programs=['powershell.exe'])
    assert_refused(result, 1260, 'ERROR_ACCESS_DISABLED_BY_POLICY', 'blocked by group policy',
                   'powershell.exe', 'backend: smb')
    assert unchanged and endpoint.commands == []


def test_a_blocked_cmd_exe_does_not_matter_since_powershell_starts_directly():
    result, endpoint, _unchanged = _against(INFO, blocked_programs=['cmd.exe'])
    assert result.get('failed') is not True, result
    assert [command['options']['WINRS_SKIP_CMD_SHELL'] for command in endpoint.commands] == ['TRUE']


@pytest.mark.parametrize('policy', ['AllSigned', 'Restricted'])
def test_an_execution_policy_set_by_group_policy_does_not_stop_the_encoded_command(policy):
    result, endpoint, _unchanged = _against(DELETE, execution_policy=policy)
    assert result.get('failed') is not True and result['changed'] is True, result
    assert [(c['execution_policy'], '-EncodedCommand' in c['line']) for c in endpoint.commands] \
        == [(policy, True), (policy, True)]


@pytest.mark.parametrize('operation', [INFO, DELETE])
def test_an_account_refused_a_command_shell_jea_or_remote_management_users(operation):
    result, endpoint, unchanged = _against(operation, shell_denied_users=['admin'])
    assert_refused(result, 5, 'ERROR_ACCESS_DENIED', 'open a WinRM shell', 'Access is denied.',
                   'JEA endpoint', 'backend: smb')
    assert unchanged and endpoint.commands == []


def test_a_local_administrator_filtered_by_uac_is_a_logon_failure_that_says_so():
    result, endpoint, unchanged = _against(DELETE, uac_filtered_users=['admin'])
    assert_refused(result, 1326, 'ERROR_LOGON_FAILURE', 'UAC remote restrictions',
                   'LocalAccountTokenFilterPolicy', 'domain account')
    assert unchanged and endpoint.commands == []
