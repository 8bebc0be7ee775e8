"""Round trips of one fresh enumeration, ours and rpcclient's; runs INSIDE a private netns.

Started by run.py as ``ip netns exec NS python _netns_probe.py JSON``. The namespace has only
its own ``lo``; the server, the session holder and both clients live in it. The probe times
each client without and with ``netem`` delay on ``lo`` and prints one JSON line; run.py stops
whatever is left (servers, namespace) even if this process dies.

Kernels built without ``netem`` (``CONFIG_NET_SCH_NETEM``) refuse the qdisc; the probe then
puts ``_delay_proxy.py`` relays in front of the server instead (one without delay, one with),
inside the same namespace, and times both clients through each.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._common import ADMIN, USER, connection_args, median, module_params, rpcclient_argv
from tests.lab.holder import SessionHolder, SessionSpec
from tests.lab.samba import SambaServer

_RPCCLIENT_TIMEOUT = 30
# Relays for kernels without netem: any namespace address but the server's (run.py gives >= .10).
_PROXY_ADDRESSES = ('127.0.0.3', '127.0.0.4')


def _connect_seconds(address: str) -> float:
    started = time.perf_counter()
    with socket.create_connection((address, 445), timeout=5):
        return time.perf_counter() - started


def _ours(params: dict) -> float:
    from ansible_collections.lanman.server.plugins.module_utils._execute import execute
    from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_info
    started = time.perf_counter()
    result = execute(netsession_info, params, check_mode=False, diff=False)
    elapsed = time.perf_counter() - started
    if result.get('failed') or not result.get('sessions'):
        raise RuntimeError(f"netsession_info failed: {result}")
    return elapsed


def _rpcclient(address: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(rpcclient_argv(address, 'netsessenum'), capture_output=True, text=True,
                          timeout=_RPCCLIENT_TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or 'Received' not in done.stdout:
        raise RuntimeError(f"rpcclient failed ({done.returncode}): {done.stdout}{done.stderr}")
    return elapsed


def _measure(address: str, reps: int) -> dict:
    params = module_params('INFO_ARGUMENT_SPEC', **connection_args(address))
    level1 = module_params('INFO_ARGUMENT_SPEC', level='1', **connection_args(address))
    times: dict[str, list[float]] = {'connect': [], 'ours_auto': [], 'ours_level1': [], 'rpcclient': []}
    for _rep in range(reps):  # interleaved
        times['connect'].append(_connect_seconds(address))
        times['ours_auto'].append(_ours(params))
        times['ours_level1'].append(_ours(level1))
        times['rpcclient'].append(_rpcclient(address))
    return {'samples': times, 'median': {key: median(values) for key, values in times.items()}}


def _tc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(['tc', 'qdisc', *args], capture_output=True, text=True, timeout=10, check=False)


class _Proxy:
    """A ``_delay_proxy.py`` process relaying ``listen``:445 to ``target``:445."""

    def __init__(self, listen: str, target: str, delay_ms: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name('_delay_proxy.py')), listen, '445', target, '445',
             str(delay_ms)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stdin is not None
        self._stdin = self.process.stdin
        line = self.process.stdout.readline()
        if line.strip() != b'ready':
            self.stop()
            raise RuntimeError(f"delay proxy did not start: {line!r}")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._stdin.close()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _with_netem(address: str, delay_ms: int, reps: int) -> dict | None:
    """Both clients without and with netem delay on lo; None if the kernel has no netem."""
    added = _tc('add', 'dev', 'lo', 'root', 'netem', 'delay', f'{delay_ms}ms')
    if added.returncode != 0:
        return None
    _tc('del', 'dev', 'lo', 'root')
    plain = _measure(address, reps)
    if _tc('add', 'dev', 'lo', 'root', 'netem', 'delay', f'{delay_ms}ms').returncode != 0:
        raise RuntimeError('netem qdisc could not be added a second time')
    try:
        delayed = _measure(address, reps)
    finally:
        _tc('del', 'dev', 'lo', 'root')
    # One TCP connect is one round trip: its extra time is the RTT that netem adds.
    rtt = delayed['median']['connect'] - plain['median']['connect']
    return {'method': 'netem on the namespace lo', 'rtt_seconds': rtt, 'without_delay': plain,
            'with_delay': delayed}


def _with_proxies(address: str, delay_ms: int, reps: int) -> dict:
    plain_address, delayed_address = _PROXY_ADDRESSES
    proxies = []
    try:
        proxies.append(_Proxy(plain_address, address, 0))
        proxies.append(_Proxy(delayed_address, address, delay_ms))
        plain: dict[str, list[float]] = {}
        delayed: dict[str, list[float]] = {}
        for _round in range(2):  # alternate, so drift hits both alike
            for target, name in ((plain_address, 'plain'), (delayed_address, 'delayed')):
                part = _measure(target, (reps + 1) // 2)
                store = plain if name == 'plain' else delayed
                for key, values in part['samples'].items():
                    store.setdefault(key, []).extend(values)
    finally:
        for proxy in proxies:
            proxy.stop()
    plain_result = {'samples': plain, 'median': {key: median(values) for key, values in plain.items()}}
    delayed_result = {'samples': delayed, 'median': {key: median(values) for key, values in delayed.items()}}
    # The relay delays data both ways; the TCP handshake with the relay itself is not delayed.
    return {'method': 'userspace delay relay (the kernel has no netem qdisc)',
            'rtt_seconds': 2 * delay_ms / 1000, 'without_delay': plain_result, 'with_delay': delayed_result}


def main() -> int:
    config = json.loads(sys.argv[1])
    address, delay_ms, reps = config['address'], config['delay_ms'], config['reps']
    server = SambaServer(address=address, base_dir=config['base_dir'])
    holder = None
    try:
        server.add_user(*ADMIN, role='admin')
        server.add_user(*USER, role='user')
        server.start()
        holder = SessionHolder(address, 445, [SessionSpec(f'127.0.1.{n}', *USER) for n in (1, 2, 3)])
        holder.start()
        _measure(address, 1)  # warm: samba-dcerpcd starts on the first RPC, imports, caches
        measured = _with_netem(address, delay_ms, reps) or _with_proxies(address, delay_ms, reps)
        rtt = measured['rtt_seconds']
        trips = {key: (measured['with_delay']['median'][key] - measured['without_delay']['median'][key]) / rtt
                 for key in ('ours_auto', 'ours_level1', 'rpcclient')}
        print(json.dumps(dict(measured, delay_ms=delay_ms, round_trips=trips)))
        return 0
    finally:
        if holder is not None:
            holder.stop()
        server.stop()


if __name__ == '__main__':
    sys.exit(main())
