"""End-to-end fixtures: real smbd servers on loopback, real sessions, Ansible itself.

Every test gets client addresses of its own (127.0.<n>.x), so sessions that a previous test's
holder is still tearing down never mix into what a test asserts.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab import domain as ad
from tests.lab.holder import SessionHolder, SessionSpec
from tests.lab.samba import SambaServer, allocate_server_address

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CALLBACKS = Path(__file__).resolve().parent / 'callback_plugins'

ADMIN = ('labadmin', 'Adm1n!secret-e2e')
OPERATOR = ('laboper', 'Op3r!secret-e2e')
USERS = {'alice': 'Al1ce!pw', 'bob': 'B0b!pw', 'carol': 'C4rol!pw'}
# Bounded: each test takes one 127.0.<n>.0/24 block of client addresses.
_CLIENT_BLOCKS = itertools.count(1)


@dataclass
class Server:
    name: str
    address: str
    samba: SambaServer


def start_server(name: str, extra_global: dict[str, str] | None = None) -> Server:
    """A server of its own (extra smb.conf [global] lines) with the usual users; caller stops it."""
    samba = SambaServer(address=allocate_server_address(), extra_global=extra_global)
    try:
        samba.add_user(*ADMIN, role='admin')
        samba.add_user(*OPERATOR, role='operator')
        for user, password in USERS.items():
            samba.add_user(user, password, role='user')
        samba.start()
    except BaseException:
        samba.stop()
        raise
    return Server(name, samba.address, samba)


@pytest.fixture(scope='session')
def servers():
    """Two Samba servers with an admin, a list-only operator and three plain users."""
    started = []
    try:
        for index in range(2):
            address = allocate_server_address()
            samba = SambaServer(address=address)
            samba.add_user(*ADMIN, role='admin')
            samba.add_user(*OPERATOR, role='operator')
            for user, password in USERS.items():
                samba.add_user(user, password, role='user')
            samba.start()
            started.append(Server(f'fs{index + 1}', address, samba))
        yield started
    finally:
        for server in started:
            server.samba.stop()


class Clients:
    """Per-test client addresses and session holders."""

    def __init__(self) -> None:
        self.block = next(_CLIENT_BLOCKS)
        if self.block > 250:
            raise RuntimeError('out of client address blocks')
        self._holders: list[SessionHolder] = []

    def address(self, host: int) -> str:
        return f'127.0.{self.block}.{host}'

    def hold(self, server: Server, specs: list[tuple[int, str, int]]) -> list[tuple[str, str]]:
        """Open sessions (client host number, user, open files); returns their (client, user)."""
        sessions = [SessionSpec(self.address(host), user, _password(user), files)
                    for host, user, files in specs]
        holder = SessionHolder(server.address, 445, sessions)
        self._holders.append(holder)
        holder.start()
        return [(spec.source_address, spec.username) for spec in sessions]

    def stop(self) -> None:
        for holder in self._holders:
            holder.stop()


def _password(user: str) -> str:
    return {ADMIN[0]: ADMIN[1], OPERATOR[0]: OPERATOR[1]}.get(user) or USERS[user]


@pytest.fixture
def clients():
    held = Clients()
    yield held
    held.stop()


def inventory(tmp_path: Path, servers: list[Server], *, user=ADMIN, connection='ssh',
              extra: str = '') -> Path:
    """An inventory of the Samba servers as Linux hosts: ssh, which the modules must never use.

    ansible_port is set to something that is not SMB: it must not be taken as the SMB port.
    """
    lines = ['[fileservers]']
    for server in servers:
        lines.append(f'{server.name} ansible_host={server.address} {extra}')
    lines += ['', '[fileservers:vars]', f'ansible_connection={connection}', 'ansible_port=2222',
              f'ansible_user={user[0]}', f'ansible_password={user[1]}']
    path = tmp_path / 'inventory.ini'
    path.write_text('\n'.join(lines) + '\n')
    return path


@dataclass
class Run:
    rc: int
    output: str
    results: list[dict]

    def by_host(self, task: str | None = None) -> dict[str, dict]:
        """Results per host, of one task if named (a role's tasks are named 'ROLE : task')."""
        return {item['host']: item['result'] for item in self.results
                if task is None or item['task'] == task or item['task'].endswith(' : ' + task)}

    def task(self, name: str) -> dict[str, dict]:
        return self.by_host(name)

    def status(self, task: str | None = None) -> dict[str, str]:
        """Per host: ok, failed, unreachable or skipped (Ansible keeps 'failed' out of results)."""
        return {item['host']: item['status'] for item in self.results
                if task is None or item['task'] == task}


def _run(argv: list[str], tmp_path: Path, env_extra: dict | None = None, timeout=180,
         prefix: list[str] | None = None) -> Run:
    record = tmp_path / f'record-{next(_RUNS)}.json'
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=str(REPO / 'build' / 'collections'),
               ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS), ANSIBLE_CALLBACKS_ENABLED='record',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', RECORD_FILE=str(record),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    env.update(env_extra or {})
    done = subprocess.run((prefix or []) + argv, capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=tmp_path, check=False)
    results = json.loads(record.read_text()) if record.exists() else []
    return Run(done.returncode, done.stdout + done.stderr, results)


_RUNS = itertools.count()


def _ansible_runner(tmp_path: Path, prefix: list[str] | None = None, base_env: dict | None = None):
    def run(inventory_path: Path, module: str, args: str = '', *extra: str, pattern='fileservers',
            env: dict | None = None) -> Run:
        argv = [str(BIN / 'ansible'), pattern, '-i', str(inventory_path), '-m', module]
        if args:
            argv += ['-a', args]
        return _run(argv + list(extra), tmp_path, dict(base_env or {}, **(env or {})),
                    prefix=prefix)
    return run


def _playbook_runner(tmp_path: Path, prefix: list[str] | None = None, base_env: dict | None = None):
    def run(inventory_path: Path, text: str, *extra: str, env: dict | None = None) -> Run:
        path = tmp_path / f'play-{next(_RUNS)}.yml'
        path.write_text(text)
        return _run([str(BIN / 'ansible-playbook'), '-i', str(inventory_path), str(path)]
                    + list(extra), tmp_path, dict(base_env or {}, **(env or {})), prefix=prefix)
    return run


@pytest.fixture
def ansible(tmp_path):
    """ansible <pattern> -i INV -m MODULE -a ARGS ..."""
    return _ansible_runner(tmp_path)


@pytest.fixture
def playbook(tmp_path):
    return _playbook_runner(tmp_path)


# ---- the Active Directory domain -----------------------------------------------------------

@pytest.fixture(scope='session')
def domain():
    """A Samba AD domain controller (dc1.lab.test, 127.0.50.1) in its own network namespace,
    started from a template provisioned once for the test run."""
    template_root = Path(tempfile.mkdtemp(prefix='samba-ad-template-'))
    try:
        template = ad.provision_template(template_root / 'template')
        with ad.DomainController(template) as controller:
            yield controller
    finally:
        shutil.rmtree(template_root, ignore_errors=True)


@pytest.fixture
def domain_ansible(tmp_path, domain):
    """``ansible`` run inside the domain's namespace, with its krb5.conf."""
    return _ansible_runner(tmp_path, domain.command([]), domain.env)


@pytest.fixture
def domain_playbook(tmp_path, domain):
    return _playbook_runner(tmp_path, domain.command([]), domain.env)


class DomainClients(Clients):
    """Per-test client addresses (inside the namespace) and sessions of domain users, held over
    NTLM or over Kerberos (a ticket cache with the cifs/ ticket, from kinit and kvno)."""

    def __init__(self, controller: ad.DomainController) -> None:
        super().__init__()
        self.controller = controller

    def hold(self, specs: list[tuple[int, str, int, str]]) -> list[tuple[str, str]]:  # type: ignore[override]
        """Open sessions (client host number, account, open files, 'ntlm' or 'kerberos');
        returns their (client, account)."""
        accounts = {account.name: account for account in ad.ACCOUNTS}
        sessions = []
        for host, name, files, auth in specs:
            account = accounts[name]
            ccache = ''
            if auth == 'kerberos':
                ccache = str(self.controller.kinit(
                    account, self.controller.base_dir / f'hold-{self.block}-{host}-{name}.cc',
                    (f'cifs/{ad.DC_FQDN}',)))
            sessions.append(SessionSpec(self.address(host), name, account.password, files,
                                        domain=ad.DOMAIN, ccache=ccache))
        holder = SessionHolder(ad.DC_ADDRESS, 445, sessions, server_name=ad.DC_FQDN,
                               command_prefix=self.controller.command([]))
        self._holders.append(holder)
        holder.start()
        return [(spec.source_address, spec.username) for spec in sessions]


@pytest.fixture
def domain_clients(domain):
    held = DomainClients(domain)
    yield held
    held.stop()


def mine(records: list[dict], clients: Clients) -> list[tuple[str, str]]:
    """The (client, user) of the records that belong to this test's clients, sorted."""
    prefix = f'127.0.{clients.block}.'
    return sorted((rec['client'], rec['username']) for rec in records
                  if rec['client'].startswith(prefix))


@pytest.fixture
def silent_server():
    """Accepts TCP connections on 127.0.0.1 and never answers (a stalled SMB server)."""
    listener = socket.create_server(('127.0.0.1', 0))
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    listener.close()
