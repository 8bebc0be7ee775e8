"""Self-tests of the loopback WinRM endpoint, driven by the real pywinrm 0.5.0 client.

Everything talks to 127.0.0.1 on a port the kernel picks; every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

winrm = pytest.importorskip('winrm', reason='the WinRM endpoint tests need pywinrm')
pytest.importorskip('spnego', reason='the WinRM endpoint needs pyspnego')
from ansible.plugins.shell.powershell import _parse_clixml  # noqa: E402  (Ansible's own CLIXML reader)
from winrm.exceptions import (  # noqa: E402
    InvalidCredentialsError, WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError,
)
from winrm.protocol import Protocol  # noqa: E402

from .endpoint import CMD_LINE_LIMIT, MAX_ENVELOPE_SIZE, MODEL_REFUSED, WsmanEndpoint, clixml_error  # noqa: E402

USER, PASSWORD = 'alice', 'Secret-1!'
BOOTSTRAP = "$ErrorActionPreference='Stop'; $in=[Console]::In.ReadToEnd(); $s,$r=$in -split [char]0,2; . ([scriptblock]::Create($s)) $r"
SCRIPT = "param($Request) ConvertTo-Json -Compress @{ status = 0 }  # the shim, as the endpoint expects it\n" * 40
POWERSHELL_ARGS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand']


def encoded(text: str) -> str:
    return base64.b64encode(text.encode('utf-16-le')).decode('ascii')


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.fail: Exception | None = None

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(request)
        if self.fail is not None:
            raise self.fail
        return {'status': 0, 'entries': [{'cname': '127.0.0.9', 'username': 'bob'}], 'seen': request}


@pytest.fixture
def responder() -> Recorder:
    return Recorder()


@pytest.fixture
def endpoint(responder: Recorder) -> Iterator[WsmanEndpoint]:
    with WsmanEndpoint(responder, users={USER: PASSWORD, 'LAB\\bob': 'Other-2!'},
                       expected_script=SCRIPT, expected_bootstrap=BOOTSTRAP) as running:
        yield running
        assert running.errors == []


def protocol(endpoint: WsmanEndpoint, transport: str = 'ntlm', encryption: str = 'always', *,
             username: str = USER, password: str = PASSWORD, read_timeout: int = 10, operation_timeout: int = 5) -> Protocol:
    return Protocol(endpoint.url, transport=transport, username=username, password=password,  # type: ignore[arg-type]
                    message_encryption=encryption, read_timeout_sec=read_timeout,  # type: ignore[arg-type]
                    operation_timeout_sec=operation_timeout, proxy=None, ca_trust_path=None)  # type: ignore[arg-type]


def run_shim(client: Protocol, request: Any, *, script: str = SCRIPT, bootstrap: str = BOOTSTRAP,
             chunk: int = 1000, program: str = 'powershell.exe') -> tuple[bytes, bytes, int]:
    """What the collection does: bootstrap on the command line, script + NUL + JSON on stdin."""
    shell_id = client.open_shell()
    try:
        command_id = client.run_command(shell_id, program, [*POWERSHELL_ARGS, encoded(bootstrap)], console_mode_stdin=False)
        payload = (script + '\0' + json.dumps(request)).encode('utf-8')
        pieces = [payload[offset:offset + chunk] for offset in range(0, len(payload), chunk)]
        for index, piece in enumerate(pieces):
            client.send_command_input(shell_id, command_id, piece, end=index == len(pieces) - 1)
        result = client.get_command_output(shell_id, command_id)
        client.cleanup_command(shell_id, command_id)
    finally:
        client.close_shell(shell_id)
    return result


@pytest.mark.parametrize('transport, encryption, encrypted', [
    ('ntlm', 'always', True), ('ntlm', 'auto', True), ('ntlm', 'never', False), ('basic', 'auto', False)])
def test_round_trip(endpoint: WsmanEndpoint, responder: Recorder, transport: str, encryption: str, encrypted: bool) -> None:
    request = {'operation': 'enum', 'level': 502, 'client': None, 'username': 'bob'}
    stdout, stderr, exit_code = run_shim(protocol(endpoint, transport, encryption), request)
    assert (exit_code, stderr) == (0, b'')
    assert stdout.endswith(b'\r\n')
    assert json.loads(stdout) == {'status': 0, 'entries': [{'cname': '127.0.0.9', 'username': 'bob'}], 'seen': request}
    assert responder.calls == [request] and endpoint.requests == [request]
    record, = endpoint.commands
    assert record['bootstrap'] == BOOTSTRAP and record['script'] == SCRIPT and record['stdin_chunks'] > 3
    assert record['line'].startswith('powershell.exe -NoProfile -NonInteractive')
    assert record['options']['WINRS_CONSOLEMODE_STDIN'] == 'FALSE'
    soap = [exchange for exchange in endpoint.exchanges if exchange['action']]
    assert [exchange['action'] for exchange in soap][:3] == ['Create', 'Command', 'Send']
    assert [exchange['action'] for exchange in soap][-3:] == ['Receive', 'Signal', 'Delete']
    assert {(exchange['encrypted'], exchange['auth'], exchange['user'], exchange['status']) for exchange in soap} == \
        {(encrypted, transport, USER, 200)}
    assert (endpoint.open_shells, endpoint.open_commands) == (0, 0)


def test_domain_user_and_run_ps_style_command_line(endpoint: WsmanEndpoint) -> None:
    client = protocol(endpoint, username='lab\\BOB', password='Other-2!')
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, f'powershell -encodedcommand {encoded(BOOTSTRAP)}')
    client.send_command_input(shell_id, command_id, (SCRIPT + '\0{}').encode(), end=True)
    assert client.get_command_output(shell_id, command_id)[2] == 0
    client.close_shell(shell_id)
    assert {exchange['user'] for exchange in endpoint.exchanges if exchange['action']} == {'LAB\\bob'}


@pytest.mark.parametrize('transport', ['ntlm', 'basic'])
def test_responder_may_ask_who_calls(transport: str) -> None:
    seen = []

    def responder(request: dict[str, Any], *, user: str) -> dict[str, Any]:
        seen.append((request, user))
        return {'status': 0}

    with WsmanEndpoint(responder, users={'LAB\\bob': 'Other-2!'}) as running:
        assert run_shim(protocol(running, transport, 'auto', username='lab\\Bob', password='Other-2!'), {'n': 1})[2] == 0
    assert seen == [({'n': 1}, 'LAB\\bob')]


@pytest.mark.parametrize('transport', ['ntlm', 'basic'])
@pytest.mark.parametrize('username, password', [(USER, 'wrong'), ('mallory', PASSWORD), ('OTHER\\alice', PASSWORD)])
def test_rejected_credentials(endpoint: WsmanEndpoint, transport: str, username: str, password: str) -> None:
    with pytest.raises(InvalidCredentialsError):
        protocol(endpoint, transport, 'auto', username=username, password=password).open_shell()
    assert endpoint.exchanges[-1]['status'] == 401 and endpoint.open_shells == 0


def test_encryption_required(responder: Recorder) -> None:
    with WsmanEndpoint(responder, users={USER: PASSWORD}, encryption='required') as strict:
        with pytest.raises(WinRMTransportError) as plain:
            protocol(strict, 'ntlm', 'never').open_shell()
        assert plain.value.code == 500 and plain.value.response_text == ''
        with pytest.raises(InvalidCredentialsError):
            protocol(strict, 'basic', 'auto').open_shell()
        assert run_shim(protocol(strict, 'ntlm', 'auto'), {'x': 1})[2] == 0


def test_encryption_off_refuses_encrypted_bodies(responder: Recorder) -> None:
    with WsmanEndpoint(responder, users={USER: PASSWORD}, encryption='off') as plain_only:
        with pytest.raises(WinRMTransportError) as refused:
            protocol(plain_only, 'ntlm', 'always').open_shell()
        assert refused.value.code == 500
        assert run_shim(protocol(plain_only, 'ntlm', 'never'), {'x': 1})[2] == 0


@pytest.mark.parametrize('encryption', ['always', 'never'])
def test_envelope_over_153600_bytes(endpoint: WsmanEndpoint, encryption: str) -> None:
    client = protocol(endpoint, 'ntlm', encryption)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
    client.send_command_input(shell_id, command_id, b'x' * 96 * 1024)  # 128 KiB of base64: fits
    with pytest.raises(WinRMTransportError) as too_large:
        client.send_command_input(shell_id, command_id, b'x' * 116 * 1024)  # 158,380 bytes of base64 alone
    assert too_large.value.code == 413
    oversized = endpoint.exchanges[-1]
    assert oversized['status'] == 413 and oversized['size'] > MAX_ENVELOPE_SIZE
    client.cleanup_command(shell_id, command_id)  # the encrypted session is still in step
    client.close_shell(shell_id)
    assert endpoint.open_shells == 0


def test_envelope_limit_as_a_fault(responder: Recorder) -> None:
    with WsmanEndpoint(responder, users={USER: PASSWORD}, oversize_answer='fault') as faulting:
        client = protocol(faulting)
        shell_id = client.open_shell()
        command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
        with pytest.raises(WSManFaultError) as fault:
            client.send_command_input(shell_id, command_id, b'x' * 116 * 1024)
        assert (fault.value.code, fault.value.fault_code, fault.value.fault_subcode) == (500, 's:Sender', 'w:EncodingLimit')
        assert fault.value.wsman_fault_code == 2150858824
        client.close_shell(shell_id)


def test_envelope_size_threshold_is_exact(endpoint: WsmanEndpoint) -> None:
    client = protocol(endpoint, 'ntlm', 'never')
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
    client.send_command_input(shell_id, command_id, b'abc')  # 4 characters of base64
    overhead = endpoint.exchanges[-1]['size'] - 4
    fitting = (MAX_ENVELOPE_SIZE - overhead) // 4 * 3
    client.send_command_input(shell_id, command_id, b'x' * fitting)
    assert endpoint.exchanges[-1]['status'] == 200 and MAX_ENVELOPE_SIZE - 4 < endpoint.exchanges[-1]['size'] <= MAX_ENVELOPE_SIZE
    with pytest.raises(WinRMTransportError) as too_large:
        client.send_command_input(shell_id, command_id, b'x' * (fitting + 3))
    assert too_large.value.code == 413 and endpoint.exchanges[-1]['size'] > MAX_ENVELOPE_SIZE
    client.close_shell(shell_id)


def test_command_line_limit(endpoint: WsmanEndpoint) -> None:
    client = protocol(endpoint)
    shell_id = client.open_shell()
    padding = CMD_LINE_LIMIT - len('powershell.exe -NoProfile -EncodedCommand ') - len(encoded(BOOTSTRAP))
    at_limit = ['-NoProfile' + ' ' * padding, '-EncodedCommand', encoded(BOOTSTRAP)]
    over = ['-NoProfile' + ' ' * (padding + 1), '-EncodedCommand', encoded(BOOTSTRAP)]
    fits = client.run_command(shell_id, 'powershell.exe', at_limit, console_mode_stdin=False)
    assert endpoint.commands[-1]['length'] == CMD_LINE_LIMIT and endpoint.commands[-1]['kind'] == 'powershell'
    client.cleanup_command(shell_id, fits)
    too_long = client.run_command(shell_id, 'powershell.exe', over, console_mode_stdin=False)
    assert client.get_command_output(shell_id, too_long) == (b'', b'The command line is too long.\r\n', 1)
    client.close_shell(shell_id)


def test_script_mismatch_is_a_powershell_error(endpoint: WsmanEndpoint, responder: Recorder) -> None:
    stdout, stderr, exit_code = run_shim(protocol(endpoint), {'x': 1}, script=SCRIPT.replace('status', 'Status', 1))
    assert (stdout, exit_code) == (b'', 1)
    assert stderr.startswith(b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">')
    assert b'<S S="Error">' in stderr and b'_x000D__x000A_</S>' in stderr
    assert _parse_clixml(stderr).startswith(b'The script on stdin is not the expected shim: it differs at byte ')
    assert responder.calls == []


def test_responder_failure_and_bad_json(endpoint: WsmanEndpoint, responder: Recorder) -> None:
    responder.fail = RuntimeError('Access is denied')
    stdout, stderr, exit_code = run_shim(protocol(endpoint), {'x': 1})
    assert (stdout, exit_code) == (b'', 1) and b'Access is denied' in _parse_clixml(stderr)
    client = protocol(endpoint)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
    client.send_command_input(shell_id, command_id, SCRIPT.encode() + b'\0{not json', end=True)
    stdout, stderr, exit_code = client.get_command_output(shell_id, command_id)
    assert exit_code == 1 and b'Conversion from JSON failed' in _parse_clixml(stderr)
    client.close_shell(shell_id)


@pytest.mark.parametrize('program, bootstrap, reason', [
    ('powershell.exe', 'Write-Host other', 'the -EncodedCommand bootstrap is not the expected one'),
    ('cmd.exe', BOOTSTRAP, "only powershell.exe -EncodedCommand runs here, not 'cmd.exe'"),
])
def test_model_refusals_are_faults(endpoint: WsmanEndpoint, program: str, bootstrap: str, reason: str) -> None:
    client = protocol(endpoint)
    shell_id = client.open_shell()
    with pytest.raises(WSManFaultError) as fault:
        client.run_command(shell_id, program, [*POWERSHELL_ARGS, encoded(bootstrap)], console_mode_stdin=False)
    assert fault.value.code == 500 and fault.value.wsman_fault_code == MODEL_REFUSED
    assert fault.value.reason == f'[model] {reason}'
    client.close_shell(shell_id)


def test_injected_http_500_and_garbage_stdout(endpoint: WsmanEndpoint) -> None:
    endpoint.fail_next('Receive', http_status=500)
    with pytest.raises(WSManFaultError) as fault:
        run_shim(protocol(endpoint), {'x': 1})
    assert fault.value.code == 500 and fault.value.fault_subcode == 'w:InternalError'
    endpoint.fail_next(stdout=b'\x00garbage, not JSON')
    assert run_shim(protocol(endpoint), {'x': 2}) == (b'\x00garbage, not JSON', b'', 0)
    assert endpoint.open_shells == 0


def test_stall_beyond_the_read_timeout(endpoint: WsmanEndpoint) -> None:
    client = protocol(endpoint, read_timeout=2, operation_timeout=1)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
    client.send_command_input(shell_id, command_id, SCRIPT.encode() + b'\0{}', end=True)
    endpoint.fail_next('Receive', stall=2.5)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.get_command_output(shell_id, command_id)
    assert 2 <= time.monotonic() - started < 4
    # requests dropped the connection; the shell lives on, and a new client can close it.
    protocol(endpoint).close_shell(shell_id)
    assert endpoint.open_shells == 0


def test_receive_before_end_times_out_like_windows(endpoint: WsmanEndpoint) -> None:
    client = protocol(endpoint, read_timeout=3, operation_timeout=1)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
    client.send_command_input(shell_id, command_id, SCRIPT.encode())
    with pytest.raises(WinRMOperationTimeoutError):
        client.get_command_output_raw(shell_id, command_id)
    client.send_command_input(shell_id, command_id, b'\0{"late": true}', end=True)
    assert client.get_command_output(shell_id, command_id)[2] == 0
    with pytest.raises(WSManFaultError):
        client.send_command_input(shell_id, command_id, b'more', end=True)
    client.cleanup_command(shell_id, command_id)
    client.close_shell(shell_id)
    with pytest.raises(WSManFaultError) as gone:
        client.close_shell(shell_id)
    assert gone.value.wsman_fault_code == 2150858843


def test_large_output_arrives_over_several_receives(responder: Recorder) -> None:
    big = {'entries': ['x' * 50] * 400}
    with WsmanEndpoint(lambda request: big, users={USER: PASSWORD}, receive_chunk_size=4096,
                       progress_on_stderr=True) as chunked:
        client = protocol(chunked)
        shell_id = client.open_shell()
        command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
        client.send_command_input(shell_id, command_id, b'script\0{}', end=True)
        stdout, stderr, exit_code, done = client.get_command_output_raw(shell_id, command_id)
        assert (len(stdout), done) == (4096, False)
        rest, stderr, exit_code = client.get_command_output(shell_id, command_id)
        assert json.loads(stdout + rest) == big and exit_code == 0
        assert stderr.startswith(b'#< CLIXML\r\n') and b'Preparing modules for first use.' in stderr
        assert _parse_clixml(stderr) == b''
        client.close_shell(shell_id)


def test_clixml_error_format() -> None:
    assert clixml_error('bad _x thing\nsecond <line>') == (
        b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        b'<S S="Error">bad _x005F_x thing_x000D__x000A_</S><S S="Error">second &lt;line&gt;_x000D__x000A_</S>'
        b'<S S="Error">    + CategoryInfo          : NotSpecified: (:) [], RuntimeException_x000D__x000A_</S>'
        b'<S S="Error">    + FullyQualifiedErrorId : RuntimeException_x000D__x000A_</S>'
        b'<S S="Error"> _x000D__x000A_</S></Objs>')
    assert _parse_clixml(clixml_error('bad _x thing')).startswith(b'bad _x thing\r\n')


def test_stop_leaves_nothing_behind(responder: Recorder) -> None:
    before = os.environ.get('NTLM_USER_FILE')
    server = WsmanEndpoint(responder, users={USER: PASSWORD}).start()
    url, port, tempdir = server.url, server.port, server._tempdir
    client = protocol(server)
    shell_id = client.open_shell()  # leaves a kept-alive, authenticated connection open
    server.fail_next('Receive', stall=30)
    command_id = client.run_command(shell_id, 'powershell.exe', [*POWERSHELL_ARGS, encoded(BOOTSTRAP)], console_mode_stdin=False)
    client.send_command_input(shell_id, command_id, b'script\0{}', end=True)
    # Whatever pywinrm makes of the connection dropped at stop(): only that the call ends matters.
    stalled = threading.Thread(target=lambda: pytest.raises(Exception, client.get_command_output, shell_id, command_id),  # noqa: B017
                               daemon=True)
    stalled.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    stalled.join(timeout=5)
    assert not stalled.is_alive()
    assert not any(thread.name.startswith('wsman-endpoint') for thread in threading.enumerate())
    assert tempdir is not None and not os.path.exists(tempdir)
    assert os.environ.get('NTLM_USER_FILE') == before
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
    assert url.startswith('http://127.0.0.1:')


@pytest.mark.parametrize('kwargs', [{'address': '10.0.0.1'}, {'address': '0.0.0.0'}, {'port': 5985}, {'port': 445},
                                    {'encryption': 'sometimes'}])
def test_refuses_unsafe_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WsmanEndpoint(lambda request: request, users={USER: PASSWORD}, **kwargs)
