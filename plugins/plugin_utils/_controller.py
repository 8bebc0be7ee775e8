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

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.lanman.server.plugins.module_utils._tasks import execute

__all__ = ['ControllerAction']

# Option <- the first of the host's variables that is set. The connection-specific names are the
# ones the winrm and psrp connection plugins read, so a Windows inventory needs nothing extra.
# ansible_port is deliberately absent: on such a host it is a WinRM port, never the SMB port.
_HOST_DEFAULTS = {
    'server': ('ansible_host', 'ansible_winrm_host', 'ansible_psrp_host'),
    'connection_username': ('ansible_user', 'ansible_winrm_user', 'ansible_psrp_user'),
    'connection_password': ('ansible_password', 'ansible_winrm_password', 'ansible_winrm_pass',
                            'ansible_psrp_password', 'ansible_psrp_pass', 'ansible_pass'),
}


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
        if 'connection_nt_hash' in self._task.args:
            # An explicit NT hash replaces the host's password rather than conflicting with it.
            args.pop('connection_password', None)
        args.update(self._task.args)

        validation = ArgumentSpecValidator(self.ARGUMENT_SPEC).validate(args)
        if validation.error_messages:
            result.update(failed=True, changed=False, msg='; '.join(validation.error_messages))
            return remove_values(result, validation._no_log_values)
        params = validation.validated_parameters
        result.update(execute(self.OPERATION, params,
                              check_mode=bool(self._task.check_mode), diff=bool(self._task.diff)))
        result['invocation'] = {'module_args': params}
        return remove_values(result, validation._no_log_values)

    def _host_defaults(self, task_vars: Mapping[str, Any]) -> dict[str, Any]:
        """Connection options from the inventory host's own variables.

        The host's vars are read through ``hostvars`` rather than ``task_vars``: with
        ``delegate_to`` Ansible back-fills task_vars' ansible_host / ansible_user from the
        delegate, which would point the module at the delegate instead of the file server.
        """
        hostname = task_vars.get('inventory_hostname')
        host_vars = task_vars.get('hostvars', {}).get(hostname, {}) if hostname else {}
        defaults: dict[str, Any] = {}
        for option, names in _HOST_DEFAULTS.items():
            for name in names:
                if name in host_vars and host_vars[name] not in (None, ''):
                    defaults[option] = self._templar.template(host_vars[name])
                    break
        if 'server' not in defaults and hostname:
            defaults['server'] = hostname
        return defaults
