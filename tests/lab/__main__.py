"""A throwaway multi-server Samba lab for the demo and for trying the collection by hand.

    python -m tests.lab up   --state-dir DIR [--servers N] [--admin USER:PASS] [--first-address A]
    python -m tests.lab up   --state-dir DIR --domain
    python -m tests.lab down --state-dir DIR

``--domain`` starts, instead, an Active Directory domain (``lab.test``): a Samba AD domain
controller, ``dc1.lab.test`` on 127.0.50.1, in a network namespace of its own, with domain
sessions held over NTLM and Kerberos (``DOMAIN_SESSION_MIX``); lab.json says how to run commands
inside the namespace (``ip netns exec NAME``, with ``KRB5_CONFIG``).

Run as root from the repository root.  ``up`` starts N servers on 127.0.0.2 .. 127.0.0.(N+1),
port 445, each with the admin (role ``admin``) and the plain users alice, bob and carol
(password ``LAB_USER_PASSWORD``), and holds live SMB sessions on each (``SESSION_MIX``).  It
writes ``DIR/lab.json`` (servers, users, passwords, sessions, supervisor pid) and
``DIR/inventory.ini`` (group ``fileservers``), then returns; the lab keeps running.

Everything is owned by one supervisor process per lab (``supervise``, started by ``up`` in a
session of its own): it starts the servers and session holders, reports back, and on SIGTERM
(``down``), SIGINT, SIGHUP or after ``--lifetime`` hours stops them all.  ``down`` TERMs it,
then stops and kills whatever of the lab is still left (e.g. after the supervisor was
SIGKILLed), checks that none of its processes is left, and removes what ``up`` wrote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from . import domain as ad
from .holder import SessionHolder, SessionSpec, read_json_line
from .samba import (SHARE_NAME, SambaServer, find_processes, require_loopback, signal_all,
                    stop_server_at, wait_gone)

LAB_USER_PASSWORD = "Lab-Passw0rd"
PLAIN_USERS = ("alice", "bob", "carol")
DEFAULT_ADMIN = "labadmin:LabAdmin-Passw0rd"
# The live sessions held on every server: (source address, user, open files).  Two sessions
# of alice from different clients, one with files open, so filters by client and by user
# select different sets.
SESSION_MIX = (
    ("127.0.1.1", "alice", 2),
    ("127.0.1.2", "bob", 0),
    ("127.0.1.3", "alice", 0),
    ("127.0.1.4", "carol", 1),
)
PORT = 445
# The domain lab's sessions: (source address, account, open files, how it logged on).
DOMAIN_SESSION_MIX = (
    ("127.0.1.1", "user1", 2, "ntlm"),
    ("127.0.1.2", "user1", 0, "kerberos"),
    ("127.0.1.1", "user2", 0, "ntlm"),
    ("127.0.1.3", "user3", 1, "kerberos"),
)

_REPO_ROOT = Path(__file__).resolve().parents[2]
_UP_TIMEOUT_BASE, _UP_TIMEOUT_PER_SERVER = 30.0, 5.0
_DOWN_TIMEOUT = 30.0
_DOMAIN_PROVISION_TIMEOUT = 180.0  # about 5 to 15 s measured here; generous for a busy machine


class LabError(RuntimeError):
    """The lab could not be brought up or down; the message says why."""


def _paths(state_dir: Path) -> dict[str, Path]:
    return {"lab": state_dir / "lab.json", "inventory": state_dir / "inventory.ini",
            "servers": state_dir / "servers", "log": state_dir / "supervisor.log"}


def _is_supervisor(state_dir: Path) -> Callable[[list[str]], bool]:
    return lambda argv: "supervise" in argv and str(state_dir) in argv


def _is_lab_process(state_dir: Path) -> Callable[[list[str]], bool]:
    """Match the lab's processes: its supervisor, and anything naming a path under
    DIR/servers/ (smbd, samba-dcerpcd and its workers by their config file, the session holders
    by their label).  Narrow on purpose: a shell or ``timeout`` wrapping this command mentions
    DIR too, and must not be taken for part of the lab."""
    servers = f"{_paths(state_dir)['servers']}/"
    is_supervisor = _is_supervisor(state_dir)
    return lambda argv: is_supervisor(argv) or any(servers in arg for arg in argv)


def _namespace(state_dir: Path) -> str:
    """The domain lab's network namespace: named after the state directory, so that 'down'
    finds it even when lab.json was never written."""
    return f"lanman-lab-{hashlib.sha1(str(state_dir).encode()).hexdigest()[:10]}"


def _domain_plan(state_dir: Path) -> dict[str, Any]:
    """The domain lab: one DC that is also the file server, domain accounts, their sessions."""
    base_dir = _paths(state_dir)["servers"] / "domain"
    users = [{"name": account.name, "password": account.password, "role": account.role}
             for account in ad.ACCOUNTS]
    sessions = [{"server": ad.DC_FQDN, "auth": auth,
                 **asdict(SessionSpec(source, name, next(u["password"] for u in users if u["name"] == name),
                                      files, domain=ad.DOMAIN))}
                for source, name, files, auth in DOMAIN_SESSION_MIX]
    namespace = _namespace(state_dir)
    return {"state_dir": str(state_dir),
            "domain": {"realm": ad.REALM, "netbios": ad.DOMAIN, "namespace": namespace,
                       "krb5_config": str(base_dir / "run" / "krb5.conf"), "base_dir": str(base_dir),
                       "run_inside": f"ip netns exec {namespace} env KRB5_CONFIG={base_dir / 'run' / 'krb5.conf'}"},
            "servers": [{"name": ad.DC_FQDN, "address": ad.DC_ADDRESS, "port": PORT, "share": SHARE_NAME,
                         "base_dir": str(base_dir)}],
            "users": users, "sessions": sessions,
            "notes": ["Every command that talks to the domain runs inside its network namespace: "
                      "prefix it with 'run_inside' (for example: <run_inside> ansible -i "
                      "<inventory> fileservers -m lanman.server.netsession_info -a auth=kerberos).",
                      "Samba AD reports session users as LAB\\user; the modules report "
                      "username and domain apart."]}


def _plan(state_dir: Path, servers: int, first_address: str, admin: str) -> dict[str, Any]:
    """What the supervisor is to build: servers, users and sessions (written to lab.json)."""
    admin_name, _colon, admin_password = admin.partition(":")
    if not admin_name or not admin_password or admin_name in PLAIN_USERS:
        raise LabError(f"--admin must be USER:PASS with a user other than {', '.join(PLAIN_USERS)}")
    base = [int(octet) for octet in require_loopback(first_address).split(".")]
    if base[3] + servers - 1 > 254:
        raise LabError(f"{servers} servers from {first_address} would leave 127.0.0.0/8's host range")
    server_list = []
    for number in range(servers):
        name = f"fs{number + 1}"
        server_list.append({"name": name, "address": ".".join(map(str, base[:3] + [base[3] + number])),
                            "port": PORT, "share": SHARE_NAME,
                            "base_dir": str(_paths(state_dir)["servers"] / name)})
    users = [{"name": admin_name, "password": admin_password, "role": "admin"}]
    users += [{"name": name, "password": LAB_USER_PASSWORD, "role": "user"} for name in PLAIN_USERS]
    sessions = [{"server": server["name"], **asdict(SessionSpec(source, user, LAB_USER_PASSWORD, files))}
                for server in server_list for source, user, files in SESSION_MIX]
    return {"state_dir": str(state_dir), "servers": server_list, "users": users, "sessions": sessions,
            "notes": ["'sessions' are held on every server until 'down'; the connection that lists "
                      "them is one more session (client 127.0.0.1, the admin) while it lasts.",
                      "Samba answers session levels 0 and 1 only and ignores the client and user "
                      "filters of NetrSessionEnum (see the README's Samba differences)."]}


def _inventory(plan: dict[str, Any]) -> str:
    admin = next(user for user in plan["users"] if user["role"] == "admin")
    if "domain" in plan:  # named by FQDN, reached by address: Kerberos takes the name
        admin = dict(admin, name=f"{plan['domain']['netbios']}\\{admin['name']}")
    lines = ["[fileservers]"]
    lines += [f"{server['name']} ansible_host={server['address']} ansible_connection=local"
              for server in plan["servers"]]
    # Quoted values are parsed as Python literals by Ansible's INI inventory, so a password
    # keeps its exact characters; json.dumps quotes ASCII text compatibly.
    lines += ["", "[fileservers:vars]", f"ansible_user={json.dumps(admin['name'])}",
              f"ansible_password={json.dumps(admin['password'])}", ""]
    return "\n".join(lines)


# ---- up ------------------------------------------------------------------------------------

def up(state_dir: Path, servers: int, first_address: str, admin: str, lifetime_hours: float,
       domain: bool = False) -> dict[str, Any]:
    """Start the supervisor, wait until it reports the lab ready, return lab.json's content."""
    paths = _paths(state_dir)
    if paths["lab"].exists() or find_processes(_is_lab_process(state_dir)):
        raise LabError(f"a lab is already up in {state_dir} (or was not taken down): "
                       f"run 'python -m tests.lab down --state-dir {state_dir}' first")
    plan = _domain_plan(state_dir) if domain else _plan(state_dir, servers, first_address, admin)
    shutil.rmtree(paths["servers"], ignore_errors=True)  # left by a failed run; nothing uses it
    state_dir.mkdir(parents=True, exist_ok=True)
    with paths["log"].open("ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "tests.lab", "supervise", "--state-dir", str(state_dir),
             "--lifetime", str(lifetime_hours)],
            cwd=_REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True)  # its own session: it outlives this command and its terminal
    assert supervisor.stdin is not None and supervisor.stdout is not None
    try:
        supervisor.stdin.write(json.dumps(plan).encode())  # passwords stay out of argv
        supervisor.stdin.close()
        reply = read_json_line(supervisor, _UP_TIMEOUT_BASE + _UP_TIMEOUT_PER_SERVER * servers
                               + (_DOMAIN_PROVISION_TIMEOUT if domain else 0))
    except (OSError, ValueError, TimeoutError, EOFError) as exc:
        reply = {"error": f"supervisor: {exc}"}
    supervisor.stdout.close()
    if "ready" not in reply:
        log_tail = paths["log"].read_text(errors="replace")[-3000:]
        down(state_dir)
        raise LabError(f"lab did not come up: {reply.get('error', reply)}\nsupervisor log:\n{log_tail}")
    return json.loads(paths["lab"].read_text())


# ---- supervise -----------------------------------------------------------------------------

class _Stop(BaseException):
    """Raised by the signal handler: unwinds the supervisor so every resource is released.

    A BaseException, so that no ``except Exception`` on the way mistakes it for a failure."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor {os.getpid()}: {message}",
          file=sys.stderr, flush=True)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def supervise(state_dir: Path, lifetime_hours: float) -> int:
    """Build the lab from the plan on stdin, report on stdout, hold it until told to stop."""
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _raise_stop)
    plan = json.loads(sys.stdin.read())
    try:
        with ExitStack() as stack:
            try:
                return _hold_lab(plan, stack, state_dir, lifetime_hours)
            finally:
                for signum in _STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_IGN)  # nothing interrupts the teardown
    except _Stop as stop:  # a signal while starting: the ExitStack has released what was built
        _log(f"{stop} while starting: stopped")
        return 1
    finally:
        _log("stopped everything")


def _hold_lab(plan: dict[str, Any], stack: ExitStack, state_dir: Path, lifetime_hours: float) -> int:
    """Build the lab on ``stack``, report to 'up', wait for a stop signal or the lifetime's end."""
    try:
        _build(plan, stack)
    except Exception as exc:  # report any failure to 'up', which shows it to the user
        _log(f"failed: {exc!r}")
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    paths = _paths(state_dir)
    plan["supervisor_pid"] = os.getpid()
    plan["inventory"] = str(paths["inventory"])
    plan["expires"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(time.time() + lifetime_hours * 3600))
    paths["inventory"].write_text(_inventory(plan))
    paths["lab"].write_text(json.dumps(plan, indent=2) + "\n")
    paths["lab"].chmod(0o600)  # it holds passwords
    print(json.dumps({"ready": len(plan["servers"])}), flush=True)
    # 'up' has read its answer and gone: later writes to stdout must not hit a closed pipe.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    _log(f"lab up: {len(plan['servers'])} servers, {len(plan['sessions'])} sessions")
    try:
        time.sleep(lifetime_hours * 3600)  # a forgotten lab stops by itself
        _log("lifetime over: stopping")
    except _Stop as stop:
        _log(f"{stop}: stopping")
    return 0


def _build(plan: dict[str, Any], stack: ExitStack) -> None:
    """Start every server and its session holder; register their stops on ``stack``."""
    if "domain" in plan:
        _build_domain(plan, stack)
        return
    for entry in plan["servers"]:
        server = SambaServer(entry["address"], entry["port"], base_dir=entry["base_dir"])
        for user in plan["users"]:
            server.add_user(user["name"], user["password"], user["role"])
        stack.callback(server.stop)
        server.start()
        specs = [SessionSpec(s["source_address"], s["username"], s["password"], s["open_files"])
                 for s in plan["sessions"] if s["server"] == entry["name"]]
        holder = SessionHolder(server.address, server.port, specs, label=entry["base_dir"])
        stack.callback(holder.stop)
        holder.start()
        _log(f"{entry['name']} up on {server.address}:{server.port} (holder pid {holder.pid})")


def _build_domain(plan: dict[str, Any], stack: ExitStack) -> None:
    """Provision and start the domain controller; hold the sessions over NTLM and Kerberos."""
    base_dir = Path(plan["domain"]["base_dir"])
    template = ad.provision_template(base_dir / "template")
    controller = ad.DomainController(template, base_dir=base_dir / "run",
                                     namespace=plan["domain"]["namespace"])
    stack.callback(controller.stop)
    controller.start()
    accounts = {account.name: account for account in ad.ACCOUNTS}
    specs = []
    for session in plan["sessions"]:
        ccache = ""
        if session["auth"] == "kerberos":
            cache = base_dir / "run" / f"holder-{session['source_address']}-{session['username']}.cc"
            ccache = str(controller.kinit(accounts[session["username"]], cache, (f"cifs/{ad.DC_FQDN}",)))
        specs.append(SessionSpec(session["source_address"], session["username"], session["password"],
                                 session["open_files"], domain=session["domain"], ccache=ccache))
    holder = SessionHolder(ad.DC_ADDRESS, PORT, specs, label=str(base_dir), server_name=ad.DC_FQDN,
                           command_prefix=controller.command([]))
    stack.callback(holder.stop)
    holder.start()
    _log(f"{ad.DC_FQDN} up on {ad.DC_ADDRESS} in namespace {controller.namespace} "
         f"(holder pid {holder.pid})")


# ---- down ----------------------------------------------------------------------------------

def down(state_dir: Path) -> None:
    """Stop everything of the lab in ``state_dir`` and remove what ``up`` wrote."""
    paths = _paths(state_dir)
    # The supervisor stops its holders and servers itself; wait (bounded) for it to finish.
    signal_all(find_processes(_is_supervisor(state_dir)), signal.SIGTERM)
    wait_gone(_is_supervisor(state_dir), _DOWN_TIMEOUT)
    # Whatever it did not stop (it was killed, or it hung): servers the orderly way by their
    # pid files, then anything of the lab still alive by SIGKILL.
    if paths["servers"].is_dir():
        for base_dir in paths["servers"].iterdir():
            stop_server_at(base_dir)
    ad.stop_namespace(_namespace(state_dir))  # a domain lab's: whatever is left in it
    signal_all(find_processes(_is_lab_process(state_dir)), signal.SIGKILL)
    left = wait_gone(_is_lab_process(state_dir), 5.0)
    if left:
        raise LabError(f"processes of the lab in {state_dir} survived SIGKILL: {left}")
    for name in ("lab", "inventory"):
        paths[name].unlink(missing_ok=True)
    shutil.rmtree(paths["servers"], ignore_errors=True)


# ---- command line --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the lab and return")
    up_parser.add_argument("--servers", type=int, default=2, help="number of servers (default 2)")
    up_parser.add_argument("--admin", default=DEFAULT_ADMIN, metavar="USER:PASS",
                           help=f"the account with role admin (default {DEFAULT_ADMIN})")
    up_parser.add_argument("--first-address", default="127.0.0.2",
                           help="address of the first server; the others follow (default 127.0.0.2)")
    up_parser.add_argument("--domain", action="store_true",
                           help=f"an AD domain instead: the domain controller {ad.DC_FQDN} in a "
                                "network namespace of its own, with NTLM and Kerberos sessions")
    commands.add_parser("down", help="stop everything the lab started")
    supervise_parser = commands.add_parser("supervise", help="(internal) the process that owns a lab")
    for sub, default_lifetime in ((up_parser, 8.0), (supervise_parser, None)):
        sub.add_argument("--lifetime", type=float, default=default_lifetime, required=default_lifetime is None,
                         metavar="HOURS", help="stop the lab by itself after this long (default 8)")
    for sub in commands.choices.values():
        sub.add_argument("--state-dir", type=Path, required=True, help="where lab.json and the servers live")
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()

    if args.command == "supervise":
        return supervise(state_dir, args.lifetime)
    if os.geteuid() != 0:
        parser.error("run as root: smbd binds port 445 and the lab creates Unix accounts")
    try:
        if args.command == "up":
            if args.servers < 1:
                parser.error("--servers must be at least 1")
            lab = up(state_dir, args.servers, args.first_address, args.admin, args.lifetime,
                     domain=args.domain)
            print(f"lab up: {len(lab['servers'])} servers "
                  f"({', '.join(s['name'] + '=' + s['address'] for s in lab['servers'])}), "
                  f"{len(lab['sessions'])} held sessions, supervisor pid {lab['supervisor_pid']}")
            print(f"details: {_paths(state_dir)['lab']}\ninventory: {lab['inventory']}")
            if "domain" in lab:
                print(f"run commands inside the domain's namespace with: {lab['domain']['run_inside']}")
        else:
            down(state_dir)
            print(f"lab in {state_dir} is down")
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
