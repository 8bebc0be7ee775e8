"""A Windows inventory managed over WinRM: backend auto is winrm, settings come from the host.

The hosts point at the loopback WS-Management endpoint (tests/wsman), which accepts only the
packaged shim and answers from the Windows model (tests/windows).
"""

from __future__ import annotations

import pytest

from tests.windows.model import ADMIN, WindowsSessionModel
from tests.windows.shim_model import shim_host, shim_responder
from tests.windows.test_smb_model import PASSWORDS, SESSIONS, pairs


@pytest.fixture
def windows_host(tmp_path):
    model = WindowsSessionModel(SESSIONS, {'admin': ADMIN})
    with shim_host(shim_responder(model), PASSWORDS, tmp_path) as (endpoint, inv):
        yield model, endpoint, inv


def test_adhoc_list_and_close_over_winrm(windows_host, ansible):
    model, endpoint, inv = windows_host
    env = {'NO_PROXY': '127.0.0.1'}
    listed = ansible(inv, 'lanman.server.netsession_info', pattern='windows', env=env)
    assert listed.rc == 0, listed.output
    result = listed.by_host()['win1']
    assert (result['backend'], result['level']) == ('winrm', 502)
    assert pairs(result['sessions']) == pairs(SESSIONS)

    closed = ansible(inv, 'lanman.server.netsession_delete', 'username=alice', pattern='windows',
                     env=env)
    assert closed.rc == 0, closed.output
    assert pairs(closed.by_host()['win1']['closed']) == pairs(s for s in SESSIONS if s.username == 'alice')
    assert pairs(model.snapshot()) == pairs(s for s in SESSIONS if s.username != 'alice')
    assert endpoint.errors == []
    assert PASSWORDS['admin'] not in listed.output + closed.output


def test_playbook_check_mode_over_winrm(windows_host, playbook):
    model, _endpoint, inv = windows_host
    play = '''
- hosts: windows
  gather_facts: false
  tasks:
    - name: preview
      lanman.server.netsession_delete:
        client: 192.0.2.15
        backend: auto
      check_mode: true
'''
    run = playbook(inv, play, env={'NO_PROXY': '127.0.0.1'})
    assert run.rc == 0, run.output
    preview = run.task('preview')['win1']
    assert preview['backend'] == 'winrm'
    assert pairs(preview['closed']) == [('192.0.2.15', 'alice'), ('192.0.2.15', 'bob')]
    assert pairs(model.snapshot()) == pairs(SESSIONS)
