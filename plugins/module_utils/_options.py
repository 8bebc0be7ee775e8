# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' options: argument specs, and the checks Ansible's validator cannot express.

Private to the lanman.server collection: not a public API. The documentation of the connection
options is the doc fragment ``lanman.server.connection``: keep the two in step. Every check
here runs before anything is sent, whether a module runs through its action plugin or alone,
and fails with an OptionError naming the option.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from ._accounts import AccountName, check_account, check_name_text, check_text
from ._errors import OptionError
from ._open_files import FileFilters
from ._records import LEVEL_CHOICES, level_has_username

__all__ = ['CONNECTION_ARGUMENT_SPEC', 'INFO_ARGUMENT_SPEC', 'DELETE_ARGUMENT_SPEC',
           'SECRET_OPTIONS', 'BACKEND_CHOICES', 'type_errors', 'check_connection',
           'check_client', 'check_server', 'check_host_name', 'check_info_options',
           'check_delete_options', 'InfoOptions', 'DeleteOptions', 'is_address',
           'FILE_INFO_ARGUMENT_SPEC', 'FILE_CLOSE_ARGUMENT_SPEC', 'check_file_info_options',
           'check_file_close_options', 'FileCloseOptions']

BACKEND_CHOICES = ('auto', 'smb', 'winrm')

SECRET_OPTIONS = ('connection_password', 'connection_nt_hash')

CONNECTION_ARGUMENT_SPEC = {
    'server': {'type': 'str', 'required': True},
    'port': {'type': 'int', 'default': 445},
    'backend': {'type': 'str', 'default': 'auto', 'choices': list(BACKEND_CHOICES)},
    'connection_username': {'type': 'str'},
    'connection_password': {'type': 'str', 'no_log': True},
    'connection_domain': {'type': 'str'},
    'connection_nt_hash': {'type': 'str', 'no_log': True},
    'auth': {'type': 'str', 'default': 'ntlm', 'choices': ['ntlm', 'kerberos']},
    'kdc_host': {'type': 'str'},
    'kerberos_hostname': {'type': 'str'},
    'connect_timeout': {'type': 'int', 'default': 10},
    'smb_encrypt': {'type': 'bool', 'default': False},
    'winrm_transport': {'type': 'str', 'default': 'ntlm',
                        'choices': ['ntlm', 'kerberos', 'credssp', 'basic', 'certificate']},
    'winrm_scheme': {'type': 'str', 'default': 'https', 'choices': ['https', 'http']},
    'winrm_port': {'type': 'int'},
    'winrm_server_cert_validation': {'type': 'str', 'default': 'validate',
                                     'choices': ['validate', 'ignore']},
    'winrm_ca_trust_path': {'type': 'path'},
    'winrm_cert_pem': {'type': 'path'},
    'winrm_cert_key_pem': {'type': 'path', 'no_log': False},
    'winrm_message_encryption': {'type': 'str', 'default': 'auto',
                                 'choices': ['auto', 'always', 'never']},
    'winrm_operation_timeout': {'type': 'int', 'default': 20},
    'winrm_read_timeout': {'type': 'int', 'default': 30},
}

INFO_ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    level={'type': 'str', 'default': 'auto', 'choices': list(LEVEL_CHOICES)},
    client={'type': 'str'},
    username={'type': 'str'},
)

DELETE_ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    client={'type': 'str'},
    username={'type': 'str'},
    min_idle_seconds={'type': 'int'},
    exclude_usernames={'type': 'list', 'elements': 'str', 'default': []},
    all_sessions={'type': 'bool', 'default': False},
)

_FILE_FILTERS = dict(
    file_id={'type': 'int'},
    path={'type': 'str'},
    path_prefix={'type': 'str'},
    username={'type': 'str'},
)
FILE_INFO_ARGUMENT_SPEC = dict(CONNECTION_ARGUMENT_SPEC, **_FILE_FILTERS)
FILE_CLOSE_ARGUMENT_SPEC = dict(CONNECTION_ARGUMENT_SPEC, **_FILE_FILTERS,
                                max_files={'type': 'int', 'default': 1})

_MAX_PORT = 65535
# [MS-SRVS] 2.2.4.7: fi3_id is a DWORD.
_MAX_FILE_ID = 0xFFFFFFFF
# What a Windows path may be at most (the \\?\ form, in UTF-16 code units).
_MAX_PATH_LENGTH = 32767
_MAX_TIMEOUT = 3600
# [MS-SRVS] 2.2.4.15: sesi502_idle_time is a DWORD of seconds; no session is idle for longer.
_MAX_IDLE_SECONDS = 0xFFFFFFFF
# What Ansible would silently turn into a string ("['a', 'b']") or an int (true -> 1).
_CONTAINERS = (list, tuple, dict, set)

# A computer name as a session reports it: a NetBIOS name (at most 15 characters, MS-NBTE 2.1 /
# "Naming conventions in Active Directory") or a DNS name (RFC 1035 2.3.4 and RFC 1123 2.1: at
# most 253 characters in labels of at most 63), in letters, digits and the few marks Windows
# allows. Non-ASCII names must be given in their IDNA (xn--) form.
_HOST_LABEL = re.compile(r'^[A-Za-z0-9_$][A-Za-z0-9_$-]{0,62}$')
_HOST_NAME_MAX = 253
_HOST_LABEL_MAX = 63
_HOST_ALLOWED = ("an IPv4 or IPv6 address (brackets optional) or a NetBIOS/DNS name of ASCII "
                 f"letters, digits, '-', '_' and '$', at most {_HOST_NAME_MAX} characters in "
                 f"dot-separated labels of at most {_HOST_LABEL_MAX}")


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


def _is_host_name(name: str) -> bool:
    labels = name[:-1].split('.') if name.endswith('.') else name.split('.')
    return len(name) <= _HOST_NAME_MAX and all(_HOST_LABEL.match(label) for label in labels)


def _split_host(option: str, value: str, allowed: str = _HOST_ALLOWED) -> str:
    """A host name or address, IPv6 brackets removed; OptionError if it is neither."""
    bracketed = value.startswith('[') and value.endswith(']')
    address = value[1:-1] if bracketed else value
    try:
        ipaddress.ip_address(address)
        return address
    except ValueError:
        if not bracketed and _is_host_name(value):
            return value
    raise OptionError(option, f"{value!r} is not an IP address or host name; allowed: {allowed}")


def check_client(option: str, value: str) -> str:
    """Validate a client filter; return it without the optional leading ``\\\\``.

    IPv6 brackets are kept as given: the filter is compared without them.
    """
    check_name_text(option, value, 'client')
    name = value[2:] if value.startswith('\\\\') else value
    _split_host(option, name if name and not name.startswith(('\\', '/')) else value,
                _HOST_ALLOWED + ', optionally with one leading \\\\')
    return name


def check_server(option: str, value: str) -> str:
    """Validate the server to connect to; return it with IPv6 brackets removed."""
    if not value or not value.strip():
        raise OptionError(option, f"must not be empty; allowed: {_HOST_ALLOWED}")
    check_name_text(option, value, 'server')
    return _split_host(option, value)


def check_host_name(option: str, value: str) -> str:
    """Validate a host's DNS name (for a Kerberos SPN): not blank, not an address."""
    if not value.strip():
        raise OptionError(option, "must not be empty; give the server's host name (for example "
                                  "fs1.example.com), or leave the option out")
    check_name_text(option, value, 'host')
    if is_address(value):
        raise OptionError(option, f"{value!r} is an IP address; give the server's host name as its "
                                  "Kerberos service principal names it (for example fs1.example.com)")
    if not _is_host_name(value):
        raise OptionError(option, f"{value!r} is not a host name; allowed: a DNS name of ASCII "
                                  f"letters, digits, '-', '_' and '$', at most {_HOST_NAME_MAX} "
                                  f"characters in dot-separated labels of at most {_HOST_LABEL_MAX}")
    return value.rstrip('.')


def check_connection(params: Mapping[str, Any]) -> dict[str, Any]:
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
    return _check_logon_names(params)


def is_address(value: Any) -> bool:
    """Whether ``value`` is an IPv4 or IPv6 address (brackets allowed), not a host name."""
    try:
        ipaddress.ip_address(str(value).strip('[]'))
    except ValueError:
        return False
    return True


def _check_logon_names(params: dict[str, Any]) -> dict[str, Any]:
    """Check the account, KDC and host names of the logon; return them normalised."""
    if params['connection_username'] is not None:
        check_account('connection_username', params['connection_username'])
    if params['kdc_host'] is not None:
        params['kdc_host'] = check_server('kdc_host', params['kdc_host'])
    if params['kerberos_hostname'] is not None:
        params['kerberos_hostname'] = check_host_name('kerberos_hostname', params['kerberos_hostname'])
    kerberos = params['winrm_transport'] == 'kerberos' if params['backend'] == 'winrm' \
        else params['auth'] == 'kerberos'
    if kerberos and params['kerberos_hostname'] is None:
        if is_address(params['server']):
            raise OptionError('kerberos_hostname', f"is needed with Kerberos when server is an IP "
                                                   f"address ({params['server']}): the server's "
                                                   "host name, for its service principal name "
                                                   "(for example fs1.example.com)")
        params['kerberos_hostname'] = params['server'].rstrip('.')  # checked by check_server
    return params


def _check_winrm(params: Mapping[str, Any]) -> None:
    transport = params['winrm_transport']
    if transport in ('ntlm', 'credssp', 'basic') and not params['connection_username']:
        raise OptionError('connection_username', f"is required with winrm_transport={transport} "
                                                 "(set it, or the host's ansible_user)")
    if transport == 'certificate' and not (params['winrm_cert_pem'] and params['winrm_cert_key_pem']):
        raise OptionError('winrm_cert_pem', "winrm_transport=certificate needs winrm_cert_pem "
                                            "and winrm_cert_key_pem")
    for option in ('winrm_cert_pem', 'winrm_cert_key_pem', 'winrm_ca_trust_path'):
        if params[option] and not os.path.exists(params[option]):
            raise OptionError(option, f"{params[option]} does not exist on the controller")
    if transport in ('basic', 'certificate') and params['winrm_scheme'] == 'http':
        # Basic sends the password itself, base64-encoded; certificate authentication is TLS.
        raise OptionError('winrm_scheme', f"winrm_transport={transport} needs winrm_scheme=https: "
                                          "over http it would send the credentials unprotected "
                                          "(basic) or could not authenticate at all (certificate)")
    if params['connection_nt_hash']:
        raise OptionError('connection_nt_hash', "is not supported with backend=winrm (pywinrm "
                                                "needs the password)")
    if transport in ('ntlm', 'credssp', 'basic') and not params['connection_password']:
        raise OptionError('connection_password', f"is required with winrm_transport={transport} "
                                                 "(set it, or the host's ansible_password; "
                                                 "pywinrm cannot use an NT hash)")
    if params.get('smb_encrypt'):
        raise OptionError('smb_encrypt', "applies to backend=smb only; WinRM is protected by "
                                         "winrm_scheme=https or winrm_message_encryption")
    if not 1 <= params['winrm_operation_timeout'] < params['winrm_read_timeout'] <= _MAX_TIMEOUT:
        raise OptionError('winrm_read_timeout', "must be greater than winrm_operation_timeout, "
                                                f"both from 1 to {_MAX_TIMEOUT} seconds")


class InfoOptions(NamedTuple):
    level: str
    client: str | None
    username: AccountName | None


class DeleteOptions(NamedTuple):
    client: str | None
    username: AccountName | None
    exclude_usernames: list[AccountName]
    min_idle_seconds: int | None


def _filters(params: Mapping[str, Any]) -> tuple[str | None, AccountName | None]:
    client, username = params['client'], params['username']
    return (check_client('client', client) if client is not None else None,
            check_account('username', username) if username is not None else None)


def check_info_options(params: Mapping[str, Any]) -> InfoOptions:
    """netsession_info's own options, checked and normalised."""
    client, username = _filters(params)
    level = params['level']
    if username is not None and level != 'auto' and not level_has_username(int(level)):
        raise OptionError('level', f"level {level} records carry no user name, so a username "
                                   "filter cannot be applied; use 1, 2, 10, 502 or auto")
    return InfoOptions(level, client, username)


def check_delete_options(params: Mapping[str, Any]) -> DeleteOptions:
    """netsession_delete's own options, checked and normalised.

    Never wider than asked: with neither client nor username it closes nothing unless
    all_sessions says every session, and all_sessions cannot be narrowed by them either.
    """
    client, username = _filters(params)
    excluded = [check_account('exclude_usernames', name) for name in params['exclude_usernames']]
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
    return DeleteOptions(client, username, excluded, min_idle)


class FileCloseOptions(NamedTuple):
    filters: FileFilters
    max_files: int
    selector: str
    """The first selector given, for messages that concern the selection."""


def _check_path(option: str, value: str) -> str:
    check_text(option, value, 'path', '(leave the option out to match any path)')
    if len(value) > _MAX_PATH_LENGTH:
        raise OptionError(option, f"is {len(value)} characters long; at most {_MAX_PATH_LENGTH}")
    return value


def check_file_info_options(params: Mapping[str, Any]) -> FileFilters:
    """netfile_info's and netfile_close's filters, checked."""
    file_id = params['file_id']
    if file_id is not None and not 0 <= file_id <= _MAX_FILE_ID:
        raise OptionError('file_id', f"{file_id} is out of range; allowed: 0 to {_MAX_FILE_ID} "
                                     "(a file id is a DWORD)")
    path, prefix, username = params['path'], params['path_prefix'], params['username']
    return FileFilters(file_id, _check_path('path', path) if path is not None else None,
                       _check_path('path_prefix', prefix) if prefix is not None else None,
                       check_account('username', username) if username is not None else None)


def check_file_close_options(params: Mapping[str, Any]) -> FileCloseOptions:
    """netfile_close's options: never wider than asked, so at least one selector."""
    filters = check_file_info_options(params)
    given = [name for name in ('file_id', 'path', 'path_prefix', 'username')
             if params[name] is not None]
    if not given:
        raise OptionError('file_id', "netfile_close needs file_id, path, path_prefix or username "
                                     "(at least one) to select the files to close")
    if params['max_files'] < 1:
        raise OptionError('max_files', f"{params['max_files']} is below 1; allowed: 1 or more "
                                       "(the most files one run may close)")
    return FileCloseOptions(filters, params['max_files'], given[0])
