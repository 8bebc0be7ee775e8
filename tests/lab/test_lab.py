"""Self-tests of the Samba lab, checked with impacket directly (not with the collection).

Needs root (smbd on port 445, Unix accounts) and Samba installed; skipped otherwise.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from impacket.dcerpc.v5 import srvs, transport
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import DCERPC_v5, DCERPCException

from .__main__ import PLAIN_USERS, SESSION_MIX
from .holder import HolderError, SessionHolder, SessionSpec
from .samba import (LAB_USER_COMMENT, SambaError, SambaServer, allocate_server_address, cmdline,
                    find_processes, users_in_use)

if os.geteuid() != 0 or shutil.which("smbd") is None:
    pytest.skip("the Samba lab needs root and smbd", allow_module_level=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Lab-Test-Pw1"
ADMIN, OPERATOR, PLAIN = "labadmin", "laboperator", "labuser"
ERROR_ACCESS_DENIED = 5  # [MS-ERREF] 2.2
ERROR_INVALID_LEVEL = 124  # [MS-ERREF] 2.2

Row = tuple[str, str, int]  # (client name, user name, open files) of a level-1 session


@pytest.fixture(scope="module")
def server() -> Iterator[SambaServer]:
    """One server for the module: admin and operator added before start, the rest after."""
    samba = SambaServer(allocate_server_address())
    samba.add_user(ADMIN, PASSWORD, "admin")
    samba.add_user(OPERATOR, PASSWORD, "operator")
    with samba:
        samba.add_user(PLAIN, PASSWORD, "user")
        for name in PLAIN_USERS:
            samba.add_user(name, PASSWORD, "user")
        yield samba


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp directory lab users can pass through (pytest's tmp_path is below a 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="samba-lab-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@contextmanager
def srvsvc(address: str, user: str, port: int = 445) -> Iterator[DCERPC_v5]:
    """An authenticated MS-SRVS binding over ``\\pipe\\srvsvc`` as ``user``."""
    rpc_transport = transport.DCERPCTransportFactory(rf"ncacn_np:{address}[\pipe\srvsvc]")
    rpc_transport.set_dport(port)
    rpc_transport.set_credentials(user, PASSWORD)
    dce = rpc_transport.get_dce_rpc()
    dce.connect()
    try:
        dce.bind(srvs.MSRPC_UUID_SRVS)
        yield dce
    finally:
        dce.disconnect()


def level1(dce: DCERPC_v5) -> list[Row]:
    reply = srvs.hNetrSessionEnum(dce, NULL, NULL, 1)
    # impacket keeps the NUL terminators of NDR strings
    return [(row["sesi1_cname"].rstrip("\0"), row["sesi1_username"].rstrip("\0"), row["sesi1_num_opens"])
            for row in reply["InfoStruct"]["SessionInfo"]["Level1"]["Buffer"]]


def close_session(dce: DCERPC_v5, client: str, user: str) -> None:
    # impacket sends a WSTR as given: the caller must add the terminating NUL
    srvs.hNetrSessionDel(dce, f"\\\\{client}\0", f"{user}\0")


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def error_code(excinfo: pytest.ExceptionInfo[DCERPCException]) -> int | None:
    return excinfo.value.get_error_code()


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def assert_user_gone(name: str) -> None:
    with pytest.raises(KeyError):
        pwd.getpwnam(name)


def assert_group_gone(name: str) -> None:
    with pytest.raises(KeyError):
        grp.getgrnam(name)


def server_groups(address: str, port: int = 445) -> list[str]:
    """The Unix groups of the lab server on ``address:port`` (see samba.py)."""
    octets = address.split(".")
    return [f"smblab_{octets[2]}_{octets[3]}_{port}_{kind}" for kind in ("admins", "operators")]


def not_made_by_the_lab(names: tuple[str, ...]) -> set[str]:
    """The accounts among ``names`` that exist and were not created by the lab: it keeps them."""
    kept = set()
    for name in names:
        try:
            if pwd.getpwnam(name).pw_gecos != LAB_USER_COMMENT:
                kept.add(name)
        except KeyError:
            pass
    return kept


# ---- SambaServer -----------------------------------------------------------------------------

def test_stop_leaves_no_process_and_removes_its_directory() -> None:
    server = SambaServer(allocate_server_address())
    server.add_user(ADMIN, PASSWORD, "admin")
    with server:
        assert server.is_running()
        with srvsvc(server.address, ADMIN) as dce:  # makes smbd start samba-dcerpcd and its workers
            level1(dce)
        assert len(server.processes()) > 1
    assert not server.is_running()
    assert server.processes() == []
    assert not server.base_dir.exists()


def test_kill_stops_everything_at_once() -> None:
    with SambaServer(allocate_server_address()) as server:
        server.kill()
        assert not server.is_running()
        assert server.processes() == []


def test_a_given_directory_must_be_reachable_and_is_kept(tmp_path: Path, open_dir: Path) -> None:
    with pytest.raises(SambaError, match="not searchable"):
        SambaServer(allocate_server_address(), base_dir=tmp_path / "samba")
    with SambaServer(allocate_server_address(), base_dir=open_dir / "samba"):
        pass
    assert (open_dir / "samba" / "smb.conf").exists(), "a given directory is left for the caller"


# ---- nothing left behind: Unix groups and users ------------------------------------------------
# These come before the first test that uses the module's ``server`` fixture: while it runs, this
# process holds its users (labadmin, alice, bob, carol, ...), which nothing may delete then.

def test_stop_removes_its_groups_and_the_users_it_created() -> None:
    names = ("labgone_admin", "labgone_user")
    assert not_made_by_the_lab(names) == set(), "accounts the lab did not create would be kept"
    server = SambaServer(allocate_server_address())
    server.add_user(names[0], PASSWORD, "admin")
    with server:
        server.add_user(names[1], PASSWORD, "user")
        assert [pwd.getpwnam(name).pw_gecos for name in names] == [LAB_USER_COMMENT] * 2
        assert names[0] in grp.getgrnam(server.admin_group).gr_mem
        assert server_groups(server.address) == [server.admin_group, server.operator_group]
        with srvsvc(server.address, names[0]) as dce:  # a session: smbd runs as the user for it
            level1(dce)
    for group in (server.admin_group, server.operator_group):
        assert_group_gone(group)
    for name in names:
        assert_user_gone(name)
    assert not users_in_use() & set(names)
    server.stop()  # idempotent: nothing left to remove


def test_a_server_that_never_started_removes_them_too() -> None:
    server = SambaServer(allocate_server_address())
    server.add_user("labgone_idle", PASSWORD, "operator")
    assert group_exists(server.operator_group) and user_exists("labgone_idle")
    server.stop()
    assert_group_gone(server.admin_group)
    assert_group_gone(server.operator_group)
    assert_user_gone("labgone_idle")


def test_a_user_stays_while_another_server_of_the_process_uses_it() -> None:
    first = SambaServer(allocate_server_address())
    second = SambaServer(allocate_server_address())
    for samba in (first, second):
        samba.add_user("labshared", PASSWORD, "admin")
    with second:
        with first:
            pass
        assert_group_gone(first.admin_group)
        assert user_exists("labshared") and "labshared" in users_in_use()
        assert "labshared" in grp.getgrnam(second.admin_group).gr_mem
        with srvsvc(second.address, "labshared") as dce:
            level1(dce)
    assert_group_gone(second.admin_group)
    assert_user_gone("labshared")


def test_an_account_the_lab_did_not_create_is_kept() -> None:
    subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-c", "not the lab's", "labkept"],
                   check=True, timeout=60)
    try:
        with SambaServer(allocate_server_address()) as samba:
            samba.add_user("labkept", PASSWORD, "admin")
        assert_group_gone(samba.admin_group)
        assert pwd.getpwnam("labkept").pw_gecos == "not the lab's"
    finally:
        subprocess.run(["userdel", "labkept"], check=True, timeout=60)


_OTHER_PROCESS = """
import sys
from tests.lab.samba import SambaServer, allocate_server_address
samba = SambaServer(allocate_server_address())
samba.add_user(sys.argv[1], sys.argv[2], "user")
print("added", flush=True)
sys.stdin.read()
samba.stop()
"""


def test_a_user_stays_while_another_process_uses_it() -> None:
    """The process that created a user leaves it to a concurrent one that still uses it; that
    one, the last, deletes it."""
    mine = SambaServer(allocate_server_address())
    mine.add_user("labcross", PASSWORD, "user")  # created here
    other = subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS, "labcross", PASSWORD], cwd=REPO_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert other.stdin is not None and other.stdout is not None
    try:
        assert other.stdout.readline().strip() == "added"
        mine.stop()
        assert_group_gone(mine.admin_group)
        assert user_exists("labcross"), "deleted while another process still uses it"
    finally:
        mine.stop()
        other.stdin.close()
        assert other.wait(timeout=60) == 0
    assert_user_gone("labcross")


def test_cli_lab_leaves_no_group_and_no_user_behind(open_dir: Path) -> None:
    state_dir = open_dir / "lab"
    first = allocate_server_address(2)
    addresses = [first, first.rsplit(".", 1)[0] + f".{int(first.rsplit('.', 1)[1]) + 1}"]
    groups = [group for address in addresses for group in server_groups(address)]
    users = ("labcliadmin", *PLAIN_USERS)
    # Accounts that were there before and not made by the lab stay, and so do the users that
    # this process's own servers still use (none, when the tests run in the file's order).
    kept = not_made_by_the_lab(users) | users_in_use()
    try:
        started = lab_cli("up", "--state-dir", str(state_dir), "--servers", "2", "--first-address", first,
                          "--admin", f"labcliadmin:{PASSWORD}")
        assert started.returncode == 0, started.stderr
        assert all(group_exists(group) for group in groups)
        assert all(user_exists(name) for name in users)
    finally:
        stopped = lab_cli("down", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert [group for group in groups if group_exists(group)] == []
    assert [name for name in users if user_exists(name) != (name in kept)] == []


def test_start_refuses_an_address_in_use(server: SambaServer) -> None:
    second = SambaServer(server.address)
    with pytest.raises(SambaError, match="already taken"):
        second.start()
    second.stop()  # removes its directory


def test_roles_are_per_server_and_can_change(server: SambaServer) -> None:
    with SambaServer(allocate_server_address()) as other:
        other.add_user("labdual", PASSWORD, "user")
        server.add_user("labdual", PASSWORD, "admin")
        with srvsvc(server.address, "labdual") as dce:
            level1(dce)
        with srvsvc(other.address, "labdual") as dce, pytest.raises(DCERPCException) as excinfo:
            level1(dce)
        assert error_code(excinfo) == ERROR_ACCESS_DENIED
    server.add_user("labdual", PASSWORD, "user")
    with srvsvc(server.address, "labdual") as dce, pytest.raises(DCERPCException) as excinfo:
        level1(dce)
    assert error_code(excinfo) == ERROR_ACCESS_DENIED


def test_extra_global_settings_reach_smb_conf() -> None:
    with SambaServer(allocate_server_address(), extra_global={"server signing": "mandatory"}) as signing:
        assert "server signing = mandatory" in signing.conf_path.read_text()
        signing.add_user(ADMIN, PASSWORD, "admin")
        with srvsvc(signing.address, ADMIN) as dce:  # impacket signs when the server requires it
            assert ("127.0.0.1", ADMIN, 0) in level1(dce)


# ---- rights and levels, as Samba answers them --------------------------------------------------

def test_operator_lists_but_cannot_close(server: SambaServer) -> None:
    specs = [SessionSpec("127.0.1.20", "bob", PASSWORD)]
    with SessionHolder(server.address, server.port, specs), srvsvc(server.address, OPERATOR) as dce:
        assert ("127.0.1.20", "bob", 0) in level1(dce)
        with pytest.raises(DCERPCException) as excinfo:
            close_session(dce, "127.0.1.20", "bob")
        assert error_code(excinfo) == ERROR_ACCESS_DENIED
        assert ("127.0.1.20", "bob", 0) in level1(dce)


def test_plain_user_cannot_list(server: SambaServer) -> None:
    with srvsvc(server.address, PLAIN) as dce, pytest.raises(DCERPCException) as excinfo:
        level1(dce)
    assert error_code(excinfo) == ERROR_ACCESS_DENIED


def test_level_2_is_an_invalid_level_on_samba(server: SambaServer) -> None:
    with srvsvc(server.address, ADMIN) as dce, pytest.raises(DCERPCException) as excinfo:
        srvs.hNetrSessionEnum(dce, NULL, NULL, 2)
    assert error_code(excinfo) == ERROR_INVALID_LEVEL


# ---- SessionHolder ---------------------------------------------------------------------------

def test_held_sessions_are_listed_with_client_user_and_open_files(server: SambaServer) -> None:
    specs = [SessionSpec("127.0.1.1", "alice", PASSWORD, open_files=2),
             SessionSpec("127.0.1.2", "bob", PASSWORD),
             SessionSpec("127.0.1.3", "alice", PASSWORD, open_files=1)]
    holder = SessionHolder(server.address, server.port, specs)
    with srvsvc(server.address, ADMIN) as dce:
        with holder:
            rows = level1(dce)
            assert {("127.0.1.1", "alice", 2), ("127.0.1.2", "bob", 0), ("127.0.1.3", "alice", 1)} <= set(rows)
            # the caller's own session: without a bind, connecting to 127.0.0.x leaves from 127.0.0.1
            assert ("127.0.0.1", ADMIN, 0) in rows
        assert wait_until(lambda: not {row[0] for row in level1(dce)} & {"127.0.1.1", "127.0.1.2", "127.0.1.3"})


def test_admin_closes_one_client_user_pair(server: SambaServer) -> None:
    specs = [SessionSpec("127.0.1.10", "carol", PASSWORD), SessionSpec("127.0.1.11", "carol", PASSWORD)]
    with SessionHolder(server.address, server.port, specs), srvsvc(server.address, ADMIN) as dce:
        close_session(dce, "127.0.1.10", "carol")
        assert wait_until(lambda: ("127.0.1.10", "carol", 0) not in level1(dce))
        assert ("127.0.1.11", "carol", 0) in level1(dce)


def test_holder_reports_a_failed_logon_and_leaves_no_helper(server: SambaServer) -> None:
    label = f"failed-logon-{os.getpid()}"
    holder = SessionHolder(server.address, server.port, [SessionSpec("127.0.1.30", "alice", "wrong")], label=label)
    with pytest.raises(HolderError, match="STATUS_LOGON_FAILURE"):
        holder.start()
    assert holder.pid is None
    assert find_processes(lambda argv: label in argv) == []


# ---- the command line ------------------------------------------------------------------------

def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=90, check=False)


def test_cli_up_and_down(open_dir: Path) -> None:
    state_dir = open_dir / "lab"
    first = allocate_server_address(2)
    try:
        started = lab_cli("up", "--state-dir", str(state_dir), "--servers", "2", "--first-address", first,
                          "--admin", f"{ADMIN}:{PASSWORD}")
        assert started.returncode == 0, started.stderr
        lab = json.loads((state_dir / "lab.json").read_text())
        assert "supervise" in cmdline(lab["supervisor_pid"])
        inventory = (state_dir / "inventory.ini").read_text()
        for entry in lab["servers"]:
            assert f"{entry['name']} ansible_host={entry['address']} ansible_connection=local" in inventory
            with srvsvc(entry["address"], ADMIN, entry["port"]) as dce:
                assert set(SESSION_MIX) <= set(level1(dce))

        again = lab_cli("up", "--state-dir", str(state_dir), "--first-address", first)
        assert again.returncode == 1 and "already up" in again.stderr
    finally:
        stopped = lab_cli("down", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert find_processes(lambda argv: any(str(state_dir) in arg for arg in argv)) == []
    assert not (state_dir / "lab.json").exists()
    for entry in lab["servers"]:
        for group in server_groups(entry["address"], entry["port"]):
            assert_group_gone(group)
