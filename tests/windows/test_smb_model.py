"""The collection's real SMB code path against the Windows model served over SMB.

Every test runs ``execute(netsession_info | netsession_delete, params)`` from
plugins/module_utils/_tasks.py: impacket logs on to a ModelSmbServer on 127.0.0.15x, binds
``\\pipe\\srvsvc`` and sends real NetrSessionEnum / NetrSessionDel requests, which the model
answers the way Windows does (levels 2/10/502, server-side filters with 2312/2221, paging with
ERROR_MORE_DATA, per-level rights). Results are compared exactly, and the model's sessions are
checked afterwards.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.lanman.server.plugins.module_utils._options import (
    DELETE_ARGUMENT_SPEC, INFO_ARGUMENT_SPEC,
)
from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_delete, netsession_info

from .model import (
    ADMIN, ERROR_ACCESS_DENIED, ERROR_MORE_DATA, NERR_CLIENT_NAME_NOT_FOUND, NERR_SUCCESS,
    NERR_USER_NOT_FOUND, SESS_GUEST, SESS_NOENCRYPTION, USER, Session, WindowsSessionModel,
)
from .smb_server import ModelSmbServer

PASSWORDS = {'admin': 'Adm1n-pass!', 'plain': 'Pl4in-pass!'}
NBT = '\\Device\\NetbiosSmb'
TCP = '\\Device\\NetBT_Tcpip_{4A1F0C2E-7D2B-4A55-9C51-0E9E6E1C2B11}'

# What the server holds: 'alice' on two clients (two sessions on .16, one busy), 'bob' and
# 'carol'. None of them is the module's own connection (that comes from 127.0.0.1).
SESSIONS = (
    Session('192.0.2.15', 'alice', num_opens=3, time=5400, idle_time=4000,
            cltype_name='Windows 10 Enterprise 19045', transport=TCP),
    Session('192.0.2.15', 'bob', num_opens=0, time=300, idle_time=20, user_flags=SESS_NOENCRYPTION,
            cltype_name='', transport=NBT),
    Session('192.0.2.16', 'alice', num_opens=1, time=7200, idle_time=7000,
            cltype_name='Windows 11 Pro 22631', transport=TCP),
    Session('192.0.2.16', 'alice', num_opens=0, time=100, idle_time=50,
            cltype_name='Windows 11 Pro 22631', transport=TCP),
    Session('WKS01', 'carol', num_opens=2, time=86400, idle_time=3700, user_flags=SESS_GUEST,
            cltype_name='Windows Server 2019 Standard 17763', transport=NBT),
)

# README "Every session is returned as the same record": the keys each level carries.
LEVEL_KEYS = {
    0: {'client'},
    1: {'client', 'username', 'open_files', 'active_seconds', 'idle_seconds', 'guest', 'password_encrypted'},
    2: {'client', 'username', 'open_files', 'active_seconds', 'idle_seconds', 'guest', 'password_encrypted',
        'client_type'},
    10: {'client', 'username', 'active_seconds', 'idle_seconds'},
    502: {'client', 'username', 'open_files', 'active_seconds', 'idle_seconds', 'guest', 'password_encrypted',
          'client_type', 'transport'},
}
KEYS = ('client', 'username', 'domain', 'open_files', 'active_seconds', 'idle_seconds', 'guest',
        'password_encrypted', 'client_type', 'transport')

_ports = itertools.count(4450)
_hosts = itertools.cycle(range(150, 200))


def record(session: Session, level: int) -> dict:
    """The record the README promises for a session at a level (written independently)."""
    # Windows reports the bare account name: the record's domain is null at every level.
    full = {'client': session.cname, 'username': session.username, 'domain': None,
            'open_files': session.num_opens,
            'active_seconds': session.time, 'idle_seconds': session.idle_time,
            'guest': bool(session.user_flags & SESS_GUEST),
            'password_encrypted': not session.user_flags & SESS_NOENCRYPTION,
            'client_type': session.cltype_name, 'transport': session.transport}
    return {key: full[key] if key in LEVEL_KEYS[level] else None for key in KEYS}


def pairs(sessions) -> list[tuple[str, str]]:
    return [(s.cname, s.username) if isinstance(s, Session) else (s['client'], s['username'])
            for s in sessions]


class Lab:
    """A served model and the params to reach it."""

    def __init__(self, server: ModelSmbServer) -> None:
        self.server = server
        self.model = server.model

    def params(self, spec: dict, user: str, **task: object) -> dict:
        params = {name: (list(option['default']) if isinstance(option.get('default'), list)
                         else option.get('default')) for name, option in spec.items()}
        params.update(server=self.server.address, port=self.server.port, backend='smb',
                      connection_username=user, connection_password=PASSWORDS.get(user, 'x'),
                      connection_domain=None, connection_nt_hash=None, auth='ntlm', kdc_host=None,
                      connect_timeout=5)
        params.update(task)
        return params

    def info(self, user: str = 'admin', **task: object) -> dict:
        return execute(netsession_info, self.params(INFO_ARGUMENT_SPEC, user, **task),
                       check_mode=False, diff=False)

    def delete(self, user: str = 'admin', *, check_mode: bool = False, **task: object) -> dict:
        return execute(netsession_delete, self.params(DELETE_ARGUMENT_SPEC, user, **task),
                       check_mode=check_mode, diff=False)

    def calls(self, opnum: int) -> list:
        return [call for call in self.server.calls if call.opnum == opnum]


@pytest.fixture
def serve() -> Iterator:
    """serve(model, caller='admin', **options) -> Lab; every server is stopped afterwards."""
    started: list[ModelSmbServer] = []

    def start(model: WindowsSessionModel, caller: str = 'admin', **options: Any) -> Lab:
        server = ModelSmbServer(model, f"127.0.0.{next(_hosts)}", next(_ports), PASSWORDS, caller,
                                **options)
        started.append(server.start())
        return Lab(server)

    before = set(threading.enumerate())
    yield start
    for server in started:
        server.stop()
    assert set(threading.enumerate()) <= before, 'a server thread outlived stop()'


def windows(*, hardened: bool = True, sessions=SESSIONS) -> WindowsSessionModel:
    return WindowsSessionModel(sessions, {'admin': ADMIN, 'plain': USER}, hardened=hardened)


# -- listing ------------------------------------------------------------------------------------

def test_auto_level_is_502_for_an_admin_with_client_type_and_transport(serve):
    lab = serve(windows())
    result = lab.info()
    assert 'failed' not in result, result
    assert (result['level'], result['backend'], result['changed']) == (502, 'smb', False)
    assert result['sessions'] == [record(session, 502) for session in SESSIONS]
    assert result['sessions'][0]['client_type'] == 'Windows 10 Enterprise 19045'
    assert result['sessions'][0]['transport'] == TCP
    assert [(c.level, c.status) for c in lab.calls(12)] == [(502, NERR_SUCCESS)]


@pytest.mark.parametrize('level', ['0', '1', '2', '10', '502'])
def test_explicit_level(serve, level):
    lab = serve(windows())
    result = lab.info(level=level)
    assert result['level'] == int(level)
    assert result['sessions'] == [record(session, int(level)) for session in SESSIONS]
    assert [c.level for c in lab.calls(12)] == [int(level)]


def test_unhardened_server_lets_a_plain_user_read_level_10_and_auto_falls_back_to_it(serve):
    lab = serve(windows(hardened=False), caller='plain')
    explicit = lab.info('plain', level='10')
    assert explicit['sessions'] == [record(session, 10) for session in SESSIONS]
    auto = lab.info('plain')
    assert auto['level'] == 10
    assert auto['sessions'] == [record(session, 10) for session in SESSIONS]
    # 502 refused; 2 and 1 need the same right and are not tried; then 10.
    assert [(c.level, c.status) for c in lab.calls(12)][1:] == [(502, ERROR_ACCESS_DENIED), (10, NERR_SUCCESS)]


@pytest.mark.parametrize('level', ['auto', '0', '10', '502'])
def test_hardened_server_refuses_a_plain_user_every_level(serve, level):
    lab = serve(windows(hardened=True), caller='plain')
    result = lab.info('plain', level=level)
    assert result['failed'] is True
    assert (result['code'], result['code_name']) == (ERROR_ACCESS_DENIED, 'ERROR_ACCESS_DENIED')
    assert 'sessions' not in result
    tried = [c.level for c in lab.calls(12)]
    assert tried == ([502, 10] if level == 'auto' else [int(level)])


@pytest.mark.parametrize('client, username, expected, sent, status', [
    pytest.param('192.0.2.15', None, [0, 1], ('\\\\192.0.2.15', None), NERR_SUCCESS, id='client'),
    pytest.param('\\\\wks01', None, [4], ('\\\\wks01', None), NERR_SUCCESS, id='unc-client-other-case'),
    pytest.param(None, 'ALICE', [0, 2, 3], (None, 'ALICE'), NERR_SUCCESS, id='user'),
    # NetSessionGetInfo has no level 502: the collection sends the client only and filters the user.
    pytest.param('192.0.2.16', 'alice', [2, 3], ('\\\\192.0.2.16', None), NERR_SUCCESS, id='both'),
    pytest.param('192.0.2.99', None, [], ('\\\\192.0.2.99', None), NERR_CLIENT_NAME_NOT_FOUND, id='no-client-2312'),
    pytest.param(None, 'nobody', [], (None, 'nobody'), NERR_USER_NOT_FOUND, id='no-user-2221'),
    pytest.param('192.0.2.16', 'bob', [], ('\\\\192.0.2.16', None), NERR_SUCCESS, id='both-no-match'),
])
def test_filters_are_sent_to_the_server_and_no_match_is_an_empty_list(serve, client, username, expected,
                                                                      sent, status):
    lab = serve(windows())
    result = lab.info(client=client, username=username)
    assert 'failed' not in result, result
    assert result['sessions'] == [record(SESSIONS[index], 502) for index in expected]
    assert [(c.client_name, c.user_name, c.status) for c in lab.calls(12)] == [sent + (status,)]


def test_both_filters_at_level_10_use_the_server_side_user_filter(serve):
    lab = serve(windows())
    result = lab.info(level='10', client='192.0.2.15', username='Bob')
    assert result['sessions'] == [record(SESSIONS[1], 10)]
    assert [(c.client_name, c.user_name) for c in lab.calls(12)] == [('\\\\192.0.2.15', 'Bob')]


@pytest.mark.parametrize('level, page_bytes', [('502', 900), ('0', 100), ('10', 1)])
def test_paged_answers_return_every_session_exactly_once(serve, level, page_bytes):
    many = [Session(f"10.{i // 250}.{i % 250}.{i % 7}", f"user{i:03d}", num_opens=i % 4, time=1000 + i,
                    idle_time=i, cltype_name='Windows 10 Pro', transport=TCP) for i in range(300)]
    lab = serve(windows(sessions=many), page_bytes=page_bytes)
    result = lab.info(level=level)
    assert 'failed' not in result, result
    assert result['sessions'] == [record(session, int(level)) for session in many]
    calls = lab.calls(12)
    assert len(calls) > 2
    assert [c.status for c in calls] == [ERROR_MORE_DATA] * (len(calls) - 1) + [NERR_SUCCESS]
    # The client passes each resume handle back unchanged: the pages tile the list.
    assert [c.resume_handle for c in calls] == list(itertools.accumulate([0] + [c.entries for c in calls[:-1]]))
    assert sum(c.entries for c in calls) == 300


def test_paged_answer_with_a_filter(serve):
    many = [Session(f"192.0.2.{i % 3}", f"user{i % 5}", time=i, idle_time=i) for i in range(60)]
    lab = serve(windows(sessions=many), page_bytes=200)
    result = lab.info(client='192.0.2.1')
    assert [(r['client'], r['username']) for r in result['sessions']] == pairs(s for s in many if s.cname == '192.0.2.1')
    assert len(lab.calls(12)) > 1


def test_wrong_password_fails_at_logon(serve):
    lab = serve(windows())
    result = execute(netsession_info, dict(lab.params(INFO_ARGUMENT_SPEC, 'admin'), connection_password='wrong'),
                     check_mode=False, diff=False)
    assert (result['failed'], result['code_name'], result['operation']) == (True, 'STATUS_LOGON_FAILURE', 'NTLM logon')
    assert lab.server.calls == []


@pytest.mark.parametrize('address, port', [('192.0.2.1', 4450), ('127.0.0.150', 445), ('::1', 4450)])
def test_server_refuses_anything_but_loopback_and_port_445(address, port):
    with pytest.raises(ValueError):
        ModelSmbServer(windows(), address, port, PASSWORDS, 'admin')


def test_unknown_account_fails_at_logon(serve):
    lab = serve(windows())
    result = lab.info('mallory')
    assert (result['failed'], result['code_name']) == (True, 'STATUS_LOGON_FAILURE')


# -- closing ------------------------------------------------------------------------------------

@pytest.mark.parametrize('task, closed, deletes', [
    # Only a user named: one NetSessionDel with no client closes all of the user's sessions.
    pytest.param({'username': 'alice'}, [0, 2, 3], [(None, 'alice')], id='user'),
    pytest.param({'username': 'alice', 'min_idle_seconds': 0}, [0, 2, 3],
                 [('\\\\192.0.2.15', 'alice'), ('\\\\192.0.2.16', 'alice')], id='user-idle-filter'),
    pytest.param({'client': '192.0.2.15'}, [0, 1],
                 [('\\\\192.0.2.15', 'alice'), ('\\\\192.0.2.15', 'bob')], id='client'),
    pytest.param({'client': '192.0.2.16', 'username': 'ALICE'}, [2, 3],
                 [('\\\\192.0.2.16', 'alice')], id='both'),
    pytest.param({'client': 'wks01'}, [4], [('\\\\WKS01', 'carol')], id='client-other-case'),
])
def test_delete_closes_exactly_the_matching_pairs(serve, task, closed, deletes):
    lab = serve(windows())
    result = lab.delete(**task)
    assert 'failed' not in result, result
    assert result['changed'] is True
    assert result['closed'] == [record(SESSIONS[index], 502) for index in closed]
    assert result['already_gone'] == []
    assert [(c.client_name, c.user_name, c.status) for c in lab.calls(13)] == [d + (NERR_SUCCESS,) for d in deletes]
    assert pairs(lab.model.snapshot()) == pairs(s for i, s in enumerate(SESSIONS) if i not in closed)
    again = lab.delete(**task)
    assert (again['changed'], again['closed']) == (False, [])


def test_check_mode_closes_nothing(serve):
    lab = serve(windows())
    result = lab.delete(username='alice', check_mode=True)
    assert result['changed'] is True  # what would change; closed lists what would close
    assert result['closed'] == [record(SESSIONS[index], 502) for index in (0, 2, 3)]
    assert lab.calls(13) == []
    assert pairs(lab.model.snapshot()) == pairs(SESSIONS)


def test_min_idle_closes_only_pairs_whose_sessions_are_all_idle_enough(serve):
    lab = serve(windows())
    result = lab.delete(all_sessions=True, min_idle_seconds=3600)
    # alice@.15 (4000 s) and carol@WKS01 (3700 s) close; alice@.16 has one busy session (50 s).
    assert result['closed'] == [record(SESSIONS[index], 502) for index in (0, 4)]
    assert [(c.client_name, c.user_name) for c in lab.calls(13)] == [('\\\\192.0.2.15', 'alice'), ('\\\\WKS01', 'carol')]
    assert pairs(lab.model.snapshot()) == pairs(SESSIONS[index] for index in (1, 2, 3))
    assert any('other sessions of the same client and user' in w for w in result['warnings'])


def test_exclude_usernames(serve):
    lab = serve(windows())
    result = lab.delete(client='192.0.2.15', exclude_usernames=['BOB'])
    assert result['closed'] == [record(SESSIONS[0], 502)]
    assert pairs(lab.model.snapshot()) == pairs(SESSIONS[index] for index in (1, 2, 3, 4))


@pytest.mark.parametrize('hardened, failed_operation', [
    pytest.param(False, 'NetrSessionDel (NULL, alice)', id='unhardened-list-at-10-then-denied'),
    pytest.param(True, 'NetrSessionEnum (level 10)', id='hardened-denied-listing'),
])
def test_plain_user_is_denied(serve, hardened, failed_operation):
    lab = serve(windows(hardened=hardened), caller='plain')
    result = lab.delete('plain', username='alice')
    assert result['failed'] is True
    assert (result['code'], result['code_name'], result['operation']) == (ERROR_ACCESS_DENIED, 'ERROR_ACCESS_DENIED',
                                                                          failed_operation)
    assert result['changed'] is False
    assert pairs(lab.model.snapshot()) == pairs(SESSIONS)
    if not hardened:
        assert result['closed'] == [] and result['already_gone'] == []
        assert result['not_closed'] == [record(SESSIONS[index], 10) for index in (0, 2, 3)]


class _Racy(WindowsSessionModel):
    """Someone else closes bob's session right after the module's listing."""

    def enum(self, *args, **kwargs):
        result = super().enum(*args, **kwargs)
        for session in self.snapshot():
            if session.username == 'bob':
                self.remove_session(next(s for s in self.sessions if s == session))
        return result


def test_pair_closed_by_someone_else_is_already_gone(serve):
    lab = serve(_Racy(SESSIONS, {'admin': ADMIN}))
    result = lab.delete(client='192.0.2.15')
    assert 'failed' not in result, result
    assert result['closed'] == [record(SESSIONS[0], 502)]
    assert result['already_gone'] == [record(SESSIONS[1], 502)]
    assert [c.status for c in lab.calls(13)] == [NERR_SUCCESS, NERR_CLIENT_NAME_NOT_FOUND]


def test_non_ascii_names_travel_as_utf16_and_filter_case_insensitively(serve):
    zoe = Session('192.0.2.20', 'zoë', num_opens=1, time=40, idle_time=40, cltype_name='Windows 11 Pro', transport=TCP)
    lab = serve(windows(sessions=SESSIONS + (zoe,)))
    assert lab.info(username='ZOË')['sessions'] == [record(zoe, 502)]
    result = lab.delete(username='ZOË')
    assert [(c.client_name, c.user_name) for c in lab.calls(13)] == [('\\\\192.0.2.20', 'zoë')]
    assert result['closed'] == [record(zoe, 502)] and pairs(lab.model.snapshot()) == pairs(SESSIONS)


def test_anonymous_session_is_listed_but_never_closed_by_all_sessions(serve):
    anonymous = Session('192.0.2.30', '', num_opens=1, time=10, idle_time=10, transport=NBT)
    lab = serve(windows(sessions=(anonymous, SESSIONS[4])))
    assert lab.info()['sessions'] == [record(anonymous, 502), record(SESSIONS[4], 502)]
    result = lab.delete(all_sessions=True)
    assert result['closed'] == [record(SESSIONS[4], 502)]
    assert any('no client or user name' in w for w in result['warnings'])
    assert [(c.client_name, c.user_name) for c in lab.calls(13)] == [('\\\\WKS01', 'carol')]
    assert pairs(lab.model.snapshot()) == [('192.0.2.30', '')]


# -- the module's own session -------------------------------------------------------------------

ADMIN_ELSEWHERE = Session('192.0.2.17', 'admin', num_opens=0, time=900, idle_time=900, transport=TCP)


def test_own_session_listed_by_windows_is_hidden_and_never_closed(serve):
    lab = serve(windows(sessions=SESSIONS + (ADMIN_ELSEWHERE,)), own_sessions=True)
    listed = lab.info()
    assert listed['sessions'] == [record(s, 502) for s in SESSIONS + (ADMIN_ELSEWHERE,)]
    assert lab.calls(12)[0].entries == len(SESSIONS) + 2  # the server did list the module's own
    lab.server.wait_disconnected()  # that listing's own session is gone before the next run
    result = lab.delete(username='admin')
    assert 'failed' not in result, result
    # Its own session (127.0.0.1) stays open; the admin session from elsewhere is closed.
    assert result['closed'] == [record(ADMIN_ELSEWHERE, 502)]
    assert 'warnings' not in result
    lab.server.wait_disconnected()
    assert pairs(lab.model.snapshot()) == pairs(SESSIONS)


def test_without_its_own_session_listed_every_session_of_its_user_is_kept(serve):
    lab = serve(windows(sessions=SESSIONS + (ADMIN_ELSEWHERE,)), own_sessions=False)
    result = lab.delete(username='admin')
    assert (result['changed'], result['closed'], lab.calls(13)) == (False, [], [])
    assert any('could be it' in w for w in result['warnings'])
    assert pairs(lab.model.snapshot()) == pairs(SESSIONS + (ADMIN_ELSEWHERE,))
