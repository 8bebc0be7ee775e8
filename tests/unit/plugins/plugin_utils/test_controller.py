"""Where the action plugins take the file server's connection options from (plugin_utils/_controller.py).

The plugin object is built without Ansible's task machinery: the task, the host's (never
connected) connection plugin, the play context and the templar are stand-ins with just what
the plugin reads. Ansible's own connection plugin definitions (variable names and precedence)
are the real ones. The end-to-end suites run the same paths through ansible and
ansible-playbook against real servers.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ansible_collections.lanman.server.plugins.plugin_utils._controller import ControllerAction


class _Connection:
    """A configured, never connected connection plugin: get_option answers from a dict."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def get_option(self, name: str) -> Any:
        if name not in self.options:
            raise KeyError(name)
        return self.options[name]


def action(*, args=None, delegate_to=None, connection='winrm', options=None) -> ControllerAction:
    plugin = ControllerAction.__new__(ControllerAction)
    plugin._task = SimpleNamespace(args=args or {}, delegate_to=delegate_to)
    plugin._connection = _Connection(options or {})
    plugin._play_context = SimpleNamespace(connection=connection)
    plugin._templar = SimpleNamespace(template=lambda value: value)
    return plugin


def task_vars(hostname: str, **host_vars: Any) -> dict[str, Any]:
    return dict(host_vars, inventory_hostname=hostname, hostvars={hostname: dict(host_vars)})


def test_a_winrm_host_gives_its_address_user_password_and_its_name_for_kerberos():
    plugin = action(options={'remote_addr': '192.0.2.10', 'remote_user': 'LAB\\svc',
                             'remote_password': 'pw'})
    defaults = plugin._host_defaults(task_vars('fs1.example.com'))
    assert defaults == {'server': '192.0.2.10', 'connection_username': 'LAB\\svc',
                        'connection_password': 'pw', 'kerberos_hostname': 'fs1.example.com'}


@pytest.mark.parametrize('hostname, host_vars, task_args, expected', [
    # The WinRM connection plugin's own override wins over the inventory name.
    ('fs1', {'ansible_winrm_kerberos_hostname_override': 'fs1.lab.example'}, {}, 'fs1.lab.example'),
    # Named by address only: no name to give.
    ('192.0.2.10', {}, {}, None),
    # The task names the server: the inventory name says nothing about it.
    ('fs1.example.com', {}, {'server': '198.51.100.7'}, None),
])
def test_the_kerberos_host_name(hostname, host_vars, task_args, expected):
    plugin = action(args=task_args, options={'remote_addr': '192.0.2.10'})
    defaults = plugin._host_defaults(task_vars(hostname, **host_vars))
    assert defaults.get('kerberos_hostname') == expected


def test_with_delegate_to_the_values_are_the_file_servers_not_the_delegates():
    # Ansible back-fills ansible_host and ansible_user from the delegate (localhost) into
    # task_vars when the file server does not set them itself.
    variables = task_vars('fs2.example.com', ansible_password='pw2')
    variables.update(ansible_host='localhost', ansible_user='controller-user')
    plugin = action(delegate_to='localhost', connection='ssh', options={'host': 'localhost'})
    defaults = plugin._host_defaults(variables)
    assert defaults == {'server': 'fs2.example.com', 'connection_password': 'pw2'}


def test_with_delegate_to_the_file_servers_own_variables_count():
    variables = task_vars('fs3', ansible_host='192.0.2.30', ansible_user='svc')
    plugin = action(delegate_to='localhost', connection='ssh')
    defaults = plugin._host_defaults(variables)
    assert defaults == {'server': '192.0.2.30', 'connection_username': 'svc', 'kerberos_hostname': 'fs3'}


def test_the_winrm_settings_of_a_winrm_host():
    plugin = action(options={'port': 5986, 'scheme': 'https', 'transport': ['kerberos', 'ntlm']})
    defaults = plugin._winrm_defaults(task_vars('fs1', ansible_winrm_server_cert_validation='ignore'))
    assert defaults == {'winrm_port': 5986, 'winrm_scheme': 'https', 'winrm_transport': 'kerberos',
                        'winrm_server_cert_validation': 'ignore'}
