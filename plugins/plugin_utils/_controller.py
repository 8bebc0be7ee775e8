# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a lanman.server module's work on the controller, for any inventory host.

Private to the lanman.server collection: not a public API.

File servers in an inventory usually say ``ansible_connection: winrm`` (or psrp); a Python module
shipped there would fail, and ``-c local`` does not beat inventory variables. So the action
plugin never touches the host's connection: it fills the connection options from the host's
variables, validates the arguments with the module's own spec and runs the same ``execute``
as the module's ``main()``, inside the controller's worker (no module subprocess per host).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import connection_loader

from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._options import is_address, type_errors
# The linear and free strategies load an action plugin's class in the controller's main process
# before they fork a worker per host, so the SMB transport imported here (impacket, about
# 0.16 s) is inherited by every worker instead of imported again in each. Without impacket this
# imports nothing, and the missing library is reported only when SMB is used. WinRM hosts still
# import pywinrm in their worker: next to a remote PowerShell run that cost is small.
from ansible_collections.lanman.server.plugins.module_utils import _smb  # noqa: F401 pylint: disable=unused-import

__all__ = ['ControllerAction']

# Module option <- the connection plugin options that carry the same thing (winrm and psrp call
# them remote_addr / remote_user / remote_password, ssh host / remote_user / password).
# ansible_port is deliberately absent: on a Windows host it is a WinRM port, never the SMB port.
_CONNECTION_OPTIONS = {
    'server': ('remote_addr', 'host'),
    'connection_username': ('remote_user',),
    'connection_password': ('remote_password', 'password'),
}
# Hosts managed over WinRM: backend auto means winrm, and their WinRM settings apply.
WINRM_CONNECTIONS = frozenset({'winrm', 'ansible.builtin.winrm', 'psrp', 'ansible.builtin.psrp'})
_WINRM_CONNECTION_OPTIONS = {
    'winrm_port': ('port',),
    'winrm_scheme': ('scheme', 'protocol'),
    'winrm_transport': ('transport', 'auth'),
}
# pywinrm settings that the winrm connection plugin passes through from ansible_winrm_* vars.
_WINRM_VARIABLES = {
    'winrm_server_cert_validation': 'ansible_winrm_server_cert_validation',
    'winrm_ca_trust_path': 'ansible_winrm_ca_trust_path',
    'winrm_cert_pem': 'ansible_winrm_cert_pem',
    'winrm_cert_key_pem': 'ansible_winrm_cert_key_pem',
    'winrm_message_encryption': 'ansible_winrm_message_encryption',
    'winrm_operation_timeout': 'ansible_winrm_operation_timeout_sec',
    'winrm_read_timeout': 'ansible_winrm_read_timeout_sec',
}
# psrp's auth names the same protocols differently; Negotiate is NTLM where Kerberos is absent.
_TRANSPORT_ALIASES = {'negotiate': 'ntlm'}
# With delegate_to, Ansible fills these into task_vars from the delegate when the file server
# does not set them itself (PlayContext.update_vars): only the file server's own count then.
_BACKFILLED = frozenset(
    name for prop in ('remote_addr', 'remote_user', 'password')
    for name in C.MAGIC_VARIABLE_MAPPING[prop])


def _variable_names(connection: str, options: tuple[str, ...]) -> list[str] | None:
    """The variables a connection plugin reads for the first of ``options`` it has, in
    precedence order (the last one set wins), or None if it has none of them."""
    plugin = connection_loader.get(connection, class_only=True)
    if plugin is None:
        return None
    definitions = C.config.get_configuration_definitions('connection', plugin._load_name)
    for option in options:
        if option in definitions:
            return [entry['name'] for entry in definitions[option].get('vars', [])
                    if entry['name'].startswith('ansible_')]
    return None


class ControllerAction(ActionBase):
    """Base of the lanman.server action plugins; a subclass names its spec and operation."""

    TRANSFERS_FILES = False
    ARGUMENT_SPEC: Mapping[str, Any] = {}
    OPERATION: Callable[..., dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._supports_check_mode = True
        self._supports_async = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._host_defaults(task_vars)
        backend = self._task.args.get('backend') or 'auto'
        if backend == 'auto':
            backend = 'winrm' if self._host_connection(task_vars) in WINRM_CONNECTIONS else 'smb'
        if backend == 'winrm':
            args.update(self._winrm_defaults(task_vars))
        if 'connection_nt_hash' in self._task.args:
            # An explicit NT hash replaces the host's password rather than conflicting with it.
            args.pop('connection_password', None)
        args.update(self._task.args)
        args['backend'] = backend

        validation = ArgumentSpecValidator(self.ARGUMENT_SPEC).validate(args)
        errors = type_errors(self.ARGUMENT_SPEC, args) + validation.error_messages
        if errors:
            result.update(failed=True, changed=False, msg='; '.join(errors))
            return remove_values(result, validation._no_log_values)
        params = validation.validated_parameters
        result.update(execute(self.OPERATION, params,
                              check_mode=bool(self._task.check_mode), diff=bool(self._task.diff)))
        result['invocation'] = {'module_args': params}
        return remove_values(result, validation._no_log_values)

    def _host_defaults(self, task_vars: Mapping[str, Any]) -> dict[str, Any]:
        """Connection options of the file server, as its own connection plugin would see them.

        Without delegation the host's connection plugin is configured (never connected) and
        knows the answer, play vars, ``-u`` and its own variable names included. A plugin that
        has no such option (local) and delegation fall back to reading the variables with the
        plugin's own names and precedence; with ``delegate_to`` the back-filled values of the
        delegate are left out, or the module would query the delegate instead.
        """
        hostname = task_vars.get('inventory_hostname')
        defaults = self._resolve(_CONNECTION_OPTIONS, task_vars)
        if 'server' not in defaults and hostname:
            defaults['server'] = hostname
        if 'server' not in self._task.args:
            name = self._kerberos_hostname(task_vars, defaults.get('server'))
            if name is not None:
                defaults['kerberos_hostname'] = name
        return defaults

    def _kerberos_hostname(self, task_vars: Mapping[str, Any], server: Any) -> str | None:
        """The file server's host name for a Kerberos SPN when it is reached by address.

        The WinRM connection plugin's own override wins; else, for an inventory like
        ``fs1.example.com ansible_host=192.0.2.10``, the inventory name. None when neither
        gives a name (the module then asks for kerberos_hostname if Kerberos is used).
        """
        override = task_vars.get('ansible_winrm_kerberos_hostname_override')
        if override not in (None, ''):
            return self._templar.template(override)
        hostname = task_vars.get('inventory_hostname')
        if hostname and is_address(server) and not is_address(hostname):
            return hostname
        return None

    def _winrm_defaults(self, task_vars: Mapping[str, Any]) -> dict[str, Any]:
        """The WinRM settings of a host managed over WinRM (port, scheme, transport, TLS ...)."""
        defaults = {}
        if self._host_connection(task_vars) in WINRM_CONNECTIONS:
            defaults = self._resolve(_WINRM_CONNECTION_OPTIONS, task_vars)
        transport = defaults.get('winrm_transport')
        if isinstance(transport, list):  # the winrm plugin's transport is a list; pywinrm takes one
            transport = transport[0] if transport else None
        if transport is not None:
            defaults['winrm_transport'] = _TRANSPORT_ALIASES.get(transport, transport)
        for option, name in _WINRM_VARIABLES.items():
            if task_vars.get(name) not in (None, ''):
                defaults[option] = self._templar.template(task_vars[name])
        return {option: value for option, value in defaults.items() if value is not None}

    def _host_connection(self, task_vars: Mapping[str, Any]) -> str:
        if self._task.delegate_to:
            hostname = task_vars.get('inventory_hostname')
            return task_vars.get('hostvars', {}).get(hostname, {}).get('ansible_connection') or 'ssh'
        return self._play_context.connection or 'ssh'

    def _resolve(self, options: Mapping[str, tuple[str, ...]],
                 task_vars: Mapping[str, Any]) -> dict[str, Any]:
        hostname = task_vars.get('inventory_hostname')
        host_vars = task_vars.get('hostvars', {}).get(hostname, {}) if hostname else {}
        delegated = bool(self._task.delegate_to)
        connection = self._host_connection(task_vars)
        resolved: dict[str, Any] = {}
        for option, plugin_options in options.items():
            value = None if delegated else self._connection_option(plugin_options)
            if value in (None, ''):
                names = (_variable_names(connection, plugin_options)
                         or _variable_names('ssh', plugin_options) or [])
                present = [name for name in names if task_vars.get(name) not in (None, '')
                           and not (delegated and name in _BACKFILLED and name not in host_vars)]
                value = self._templar.template(task_vars[present[-1]]) if present else None
            if value not in (None, ''):
                resolved[option] = value
        return resolved

    def _connection_option(self, names: tuple[str, ...]) -> Any:
        for name in names:
            try:
                return self._connection.get_option(name)
            except (KeyError, AnsibleError):
                continue
        return None
