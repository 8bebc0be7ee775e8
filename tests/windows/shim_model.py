"""What the WinRM shim does on a Windows host, with the Windows model standing in for netapi32.

The shim's own logic (plugins/module_utils/_winrm_shim.py), restated for the model: a plan of
levels walked step by step, each step GetInfo when both names are given and the level is not
502, else NetSessionEnum until the status is no longer ERROR_MORE_DATA (or a page brings
nothing), a refusal going on at the step its fallback names; a list of pairs closed in order,
stopping after the first status that is not "closed" or "already gone"; a pair with both names
NULL refused with 87 before it reaches netapi32. For open files: NetFileEnum at level 3 until the
status is no longer ERROR_MORE_DATA (or a page brings nothing), entries only with status 0; a
list of file ids closed in order with NetFileClose, stopping after the first status that is not
0, NERR_FileIdNotFound (2314) or ERROR_FILE_NOT_FOUND (2), an id that is not a DWORD refused with
87 before it reaches netapi32. The shim's C# is exercised against a native stand-in in
tests/shim; this is what the loopback WS-Management endpoint answers with.

Who may log on: on Windows an account the server does not know fails the WinRM logon (HTTP
401; the collection reports ERROR_LOGON_FAILURE) and runs nothing (model.py,
RULES['unknown-account']). The loopback endpoint (tests/wsman/endpoint.py) refuses every logon
but those of its ``users``, so those must be accounts of the model: ``shim_host`` keeps only
those (``known_users``), and the responder refuses to answer for any other account instead of
handing the model a caller it does not know.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ansible_collections.lanman.server.plugins.module_utils._transport import DELETE_GOES_ON_AFTER
from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
from tests.wsman.endpoint import WsmanEndpoint

from .model import (
    ERROR_FILE_NOT_FOUND, ERROR_INVALID_PARAMETER, ERROR_MORE_DATA, MAX_FILE_ID, MAX_PREFERRED_LENGTH,
    NERR_FILE_ID_NOT_FOUND, NERR_SUCCESS, WindowsSessionModel,
)

__all__ = ['UnknownAccountError', 'known_users', 'shim_responder', 'shim_host']

# The shim's own bound on ERROR_MORE_DATA pages.
_MAX_PAGES = 1000
# NetFileClose statuses after which the shim goes on to the next id: closed, or already gone
# (MS-SRVS 3.1.4.4 answers 2314; the SDK's NetFileClose page names 2 -- model.py RULES
# 'file-close-unknown-id').
_FILE_CLOSE_GOES_ON_AFTER = frozenset({NERR_SUCCESS, NERR_FILE_ID_NOT_FOUND, ERROR_FILE_NOT_FOUND})


class UnknownAccountError(PermissionError):
    """An account the model does not know got past the endpoint's logon: a set-up error."""


def _account(user: str) -> str:
    """The model's principal for a WinRM logon name (DOMAIN\\user, user@realm or user)."""
    return user.rpartition('\\')[2].partition('@')[0].lower()


def known_users(model: WindowsSessionModel, users: Mapping[str, str]) -> dict[str, str]:
    """The endpoint ``users`` (logon name -> password) whose account the model knows."""
    return {name: password for name, password in users.items() if model.knows(_account(name))}


def shim_responder(model: WindowsSessionModel) -> Callable[..., dict[str, Any]]:
    """The shim's answers for the endpoint's responder; ``respond.model`` is ``model``."""
    def respond(request: dict[str, Any], user: str) -> dict[str, Any]:
        caller = _account(user)
        if not model.knows(caller):
            # Windows would have refused this logon; never ask the model for an unknown caller.
            raise UnknownAccountError(
                f"{user!r} logged on to the WinRM endpoint, but the model does not know that "
                "account: give the endpoint only the model's accounts (known_users)")
        if request['operation'] == 'delete':
            return _delete_each(model, caller, request['pairs'])
        if request['operation'] == 'files':
            return _enumerate_files(model, caller, request.get('level', 3), request.get('base_path') or None,
                                    request.get('username') or None, request.get('pref_max_len', -1))
        if request['operation'] == 'close_files':
            return _close_each(model, caller, request['ids'])
        return _enumerate_plan(model, caller, request['plan'], request.get('pref_max_len', -1))
    respond.model = model  # type: ignore[attr-defined]
    return respond


def _enumerate_plan(model: WindowsSessionModel, caller: str, plan: list[dict[str, Any]],
                    pref_max_len: int) -> dict[str, Any]:
    """SessionApi.EnumeratePlan: walk the steps, each answered as SessionApi.Enumerate."""
    steps: list[int] = []
    statuses: list[int] = []
    answer: dict[str, Any] = {'status': ERROR_INVALID_PARAMETER, 'entries': []}
    index = 0
    while 0 <= index < len(plan):
        step = plan[index]
        answer = _enumerate(model, caller, step['level'], step.get('client') or None,
                            step.get('username') or None, pref_max_len)
        steps.append(index)
        statuses.append(answer['status'])
        fallback = step.get('fallback') or []
        following = dict(zip(fallback[::2], fallback[1::2], strict=True)).get(answer['status'], -1) \
            if answer['status'] != NERR_SUCCESS else -1
        index = following if following > index else -1
    return {**answer, 'steps': steps, 'statuses': statuses}


def _enumerate(model: WindowsSessionModel, caller: str, level: int, client: str | None,
               username: str | None, pref_max_len: int) -> dict[str, Any]:
    if client is not None and username is not None and level != 502:
        result = model.get_info(caller, level, client, username)
        return {'status': result.status, 'entries': result.entries if result.status == NERR_SUCCESS else []}
    entries: list[dict[str, Any]] = []
    resume = 0
    for _page in range(_MAX_PAGES):
        result = model.enum(caller, level, client, username,
                            MAX_PREFERRED_LENGTH if pref_max_len == -1 else pref_max_len, resume)
        entries += result.entries
        resume = result.resume_handle
        # As the shim: loop on the status, not on the resume handle (RULES['resume-handle']).
        if result.status != ERROR_MORE_DATA or not result.entries:
            break
    return {'status': result.status, 'entries': entries if result.status == NERR_SUCCESS else []}


def _delete_each(model: WindowsSessionModel, caller: str, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """SessionApi.DeleteEach: in order, stopping after a status that is not DELETE_GOES_ON_AFTER."""
    statuses: list[int] = []
    status = ERROR_INVALID_PARAMETER
    for pair in pairs:
        client, username = pair.get('client') or None, pair.get('username') or None
        status = ERROR_INVALID_PARAMETER if client is None and username is None \
            else model.delete(caller, client, username)
        statuses.append(status)
        if status not in DELETE_GOES_ON_AFTER:
            break
    return {'status': status, 'statuses': statuses}


def _enumerate_files(model: WindowsSessionModel, caller: str, level: int, base_path: str | None,
                     username: str | None, pref_max_len: int) -> dict[str, Any]:
    """SessionApi.EnumerateFiles: NetFileEnum page after page, as the session enumeration."""
    entries: list[dict[str, Any]] = []
    resume = 0
    for _page in range(_MAX_PAGES):
        result = model.file_enum(caller, level, base_path, username,
                                 MAX_PREFERRED_LENGTH if pref_max_len == -1 else pref_max_len, resume)
        entries += result.entries
        resume = result.resume_handle
        if result.status != ERROR_MORE_DATA or not result.entries:
            break
    return {'status': result.status, 'entries': entries if result.status == NERR_SUCCESS else []}


def _close_each(model: WindowsSessionModel, caller: str, ids: list[int]) -> dict[str, Any]:
    """SessionApi.CloseFiles: in order, stopping after a status that is not closed or gone."""
    statuses: list[int] = []
    status = ERROR_INVALID_PARAMETER
    for file_id in ids:
        status = model.file_close(caller, file_id) if 0 <= file_id <= MAX_FILE_ID else ERROR_INVALID_PARAMETER
        statuses.append(status)
        if status not in _FILE_CLOSE_GOES_ON_AFTER:
            break
    return {'status': status, 'statuses': statuses}


@contextlib.contextmanager
def shim_host(respond: Callable[..., dict[str, Any]], users: dict[str, str],
              tmp_path: Path) -> Iterator[tuple[WsmanEndpoint, Path]]:
    """A loopback WinRM endpoint that runs only the packaged shim, answering with ``respond``,
    and an inventory naming it win1 (WinRM over HTTP, NTLM, message encryption), as admin.

    When ``respond`` comes from ``shim_responder``, only the ``users`` the model knows can log
    on (``known_users``): any other account fails at logon, as on Windows."""
    model = getattr(respond, 'model', None)
    if model is not None:
        users = known_users(model, users)
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
