"""What the WinRM shim does on a Windows host, with the Windows model standing in for netapi32.

The shim's own logic (plugins/module_utils/_winrm_shim.py), restated for the model: GetInfo when
both names are given and the level is not 502, else NetSessionEnum until the status is no
longer ERROR_MORE_DATA; a delete with both names NULL is refused with 87 before it reaches
netapi32. The shim's C# is exercised against a native stand-in in tests/shim; this is what the
loopback WS-Management endpoint answers with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import WsmanEndpoint

from .model import (
    ERROR_INVALID_PARAMETER, ERROR_MORE_DATA, MAX_PREFERRED_LENGTH, NERR_SUCCESS,
    WindowsSessionModel,
)

# The shim's own bound on ERROR_MORE_DATA pages.
_MAX_PAGES = 1000


def _account(user: str) -> str:
    """The model's principal for a WinRM logon name (DOMAIN\\user, user@realm or user)."""
    return user.rpartition('\\')[2].partition('@')[0].lower()


def shim_responder(model: WindowsSessionModel) -> Callable[..., dict[str, Any]]:
    def respond(request: dict[str, Any], user: str) -> dict[str, Any]:
        caller = _account(user)
        client = request.get('client') or None
        username = request.get('username') or None
        if request['operation'] == 'delete':
            if client is None and username is None:
                return {'status': ERROR_INVALID_PARAMETER}
            return {'status': model.delete(caller, client, username)}
        level = request['level']
        if client is not None and username is not None and level != 502:
            result = model.get_info(caller, level, client, username)
            return {'status': result.status, 'entries': result.entries if result.status == NERR_SUCCESS else []}
        entries: list[dict[str, Any]] = []
        resume = 0
        for _page in range(_MAX_PAGES):
            result = model.enum(caller, level, client, username, MAX_PREFERRED_LENGTH, resume)
            entries += result.entries
            resume = result.resume_handle
            if result.status != ERROR_MORE_DATA:
                break
        return {'status': result.status, 'entries': entries if result.status == NERR_SUCCESS else []}
    return respond


@contextlib.contextmanager
def shim_host(respond: Callable[..., dict[str, Any]], users: dict[str, str],
              tmp_path: Path) -> Iterator[tuple[WsmanEndpoint, Path]]:
    """A loopback WinRM endpoint that runs only the packaged shim, answering with ``respond``,
    and an inventory naming it win1 (WinRM over HTTP, NTLM, message encryption), as admin."""
    with WsmanEndpoint(respond, users=users, expected_script=SHIM_SCRIPT,
                       expected_bootstrap=BOOTSTRAP) as endpoint:
        inventory = tmp_path / 'windows.ini'
        inventory.write_text(
            '[windows]\n'
            f'win1 ansible_host=127.0.0.1 ansible_port={endpoint.port}\n\n'
            '[windows:vars]\n'
            'ansible_connection=winrm\nansible_winrm_scheme=http\nansible_winrm_transport=ntlm\n'
            'ansible_winrm_message_encryption=always\n'
            f"ansible_user=admin\nansible_password={users['admin']}\n")
        yield endpoint, inventory
