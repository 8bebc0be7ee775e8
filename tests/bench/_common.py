"""Shared pieces of the benchmark: paths, lab accounts, the collection's backend in-process."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTIONS = REPO / 'build' / 'collections'
for _path in (str(REPO), str(COLLECTIONS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

ADMIN = ('benchadmin', 'B3nch!admin-pw')
USER = ('benchuser', 'B3nch!user-pw')


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float('nan')


def module_params(spec_name: str, **args: Any) -> dict[str, Any]:
    """Validated module parameters (defaults filled in) as the action plugin hands them on."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.lanman.server.plugins.module_utils import _options

    spec = getattr(_options, spec_name)
    result = ArgumentSpecValidator(spec).validate(args)
    if result.error_messages:
        raise ValueError('; '.join(result.error_messages))
    return result.validated_parameters


def connection_args(server: str) -> dict[str, Any]:
    return {'server': server, 'backend': 'smb', 'connection_username': ADMIN[0],
            'connection_password': ADMIN[1]}


def rpcclient_argv(server: str, commands: str) -> list[str]:
    return ['rpcclient', '-U', f'{ADMIN[0]}%{ADMIN[1]}', server, '-c', commands]
