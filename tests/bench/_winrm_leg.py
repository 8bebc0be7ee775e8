"""The benchmark's WinRM leg: closing 1, 10 and 100 pairs over WinRM at a real server's cost.

The WinRM backend runs the collection's code in-process (``execute(netsession_delete, ...)``)
against the loopback WS-Management endpoint (tests/wsman/endpoint.py), which charges every
PowerShell process what it costs a warm Windows server (``ProcessCost``: start-up, then Add-Type
compiling the shim's C#), with the Windows model (tests/windows/model.py) holding the sessions.
The same close runs over SMB against the same model served on \\pipe\\srvsvc (ModelSmbServer),
side by side, so the ratios come from one run on one machine.

Measured: wall time per close, and the PowerShell processes the endpoint started. Computed, not
measured, for comparison: what one process per pair (the transport before this leg existed)
would cost at the same ProcessCost.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from tests.bench._common import median, module_params

PAIRS = (1, 10, 100)
_SMB_ADDRESS = '127.0.0.1'
_SMB_PORT = 4745


def _model(pairs: int) -> Any:
    from tests.windows.model import ADMIN, Session, WindowsSessionModel

    sessions = [Session(f'192.0.2.{1 + index % 250}' if index < 250 else f'wks{index:04d}', 'alice',
                        time=600, idle_time=300) for index in range(pairs)]
    return WindowsSessionModel(sessions + [Session('198.51.100.7', 'bob', time=60)], {'admin': ADMIN})


@contextlib.contextmanager
def _no_proxy() -> Iterator[None]:
    # requests would send the loopback traffic to a proxy named in the environment.
    before = os.environ.get('NO_PROXY')
    os.environ['NO_PROXY'] = '127.0.0.1,localhost'
    try:
        yield
    finally:
        if before is None:
            os.environ.pop('NO_PROXY', None)
        else:
            os.environ['NO_PROXY'] = before


def _close(backend: str, pairs: int, cost: Any) -> tuple[float, int]:
    """Seconds to close ``pairs`` pairs of alice over ``backend``, and PowerShell processes started."""
    from ansible_collections.lanman.server.plugins.module_utils._execute import execute
    from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_delete
    from ansible_collections.lanman.server.plugins.module_utils._winrm_shim import BOOTSTRAP, SHIM_SCRIPT
    from tests.windows.shim_model import shim_responder
    from tests.windows.smb_server import ModelSmbServer
    from tests.windows.test_smb_model import PASSWORDS
    from tests.wsman.endpoint import WsmanEndpoint

    model = _model(pairs)
    common = dict(username='alice', connection_username='admin', connection_password=PASSWORDS['admin'])
    served: Any
    if backend == 'winrm':
        served = WsmanEndpoint(shim_responder(model), users={'admin': PASSWORDS['admin']},
                               expected_script=SHIM_SCRIPT, expected_bootstrap=BOOTSTRAP, cost=cost)
    else:
        served = ModelSmbServer(model, _SMB_ADDRESS, _SMB_PORT, PASSWORDS, 'admin')
    with served:
        if backend == 'winrm':
            params = module_params('DELETE_ARGUMENT_SPEC', **common, server='127.0.0.1', backend='winrm',
                                   winrm_scheme='http', winrm_port=served.port)
        else:
            params = module_params('DELETE_ARGUMENT_SPEC', **common, server=served.address, port=served.port,
                                   backend='smb')
        started = time.monotonic()
        result = execute(netsession_delete, params, check_mode=False, diff=False)
        wall = time.monotonic() - started
        processes = len(served.commands) if backend == 'winrm' else 0
    closed = {(rec['client'], rec['username']) for rec in result.get('closed', [])}
    if result.get('failed') or len(closed) != pairs or len(model.snapshot()) != 1:
        raise RuntimeError(f"closing {pairs} pairs over {backend} failed: {str(result)[:2000]}")
    return wall, processes


def bench_winrm(reps: int, log: Any) -> dict[str, Any]:
    """Median close times per N over both transports; the WinRM 100-to-1 ratio is the target."""
    from tests.wsman.endpoint import ProcessCost

    cost = ProcessCost()
    per_process = cost.powershell_start + cost.add_type_compile
    raw: dict[str, Any] = {'process_cost_seconds': {'powershell_start': cost.powershell_start,
                                                    'add_type_compile': cost.add_type_compile},
                           'pairs': {}}
    with _no_proxy():
        for pairs in PAIRS:
            runs: dict[str, list[float]] = {'winrm': [], 'smb': []}
            processes = set()
            for _rep in range(reps):  # interleaved: both transports see the same machine state
                for backend in ('winrm', 'smb'):
                    wall, started = _close(backend, pairs, cost)
                    runs[backend].append(wall)
                    if backend == 'winrm':
                        processes.add(started)
            winrm, smb = median(runs['winrm']), median(runs['smb'])
            raw['pairs'][str(pairs)] = {
                'winrm_seconds': runs['winrm'], 'smb_seconds': runs['smb'],
                'winrm_median_seconds': winrm, 'smb_median_seconds': smb,
                'winrm_vs_smb': winrm / smb if smb else None,
                'powershell_processes': sorted(processes),
                'one_process_per_pair_estimate_seconds': (pairs + 1) * per_process,
            }
            log(f"close {pairs} pair(s): WinRM {winrm:.2f} s ({sorted(processes)} PowerShell), "
                f"SMB {smb:.3f} s; one process per pair would be about {(pairs + 1) * per_process:.1f} s")
    first, last = raw['pairs'][str(PAIRS[0])], raw['pairs'][str(PAIRS[-1])]
    ratio = last['winrm_median_seconds'] / first['winrm_median_seconds']
    log(f"WinRM close of {PAIRS[-1]} pairs vs {PAIRS[0]}: {ratio:.2f}x")
    return {'ratio': ratio, 'raw': raw}
