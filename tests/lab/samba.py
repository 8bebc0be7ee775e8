"""Throwaway Samba servers for tests and the demo lab.

Each ``SambaServer`` owns one directory holding its ``smb.conf``, its databases (passdb, group
mapping, secrets, locks), its pid files, its log and the ``[data]`` share.  The recipe and the
measured facts behind it are in ``docs/dev/labs.md``.

Rights on a standalone Samba (docs/dev/labs.md):

* NetrSessionEnum needs ``BUILTIN\\Administrators`` (S-1-5-32-544) in the caller's token;
* NetrSessionDel needs uid 0 or ``Domain Admins`` (``<local SID>-512``).

Every server therefore gets two Unix groups of its own, named after its address and port: one
mapped to ``Domain Admins`` (which is also made a member of ``BUILTIN\\Administrators``) and one
mapped to ``BUILTIN\\Administrators`` only.  The group mapping lives in the server's own state
directory, so it is per server; Unix group *membership* is system-wide, which is why the groups
are per server and why ``add_user`` sets the membership of both groups exactly, every time.

What a server adds to the system it takes away again (``stop()``, or the atexit hook):

* its two groups, when it stops (only groups it created, or stale ones no running server uses);
* the Unix users, once no server needs them any more.  Users are shared: between the servers of
  one process, and between concurrent processes (test runs, the CLI lab) that pick the same
  names.  Each process that uses a user holds a shared ``flock`` on ``_USER_DIR/<name>.lock``
  until its last server using it stops; whoever then gets the lock exclusively was the last
  user anywhere and deletes the account, if the lab created it (``LAB_USER_COMMENT`` in its
  GECOS field).  An account that existed before, not made by the lab, is never deleted.

Only loopback addresses are accepted: traffic to any other address would leave the machine.

``SambaServer(pid_namespace=True)`` runs the server in a pid namespace of its own (``unshare``),
where ``set_next_pid()`` chooses the pid of the process smbd forks for the next connection
without touching the machine's pid allocation (docs/dev/labs.md, "Open files").
"""

from __future__ import annotations

import atexit
import fcntl
import grp
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Literal

__all__ = [
    "LAB_USER_COMMENT",
    "ROLES",
    "Role",
    "SHARE_NAME",
    "SambaError",
    "SambaServer",
    "allocate_server_address",
    "cmdline",
    "find_processes",
    "own_pid",
    "require_loopback",
    "signal_all",
    "stop_server_at",
    "users_in_use",
    "wait_gone",
]

Role = Literal["admin", "operator", "user"]
ROLES: tuple[Role, ...] = ("admin", "operator", "user")

SHARE_NAME = "data"
CONF_NAME = "smb.conf"
# Subdirectories of a server's base directory; each one is a separate smb.conf setting so that
# no two servers share a database, a socket or a pid file.
_DIRS = {
    "private dir": "private",
    "lock directory": "lock",
    "state directory": "state",
    "cache directory": "cache",
    "pid directory": "pid",
    "ncalrpc dir": "ncalrpc",
}
# smbd writes smbd.pid; smbd starts samba-dcerpcd on demand, detached from itself, and that
# daemon (with its rpcd_* workers) outlives smbd unless it is stopped too.
_PID_FILES = ("smbd.pid", "samba-dcerpcd.pid")

_POLL_SECONDS = 0.1
_USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Well-known SIDs and RIDs ([MS-DTYP] 2.4.2.4): BUILTIN\Administrators and Domain Admins.
_BUILTIN_ADMINISTRATORS_SID = "S-1-5-32-544"
_DOMAIN_ADMINS_RID = 512
# The GECOS field of the Unix accounts the lab creates: only such accounts are ever deleted.
LAB_USER_COMMENT = "tests.lab Samba lab user"
# Exit codes of shadow's tools (useradd(8), groupadd(8), userdel(8), groupdel(8)).
_EXIT_NAME_IN_USE = 9
_EXIT_NO_SUCH_NAME = 6
_EXIT_USER_BUSY = 8


class SambaError(RuntimeError):
    """A lab server could not be configured, started or stopped."""


def require_loopback(address: str) -> str:
    """Return ``address`` if it is an IPv4 loopback address (127.0.0.0/8), else raise."""
    if not ipaddress.IPv4Address(address).is_loopback:
        raise ValueError(f"lab address {address!r} is not in 127.0.0.0/8")
    return address


# Addresses handed out by allocate_server_address(): 127.0.0.2 .. 127.0.0.9 are left for the
# demo lab (``python -m tests.lab up``) and for people trying the collection by hand.
_FIRST_ALLOCATED = 10
_LAST_ALLOCATED = 250
# One lock file per address.  A process that hands out an address keeps it locked (flock) until
# it exits, so test runs in parallel processes never pick the same address; the kernel drops
# the locks of a process that dies, however it dies.
_ALLOCATION_DIR = Path(tempfile.gettempdir()) / "samba-lab-addresses"
_allocation_lock = threading.Lock()
_held_address_locks: dict[int, int] = {}  # last octet -> open, locked file descriptor


def _lock_address(octet: int) -> bool:
    """Lock 127.0.0.<octet> for this process; False if another process holds it or it is in use."""
    fd = os.open(_ALLOCATION_DIR / f"127.0.0.{octet}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    if _port_accepts(f"127.0.0.{octet}", 445):  # e.g. a lab started by hand with --first-address
        os.close(fd)
        return False
    _held_address_locks[octet] = fd
    return True


def allocate_server_address(count: int = 1) -> str:
    """Return the first of ``count`` consecutive free addresses in 127.0.0.10 .. 127.0.0.250.

    Each address is handed out once per process and locked against other processes (see
    ``_ALLOCATION_DIR``), so servers of concurrent test runs never share an address (they all
    listen on port 445).  Raises ``SambaError`` when no such block is left.
    """
    with _allocation_lock:
        _ALLOCATION_DIR.mkdir(exist_ok=True)
        run: list[int] = []  # consecutive addresses locked so far
        octet = max(_held_address_locks, default=_FIRST_ALLOCATED - 1) + 1
        while octet <= _LAST_ALLOCATED:
            if _lock_address(octet):
                run.append(octet)
                if len(run) == count:
                    return f"127.0.0.{run[0]}"
            else:
                run = []  # a gap: start again after it (what was locked stays this process's)
            octet += 1
        raise SambaError(f"no {count} free consecutive lab server addresses left in 127.0.0.10 .. 127.0.0.250")


def cmdline(pid: int) -> list[str]:
    """Return the argv of ``pid``; empty if it is gone or a zombie (a zombie's cmdline is empty).

    Zombies are common here: smbd daemonizes, so its processes end as children of PID 1, which
    reaps them only after a while.
    """
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def find_processes(matches: Callable[[list[str]], bool]) -> list[int]:
    """Return the pids of live processes (not zombies, not this one) whose argv ``matches``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            argv = cmdline(int(entry.name))
            if argv and matches(argv):
                pids.append(int(entry.name))
    return pids


def _uses_conf(conf: str) -> Callable[[list[str]], bool]:
    """Match ``smbd -s <conf>`` and ``--configfile=<conf>`` (samba-dcerpcd, rpcd_* workers).

    Ending in the path, not containing it: ``<conf>.bak`` of another server must not match.
    """
    return lambda argv: any(arg.endswith(conf) for arg in argv)


def own_pid(pid: int) -> int | None:
    """The pid that process ``pid`` (as this process sees it) has in its own pid namespace.

    The last ``NSpid`` entry of its status; the same number outside a pid namespace of its own.
    None if the process is gone.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return pid  # a kernel without NSpid (before 4.1) has no nested pid namespaces to report


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def wait_gone(matches: Callable[[list[str]], bool], timeout: float) -> list[int]:
    """Wait (bounded) until ``find_processes(matches)`` is empty; return the pids still there."""
    deadline = time.monotonic() + timeout
    while True:
        left = find_processes(matches)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_server_at(base_dir: Path, timeout: float = 5.0) -> None:
    """Stop every process of the lab server whose directory is ``base_dir``.

    TERM the pids in the pid files (only if they still belong to this server: pids get reused),
    wait for every process whose command line holds the config path, KILL what is left.  Works
    without the ``SambaServer`` object, e.g. from ``python -m tests.lab down``.
    """
    conf = str(Path(base_dir) / CONF_NAME)
    pid_dir = Path(base_dir) / _DIRS["pid directory"]
    for name in _PID_FILES:
        pid = _read_pid(pid_dir / name)
        if pid is not None and _uses_conf(conf)(cmdline(pid)):
            signal_all([pid], signal.SIGTERM)
    left = wait_gone(_uses_conf(conf), timeout)
    if left:
        signal_all(left, signal.SIGKILL)
        left = wait_gone(_uses_conf(conf), 2.0)
    if left:
        raise SambaError(f"processes of {conf} survived SIGKILL: {left}")


def _require_searchable(directory: Path) -> None:
    """Raise unless unprivileged users may pass through ``directory`` and all its parents.

    Not ``force user = root`` on the share instead: Samba counts a session's open files
    (``num_opens``) by the Unix uid that opened them, so files opened as root count for nobody.
    """
    for path in (directory, *directory.resolve().parents):
        if path.exists() and not path.stat().st_mode & stat.S_IXOTH:
            raise SambaError(f"lab users cannot reach a share under {directory}: {path} is not searchable "
                             "by others (pytest's tmp_path is not); leave base_dir unset for a temp dir")


def _call(argv: list[str], stdin: str | None = None,
          ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run a Samba or shadow tool; raise ``SambaError`` with its output if it fails."""
    # shadow's tools wait up to 15 s for the /etc/passwd and /etc/group locks of a concurrent run
    try:
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SambaError(f"{' '.join(argv)} did not finish within {exc.timeout} s") from exc
    if result.returncode not in ok_codes:
        raise SambaError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr or result.stdout}")
    return result


def _run(argv: list[str], stdin: str | None = None, ok_codes: tuple[int, ...] = (0,)) -> str:
    """Run a Samba or shadow tool and return its output; raise ``SambaError`` if it fails."""
    return _call(argv, stdin, ok_codes).stdout


def _port_accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


# ---- Unix accounts: shared between servers and processes, deleted by the last one --------------

# One lock file per lab user name.  Every process that uses the user holds a shared flock on it;
# the kernel drops the locks of a process that dies, however it dies.
_USER_DIR = Path(tempfile.gettempdir()) / "samba-lab-users"
_USER_LOCK_TIMEOUT = 90.0  # a deleting process holds the lock for one userdel (bounded by _call)
_accounts_lock = threading.RLock()
_user_locks: dict[str, int] = {}  # user name -> open file descriptor holding a shared flock
_user_servers: dict[str, set[SambaServer]] = {}  # user name -> servers of this process using it
_group_owners: dict[str, SambaServer] = {}  # group name -> the server of this process that owns it
# Servers that hold users or groups and were not stopped: the atexit hook stops them too.
_holding: set[SambaServer] = set()


def users_in_use() -> set[str]:
    """The lab users that servers of this process use (added and not stopped yet)."""
    with _accounts_lock:
        return set(_user_servers)


def _user_lock_path(name: str) -> Path:
    return _USER_DIR / f"{name}.lock"


def _lock_user(name: str) -> int:
    """Take a shared lock on ``name``'s lock file (bounded wait); return its descriptor."""
    path = _user_lock_path(name)
    deadline = time.monotonic() + _USER_LOCK_TIMEOUT
    while True:
        _USER_DIR.mkdir(mode=0o755, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the last user of the directory removed it in between
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # another process is deleting the user right now
            os.close(fd)
            if time.monotonic() >= deadline:
                raise SambaError(f"lab user {name}: {path} stayed locked for {_USER_LOCK_TIMEOUT} s") from None
            time.sleep(_POLL_SECONDS / 2)
            continue
        # The process that deleted the user also removed the file we may have opened before:
        # a lock on that file protects nothing, so lock the one now at the path.
        if _is_at(fd, path):
            return fd
        os.close(fd)


def _is_at(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path`` (not removed or replaced)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)


def _delete_user(name: str, busy_timeout: float = 5.0) -> str | None:
    """userdel ``name``; return a problem to report, or None (also if it is gone already)."""
    deadline = time.monotonic() + busy_timeout
    try:
        while True:
            # exit 6: deleted in the meantime.  Exit 8: a process still runs as the user: a
            # server process not yet reaped, or a lab server of a process that does not take
            # these locks; wait a little for the first, give up on the second.
            done = _call(["userdel", name], ok_codes=(0, _EXIT_NO_SUCH_NAME, _EXIT_USER_BUSY))
            if done.returncode != _EXIT_USER_BUSY:
                return None
            if time.monotonic() >= deadline:
                return f"lab user {name} is left: {done.stderr.strip()}"
            time.sleep(_POLL_SECONDS)
    except SambaError as exc:
        return str(exc)


def _unlock_user(name: str, fd: int) -> str | None:
    """Give up this process's hold on ``name``; delete the account if nobody else holds it.

    Returns a problem to report, or None.  Called with ``_accounts_lock`` held.
    """
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # another process still uses the user: the last one deletes it
        if not _is_at(fd, _user_lock_path(name)):
            return None  # another process gave it up at the same time and did the deleting
        problem = None
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            entry = None
        if entry is not None and entry.pw_gecos == LAB_USER_COMMENT:
            problem = _delete_user(name)
        _user_lock_path(name).unlink(missing_ok=True)  # still locked: no one else has it open
        try:
            _USER_DIR.rmdir()
        except OSError:
            pass  # not empty: other users are still held
        return problem
    finally:
        os.close(fd)


class SambaServer:
    """One throwaway ``smbd`` listening on ``address:port`` (loopback only).

    Users may be added before or after ``start()``: ``smbpasswd`` and ``net groupmap`` write the
    server's databases directly, and smbd reads passdb and Unix groups at every logon.

    Use as a context manager (``with SambaServer(...) as server:``), or call ``start()`` and
    ``stop()``; an atexit hook stops servers that are still running when the process exits.
    ``stop()`` also deletes the server's Unix groups and the users no other server still needs
    (see the module docstring), so a stopped server cannot be started again.

    With ``pid_namespace`` smbd runs as the init of a pid namespace of its own (``unshare --pid
    --fork --mount-proc``, smbd in the foreground), so ``set_next_pid()`` can choose the pid of
    the process it forks for the next connection.  Its pid file then holds 1, its pid in there.
    """

    def __init__(
        self,
        address: str = "127.0.0.2",
        port: int = 445,
        base_dir: Path | str | None = None,
        extra_global: dict[str, str] | None = None,
        pid_namespace: bool = False,
    ) -> None:
        self.address = require_loopback(address)
        self.port = port
        self.pid_namespace = pid_namespace
        self._launcher: subprocess.Popen[bytes] | None = None  # unshare, with pid_namespace
        # A directory we created is ours to delete on stop(); a given one is left for the caller
        # (the logs and databases help when a test fails).
        self._owns_dir = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="samba-lab-")) if base_dir is None else Path(base_dir)
        if self.base_dir.exists() and any(self.base_dir.iterdir()):
            raise SambaError(f"{self.base_dir} is not empty: a lab server needs a fresh directory")
        self.extra_global = dict(extra_global or {})
        self._groups_mapped = False
        self._owned_groups: list[str] = []  # groups this server deletes when it stops
        self._users: set[str] = set()  # users added to this server (held until it stops)
        # Per-server Unix groups (see module docstring).  A name identifies the listening
        # socket, which only one running server can hold at a time.
        octets = self.address.split(".")
        group_stem = f"smblab_{octets[2]}_{octets[3]}_{port}"
        self.admin_group = f"{group_stem}_admins"
        self.operator_group = f"{group_stem}_operators"
        _require_searchable(self.base_dir.parent)
        self._write_config()

    # -- layout -----------------------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.base_dir / CONF_NAME

    @property
    def share_path(self) -> Path:
        return self.base_dir / SHARE_NAME

    @property
    def log_path(self) -> Path:
        return self.base_dir / "log.smbd"

    @property
    def pid_dir(self) -> Path:
        return self.base_dir / _DIRS["pid directory"]

    def _write_config(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # smbd opens share files as the logged-on Unix user (an unprivileged account), who must
        # be able to reach and write the share; mkdtemp makes 0700 directories.  The databases
        # stay private all the same: their tdb files are 0600.
        self.base_dir.chmod(0o755)
        for sub in _DIRS.values():
            (self.base_dir / sub).mkdir()
        self.share_path.mkdir()
        self.share_path.chmod(0o1777)
        settings = {
            "server role": "standalone server",
            "passdb backend": f"tdbsam:{self.base_dir / 'private' / 'passdb.tdb'}",
            "interfaces": f"{self.address}/8",
            "bind interfaces only": "yes",
            "smb ports": str(self.port),
            "disable netbios": "yes",
            "load printers": "no",
            "printing": "bsd",
            "printcap name": "/dev/null",
            "disable spoolss": "yes",
            "map to guest": "never",
            "usershare path": "",
            "log file": str(self.log_path),
            **{key: str(self.base_dir / sub) for key, sub in _DIRS.items()},
            **self.extra_global,
        }
        lines = ["[global]"]
        lines += [f"    {key} = {value}" for key, value in settings.items()]
        lines += [f"[{SHARE_NAME}]", f"    path = {self.share_path}", "    read only = no", ""]
        self.conf_path.write_text("\n".join(lines))

    # -- users ------------------------------------------------------------------------------
    def add_user(self, name: str, password: str, role: Role = "user") -> None:
        """Create (idempotently) ``name`` with ``password`` and give it ``role`` on this server.

        ``admin`` may list and close sessions, ``operator`` may list only (NetrSessionDel → 5),
        ``user`` may do neither (NetrSessionEnum → 5).  Calling it again with another role or
        password changes them.  Works before and after ``start()``.
        """
        if not _USERNAME_RE.match(name):
            raise ValueError(f"user name {name!r} is not a valid Unix account name")
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {ROLES}")
        self._hold_user(name)
        try:
            pwd.getpwnam(name)
        except KeyError:
            # exit 9 (name in use): a concurrent test run created it in the meantime
            _run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-c", LAB_USER_COMMENT, name],
                 ok_codes=(0, _EXIT_NAME_IN_USE))
        self._map_groups()
        self._set_member(self.admin_group, name, role == "admin")
        self._set_member(self.operator_group, name, role == "operator")
        # -a adds the user or, if present, sets the password; the password goes twice on stdin.
        _run(["smbpasswd", "-c", str(self.conf_path), "-s", "-a", name], stdin=f"{password}\n{password}\n")

    def _map_groups(self) -> None:
        """Create this server's two Unix groups and map them (once per server directory)."""
        if self._groups_mapped:
            return
        for group in (self.admin_group, self.operator_group):
            self._add_group(group)
        net = ["net", "-s", str(self.conf_path)]
        # "SID for domain X is: S-1-5-21-..."; the first call also creates the SID.
        local_sid = _run([*net, "getlocalsid"]).split()[-1]
        _run([*net, "groupmap", "add", "ntgroup=Domain Admins", f"unixgroup={self.admin_group}",
              f"rid={_DOMAIN_ADMINS_RID}", "type=domain"])
        _run([*net, "groupmap", "add", f"sid={_BUILTIN_ADMINISTRATORS_SID}",
              f"unixgroup={self.operator_group}", "type=builtin", "ntgroup=Administrators"])
        _run([*net, "groupmap", "addmem", _BUILTIN_ADMINISTRATORS_SID, f"{local_sid}-{_DOMAIN_ADMINS_RID}"])
        self._groups_mapped = True

    def _add_group(self, group: str) -> None:
        """Create ``group``, or take over a stale one; note it as this server's if so.

        A group that exists already is another server's while that server listens on this
        address and port (this one cannot start then anyway) or is not stopped yet in this
        process; otherwise it is left over from a process that died, and this server removes
        it when it stops.
        """
        with _accounts_lock:
            _holding.add(self)
            created = _call(["groupadd", group], ok_codes=(0, _EXIT_NAME_IN_USE)).returncode == 0
            owner = _group_owners.get(group)
            listener_is_another = not self.is_running() and _port_accepts(self.address, self.port)
            if created or (owner in (None, self) and not listener_is_another):
                _group_owners[group] = self
                if group not in self._owned_groups:
                    self._owned_groups.append(group)

    def _hold_user(self, name: str) -> None:
        """Note that this server uses ``name``; the first server of the process locks it."""
        with _accounts_lock:
            if name not in _user_locks:
                _user_locks[name] = _lock_user(name)
            _user_servers.setdefault(name, set()).add(self)
            self._users.add(name)
            _holding.add(self)

    def _release_accounts(self) -> list[str]:
        """Delete this server's groups and the users no server needs any more; return problems."""
        problems = []
        with _accounts_lock:
            for group in self._owned_groups:
                if _group_owners.get(group) is self:
                    del _group_owners[group]
                    try:
                        _call(["groupdel", group], ok_codes=(0, _EXIT_NO_SUCH_NAME))
                    except SambaError as exc:
                        problems.append(str(exc))
            self._owned_groups.clear()
            self._groups_mapped = False
            for name in sorted(self._users):
                servers = _user_servers.get(name, set())
                servers.discard(self)
                if not servers:
                    _user_servers.pop(name, None)
                    fd = _user_locks.pop(name, None)
                    problem = _unlock_user(name, fd) if fd is not None else None
                    if problem:
                        problems.append(problem)
            self._users.clear()
            _holding.discard(self)
        return problems

    @staticmethod
    def _set_member(group: str, user: str, member: bool) -> None:
        if (user in grp.getgrnam(group).gr_mem) != member:
            _run(["gpasswd", "-a" if member else "-d", user, group])

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Start smbd and wait (bounded) until ``address:port`` accepts connections."""
        if self.is_running():
            raise SambaError(f"server {self.conf_path} is already running")
        if _port_accepts(self.address, self.port):
            raise SambaError(f"{self.address}:{self.port} is already taken by another server")
        _running.add(self)
        if self.pid_namespace:
            self._start_in_pid_namespace()
        else:
            _run(["smbd", "-s", str(self.conf_path), "-D"])
        deadline = time.monotonic() + timeout
        while not _port_accepts(self.address, self.port):
            if self._launcher is not None and self._launcher.poll() is not None:
                failure = (f"smbd in a pid namespace of its own exited ({self._launcher.returncode}) before "
                           f"listening:\n{self._launcher_log()}\nend of {self.log_path}:\n{self._log_tail()}")
                self.stop()  # removes a directory it created: read the logs first
                raise SambaError(failure)
            if time.monotonic() >= deadline:
                log_tail = self._log_tail()  # before stop() removes a directory it created
                self.stop()
                raise SambaError(f"smbd did not listen on {self.address}:{self.port} within {timeout} s; "
                                 f"end of {self.log_path}:\n{log_tail}")
            time.sleep(_POLL_SECONDS)

    def _start_in_pid_namespace(self) -> None:
        """Start smbd in the foreground as the init of a new pid namespace, with its own /proc.

        Detached like ``smbd -D`` (a session of its own): it outlives this process unless it is
        stopped.  ``--kill-child`` ends smbd, and with it the namespace, if unshare is killed.
        """
        with open(self.base_dir / "launcher.log", "ab") as log:
            self._launcher = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM",
                 "smbd", "-s", str(self.conf_path), "--foreground", "--no-process-group"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def _launcher_log(self) -> str:
        try:
            return (self.base_dir / "launcher.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no launcher log)"

    def _namespace_init(self) -> int | None:
        """The (outside) pid of smbd as the init of this server's pid namespace, or None."""
        if self._launcher is None:
            return None
        for pid in self.processes():
            if own_pid(pid) == 1:
                return pid
        return None

    def smbd_pids(self) -> dict[int, int]:
        """Every live smbd process of this server: its pid here -> its pid as smbd sees it.

        The two differ with ``pid_namespace``.  Samba's file ids hold the second (Samba's
        ``fi3_id`` is that pid shifted left by 16 bits, or'ed with a per-process counter).
        """
        pids = {}
        for pid in self.processes():
            argv = cmdline(pid)
            seen = own_pid(pid)
            if argv and Path(argv[0]).name == "smbd" and seen is not None:
                pids[pid] = seen
        return pids

    def _in_pid_namespace(self, script: str, *args: str) -> str:
        """Run ``sh -c script`` with ``args`` in this server's pid namespace (here if it has none)."""
        prefix: list[str] = []
        if self.pid_namespace:
            init = self._namespace_init()
            if init is None:
                raise SambaError(f"{self!r} is not running: its pid namespace is gone")
            # nsenter forks the shell into the namespace: the sysctls below are per namespace
            # and act on the namespace of the process that reads or writes them.
            prefix = ["nsenter", f"--target={init}", "--pid", "--"]
        return _run([*prefix, "sh", "-c", script, "sh", *args])

    def pid_max(self) -> int:
        """``kernel.pid_max`` where this server's processes get their pids.

        The machine's, or (Linux 6.14 and later) the server's pid namespace's own, which starts
        at the kernel's limit (4194304 measured on 6.18) whatever the machine's is.
        """
        return int(self._in_pid_namespace("cat /proc/sys/kernel/pid_max").strip())

    def set_next_pid(self, pid: int) -> None:
        """Make ``pid`` the next pid handed out where this server's processes get theirs.

        Writes ``pid - 1`` to ``kernel.ns_last_pid`` (root only): a hint for the next fork, not a
        setting, so there is nothing to restore.  The next fork gets ``pid`` unless another
        process forks first or ``pid`` is taken (the kernel then takes the next free one), so a
        caller checks which pid it got.  Without ``pid_namespace`` this acts on the machine's
        own pid namespace, where every other process forking races with it.
        """
        if not 2 <= pid <= self.pid_max():
            raise SambaError(f"pid {pid} is outside 2 .. pid_max {self.pid_max()} of {self!r}")
        try:
            self._in_pid_namespace('echo "$1" > /proc/sys/kernel/ns_last_pid', str(pid - 1))
        except SambaError as exc:
            raise SambaError(f"cannot set the next pid of {self!r} (ns_last_pid needs root): {exc}") from exc

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def is_running(self) -> bool:
        """Whether the main smbd process of this server is alive (not a zombie)."""
        if self.pid_namespace:
            return self._namespace_init() is not None
        pid = _read_pid(self.pid_dir / "smbd.pid")
        return pid is not None and _uses_conf(str(self.conf_path))(cmdline(pid))

    def processes(self) -> list[int]:
        """Pids of every live process of this server (smbd, samba-dcerpcd, rpcd_* workers)."""
        return find_processes(_uses_conf(str(self.conf_path)))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every process of this server; idempotent.  Deletes a directory it created, its
        Unix groups and the users that no other server still uses (see the module docstring)."""
        try:
            # In a pid namespace the pid file says 1: TERM smbd, the namespace's init, here;
            # when it exits the kernel kills what is left in the namespace.
            init = self._namespace_init()
            if init is not None:
                signal_all([init], signal.SIGTERM)
            stop_server_at(self.base_dir, timeout)
        except BaseException:
            self._reap_launcher()
            _running.discard(self)
            for problem in self._release_accounts():  # the first error is the one to raise
                print(f"tests.lab: {problem}", file=sys.stderr)
            raise
        self._reap_launcher()
        _running.discard(self)
        problems = self._release_accounts()
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        if problems:
            raise SambaError(f"{self!r} stopped, but: {'; '.join(problems)}")

    def _reap_launcher(self) -> None:
        launcher, self._launcher = self._launcher, None
        if launcher is not None:
            try:
                launcher.wait(5.0)  # it exits with smbd, which stop_server_at waited for
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait(5.0)

    def kill(self) -> None:
        """SIGKILL every process of this server at once (for tests of a server dying mid-run)."""
        signal_all(self.processes(), signal.SIGKILL)
        left = wait_gone(_uses_conf(str(self.conf_path)), 2.0)
        if left:
            raise SambaError(f"processes of {self.conf_path} survived SIGKILL: {left}")

    def __enter__(self) -> SambaServer:
        try:
            self.start()
        except BaseException:
            self.stop()  # __exit__ will not run: release the directory and anything started
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SambaServer({self.address}:{self.port}, {self.base_dir})"


# Servers started and not yet stopped in this process: the atexit safety net stops them even if
# a test forgot to (it cannot help against SIGKILL of the test process), and removes the groups
# and users of servers that were set up but never started or stopped (``_holding``).
_running: set[SambaServer] = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running | _holding):
        try:
            server.stop()
        except SambaError as exc:
            print(f"tests.lab: could not stop {server!r}: {exc}", file=sys.stderr)
