"""Opt-in: the same scenarios against a real Windows file server.

Skipped unless LANMAN_WINDOWS_HOST names one. Read-only unless LANMAN_WINDOWS_CLOSE_USERNAME
names a user whose sessions may be closed (a test account with a mapped drive, say).

    LANMAN_WINDOWS_HOST=fs01.example.com LANMAN_WINDOWS_USER='EXAMPLE\\admin' \\
    LANMAN_WINDOWS_PASSWORD=... [LANMAN_WINDOWS_BACKENDS=smb,winrm] \\
    [LANMAN_WINDOWS_WINRM_SCHEME=https LANMAN_WINDOWS_WINRM_PORT=5986 \\
     LANMAN_WINDOWS_WINRM_CERT_VALIDATION=validate] \\
    .venv/bin/python -m pytest tests/windows/test_real_windows.py -v
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.lanman.server.plugins.module_utils._options import (
    DELETE_ARGUMENT_SPEC, INFO_ARGUMENT_SPEC,
)
from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_delete, netsession_info

HOST = os.environ.get('LANMAN_WINDOWS_HOST')
pytestmark = pytest.mark.skipif(not HOST, reason='set LANMAN_WINDOWS_HOST to run against real Windows')
BACKENDS = os.environ.get('LANMAN_WINDOWS_BACKENDS', 'smb,winrm').split(',')


def _params(spec: dict, backend: str, **task: object) -> dict:
    params = {name: (list(option['default']) if isinstance(option.get('default'), list)
                     else option.get('default')) for name, option in spec.items()}
    params.update(server=HOST, backend=backend, connection_username=os.environ.get('LANMAN_WINDOWS_USER'),
                  connection_password=os.environ.get('LANMAN_WINDOWS_PASSWORD'))
    if backend == 'winrm':
        params.update(winrm_scheme=os.environ.get('LANMAN_WINDOWS_WINRM_SCHEME', 'https'),
                      winrm_server_cert_validation=os.environ.get('LANMAN_WINDOWS_WINRM_CERT_VALIDATION',
                                                                  'validate'))
        if os.environ.get('LANMAN_WINDOWS_WINRM_PORT'):
            params['winrm_port'] = int(os.environ['LANMAN_WINDOWS_WINRM_PORT'])
    params.update(task)
    return params


def info(backend: str, **task: object) -> dict:
    return execute(netsession_info, _params(INFO_ARGUMENT_SPEC, backend, **task), check_mode=False, diff=False)


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('level', ['auto', '0', '1', '2', '10', '502'])
def test_every_level_lists(backend, level):
    result = info(backend, level=level)
    assert 'failed' not in result, result
    assert all(set(record) >= {'client', 'username'} for record in result['sessions'])


def test_both_backends_see_the_same_sessions():
    if len(BACKENDS) < 2:
        pytest.skip('needs both backends')
    seen = [sorted((rec['client'].casefold(), (rec['username'] or '').casefold())
                   for rec in info(backend)['sessions']) for backend in BACKENDS]
    assert seen[0] == seen[1]


@pytest.mark.parametrize('backend', BACKENDS)
def test_filters_that_match_nobody_give_empty_lists(backend):
    assert info(backend, username='lanman-no-such-user')['sessions'] == []
    assert info(backend, client='198.51.100.254')['sessions'] == []


@pytest.mark.skipif(not os.environ.get('LANMAN_WINDOWS_CLOSE_USERNAME'),
                    reason='set LANMAN_WINDOWS_CLOSE_USERNAME to allow closing that user\'s sessions')
@pytest.mark.parametrize('backend', BACKENDS[:1])
def test_close_a_test_users_sessions_then_nothing_changes(backend):
    user = os.environ['LANMAN_WINDOWS_CLOSE_USERNAME']
    first = execute(netsession_delete, _params(DELETE_ARGUMENT_SPEC, backend, username=user),
                    check_mode=False, diff=False)
    assert 'failed' not in first, first
    again = execute(netsession_delete, _params(DELETE_ARGUMENT_SPEC, backend, username=user),
                    check_mode=False, diff=False)
    assert (again['changed'], again['closed']) == (False, [])
