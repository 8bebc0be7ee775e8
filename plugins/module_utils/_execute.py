# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where failures become Ansible results: ``execute`` for the action plugins and the modules'
``main()``, and ``run_module`` for a module that runs without its action plugin.

Private to the lanman.server collection: not a public API.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import NetSessionError, OptionError
from ._options import type_errors

__all__ = ['execute', 'run_module']


def execute(operation: Callable[..., dict[str, Any]], params: Mapping[str, Any], *,
            check_mode: bool, diff: bool) -> dict[str, Any]:
    """Run one operation; every expected failure becomes a ``failed`` result, never a traceback."""
    try:
        return operation(params, check_mode=check_mode, diff=diff)
    except OptionError as error:
        return {'failed': True, 'changed': False, 'msg': str(error), 'option': error.option,
                'server': params.get('server')}
    except NetSessionError as error:
        result: dict[str, Any] = {
            'failed': True, 'changed': bool(error.partial.get('closed')), 'msg': error.describe(),
            'code': error.code, 'code_name': error.name, 'operation': error.operation,
            'server': error.server}
        result.update(error.partial)
        return result
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Not the server's refusal nor the task's mistake: a failure of the collection itself
        # (or of a library in a way it does not expect). Blaming the server would hide it, so it
        # is reported as what it is, with its traceback, as Ansible reports a module's crash.
        return {'failed': True, 'changed': False, 'server': params.get('server'),
                'msg': f"lanman.server failed unexpectedly: {type(error).__name__}: {error}",
                'exception': traceback.format_exc()}


def run_module(argument_spec: Mapping[str, Any], operation: Callable[..., dict[str, Any]]) -> None:
    """A module's ``main()``, for when a module runs without its action plugin.

    The arguments get the checks the action plugin applies: ``type_errors`` on the arguments as
    given (AnsibleModule would already have converted a list to text or a boolean to 0/1),
    then Ansible's own validation, then ``execute``'s.
    """
    from ansible.module_utils.basic import AnsibleModule, _load_params

    given = _load_params()  # read once and kept by Ansible: AnsibleModule reads the same
    module = AnsibleModule(argument_spec=dict(argument_spec), supports_check_mode=True)
    errors = type_errors(argument_spec, given)
    if errors:
        module.fail_json(msg='; '.join(errors), changed=False)
    result = execute(operation, module.params, check_mode=module.check_mode, diff=module._diff)
    if result.get('failed'):
        module.fail_json(**result)
    module.exit_json(**result)
