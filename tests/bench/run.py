"""Benchmark of lanman.server on real Samba servers: ``make bench`` (a script, not a timed test).

Measures side by side, in one run, and writes ``bench-results.json`` at the repository root:

* ``fleet_ratio_vs_ping``: ``ansible <N hosts> -m lanman.server.netsession_info -f N`` over N
  Samba servers (a few live sessions each) against ``-m ansible.builtin.ping`` with
  ``ansible_connection=local`` on the same inventory; interleaved runs, medians.
* ``enum_ratio_vs_rpcclient``: per-call time of one enumeration of a server holding 1000 live
  sessions, warm on both sides: the collection's backend (``open_transport`` once, then
  ``list_sessions`` K times) against ``rpcclient -c "netsessenum; ..."`` (slope between K and 1
  commands, which removes rpcclient's connect cost). Both at info level 1 (rpcclient's
  ``netsessenum`` asks for level 1; ``level: auto`` gets level 1 from Samba as well).
* ``files_enum_ratio_vs_rpcclient``: per-call time of one listing of the open files of a server
  whose sessions (100 by default, from several holder processes) hold 1000 open files in all,
  warm on both sides, as for the sessions: the collection's backend (``open_transport`` once,
  then ``enumerate_files(None, None)`` K times: one NetrFileEnum at level 3) against
  ``rpcclient -c "netfileenum; ..."`` (level 3, no path or user filter; slope between K and 1
  commands). Both must list every held file, and the same paths.
* ``enum_peak_rss_mb``: peak RSS of the largest process of a whole ``ansible localhost -m
  lanman.server.netsession_info`` run listing that server (the summed tree is under ``raw``).
* ``close_500_seconds``: wall time of one ``netsession_delete`` run closing 500 (client, user)
  pairs on that server, and, separately, Ansible's own start-up for the same command line.
* ``winrm_close_100_vs_1``: closing 100 (client, user) pairs over WinRM against closing 1, at a
  real Windows server's cost per PowerShell process, with the same closes over SMB beside them
  (``_winrm_leg.py``; the Windows model behind both).
* ``round_trips_vs_rpcclient``: network round trips of one complete fresh enumeration, ours
  minus rpcclient's, from the extra time ``tc netem`` delay adds inside a private network
  namespace that has nothing but its own ``lo`` (see ``_netns_probe.py``).

Only 127.0.0.0/8 addresses (and the namespace's own lo). Every loop is bounded; servers,
session holders and the namespace are torn down in ``finally`` blocks, and leftovers of a
killed run are removed at the next start.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench._common import (
    ADMIN, BIN, COLLECTIONS, REPO, USER, connection_args, median, module_params, rpcclient_argv,
)
from tests.bench._winrm_leg import bench_winrm
from tests.lab.holder import ACCESS_MODES, FileSpec, SessionHolder, SessionSpec
from tests.lab.samba import SambaServer, allocate_server_address, stop_server_at

RESULTS = REPO / 'bench-results.json'
HERE = Path(__file__).resolve().parent
NETNS_PREFIX = 'lanman-bench-'
WORK_PREFIX = 'lanman-bench-'
TARGETS = {  # key: (target, limit); lower is better for every one of them
    'fleet_ratio_vs_ping': (1.0, 1.3),
    'enum_ratio_vs_rpcclient': (1.5, 1.5),
    'files_enum_ratio_vs_rpcclient': (1.5, 1.5),
    'enum_peak_rss_mb': (100, 100),
    'close_500_seconds': (3.0, 3.0),
    'round_trips_vs_rpcclient': (1.0, 1.0),
    'winrm_close_100_vs_1': (2.0, 2.0),
}
SECTIONS = ('fleet', 'enum', 'rss', 'close', 'files', 'trips', 'winrm')
_ANSIBLE_TIMEOUT = 300
_RPCCLIENT_TIMEOUT = 120


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- machine -------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = 'unknown'
    with contextlib.suppress(OSError):
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    samba = subprocess.run(['smbd', '--version'], capture_output=True, text=True, check=False)
    return {
        'cpu_model': cpu,
        'cores': os.cpu_count(),
        'kernel': platform.release(),
        'python': platform.python_version(),
        'samba': samba.stdout.strip(),
        'impacket': importlib.metadata.version('impacket'),
        'ansible_core': importlib.metadata.version('ansible-core'),
        'load_average_at_start': os.getloadavg(),
    }


# -- leftovers of killed runs --------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    return Path(f'/proc/{pid}').exists()


def _netns_names() -> list[str]:
    done = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def remove_netns(name: str) -> None:
    """Kill every process inside our namespace ``name`` (by pid), then delete it."""
    if not name.startswith(NETNS_PREFIX) or name not in _netns_names():
        return
    for _attempt in range(3):
        pids = subprocess.run(['ip', 'netns', 'pids', name], capture_output=True, text=True,
                              check=False).stdout.split()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.2)
    subprocess.run(['ip', 'netns', 'delete', name], capture_output=True, check=False)


def clean_leftovers() -> None:
    """Namespaces, servers and directories of earlier runs whose process is gone."""
    for name in _netns_names():
        match = re.fullmatch(re.escape(NETNS_PREFIX) + r'(\d+)', name)
        if match and not _pid_alive(int(match.group(1))):
            log(f"removing leftover network namespace {name}")
            remove_netns(name)
    for work in Path(tempfile.gettempdir()).glob(f'{WORK_PREFIX}*'):
        match = re.match(re.escape(WORK_PREFIX) + r'(\d+)-', work.name)
        if match and not _pid_alive(int(match.group(1))):
            log(f"removing leftover servers under {work}")
            for conf in work.glob('*/smb.conf'):
                with contextlib.suppress(Exception):
                    stop_server_at(conf.parent)
            shutil.rmtree(work, ignore_errors=True)


# -- lab -----------------------------------------------------------------------------------
class Lab:
    """Servers and session holders of this run; ``close()`` stops all of them."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.servers: list[SambaServer] = []
        self.holders: list[SessionHolder] = []

    def server(self, name: str, address: str) -> SambaServer:
        server = SambaServer(address=address, base_dir=self.work / name)
        self.servers.append(server)
        server.add_user(*ADMIN, role='admin')
        server.add_user(*USER, role='user')
        server.start()
        return server

    def hold(self, server: SambaServer, sources: list[str]) -> SessionHolder:
        return self.hold_specs(server, [SessionSpec(source, *USER) for source in sources])

    def hold_specs(self, server: SambaServer, specs: list[SessionSpec],
                   timeout: float | None = None) -> SessionHolder:
        holder = SessionHolder(server.address, 445, specs, label='lanman-bench')
        self.holders.append(holder)
        holder.start(timeout)
        return holder

    def close(self) -> None:
        for holder in self.holders:
            with contextlib.suppress(Exception):
                holder.stop()
        for server in self.servers:
            try:
                server.stop()
            except Exception as error:
                log(f"could not stop {server!r}: {error}")


# -- running Ansible -----------------------------------------------------------------------
def ansible_env(work: Path) -> dict[str, str]:
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOST_KEY_CHECKING='False',
                ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_LOCAL_TEMP=str(work / 'ansible-tmp'),
                ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_PYTHON_INTERPRETER=sys.executable)


def timed(argv: list[str], work: Path, *, expect_ok: int) -> tuple[float, str]:
    """Run ``argv``; its wall time and output. Fails unless ``expect_ok`` hosts succeeded."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(work), cwd=work,
                          timeout=_ANSIBLE_TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    ok = len(re.findall(r'^\S+ \| (SUCCESS|CHANGED)', done.stdout, re.MULTILINE))
    if done.returncode != 0 or ok != expect_ok:
        raise RuntimeError(f"{' '.join(argv[:6])} ...: rc {done.returncode}, {ok}/{expect_ok} ok\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed, done.stdout


def module_result(output: str) -> dict[str, Any]:
    """The JSON result of the one host of an ad-hoc run (``host | STATUS => {...}``)."""
    return json.loads(output[output.index('{'):output.rindex('}') + 1])


def adhoc_localhost(module: str, args: dict[str, Any]) -> list[str]:
    return [str(BIN / 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local', '-m', module,
            '-a', json.dumps(args)]


# -- 1. fleet ------------------------------------------------------------------------------
def bench_fleet(lab: Lab, servers: list[SambaServer], reps: int) -> dict[str, Any]:
    count = len(servers)
    inventory = lab.work / 'fleet.ini'
    lines = ['[fleet]'] + [f'fs{index:02d} ansible_host={server.address}' for index, server in enumerate(servers)]
    lines += ['', '[fleet:vars]', 'ansible_connection=local', f'ansible_user={ADMIN[0]}',
              f'ansible_password={ADMIN[1]}', f'ansible_python_interpreter={sys.executable}', '']
    inventory.write_text('\n'.join(lines))
    commands = {
        'netsession_info': [str(BIN / 'ansible'), 'fleet', '-i', str(inventory), '-f', str(count), '-o',
                            '-m', 'lanman.server.netsession_info'],
        'ping': [str(BIN / 'ansible'), 'fleet', '-i', str(inventory), '-f', str(count), '-o',
                 '-m', 'ansible.builtin.ping'],
    }
    for argv in commands.values():  # warm: page cache, samba-dcerpcd of every server
        timed(argv, lab.work, expect_ok=count)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for rep in range(reps):
        order = list(commands) if rep % 2 == 0 else list(reversed(commands))
        for name in order:
            samples[name].append(timed(commands[name], lab.work, expect_ok=count)[0])
    info, ping = median(samples['netsession_info']), median(samples['ping'])
    log(f"fleet of {count}: netsession_info {info:.2f} s, ping {ping:.2f} s")
    return {'ratio': info / ping, 'raw': {'hosts': count, 'forks': count, 'seconds': samples,
                                          'median_seconds': {'netsession_info': info, 'ping': ping}}}


# -- 2. enumeration of 1000 sessions ---------------------------------------------------------
def bench_enum(server: SambaServer, held: int, reps: int, calls: int) -> dict[str, Any]:
    from ansible_collections.lanman.server.plugins.module_utils._operations import list_sessions
    from ansible_collections.lanman.server.plugins.module_utils._tasks import open_transport

    params = module_params('INFO_ARGUMENT_SPEC', level='1', **connection_args(server.address))
    ours_per_call: list[float] = []
    ours_calls: list[float] = []
    rpc_per_call: list[float] = []
    rpc_raw: list[dict[str, float]] = []
    with open_transport(params) as transport:
        def ours(count: int) -> float:
            started = time.perf_counter()
            for _call in range(count):
                one = time.perf_counter()
                found = list_sessions(transport, level=1, client=None, username=None)
                ours_calls.append(time.perf_counter() - one)
                if len(found.sessions) < held:
                    status = subprocess.run(['smbstatus', '-b', '-s', str(server.conf_path)], capture_output=True,
                                            text=True, timeout=60, check=False)
                    raise RuntimeError(f"listed {len(found.sessions)} sessions (level {found.level}), expected "
                                       f"{held}; smbstatus shows {status.stdout.count(USER[0])} of {USER[0]}:\n"
                                       f"{status.stdout[:1500]}{status.stderr[-1000:]}")
            return (time.perf_counter() - started) / count

        def rpcclient(count: int) -> float:
            started = time.perf_counter()
            done = subprocess.run(rpcclient_argv(server.address, '; '.join(['netsessenum'] * count)),
                                  capture_output=True, text=True, timeout=_RPCCLIENT_TIMEOUT, check=False)
            elapsed = time.perf_counter() - started
            answers = re.findall(r'Received (\d+) entries', done.stdout)
            if done.returncode != 0 or len(answers) != count or int(answers[0]) < held:
                raise RuntimeError(f"rpcclient: rc {done.returncode}, {answers[:3]}...\n{done.stderr[-2000:]}")
            return elapsed

        ours(2)  # warm
        rpcclient(1)
        ours_calls.clear()
        for _rep in range(reps):
            many, one = rpcclient(calls), rpcclient(1)
            rpc_raw.append({'k': calls, 'seconds_k': many, 'seconds_1': one})
            rpc_per_call.append((many - one) / (calls - 1))
            ours_per_call.append(ours(calls))
    ours_value, rpc_value = median(ours_per_call), median(rpc_per_call)
    log(f"enumeration of {held}: ours {ours_value * 1000:.1f} ms/call, rpcclient {rpc_value * 1000:.1f} ms/call")
    return {'ratio': ours_value / rpc_value, 'raw': {
        'sessions': held, 'level': 1, 'calls_per_rep': calls,
        'ours_seconds_per_call': ours_per_call, 'ours_call_median_seconds': median(ours_calls),
        'rpcclient_seconds_per_call': rpc_per_call, 'rpcclient_runs': rpc_raw,
        'median_seconds_per_call': {'ours': ours_value, 'rpcclient': rpc_value}}}


def run_with_rss(argv: list[str], work: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(HERE / '_rss.py'), str(_ANSIBLE_TIMEOUT), *argv],
                          capture_output=True, text=True, env=ansible_env(work), cwd=work,
                          timeout=_ANSIBLE_TIMEOUT + 30, check=True)
    return json.loads(done.stdout)


def bench_rss(server: SambaServer, work: Path, held: int, reps: int) -> dict[str, Any]:
    argv = adhoc_localhost('lanman.server.netsession_info', connection_args(server.address))
    runs = []
    for _rep in range(reps):
        run = run_with_rss(argv, work)
        result = module_result(run.pop('output'))
        if run['rc'] != 0 or len(result.get('sessions', [])) < held:
            raise RuntimeError(f"netsession_info of {held} sessions failed: {str(result)[:2000]}")
        run['sessions_listed'] = len(result['sessions'])
        runs.append(run)
    peak = max(run['max_process_rss_mb'] for run in runs)
    log(f"peak RSS listing {held} sessions: {peak:.1f} MB (largest process)")
    return {'value': peak, 'raw': runs}


# -- 3. closing 500 pairs ------------------------------------------------------------------
def bench_close(server: SambaServer, work: Path, pairs: int, sessions: int, reps: int) -> dict[str, Any]:
    startup_argv = adhoc_localhost('ansible.builtin.debug', {'msg': 'start-up'})
    startup = [timed(startup_argv, work, expect_ok=1)[0] for _rep in range(reps)]
    argv = adhoc_localhost('lanman.server.netsession_delete',
                           dict(connection_args(server.address), username=USER[0]))
    # Timed alone: polling /proc for memory (run_with_rss) would load a core while the server's
    # 1000 smbd processes are there.
    wall, output = timed(argv, work, expect_ok=1)
    result = module_result(output)
    closed = result.get('closed', [])
    closed_pairs = {(rec['client'], rec['username']) for rec in closed}
    if len(closed_pairs) != pairs or len(closed) != sessions:
        raise RuntimeError(f"netsession_delete closed {len(closed_pairs)} pairs / {len(closed)} sessions, "
                           f"expected {pairs} / {sessions}: {str(result)[:2000]}")
    run = {'wall_seconds': wall}
    startup_value = median(startup)
    log(f"closing {pairs} pairs: {wall:.2f} s, of which Ansible start-up about {startup_value:.2f} s")
    return {'value': wall, 'raw': {'pairs': pairs, 'sessions': sessions, 'module_run': run,
                                   'ansible_startup_seconds': startup, 'ansible_startup_median_seconds': startup_value,
                                   'beyond_startup_seconds': wall - startup_value}}


# -- 3b. listing 1000 open files ------------------------------------------------------------
def file_specs(sessions: int, files_per_session: int) -> list[SessionSpec]:
    """``sessions`` sessions of the lab user, each from its own address (127.0.220.1 and on),
    holding ``files_per_session`` files: read, write and read/write handles in turn, some with
    byte-range locks (the holder names the files, uniquely)."""
    return [SessionSpec(f'127.0.{220 + index // 250}.{1 + index % 250}', *USER,
                        files=tuple(FileSpec(access=ACCESS_MODES[(index + number) % len(ACCESS_MODES)],
                                             locks=(index + number) % 3)
                                    for number in range(files_per_session)))
            for index in range(sessions)]


def rpcclient_paths(output: str) -> list[str]:
    """The entries of ``netfileenum`` output: rpcclient prints each file's path on a line."""
    return [line.strip() for line in output.splitlines() if line.strip()]


def bench_files(server: SambaServer, held: int, reps: int, calls: int) -> dict[str, Any]:
    from ansible_collections.lanman.server.plugins.module_utils._open_files import FileFilters, list_files
    from ansible_collections.lanman.server.plugins.module_utils._tasks import open_transport

    params = module_params('FILE_INFO_ARGUMENT_SPEC', **connection_args(server.address))
    ours_per_call: list[float] = []
    ours_calls: list[float] = []
    rpc_per_call: list[float] = []
    rpc_raw: list[dict[str, float]] = []
    list_files_calls: list[float] = []
    with open_transport(params) as transport:
        def ours(count: int) -> float:
            started = time.perf_counter()
            for _call in range(count):
                one = time.perf_counter()
                found = transport.enumerate_files(None, None)
                ours_calls.append(time.perf_counter() - one)
                if len(found) != held:
                    raise RuntimeError(f"NetrFileEnum listed {len(found)} open files, expected {held}")
            return (time.perf_counter() - started) / count

        def rpcclient(count: int) -> tuple[float, list[str]]:
            started = time.perf_counter()
            done = subprocess.run(rpcclient_argv(server.address, '; '.join(['netfileenum'] * count)),
                                  capture_output=True, text=True, timeout=_RPCCLIENT_TIMEOUT, check=False)
            elapsed = time.perf_counter() - started
            paths = rpcclient_paths(done.stdout)
            if done.returncode != 0 or len(paths) != count * held:
                raise RuntimeError(f"rpcclient netfileenum x{count}: rc {done.returncode}, {len(paths)} lines, "
                                   f"expected {count * held}\n{done.stdout[:1000]}{done.stderr[-2000:]}")
            return elapsed, paths

        ours(2)  # warm
        _seconds, rpc_paths = rpcclient(1)
        our_paths = sorted((entry['pathname'] or '').rstrip('\x00') for entry in transport.enumerate_files(None, None))
        if sorted(rpc_paths) != our_paths:
            missing = sorted(set(rpc_paths) ^ set(our_paths))
            raise RuntimeError(f"rpcclient and the collection list different files: {missing[:5]} ...")
        ours_calls.clear()
        for _rep in range(reps):
            many, one = rpcclient(calls)[0], rpcclient(1)[0]
            rpc_raw.append({'k': calls, 'seconds_k': many, 'seconds_1': one})
            rpc_per_call.append((many - one) / (calls - 1))
            ours_per_call.append(ours(calls))
        # For scale: what netfile_info does, listing every file and each one's client.
        everything = FileFilters(file_id=None, path=None, path_prefix=None, username=None)
        for _call in range(5):
            one = time.perf_counter()
            listing = list_files(transport, everything)
            list_files_calls.append(time.perf_counter() - one)
            if len(listing.files) != held:
                raise RuntimeError(f"list_files found {len(listing.files)} open files, expected {held}")
    ours_value, rpc_value = median(ours_per_call), median(rpc_per_call)
    log(f"open files listing of {held}: ours {ours_value * 1000:.1f} ms/call, rpcclient {rpc_value * 1000:.1f} ms/call")
    return {'ratio': ours_value / rpc_value, 'raw': {
        'open_files': held, 'level': 3, 'calls_per_rep': calls,
        'ours_seconds_per_call': ours_per_call, 'ours_call_median_seconds': median(ours_calls),
        'rpcclient_seconds_per_call': rpc_per_call, 'rpcclient_runs': rpc_raw,
        'median_seconds_per_call': {'ours': ours_value, 'rpcclient': rpc_value},
        'list_files_seconds': list_files_calls, 'list_files_median_seconds': median(list_files_calls)}}


# -- 4. round trips in a private network namespace ------------------------------------------
def bench_round_trips(work: Path, address: str, delay_ms: int, reps: int) -> dict[str, Any]:
    name = f'{NETNS_PREFIX}{os.getpid()}'
    base_dir = work / 'netns-server'
    try:
        remove_netns(name)
        subprocess.run(['ip', 'netns', 'add', name], check=True, capture_output=True, timeout=10)
        subprocess.run(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'], check=True,
                       capture_output=True, timeout=10)
        config = {'address': address, 'base_dir': str(base_dir), 'delay_ms': delay_ms, 'reps': reps}
        done = subprocess.run(['ip', 'netns', 'exec', name, sys.executable, str(HERE / '_netns_probe.py'),
                               json.dumps(config)], capture_output=True, text=True, timeout=300,
                              env=ansible_env(work), check=False)
        if done.returncode != 0:
            raise RuntimeError(f"netns probe failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
        probe = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        remove_netns(name)
        if (base_dir / 'smb.conf').exists():
            with contextlib.suppress(Exception):
                stop_server_at(base_dir)
    trips = probe['round_trips']
    log(f"round trips of one fresh enumeration: ours (level auto) {trips['ours_auto']:.1f}, "
        f"ours (level 1) {trips['ours_level1']:.1f}, rpcclient {trips['rpcclient']:.1f} "
        f"(RTT {probe['rtt_seconds'] * 1000:.1f} ms)")
    return {'value': trips['ours_auto'] - trips['rpcclient'], 'raw': probe}


# -- main ----------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--hosts', type=int, default=20, help='Samba servers in the fleet (at least 20)')
    parser.add_argument('--reps', type=int, default=5, help='interleaved repetitions of the fleet runs')
    parser.add_argument('--sessions', type=int, default=1000, help='live sessions on the big server')
    parser.add_argument('--calls', type=int, default=20, help='enumerations per repetition (K)')
    parser.add_argument('--open-files', type=int, default=1000, help='open files held on the files server')
    parser.add_argument('--file-sessions', type=int, default=100, help='sessions holding those files')
    parser.add_argument('--delay-ms', type=int, default=20, help='netem delay on the namespace lo')
    parser.add_argument('--output', type=Path, default=RESULTS)
    parser.add_argument('--only', default=','.join(SECTIONS),
                        help=f"comma-separated sections to run (for profiling): {', '.join(SECTIONS)}")
    options = parser.parse_args()
    only = set(options.only.split(','))
    if not only <= set(SECTIONS):
        parser.error(f"--only takes {', '.join(SECTIONS)}")
    if os.geteuid() != 0:
        parser.error('run as root (smbd, useradd, ip netns)')
    missing = [tool for tool in ('smbd', 'rpcclient', 'ip', 'tc') if shutil.which(tool) is None]
    if missing:
        parser.error(f"missing tools: {', '.join(missing)} (apt-get install samba smbclient iproute2)")
    if options.sessions % 2:
        parser.error('--sessions must be even (two sessions per client address)')
    pairs = options.sessions // 2
    if not 0 < options.file_sessions <= 1000 or options.open_files % options.file_sessions:
        parser.error('--open-files must be a multiple of --file-sessions (1 .. 1000)')
    if pairs > 1000:
        parser.error('--sessions at most 2000')
    started = time.monotonic()
    results: dict[str, Any] = {'machine': machine(), 'raw': {}}
    clean_leftovers()
    work = Path(tempfile.mkdtemp(prefix=f'{WORK_PREFIX}{os.getpid()}-'))
    work.chmod(0o755)  # lab users must reach the shares under it
    lab = Lab(work)
    failure = None
    try:
        fleet_first = allocate_server_address(options.hosts)
        prefix, first = fleet_first.rsplit('.', 1)
        fleet_addresses = [f'{prefix}.{int(first) + index}' for index in range(options.hosts)]
        big_address = allocate_server_address()
        netns_address = allocate_server_address()  # only for unique per-server Unix group names
        files_address = allocate_server_address() if 'files' in only else None
        big_needed = bool(only & {'enum', 'rss', 'close'})
        hosts = options.hosts if 'fleet' in only else 0
        log(f"starting {hosts} + {int(big_needed)} Samba servers")
        # 500 distinct client addresses 127.0.201.1 .. 127.0.204.250, two sessions each.
        sources = [f'127.0.{201 + index // 250}.{1 + index % 250}' for index in range(pairs)] * 2
        fleet: list[SambaServer] = []
        fleet_holders: list[SessionHolder] = []
        with ThreadPoolExecutor(4) as pool:
            fleet = list(pool.map(lambda item: lab.server(f'fs{item[0]:02d}', item[1]),
                                  enumerate(fleet_addresses[:hosts])))
            fleet_holders = list(pool.map(
                lambda server: lab.hold(server, ['127.0.210.1', '127.0.210.2', '127.0.210.3']), fleet))
        log(f"fleet ready after {time.monotonic() - started:.0f} s")

        if fleet:
            fleet_result = bench_fleet(lab, fleet, options.reps)
            results['fleet_ratio_vs_ping'] = fleet_result['ratio']
            results['raw']['fleet'] = fleet_result['raw']
            for holder in fleet_holders:  # free CPU and memory: the fleet is done
                holder.stop()
            for server in fleet:
                server.stop()

        if big_needed:
            # Started only now: sessions held idle through the fleet runs were seen to vanish.
            big = lab.server('big', big_address)
            lab.hold(big, sources)
            log(f"{options.sessions} sessions held after {time.monotonic() - started:.0f} s")

        if 'enum' in only:
            enum = bench_enum(big, options.sessions, 3, options.calls)
            results['enum_ratio_vs_rpcclient'] = enum['ratio']
            results['raw']['enum'] = enum['raw']

        if 'rss' in only:
            rss = bench_rss(big, work, options.sessions, 2)
            results['enum_peak_rss_mb'] = rss['value']
            results['raw']['enum_rss'] = rss['raw']

        if 'close' in only:
            close = bench_close(big, work, pairs, options.sessions, 3)
            results['close_500_seconds'] = close['value']
            results['close_500_ansible_startup_seconds'] = close['raw']['ansible_startup_median_seconds']
            results['raw']['close'] = close['raw']
        lab.close()

        if files_address is not None:
            # Its own server, started once the big one is gone: sessions that hold files, from
            # several holder processes (one smbd process per session).
            files_server = lab.server('files', files_address)
            specs = file_specs(options.file_sessions, options.open_files // options.file_sessions)
            per_holder = -(-len(specs) // 4)
            for start in range(0, len(specs), per_holder):  # one after the other: opening is slower at once
                part = specs[start:start + per_holder]
                lab.hold_specs(files_server, part, timeout=30 + 0.1 * sum(len(spec.held_files) for spec in part))
            log(f"{options.open_files} open files held by {options.file_sessions} sessions after "
                f"{time.monotonic() - started:.0f} s")
            files = bench_files(files_server, options.open_files, 5, options.calls)
            results['files_enum_ratio_vs_rpcclient'] = files['ratio']
            results['raw']['files'] = files['raw']
            lab.close()

        if 'winrm' in only:
            winrm = bench_winrm(3, log)
            results['winrm_close_100_vs_1'] = winrm['ratio']
            results['raw']['winrm'] = winrm['raw']

        if 'trips' in only:
            trips = bench_round_trips(work, netns_address, options.delay_ms, 5)
            results['round_trips_vs_rpcclient'] = trips['value']
            results['raw']['round_trips'] = trips['raw']
    except BaseException as error:
        failure = error
        results['error'] = f"{type(error).__name__}: {error}"
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)
    results['targets'] = {key: {'value': results.get(key), 'target': target, 'limit': limit,
                                'met': results.get(key) is not None and results[key] <= target,
                                'within_limit': results.get(key) is not None and results[key] <= limit}
                          for key, (target, limit) in TARGETS.items()}
    results['bench_seconds'] = time.monotonic() - started
    options.output.write_text(json.dumps(results, indent=2) + '\n')
    log(f"wrote {options.output} after {results['bench_seconds']:.0f} s")
    for key, verdict in results['targets'].items():
        value = '-' if verdict['value'] is None else f"{verdict['value']:.2f}"
        log(f"  {key}: {value} (target {verdict['target']}) {'met' if verdict['met'] else 'MISSED'}")
    if failure is not None:
        if isinstance(failure, KeyboardInterrupt):
            raise failure
        log(f"FAILED: {results['error']}")
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
