# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What netsession_info and netsession_delete do, given their validated arguments.

Private to the lanman.server collection: not a public API. The modules' ``main()`` and the
action plugins (which run the same work inside the controller's worker) both call ``execute``;
it is the one place where failures become an Ansible result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._backend import close_pairs, list_sessions, open_transport
from ._errors import NetSessionError, OptionError
from ._accounts import check_account
from ._sessions import (
    check_client, check_host_name, check_server, check_username, level_has_username, select_pairs,
    whole_user,
)

__all__ = ['execute', 'run_module', 'netsession_info', 'netsession_delete', 'type_errors']

_MAX_PORT = 65535
_MAX_TIMEOUT = 3600
# [MS-SRVS] 2.2.4.15: sesi502_idle_time is a DWORD of seconds; no session is idle for longer.
_MAX_IDLE_SECONDS = 0xFFFFFFFF
# What Ansible would silently turn into a string ("['a', 'b']") or an int (true -> 1).
_CONTAINERS = (list, tuple, dict, set)


def type_errors(spec: Mapping[str, Any], args: Mapping[str, Any]) -> list[str]:
    """Arguments of a type that Ansible's validator would convert instead of refusing.

    A list or a mapping given for a string option (or a list element) becomes its Python
    representation, and a boolean given for an integer becomes 0 or 1; both are mistakes.
    """
    errors = []
    for name, value in args.items():
        option = spec.get(name)
        if option is None or value is None:
            continue
        kind = option.get('type', 'str')
        if kind in ('str', 'path') and isinstance(value, _CONTAINERS):
            errors.append(f"{name}: expected a string, got a {_kind(value)}")
        elif kind == 'int' and isinstance(value, bool):
            errors.append(f"{name}: expected an integer, got a boolean ({value})")
        elif kind == 'list' and option.get('elements') == 'str' and isinstance(value, (list, tuple)):
            wrong = [item for item in value if isinstance(item, _CONTAINERS)]
            if wrong:
                errors.append(f"{name}: expected a list of strings, got an element that is a "
                              f"{_kind(wrong[0])}")
    return errors


def _kind(value: Any) -> str:
    return 'dict' if isinstance(value, dict) else 'list'


def _check_connection(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the connection options; return the parameters with ``server`` normalised."""
    params = dict(params, server=check_server('server', params['server'] or ''))
    if not 1 <= params['port'] <= _MAX_PORT:
        raise OptionError('port', f"{params['port']} is out of range; allowed: 1 to {_MAX_PORT}")
    if not 1 <= params['connect_timeout'] <= _MAX_TIMEOUT:
        raise OptionError('connect_timeout', f"{params['connect_timeout']} is out of range; "
                                             f"allowed: 1 to {_MAX_TIMEOUT} seconds")
    if params['winrm_port'] is not None and not 1 <= params['winrm_port'] <= _MAX_PORT:
        raise OptionError('winrm_port', f"{params['winrm_port']} is out of range; allowed: 1 to "
                                        f"{_MAX_PORT}")
    for option in ('winrm_operation_timeout', 'winrm_read_timeout'):
        if not 1 <= params[option] <= _MAX_TIMEOUT:
            raise OptionError(option, f"{params[option]} is out of range; allowed: 1 to "
                                      f"{_MAX_TIMEOUT} seconds")
    if params['backend'] == 'winrm':
        _check_winrm(params)
    elif params['auth'] == 'ntlm' and not params['connection_username']:
        raise OptionError('connection_username', "is required with auth=ntlm (set it, or the "
                                                 "host's ansible_user)")
    if params['connection_password'] and params['connection_nt_hash']:
        raise OptionError('connection_nt_hash', "give either connection_password or "
                                                "connection_nt_hash, not both")
    nt_hash = params['connection_nt_hash']
    if nt_hash is not None and (len(nt_hash) != 32
                                or any(char not in '0123456789abcdefABCDEF' for char in nt_hash)):
        raise OptionError('connection_nt_hash', "must be 32 hexadecimal digits (the NT hash "
                                                "of the password)")
    if params['kdc_host'] is not None and params['auth'] != 'kerberos':
        raise OptionError('kdc_host', "is only used with auth=kerberos")
    return _check_kerberos(params)


def _check_kerberos(params: dict[str, Any]) -> dict[str, Any]:
    """Check the names Kerberos needs; return the parameters with them normalised."""
    if params['connection_username'] is not None:
        check_account('connection_username', params['connection_username'])
    if params['kdc_host'] is not None:
        params['kdc_host'] = check_server('kdc_host', params['kdc_host'])
    if params['kerberos_hostname'] is not None:
        params['kerberos_hostname'] = check_host_name('kerberos_hostname', params['kerberos_hostname'])
    kerberos = params['winrm_transport'] == 'kerberos' if params['backend'] == 'winrm' \
        else params['auth'] == 'kerberos'
    if kerberos and params['kerberos_hostname'] is None:
        try:
            params['kerberos_hostname'] = check_host_name('server', params['server'])
        except OptionError:
            raise OptionError('kerberos_hostname', f"is needed with Kerberos when server is an IP "
                                                   f"address ({params['server']}): the server's "
                                                   "host name, for its service principal name "
                                                   "(for example fs1.example.com)") from None
    return params


def _check_winrm(params: Mapping[str, Any]) -> None:
    transport = params['winrm_transport']
    if transport in ('ntlm', 'credssp', 'basic') and not params['connection_username']:
        raise OptionError('connection_username', f"is required with winrm_transport={transport} "
                                                 "(set it, or the host's ansible_user)")
    if transport == 'certificate' and not (params['winrm_cert_pem'] and params['winrm_cert_key_pem']):
        raise OptionError('winrm_cert_pem', "winrm_transport=certificate needs winrm_cert_pem "
                                            "and winrm_cert_key_pem")
    if params['connection_nt_hash']:
        raise OptionError('connection_nt_hash', "is not supported with backend=winrm (pywinrm "
                                                "needs the password)")
    if params.get('smb_encrypt'):
        raise OptionError('smb_encrypt', "applies to backend=smb only; WinRM is protected by "
                                         "winrm_scheme=https or winrm_message_encryption")
    if not 1 <= params['winrm_operation_timeout'] < params['winrm_read_timeout'] <= _MAX_TIMEOUT:
        raise OptionError('winrm_read_timeout', "must be greater than winrm_operation_timeout, "
                                                f"both from 1 to {_MAX_TIMEOUT} seconds")


def _filters(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    client = params['client']
    username = params['username']
    return (check_client('client', client) if client is not None else None,
            check_username('username', username) if username is not None else None)


def _result_base(transport: Any, level: int) -> dict[str, Any]:
    return {'changed': False, 'backend': transport.backend, 'server': transport.server,
            'level': level}


def netsession_info(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """List the sessions on one server (NetSessionEnum / NetSessionGetInfo)."""
    params = _check_connection(params)
    client, username = _filters(params)
    level = params['level']
    if username is not None and level != 'auto' and not level_has_username(int(level)):
        raise OptionError('level', f"level {level} records carry no user name, so a username "
                                   "filter cannot be applied; use 1, 2, 10, 502 or auto")
    with open_transport(params) as transport:
        found = list_sessions(transport, level=level, client=client, username=username)
        return dict(_result_base(transport, found.level), sessions=found.sessions)


def netsession_delete(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """Close the sessions that match (NetSessionDel per (client, user) pair, or once per user)."""
    params = _check_connection(params)
    client, username = _filters(params)
    excluded = [check_username('exclude_usernames', name) for name in params['exclude_usernames']]
    min_idle = params['min_idle_seconds']
    if min_idle is not None and not 0 <= min_idle <= _MAX_IDLE_SECONDS:
        raise OptionError('min_idle_seconds', f"{min_idle} is out of range; allowed: 0 to "
                                              f"{_MAX_IDLE_SECONDS} (a DWORD of seconds)")
    if params['all_sessions'] and (client is not None or username is not None):
        raise OptionError('all_sessions', "cannot be combined with client or username: "
                                          "all_sessions=true means every session")
    if not params['all_sessions'] and client is None and username is None:
        raise OptionError('client', "netsession_delete needs client, username or both; to close "
                                    "every session set all_sessions=true")

    with open_transport(params) as transport:
        found = list_sessions(transport, level='auto', client=client, username=username,
                              need_username=True)
        selection = select_pairs(found.sessions, client=client, username=username,
                                 min_idle_seconds=min_idle, exclude_usernames=excluded,
                                 own=transport.own_session, own_found=found.own_found)
        one_call = whole_user(selection, client=client, username=username, min_idle_seconds=min_idle,
                              own=transport.own_session)
        report = close_pairs(transport, selection, level=found.level, check_mode=check_mode,
                             whole_user=one_call)
        result = _result_base(transport, found.level)

    warnings = []
    if selection.kept_own and found.own_found:
        warnings.append(f"{len(selection.kept_own)} matching session(s) were left open because "
                        "they share the client address and user of this module's own "
                        "connection, and closing them would cut it")
    elif selection.kept_own:
        warnings.append(f"{len(selection.kept_own)} matching session(s) of the connection's own "
                        "user were left open: the server did not list the module's own session "
                        "under a client name it can recognise (NAT, a proxy), so any of them "
                        "could be it; connect as another account to close them")
    if selection.kept_partial:
        warnings.append(f"{len(selection.kept_partial)} matching session(s) were left open "
                        "because other sessions of the same client and user do not match "
                        "(NetSessionDel closes a client and user's sessions all at once)")
    if selection.kept_unnamed:
        warnings.append(f"{len(selection.kept_unnamed)} matching session(s) were left open "
                        "because the server reports no client or user name for them, and "
                        "NetSessionDel would take an empty name to mean every client or user")
    closed_ids = {id(rec) for rec in report.closed + report.already_gone}
    result.update(changed=bool(report.closed), closed=report.closed,
                  already_gone=report.already_gone)
    if warnings:
        result['warnings'] = warnings
    if diff:
        result['diff'] = {
            'before': {'sessions': found.sessions},
            'after': {'sessions': [rec for rec in found.sessions if id(rec) not in closed_ids]},
        }
    return result


def execute(operation: Callable[..., dict[str, Any]], params: Mapping[str, Any], *,
            check_mode: bool, diff: bool) -> dict[str, Any]:
    """Run one operation; every expected failure becomes a ``failed`` result, never a traceback."""
    try:
        return operation(params, check_mode=check_mode, diff=diff)
    except OptionError as error:
        return {'failed': True, 'changed': False, 'msg': str(error), 'option': error.option,
                'server': params.get('server')}
    except NetSessionError as error:
        result = {'failed': True, 'changed': bool(error.partial.get('closed')),
                  'msg': error.describe(), 'code': error.code, 'code_name': error.name,
                  'operation': error.operation, 'server': error.server}
        result.update(error.partial)
        return result


def run_module(argument_spec: Mapping[str, Any], operation: Callable[..., dict[str, Any]]) -> None:
    """A module's ``main()``, for when a module runs without its action plugin."""
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=dict(argument_spec), supports_check_mode=True)
    result = execute(operation, module.params, check_mode=module.check_mode, diff=module._diff)
    if result.get('failed'):
        module.fail_json(**result)
    module.exit_json(**result)
