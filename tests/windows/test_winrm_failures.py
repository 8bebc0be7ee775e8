"""Every WinRM failure is a clean `failed` with a code, its name and the cause; never a secret."""

from __future__ import annotations

import time

import pytest

from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import WsmanEndpoint, clixml_error

from .shim_model import shim_responder
from .test_both_transports import DELETE, INFO, _model, _run
from .test_smb_model import PASSWORDS


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    with WsmanEndpoint(shim_responder(_model(True)), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP) as served:
        yield served


def listing(endpoint, **task):
    params = dict(server='127.0.0.1', backend='winrm', connection_username='admin',
                  connection_password=PASSWORDS['admin'], winrm_scheme='http', winrm_port=endpoint.port,
                  winrm_operation_timeout=2, winrm_read_timeout=3)
    params.update(task)
    return _run(INFO, params, False)


def assert_failed(result, code, name, fragment):
    assert result['failed'] is True, result
    assert (result['code'], result['code_name']) == (code, name), result
    assert fragment in result['msg'], result['msg']
    assert PASSWORDS['admin'] not in repr(result)


def test_http_500_with_a_wsman_fault(endpoint):
    endpoint.fail_next('Command', http_status=500)
    result = listing(endpoint)
    assert result['failed'] is True and result['code_name'] == 'WSMAN_FAULT', result


def test_http_error_without_a_fault_body(endpoint):
    endpoint.fail_next('Create', http_status=503)
    assert_failed(listing(endpoint), 503, 'HTTP_503', 'HTTP error')


def test_shim_answering_garbage(endpoint):
    endpoint.fail_next(stdout=b'not json at all\r\n', exit_code=0)
    assert_failed(listing(endpoint), 1728, 'RPC_S_PROTOCOL_ERROR', 'not its JSON')


def test_powershell_error_comes_back_readable(endpoint):
    endpoint.fail_next(stderr=clixml_error('Add-Type : compilation failed'), exit_code=1)
    assert_failed(listing(endpoint), 1, 'POWERSHELL_EXIT_CODE', 'Add-Type : compilation failed')


def test_stalled_service_times_out(endpoint):
    endpoint.fail_next('Receive', stall=6)
    started = time.monotonic()
    result = listing(endpoint)
    assert_failed(result, 121, 'ERROR_SEM_TIMEOUT', 'timeouts')
    assert time.monotonic() - started < 3 + 3


@pytest.mark.parametrize('action', ['Create', 'Command', 'Receive'])
def test_connection_dropped_in_the_middle_of_a_call(endpoint, action):
    # The endpoint closes the connection without answering: lost, not "could not connect".
    endpoint.fail_next(action, drop=True)
    started = time.monotonic()
    assert_failed(listing(endpoint), 64, 'ERROR_NETNAME_DELETED', 'dropped the connection')
    assert time.monotonic() - started < 3


def test_nothing_listening():
    result = _run(INFO, dict(server='127.0.0.1', backend='winrm', connection_username='admin',
                             connection_password='x', winrm_scheme='http', winrm_port=1), False)
    assert_failed(result, 53, 'ERROR_BAD_NETPATH', 'could not connect')


@pytest.mark.parametrize('task, fragment', [
    ({'winrm_operation_timeout': 30, 'winrm_read_timeout': 30}, 'winrm_read_timeout: must be greater'),
    ({'connection_nt_hash': '0' * 32, 'connection_password': None}, 'connection_nt_hash: is not supported'),
    ({'winrm_transport': 'certificate'}, 'winrm_cert_pem'),
    ({'winrm_port': 0}, 'winrm_port: 0 is out of range'),
    ({'winrm_transport': 'basic'}, 'winrm_scheme: winrm_transport=basic needs winrm_scheme=https'),
    ({'winrm_transport': 'certificate', 'winrm_cert_pem': '/dev/null', 'winrm_cert_key_pem': '/dev/null'},
     'winrm_scheme: winrm_transport=certificate needs winrm_scheme=https'),
])
def test_bad_winrm_options_are_refused_before_connecting(endpoint, task, fragment):
    result = listing(endpoint, **task)
    assert result['failed'] is True and fragment in result['msg'], result
    assert endpoint.exchanges == []


def test_a_shell_that_reached_the_operation_quota_is_replaced_and_the_run_goes_on(monkeypatch):
    """MaxConcurrentOperationsPerUser: a shell that may run one command lists the sessions; the
    close of every pair is refused, started again in a new shell, and closes them all."""
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    model = _model(True)
    with WsmanEndpoint(shim_responder(model), users=PASSWORDS, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP, max_operations=1) as endpoint:
        params = dict(server='127.0.0.1', backend='winrm', connection_username='admin',
                      connection_password=PASSWORDS['admin'], winrm_scheme='http',
                      winrm_port=endpoint.port, all_sessions=True)
        result = _run(DELETE, params, False)
        assert endpoint.errors == []
    assert result.get('failed') is not True, result
    assert result['changed'] is True and model.snapshot() == []
    creates = [x for x in endpoint.exchanges if x['action'] == 'Create' and x['status'] == 200]
    refused = [x for x in endpoint.exchanges if x['action'] == 'Command' and x['status'] == 500]
    started = [command['request']['operation'] for command in endpoint.commands]
    assert started == ['enum', 'delete'] and len(refused) == 1 and len(creates) == 2
    pairs = {(s.cname.lower(), s.username.lower()) for s in _model(True).sessions}
    assert len(endpoint.commands[1]['request']['pairs']) == len(pairs) == 4


def test_a_refusal_in_a_new_shell_too_fails_with_the_fault():
    """A quota that not even a new shell satisfies (0): one new shell, then the fault, no loop."""
    with WsmanEndpoint(shim_responder(_model(True)), users=PASSWORDS, max_operations=0) as endpoint:
        result = listing(endpoint)
    assert_failed(result, 0x803381A6, 'WSMAN_FAULT', 'maximum number of 0 concurrent operations')
    assert len([x for x in endpoint.exchanges if x['action'] == 'Create']) == 2
