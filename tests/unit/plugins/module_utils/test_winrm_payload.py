"""What the WinRM transport sends: constant script text, the request only as data."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.lanman.server.plugins.module_utils._winrm import (
    POWERSHELL, POWERSHELL_ARGUMENTS, STDIN_CHUNK_BYTES, clixml_message, encoded_command,
    stdin_payload,
)
from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT

HOSTILE = ["a'b", 'a"b', 'a;b', '$(Remove-Item C:\\)', '`whoami`', 'x\ny', "@'\nx\n'@",
           'ünïcødé', '\\\\evil\\share']


@pytest.mark.parametrize('value', HOSTILE)
def test_script_text_is_identical_whatever_the_request(value):
    payload = stdin_payload({'operation': 'enum', 'level': 1, 'client': value, 'username': value})
    script, _nul, request = payload.partition(b'\0')
    assert script == SHIM_SCRIPT.encode('ascii')
    assert json.loads(request) == {'operation': 'enum', 'level': 1, 'client': value,
                                   'username': value}
    assert request.isascii()  # the shim reads stdin with the console code page


def test_command_line_is_constant_and_fits_cmd():
    command = encoded_command(BOOTSTRAP)
    assert base64.b64decode(command).decode('utf-16-le') == BOOTSTRAP
    line = ' '.join([POWERSHELL, *POWERSHELL_ARGUMENTS, command])
    assert len(line) < 8191


def test_stdin_chunks_fit_the_default_envelope():
    # base64 grows data by 4/3; Windows' default MaxEnvelopeSizekb is 150.
    assert STDIN_CHUNK_BYTES * 4 / 3 + 8192 < 153600


def test_clixml_error_stream_is_made_readable():
    stderr = (b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/'
              b'2004/04"><S S="Error">Access is denied._x000D__x000A_</S>'
              b'<S S="Error">second line_x000D__x000A_</S></Objs>')
    assert clixml_message(stderr) == 'Access is denied.\nsecond line'
    assert clixml_message(b'plain failure\r\n') == 'plain failure'
