"""Open files on a real smbd, held by the lab's session holder and seen through impacket's MS-SRVS.

NetrFileEnum (level 3) and NetrFileClose as Samba 4.17 answers them, the holder's probes of a
held handle and of a session, and the arrangement that gives two open files one ``fi3_id``
(docs/dev/labs.md, "Open files").  Needs root (smbd on port 445, Unix accounts, ns_last_pid)
and Samba installed; skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Any

import pytest
from impacket.dcerpc.v5 import srvs, transport
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import DCERPC_v5, DCERPCException

from .holder import (FILE_ID_PID_PERIOD, FileSpec, HolderError, SessionHolder, SessionSpec,
                     add_sessions_sharing_file_ids, split_file_id)
from .samba import SambaServer, allocate_server_address

if os.geteuid() != 0 or shutil.which("smbd") is None:
    pytest.skip("the Samba lab needs root and smbd", allow_module_level=True)

PASSWORD = "Lab-Test-Pw1"
ADMIN, OPERATOR = "labadmin", "laboperator"
ERROR_FILE_NOT_FOUND = 2  # [MS-ERREF] 2.2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_LEVEL = 124
SUCCESS, FILE_CLOSED = "STATUS_SUCCESS", "STATUS_FILE_CLOSED"

# (path, user, permissions, locks) of one NetrFileEnum level-3 entry, and its fi3_id apart
Entry = tuple[str, str, int, int]


@pytest.fixture(scope="module")
def server() -> Iterator[SambaServer]:
    samba = SambaServer(allocate_server_address())
    samba.add_user(ADMIN, PASSWORD, "admin")
    samba.add_user(OPERATOR, PASSWORD, "operator")
    for name in ("alice", "bob"):
        samba.add_user(name, PASSWORD, "user")
    with samba:
        yield samba


# alice holds a read, a read/write (2 locks) and a write-only (1 lock) file and a directory;
# bob one read/write file with 3 locks below a directory the holder creates.
HELD = [SessionSpec("127.0.3.1", "alice", PASSWORD,
                    files=(FileSpec(access="read"), FileSpec(access="readwrite", locks=2),
                           FileSpec(access="write", locks=1), FileSpec(access="read", directory=True))),
        SessionSpec("127.0.3.2", "bob", PASSWORD,
                    files=(FileSpec(name=f"dir-{uuid.uuid4().hex[:8]}/bob.txt", locks=3),))]


@pytest.fixture(scope="module")
def held(server: SambaServer) -> Iterator[SessionHolder]:
    """The sessions of ``HELD``, for the tests that only look (nothing is closed)."""
    with SessionHolder(server.address, server.port, HELD) as holder:
        yield holder


@contextmanager
def srvsvc(address: str, user: str) -> Iterator[DCERPC_v5]:
    """An authenticated MS-SRVS binding over ``\\pipe\\srvsvc`` as ``user``."""
    rpc_transport = transport.DCERPCTransportFactory(rf"ncacn_np:{address}[\pipe\srvsvc]")
    rpc_transport.set_credentials(user, PASSWORD)
    dce = rpc_transport.get_dce_rpc()
    dce.connect()
    try:
        dce.bind(srvs.MSRPC_UUID_SRVS)
        yield dce
    finally:
        dce.disconnect()


def file_enum(dce: DCERPC_v5, user: Any = NULL, base_path: Any = NULL, max_length: int = 0xFFFFFFFF) -> dict[Entry, int]:
    """NetrFileEnum level 3: entry -> fi3_id (impacket keeps the NUL terminators of NDR strings)."""
    reply = srvs.hNetrFileEnum(dce, base_path, user, 3, preferedMaximumLength=max_length)
    rows = reply["InfoStruct"]["FileInfo"]["Level3"]["Buffer"]
    return {(row["fi3_path_name"].rstrip("\0"), row["fi3_username"].rstrip("\0"), row["fi3_permissions"],
             row["fi3_num_locks"]): row["fi3_id"] for row in rows}


def samba_path(server: SambaServer, name: str) -> str:
    """How Samba names a share-relative file in fi3_path_name: 'C:' and the Unix path, backslashes."""
    return "C:" + str(server.share_path / PurePosixPath(*name.split("\\"))).replace("/", "\\")


def expected(server: SambaServer, holder: SessionHolder, session: int) -> list[Entry]:
    spec = holder.sessions[session]
    permissions = {"read": 1, "write": 2, "readwrite": 3}
    return [(samba_path(server, name), spec.username, permissions[file.access], file.locks)
            for name, file in zip(holder.file_names(session), spec.held_files, strict=True)]


def error_code(excinfo: pytest.ExceptionInfo[DCERPCException]) -> int | None:
    return excinfo.value.get_error_code()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


# ---- NetrFileEnum ---------------------------------------------------------------------------

def test_admin_lists_held_files_with_path_user_permissions_and_locks(server: SambaServer, held: SessionHolder) -> None:
    alice, bob = expected(server, held, 0), expected(server, held, 1)
    with srvsvc(server.address, ADMIN) as dce:
        listed = file_enum(dce)
    assert set(alice + bob) <= set(listed), listed
    assert not [entry for entry in listed if "pipe" in entry[0].lower()], "named pipes (srvsvc here) are not listed"
    # fi3_id: the low 16 bits of the smbd process's pid, then its own counter; one process per
    # session, so alice's four entries share the pid part and no counter.
    alice_ids = [split_file_id(listed[entry]) for entry in alice]
    assert len({pid for pid, _counter in alice_ids}) == 1
    assert len({counter for _pid, counter in alice_ids}) == len(alice)
    assert split_file_id(listed[bob[0]])[0] != alice_ids[0][0]
    assert {pid for pid, _counter in alice_ids} <= {pid & 0xFFFF for pid in server.smbd_pids().values()}


def test_operator_lists_the_same_and_a_plain_user_cannot(server: SambaServer, held: SessionHolder) -> None:
    with srvsvc(server.address, ADMIN) as dce:
        by_admin = file_enum(dce)
    with srvsvc(server.address, OPERATOR) as dce:
        assert file_enum(dce) == by_admin
    with srvsvc(server.address, "bob") as dce, pytest.raises(DCERPCException) as excinfo:
        file_enum(dce)
    assert error_code(excinfo) == ERROR_ACCESS_DENIED


def test_level_2_is_invalid_filters_and_paging_as_samba_answers(server: SambaServer, held: SessionHolder) -> None:
    alice, bob = expected(server, held, 0), expected(server, held, 1)
    with srvsvc(server.address, ADMIN) as dce:
        with pytest.raises(DCERPCException) as excinfo:
            srvs.hNetrFileEnum(dce, NULL, NULL, 2)
        assert error_code(excinfo) == ERROR_INVALID_LEVEL
        everything = file_enum(dce)
        # the user name is compared with the Unix user's name, case-insensitively, whole
        assert set(file_enum(dce, user="ALICE\0")) == {entry for entry in everything if entry[1] == "alice"}
        assert set(alice) <= set(file_enum(dce, user="alice\0"))
        assert file_enum(dce, user="ali\0") == {}
        assert file_enum(dce, user=f"{server.address}\\bob\0") == {}
        # the base path is ignored, and so is the preferred maximum length: no paging
        assert file_enum(dce, base_path="C:\\nowhere\0") == everything
        reply = srvs.hNetrFileEnum(dce, NULL, NULL, 3, preferedMaximumLength=1)
        assert reply["TotalEntries"] == len(everything) and reply["ResumeHandle"] == 0
        assert len(reply["InfoStruct"]["FileInfo"]["Level3"]["Buffer"]) == len(everything)
        # a resume handle is not used either, but comes back as given: a client that pages
        # until it gets 0 back would loop if it started from anything else
        reply = srvs.hNetrFileEnum(dce, NULL, NULL, 3, resumeHandle=2, preferedMaximumLength=1)
        assert reply["ResumeHandle"] == 2
        assert len(reply["InfoStruct"]["FileInfo"]["Level3"]["Buffer"]) == len(everything)
    assert set(bob) <= set(everything)


def test_num_locks_counts_the_locks_of_the_file_not_of_the_open(server: SambaServer) -> None:
    name = f"shared-{uuid.uuid4().hex[:8]}.txt"
    owner = SessionSpec("127.0.3.5", "alice", PASSWORD, files=(FileSpec(name=name, locks=2),))
    # bob opens alice's file after her (files are created 0744): added, not opened in parallel
    reader = SessionSpec("127.0.3.6", "bob", PASSWORD, files=(FileSpec(name=name, access="read", locks=1),))
    with SessionHolder(server.address, server.port, [owner]) as holder, srvsvc(server.address, ADMIN) as dce:
        holder.add_session(reader)
        path = samba_path(server, name)
        assert {(path, "alice", 3, 3), (path, "bob", 1, 3)} <= set(file_enum(dce))
        holder.close_session(0)
        assert wait_until(lambda: (path, "bob", 1, 1) in file_enum(dce))


def test_probes_of_held_handles_and_sessions(held: SessionHolder) -> None:
    assert held.probe_file(0, 0) == SUCCESS  # read access: a 1-byte read
    assert held.probe_file(0, 2) == "STATUS_ACCESS_DENIED"  # write-only: no read
    assert held.probe_file(0, 2, "query_info") == SUCCESS
    assert held.probe_file(0, 3, "query_info") == SUCCESS  # the directory
    assert held.probe_session(0) == SUCCESS and held.probe_session(1) == SUCCESS
    with pytest.raises(HolderError, match="no session 7"):
        held.probe_session(7)


# ---- NetrFileClose --------------------------------------------------------------------------

def test_close_of_one_file_leaves_the_session_and_its_other_files(server: SambaServer) -> None:
    spec = SessionSpec("127.0.3.10", "alice", PASSWORD, files=(FileSpec(locks=2), FileSpec(access="read")))
    with SessionHolder(server.address, server.port, [spec]) as holder, srvsvc(server.address, ADMIN) as dce:
        locked, other = expected(server, holder, 0)
        file_id = file_enum(dce)[locked]
        srvs.hNetrFileClose(dce, file_id)
        assert wait_until(lambda: holder.probe_file(0, 0) == FILE_CLOSED), holder.last_reply
        assert holder.probe_file(0, 0, "query_info") == FILE_CLOSED
        assert holder.probe_file(0, 1) == SUCCESS
        assert holder.probe_session(0) == SUCCESS
        listed = file_enum(dce)
        assert locked not in listed and other in listed
        with pytest.raises(DCERPCException) as excinfo:  # it is gone: the same id again
            srvs.hNetrFileClose(dce, file_id)
        assert error_code(excinfo) == ERROR_FILE_NOT_FOUND


def test_close_rights_an_operator_may_close_files(server: SambaServer) -> None:
    """Unlike NetrSessionDel: SeDiskOperatorPrivilege is enough, and Samba's privilege database
    grants it to BUILTIN\\Administrators, where the lab's operators are."""
    spec = SessionSpec("127.0.3.11", "bob", PASSWORD, files=(FileSpec(),))
    with SessionHolder(server.address, server.port, [spec]) as holder:
        entry = expected(server, holder, 0)[0]
        with srvsvc(server.address, ADMIN) as dce:
            file_id = file_enum(dce)[entry]
        with srvsvc(server.address, "alice") as dce, pytest.raises(DCERPCException) as excinfo:
            srvs.hNetrFileClose(dce, file_id)
        assert error_code(excinfo) == ERROR_ACCESS_DENIED
        assert holder.probe_file(0, 0) == SUCCESS
        with srvsvc(server.address, OPERATOR) as dce:
            with pytest.raises(DCERPCException) as excinfo:
                srvs.hNetrFileClose(dce, 0x7FFF0001)  # no such id
            assert error_code(excinfo) == ERROR_FILE_NOT_FOUND
            srvs.hNetrFileClose(dce, file_id)
        assert wait_until(lambda: holder.probe_file(0, 0) == FILE_CLOSED), holder.last_reply
        assert holder.probe_session(0) == SUCCESS


def test_sessions_added_and_closed_while_holding(server: SambaServer) -> None:
    with SessionHolder(server.address, server.port, []) as holder, srvsvc(server.address, ADMIN) as dce:
        index = holder.add_session(SessionSpec("127.0.3.12", "alice", PASSWORD, open_files=1))
        entry = expected(server, holder, index)[0]
        assert entry in file_enum(dce)
        holder.close_session(index)
        assert wait_until(lambda: entry not in file_enum(dce))
        with pytest.raises(HolderError, match="STATUS_LOGON_FAILURE"):
            holder.add_session(SessionSpec("127.0.3.13", "alice", "wrong"))
        assert holder.probe_session(holder.add_session(SessionSpec("127.0.3.14", "bob", PASSWORD))) == SUCCESS


# ---- one fi3_id for two open files ----------------------------------------------------------

def test_two_files_of_two_smbd_processes_share_one_id_and_one_close_closes_both() -> None:
    with SambaServer(allocate_server_address(), pid_namespace=True) as samba:
        if samba.pid_max() <= 2 * FILE_ID_PID_PERIOD:
            pytest.skip(f"pid_max in a pid namespace is {samba.pid_max()} (per-namespace pid_max needs Linux 6.14)")
        samba.add_user(ADMIN, PASSWORD, "admin")
        for name in ("alice", "bob"):
            samba.add_user(name, PASSWORD, "user")
        specs = [SessionSpec("127.0.3.20", "alice", PASSWORD, files=(FileSpec(locks=1),)),
                 SessionSpec("127.0.3.21", "bob", PASSWORD, files=(FileSpec(locks=1),))]
        bystander = SessionSpec("127.0.3.22", "alice", PASSWORD, files=(FileSpec(locks=1),))
        with SessionHolder(samba.address, samba.port, [bystander]) as holder, srvsvc(samba.address, ADMIN) as dce:
            first, second = add_sessions_sharing_file_ids(holder, samba, specs)
            pids = sorted(samba.smbd_pids().values())
            entries = [expected(samba, holder, index)[0] for index in (first, second)]
            listed = file_enum(dce)
            shared_id = listed[entries[0]]
            assert listed[entries[1]] == shared_id
            assert listed[expected(samba, holder, 0)[0]] != shared_id
            pid_bits = split_file_id(shared_id)[0]
            assert [pid for pid in pids if pid & 0xFFFF == pid_bits and pid > FILE_ID_PID_PERIOD], pids

            srvs.hNetrFileClose(dce, shared_id)
            assert wait_until(lambda: [holder.probe_file(index, 0) for index in (first, second)] == [FILE_CLOSED] * 2)
            assert not set(entries) & set(file_enum(dce))
            assert [holder.probe_session(index) for index in (first, second)] == [SUCCESS] * 2
            assert holder.probe_file(0, 0) == SUCCESS


def test_shared_ids_need_pids_above_65536(server: SambaServer) -> None:
    """In the machine's own pid namespace, only with a pid_max above 65536 (32768 here)."""
    if server.pid_max() > 2 * FILE_ID_PID_PERIOD:
        pytest.skip(f"this machine's pid_max is {server.pid_max()}: the arrangement would work here")
    specs = [SessionSpec(f"127.0.3.{30 + n}", "alice", PASSWORD, open_files=1) for n in range(2)]
    with SessionHolder(server.address, server.port, []) as holder, pytest.raises(HolderError, match="pid_namespace=True"):
        add_sessions_sharing_file_ids(holder, server, specs)
