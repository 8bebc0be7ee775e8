"""A throwaway Active Directory domain: a Samba AD domain controller in a network namespace.

The domain is ``lab.test`` (NetBIOS ``LAB``, realm ``LAB.TEST``); its one domain controller,
``dc1.lab.test``, is also the file server whose sessions the tests list and close. Kerberos needs
host names, and a test must not touch the machine's ``/etc/hosts`` or ``/etc/krb5.conf``, so:

* the DC runs inside a network namespace of its own (``ip netns``), which holds nothing but its
  own loopback interface (so no packet can leave the machine) and has a hosts file of its own
  (``/etc/netns/<name>/hosts``, which ``ip netns exec`` mounts over ``/etc/hosts``);
* Kerberos clients get a private ``KRB5_CONFIG`` naming the DC as the realm's KDC;
* every command that talks to the domain (clients, ``kinit``, Ansible) runs through
  ``ip netns exec <name>`` (``DomainController.command``).

In the DC role, smbd reaches winbindd only at the compiled-in ``/run/samba/winbindd``; the DC is
therefore started with a private directory bind-mounted over ``/run/samba`` inside the mount
namespace that ``ip netns exec`` creates, so nothing of it is visible outside.

``provision_template`` makes a stopped, provisioned domain with its accounts once (seconds);
each ``DomainController`` starts from a copy of it (under a second). Stopping ends every process
in the namespace (Samba renames its task processes and starts samba-dcerpcd detached, so the
namespace, not a process tree, is what reliably holds them all), removes the namespace, its
hosts file and the copy.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from .samba import SHARE_NAME, SambaError, require_loopback

__all__ = [
    "ACCOUNTS", "DC_ADDRESS", "DC_FQDN", "DOMAIN", "REALM", "WSMAN_ADDRESS", "WSMAN_FQDN",
    "Account", "DomainController",
    "provision_template", "stop_namespace",
]

REALM = "LAB.TEST"
DNS_DOMAIN = "lab.test"
DOMAIN = "LAB"  # the NetBIOS domain name, as sessions report their users (LAB\user1)
DC_NAME = "dc1"
DC_FQDN = f"{DC_NAME}.{DNS_DOMAIN}"
DC_ADDRESS = require_loopback("127.0.50.1")
ADMINISTRATOR_PASSWORD = "Dom-Adm1n!pw"

Role = Literal["admin", "operator", "user"]


@dataclass(frozen=True)
class Account:
    """A domain account: ``admin`` is in Domain Admins (may list and close sessions),
    ``operator`` in BUILTIN\\Administrators only (may list), ``user`` in neither."""

    name: str
    password: str
    role: Role


ACCOUNTS = (
    Account("labadmin", "Adm1n!dom-pw", "admin"),
    Account("laboper", "Op3r!dom-pw", "operator"),
    Account("user1", "Us3r1!dom-pw", "user"),
    Account("user2", "Us3r2!dom-pw", "user"),
    Account("user3", "Us3r3!dom-pw", "user"),
)
_GROUP_OF_ROLE = {"admin": "Domain Admins", "operator": "Administrators"}
# A WinRM service of the domain, for the loopback WS-Management endpoint: its host name, its
# address inside the namespace, and the account that holds its HTTP/ service principal name.
WSMAN_FQDN = f"ws1.{DNS_DOMAIN}"
WSMAN_ADDRESS = require_loopback("127.0.50.2")
WSMAN_ACCOUNT = Account("wsman-svc", "Wsm4n!svc-pw", "user")
KEYTAB = "wsman.keytab"  # in the template (and its copies): the HTTP/ws1.lab.test keys
# msDS-SupportedEncryptionTypes: AES128 (0x8) and AES256 (0x10) ([MS-KILE] 2.2.7), so the KDC
# issues AES tickets for the service rather than RC4 ones.
_AES_ONLY = 24

_CONF = Path("etc") / "smb.conf"
_RUN_DIR = "run"  # bind-mounted over /run/samba inside the namespace
_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0
_TOOL_TIMEOUT = 120
_names = itertools.count()
# samba's deepest socket is about 50 characters below the copy (dc/ncalrpc/np/...).
_MAX_BASE_DIR = 50


def _run(argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None,
         timeout: float = _TOOL_TIMEOUT) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                            env=env, check=False)
    if result.returncode != 0:
        raise SambaError(f"{' '.join(argv)} failed ({result.returncode}): "
                         f"{(result.stderr or result.stdout)[-2000:]}")
    return result.stdout


def provision_template(directory: Path) -> Path:
    """Provision the domain with its accounts into ``directory`` (stopped); return it.

    Measured here: about 4 s for the provision and 0.25 s per account (more on a busy machine).
    """
    directory.mkdir(parents=True, exist_ok=True)
    empty_conf = directory / "empty.conf"  # without -s, provision copies /etc/samba/smb.conf
    empty_conf.write_text("")
    options = {
        "interfaces": f"{DC_ADDRESS}/8",  # without the /8 smbd finds no interface and panics
        "bind interfaces only": "yes",
        "disable netbios": "yes",
        "pid directory": str(directory / "pid"),
        "ncalrpc dir": str(directory / "ncalrpc"),
        "ntp signd socket directory": str(directory / "ntp_signd"),
        "log file": str(directory / "log.%m"),
        "disable spoolss": "yes",
        "printcap name": "/dev/null",
        "dns update command": "/bin/true",
        "spn update command": "/bin/true",
        # Only what a DC with one file server needs: no NetBIOS, WINS, DNS, replication.
        "server services": "-nbt -wrepl -dnsupdate -ntp_signd -kcc -drepl -dns",
    }
    _run(["samba-tool", "domain", "provision", "-s", str(empty_conf), f"--targetdir={directory}",
          f"--realm={REALM}", f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=NONE",
          f"--host-name={DC_NAME}", f"--host-ip={DC_ADDRESS}",
          f"--adminpass={ADMINISTRATOR_PASSWORD}"]
         + [f"--option={key} = {value}" for key, value in options.items()])
    conf = directory / _CONF
    # Settings that --option does not write: no TLS key (making one takes seconds), no printers.
    text = conf.read_text().replace(
        "[global]", "[global]\n\ttls enabled = no\n\tload printers = no\n\tprinting = bsd", 1)
    share = directory / SHARE_NAME
    share.mkdir()
    share.chmod(0o1777)
    text += f"\n[{SHARE_NAME}]\n\tpath = {share}\n\tread only = no\n"
    conf.write_text(text)
    (directory / _RUN_DIR).mkdir()
    for account in ACCOUNTS:
        _run(["samba-tool", "user", "create", account.name, account.password, "-s", str(conf)])
        _run(["samba-tool", "user", "setexpiry", account.name, "--noexpiry", "-s", str(conf)])
        if account.role in _GROUP_OF_ROLE:
            _run(["samba-tool", "group", "addmembers", _GROUP_OF_ROLE[account.role], account.name,
                  "-s", str(conf)])
    _add_wsman_service(directory, conf)
    return directory


def _add_wsman_service(directory: Path, conf: Path) -> None:
    """The account of the WinRM service, its SPN HTTP/ws1.lab.test and its keytab."""
    account, spn = WSMAN_ACCOUNT, f"HTTP/{WSMAN_FQDN}"
    _run(["samba-tool", "user", "create", account.name, account.password, "-s", str(conf)])
    _run(["samba-tool", "spn", "add", spn, account.name, "-s", str(conf)])
    # `user edit` runs an editor (one executable, given the LDIF file): one that adds the line.
    editor = directory / "add-enctypes"
    editor.write_text(f"#!/bin/sh\nexec sed -i '/^dn: /a msDS-SupportedEncryptionTypes: {_AES_ONLY}' \"$1\"\n")
    editor.chmod(0o700)
    _run(["samba-tool", "user", "edit", account.name, "-s", str(conf), f"--editor={editor}"])
    editor.unlink()
    _run(["samba-tool", "domain", "exportkeytab", str(directory / KEYTAB), f"--principal={spn}",
          "-s", str(conf)])


_CLONE_NEWNET = 0x40000000  # sched.h: setns(2) into a network namespace
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    """Move the calling thread (only) into the network namespace ``fd`` refers to."""
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def _netns_inode(name: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def _pids_in_netns(inode: int) -> list[int]:
    """Every process whose network namespace is the one with ``inode``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.stat(entry / "ns" / "net").st_ino == inode:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop_namespace(namespace: str) -> None:
    """TERM, then KILL, every process in ``namespace``; delete it and its hosts file."""
    try:
        for signum, wait in ((signal.SIGTERM, _STOP_TIMEOUT), (signal.SIGKILL, 2.0)):
            inode = _netns_inode(namespace)
            if inode is None:
                break
            for pid in _pids_in_netns(inode):
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while _pids_in_netns(inode) and time.monotonic() < deadline:
                time.sleep(0.05)
        inode = _netns_inode(namespace)
        if inode is not None:
            left = _pids_in_netns(inode)
            if left:
                raise SambaError(f"processes in namespace {namespace} survived SIGKILL: {left}")
            _run(["ip", "netns", "delete", namespace])
    finally:
        shutil.rmtree(Path("/etc/netns") / namespace, ignore_errors=True)


class DomainController:
    """One running copy of the template domain, in a network namespace of its own."""

    def __init__(self, template: Path, base_dir: Path | None = None,
                 namespace: str | None = None) -> None:
        if base_dir is not None and len(str(base_dir)) > _MAX_BASE_DIR:
            raise SambaError(f"{base_dir} is too long for the domain controller's sockets below it "
                             f"(a Unix socket path has at most 107 bytes): use at most "
                             f"{_MAX_BASE_DIR} characters")
        self.template = Path(template)
        self._owns_dir = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="samba-ad-")) if base_dir is None else Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)  # domain users open files on the share below it
        self.namespace = namespace or f"lanman-ad-{os.getpid()}-{next(_names)}"
        self.krb5_conf = self.base_dir / "krb5.conf"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def dc_dir(self) -> Path:
        return self.base_dir / "dc"

    @property
    def conf_path(self) -> Path:
        return self.dc_dir / _CONF

    @property
    def env(self) -> dict[str, str]:
        """What a Kerberos client needs besides the namespace: this domain's krb5.conf."""
        return {"KRB5_CONFIG": str(self.krb5_conf)}

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace, where the domain's names and addresses exist."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def run(self, argv: list[str], *, stdin: str | None = None,
            env: dict[str, str] | None = None) -> str:
        """Run a tool inside the namespace with this domain's krb5.conf (and ``env``)."""
        return _run(self.command(argv), stdin=stdin, env=dict(os.environ, **self.env, **(env or {})))

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Copy the template, make the namespace, start samba and wait until it serves."""
        _running.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        _run(["cp", "-a", str(self.template), str(self.dc_dir)])
        conf = self.conf_path.read_text().replace(str(self.template), str(self.dc_dir))
        self.conf_path.write_text(conf)
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f"    default_realm = {REALM}\n"
            "    dns_lookup_kdc = false\n    dns_lookup_realm = false\n    rdns = false\n"
            "    dns_canonicalize_hostname = false\n"
            "    forwardable = true\n"  # impacket asks for a forwardable TGT
            f"[realms]\n    {REALM} = {{\n        kdc = {DC_ADDRESS}\n    }}\n"
            f"[domain_realm]\n    .{DNS_DOMAIN} = {REALM}\n    {DNS_DOMAIN} = {REALM}\n")
        hosts_dir = Path("/etc/netns") / self.namespace
        hosts_dir.mkdir(parents=True, exist_ok=True)
        (hosts_dir / "hosts").write_text(f"127.0.0.1 localhost\n{DC_ADDRESS} {DC_FQDN} {DC_NAME}\n"
                                         f"{WSMAN_ADDRESS} {WSMAN_FQDN}\n")
        _run(["ip", "netns", "add", self.namespace])
        _run(["ip", "-n", self.namespace, "link", "set", "lo", "up"])
        Path("/run/samba").mkdir(parents=True, exist_ok=True)  # the mount point must exist
        log = (self.base_dir / "samba.out").open("wb")
        self._process = subprocess.Popen(
            self.command(["sh", "-c", 'mount --bind "$1" /run/samba && exec samba -s "$2" -F -M standard',
                          "sh", str(self.dc_dir / _RUN_DIR), str(self.conf_path)]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Wait (bounded) until SMB (445) and the KDC (88) accept connections."""
        probe = ("import socket, sys, time\n"
                 "deadline = time.monotonic() + float(sys.argv[1])\n"
                 "for port in (445, 88):\n"
                 "    while True:\n"
                 "        try:\n"
                 "            socket.create_connection((sys.argv[2], port), 0.2).close(); break\n"
                 "        except OSError:\n"
                 "            if time.monotonic() > deadline: sys.exit(f'port {port} closed')\n"
                 "            time.sleep(0.05)\n")
        try:
            _run(self.command([sys.executable, "-c", probe, str(_READY_TIMEOUT), DC_ADDRESS]),
                 timeout=_READY_TIMEOUT + 10)
        except SambaError as error:
            log = (self.base_dir / "samba.out").read_text(errors="replace")[-2000:]
            raise SambaError(f"the domain controller did not come up: {error}\n{log}") from None

    @property
    def keytab(self) -> Path:
        """The keys of HTTP/ws1.lab.test, for a WinRM endpoint that accepts Kerberos."""
        return self.dc_dir / KEYTAB

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Run the block with this thread in the domain's network namespace: sockets made
        there (a test server's listening socket) stay in it after the block."""
        with open(f"/run/netns/{self.namespace}", "rb") as target, \
                open(f"/proc/self/task/{threading.get_native_id()}/ns/net", "rb") as home:
            _setns(target.fileno())
            try:
                yield
            finally:
                _setns(home.fileno())

    def processes(self) -> list[int]:
        """Every process in the domain's namespace (samba's, and clients run there)."""
        inode = _netns_inode(self.namespace)
        return _pids_in_netns(inode) if inode is not None else []

    def stop(self) -> None:
        """End every process in the namespace, remove it, its hosts file and the copy; idempotent."""
        try:
            stop_namespace(self.namespace)
            if self._process is not None:
                self._process.wait(5)
        finally:
            _running.discard(self)
            if self._owns_dir:
                shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- Kerberos ----------------------------------------------------------------------------
    def kinit(self, account: Account, ccache: Path, services: tuple[str, ...] = ()) -> Path:
        """A ticket cache of ``account`` from MIT kinit (a TGT), plus tickets for ``services``."""
        env = {"KRB5CCNAME": f"FILE:{ccache}"}
        self.run(["kinit", f"{account.name}@{REALM}"], stdin=account.password + "\n", env=env)
        for service in services:
            self.run(["kvno", service], env=env)
        return ccache

    def __enter__(self) -> DomainController:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DomainController({DC_FQDN} in {self.namespace}, {self.base_dir})"


_running: set[DomainController] = set()


@atexit.register
def _stop_leftovers() -> None:
    for controller in list(_running):
        try:
            controller.stop()
        except SambaError as exc:
            print(f"tests.lab: could not stop {controller!r}: {exc}", file=sys.stderr)
