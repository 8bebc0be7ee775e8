"""The Windows session model, one table-driven test per rule (tests/windows/model.py RULES).

Every case id starts with the rule and ends with its source, e.g.
``client-name-form:no-backslashes@MS-SRVS_3.1.4.5_(processing_rules,_ClientName)``.
The 'unknown-account' rule is about the model's servers, so its tests log on to them.
"""

from __future__ import annotations

import itertools

import pytest
from impacket.smbconnection import SessionError, SMBConnection
from winrm.exceptions import InvalidCredentialsError
from winrm.protocol import Protocol

from .model import (
    ADMIN, ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL, ERROR_INVALID_PARAMETER, ERROR_MORE_DATA,
    LEVEL_FIELDS, MAX_NAME_CHARS, MAX_PREFERRED_LENGTH, NERR_CLIENT_NAME_NOT_FOUND,
    NERR_INVALID_COMPUTER, NERR_SUCCESS, NERR_USER_NOT_FOUND, RULES, SESS_GUEST,
    SESS_NOENCRYPTION, STATUS_LOGON_FAILURE, STRUCT_SIZE_X64, USER, EnumResult, Session,
    WindowsSessionModel, entry_size,
)
from .shim_model import UnknownAccountError, known_users, shim_host, shim_responder
from .smb_server import ModelSmbServer

SESSIONS = (
    Session('192.0.2.15', 'alice', num_opens=3, time=600, idle_time=30,
            cltype_name='Windows 10 Enterprise 19045', transport='\\Device\\NetbiosSmb'),
    Session('192.0.2.15', 'bob', num_opens=0, time=120, idle_time=120, user_flags=SESS_NOENCRYPTION,
            cltype_name='', transport='\\Device\\NetbiosSmb'),
    Session('WKS01', 'Alice', num_opens=1, time=7200, idle_time=3600, user_flags=SESS_GUEST,
            cltype_name='Windows Server 2019', transport='\\Device\\NetbiosSmb'),
    Session('192.0.2.16', 'carol', num_opens=2, time=60, idle_time=0,
            cltype_name='Samba', transport='\\Device\\NetbiosSmb'),
)
PRINCIPALS = {'Admin': ADMIN, 'plain': USER}
ALL = [('\\\\192.0.2.15', 'alice'), ('\\\\192.0.2.15', 'bob'), ('\\\\WKS01', 'Alice'),
       ('\\\\192.0.2.16', 'carol')]


def case(rule: str, name: str, *values):
    """A pytest case whose id names the rule and its source."""
    return pytest.param(*values, id=f"{rule}:{name}@{RULES[rule].source.replace(' ', '_')}")


def model(*, hardened: bool = True, sessions=SESSIONS) -> WindowsSessionModel:
    return WindowsSessionModel(sessions, PRINCIPALS, hardened=hardened)


def pairs(result: EnumResult) -> list[tuple[str, str]]:
    return [(entry['cname'], entry['username']) for entry in result.entries]


def test_every_rule_has_text_and_source():
    assert RULES and all(rule.text and rule.source for rule in RULES.values())


@pytest.mark.parametrize('caller, level, status', [
    case('enum-level', 'level-0', 'admin', 0, NERR_SUCCESS),
    case('enum-level', 'level-1', 'admin', 1, NERR_SUCCESS),
    case('enum-level', 'level-2', 'admin', 2, NERR_SUCCESS),
    case('enum-level', 'level-10', 'admin', 10, NERR_SUCCESS),
    case('enum-level', 'level-502', 'admin', 502, NERR_SUCCESS),
    case('enum-level', 'level-3', 'admin', 3, ERROR_INVALID_LEVEL),
    case('enum-level', 'level-11', 'admin', 11, ERROR_INVALID_LEVEL),
    case('enum-level', 'level-501', 'admin', 501, ERROR_INVALID_LEVEL),
    case('enum-level', 'checked-before-rights', 'plain', 3, ERROR_INVALID_LEVEL),
])
def test_enum_level(caller, level, status):
    result = model().enum(caller, level, None, None)
    assert result.status == status
    assert len(result.entries) == (len(SESSIONS) if status == NERR_SUCCESS else 0)


@pytest.mark.parametrize('caller, hardened, level, status', [
    case('enum-rights-admin-levels', 'admin-1', 'admin', True, 1, NERR_SUCCESS),
    case('enum-rights-admin-levels', 'admin-2', 'ADMIN', True, 2, NERR_SUCCESS),
    case('enum-rights-admin-levels', 'admin-502', 'Admin', True, 502, NERR_SUCCESS),
    case('enum-rights-admin-levels', 'user-1', 'plain', False, 1, ERROR_ACCESS_DENIED),
    case('enum-rights-admin-levels', 'user-2', 'plain', False, 2, ERROR_ACCESS_DENIED),
    case('enum-rights-admin-levels', 'user-502', 'plain', False, 502, ERROR_ACCESS_DENIED),
    case('enum-rights-admin-levels', 'user-502-hardened', 'plain', True, 502, ERROR_ACCESS_DENIED),
])
def test_enum_rights_admin_levels(caller, hardened, level, status):
    assert model(hardened=hardened).enum(caller, level, None, None).status == status


@pytest.mark.parametrize('caller, hardened, level, status', [
    case('enum-rights-user-levels', 'admin-0-hardened', 'admin', True, 0, NERR_SUCCESS),
    case('enum-rights-user-levels', 'admin-10-hardened', 'admin', True, 10, NERR_SUCCESS),
    case('enum-rights-user-levels', 'user-0-hardened', 'plain', True, 0, ERROR_ACCESS_DENIED),
    case('enum-rights-user-levels', 'user-10-hardened', 'plain', True, 10, ERROR_ACCESS_DENIED),
    case('enum-rights-user-levels', 'user-0-unhardened', 'plain', False, 0, NERR_SUCCESS),
    case('enum-rights-user-levels', 'user-10-unhardened', 'PLAIN', False, 10, NERR_SUCCESS),
    # The model's own answer; its servers never ask it this (test_unknown_account_*).
    case('enum-rights-user-levels', 'unknown-account', 'mallory', False, 0, ERROR_ACCESS_DENIED),
])
def test_enum_rights_user_levels(caller, hardened, level, status):
    result = model(hardened=hardened).enum(caller, level, None, None)
    assert result.status == status
    assert len(result.entries) == (len(SESSIONS) if status == NERR_SUCCESS else 0)


# -- unknown-account: the model's servers refuse the logon; the model is never asked ------------

class _Counting(WindowsSessionModel):
    """A model that counts the calls that reach it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[tuple[str, str]] = []

    def enum(self, caller, *args, **kwargs):
        self.asked.append(('enum', caller))
        return super().enum(caller, *args, **kwargs)

    def delete(self, caller, *args, **kwargs):
        self.asked.append(('delete', caller))
        return super().delete(caller, *args, **kwargs)


# 'ghost' has a password, 'mallory' has none: the model knows neither.
LOGON_PASSWORDS = {'admin': 'Adm1n-pass!', 'ghost': 'Gh0st-pass!'}
_smb_ports = itertools.count(4400)


def _smb_logon(server: ModelSmbServer, user: str, password: str) -> int:
    """Log on over SMB and open \\pipe\\srvsvc; the NTSTATUS of the first step that failed, or 0."""
    connection = SMBConnection(server.address, server.address, sess_port=server.port, timeout=5)
    try:
        connection.login(user, password)
    except SessionError as error:
        status = error.getErrorCode()
        with pytest.raises(SessionError):  # nothing works on a connection whose logon failed
            connection.connectTree('IPC$')
        return status
    finally:
        connection.close()
    return 0


@pytest.mark.parametrize('user, password, status', [
    case('unknown-account', 'smb-has-password-but-unknown', 'ghost', LOGON_PASSWORDS['ghost'],
         STATUS_LOGON_FAILURE),
    case('unknown-account', 'smb-no-such-account', 'mallory', 'x', STATUS_LOGON_FAILURE),
    # impacket's server would log an empty user name on as guest, unchecked.
    case('unknown-account', 'smb-empty-user-name-no-guest', '', 'x', STATUS_LOGON_FAILURE),
    case('unknown-account', 'smb-wrong-password', 'admin', 'wrong', STATUS_LOGON_FAILURE),
    case('unknown-account', 'smb-known-account', 'ADMIN', LOGON_PASSWORDS['admin'], NERR_SUCCESS),
])
def test_unknown_account_fails_at_smb_logon(user, password, status):
    served = _Counting(SESSIONS, {'admin': ADMIN})
    with ModelSmbServer(served, '127.0.0.141', next(_smb_ports), LOGON_PASSWORDS, 'admin') as server:
        assert _smb_logon(server, user, password) == status
    assert served.asked == [] and server.calls == []


@pytest.mark.parametrize('credentials, caller', [
    case('unknown-account', 'smb-caller-unknown', LOGON_PASSWORDS, 'ghost'),
    case('unknown-account', 'smb-caller-without-password', {'ghost': 'x', 'admin': 'y'}, 'plain'),
    case('unknown-account', 'smb-no-known-account', {'ghost': 'x'}, 'ghost'),
])
def test_unknown_account_smb_server_refuses_to_start(credentials, caller):
    with pytest.raises(ValueError):
        ModelSmbServer(model(), '127.0.0.141', 4449, credentials, caller)


@pytest.fixture
def _no_proxy(monkeypatch):
    # requests would send loopback WinRM traffic to a proxy named in the environment.
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


@pytest.mark.usefixtures('_no_proxy')
@pytest.mark.parametrize('user, logs_on', [
    case('unknown-account', 'winrm-has-password-but-unknown', 'ghost', False),
    case('unknown-account', 'winrm-known-account', 'admin', True),
])
def test_unknown_account_fails_at_winrm_logon(tmp_path, user, logs_on):
    served = _Counting(SESSIONS, {'admin': ADMIN})
    with shim_host(shim_responder(served), LOGON_PASSWORDS, tmp_path) as (endpoint, _inventory):
        assert set(endpoint.users) == {'admin'}
        protocol = Protocol(endpoint.url, transport='ntlm', username=user,
                            password=LOGON_PASSWORDS[user], message_encryption='auto',
                            ca_trust_path=True)  # plain HTTP; True: no CA trust from the environment
        if logs_on:
            protocol.close_shell(protocol.open_shell())
        else:
            with pytest.raises(InvalidCredentialsError):  # HTTP 401: ERROR_LOGON_FAILURE
                protocol.open_shell()
    assert served.asked == [] and endpoint.requests == []


def test_unknown_account_never_reaches_the_model_through_the_shim_responder():
    served = _Counting(SESSIONS, {'admin': ADMIN})
    respond = shim_responder(served)
    assert known_users(served, {'admin': 'a', 'LAB\\Admin': 'b', 'admin@LAB.TEST': 'c', 'ghost': 'd'}) \
        == {'admin': 'a', 'LAB\\Admin': 'b', 'admin@LAB.TEST': 'c'}
    enum = {'operation': 'enum', 'plan': [{'level': 0, 'client': None, 'username': None}]}
    for request in (enum, {'operation': 'delete', 'pairs': [{'client': None, 'username': 'bob'}]}):
        with pytest.raises(UnknownAccountError):
            respond(request, user='ghost')
    assert served.asked == []
    assert respond(enum, user='LAB\\admin')['status'] == NERR_SUCCESS
    assert served.asked == [('enum', 'admin')]


# -- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize('caller, client, status, count', [
    case('client-name-form', 'null', 'admin', None, NERR_SUCCESS, 4),
    case('client-name-form', 'empty-is-null', 'admin', '', NERR_SUCCESS, 4),
    case('client-name-form', 'unc', 'admin', '\\\\WKS01', NERR_SUCCESS, 1),
    case('client-name-form', 'no-backslashes', 'admin', 'WKS01', NERR_INVALID_COMPUTER, 0),
    case('client-name-form', 'one-backslash', 'admin', '\\WKS01', NERR_INVALID_COMPUTER, 0),
    case('client-name-form', 'forward-slashes', 'admin', '//WKS01', NERR_INVALID_COMPUTER, 0),
    case('client-name-form', 'no-match-needs-the-form-first', 'admin', '192.0.2.99', NERR_INVALID_COMPUTER, 0),
    case('client-name-form', 'rights-checked-first', 'plain', 'WKS01', ERROR_ACCESS_DENIED, 0),
])
def test_client_name_form(caller, client, status, count):
    result = model().enum(caller, 10, client, None)
    assert (result.status, len(result.entries)) == (status, count)
    assert result.status != ERROR_INVALID_PARAMETER


LONGEST = MAX_NAME_CHARS - 1  # characters of the longest name allowed: 1,024 with its null


@pytest.mark.parametrize('call, caller, client, user, status', [
    case('name-length', 'enum-client-longest', 'enum', 'admin', '\\\\' + 'c' * (LONGEST - 2), None,
         NERR_CLIENT_NAME_NOT_FOUND),
    case('name-length', 'enum-client-one-more', 'enum', 'admin', '\\\\' + 'c' * (LONGEST - 1), None,
         ERROR_INVALID_PARAMETER),
    case('name-length', 'enum-user-longest', 'enum', 'admin', None, 'u' * LONGEST, NERR_USER_NOT_FOUND),
    case('name-length', 'enum-user-one-more', 'enum', 'admin', None, 'u' * MAX_NAME_CHARS,
         ERROR_INVALID_PARAMETER),
    case('name-length', 'enum-user-with-a-matching-client', 'enum', 'admin', '\\\\WKS01', 'u' * 5000,
         ERROR_INVALID_PARAMETER),
    case('name-length', 'enum-form-checked-first', 'enum', 'admin', 'c' * 5000, None, NERR_INVALID_COMPUTER),
    case('name-length', 'enum-rights-checked-first', 'enum', 'plain', None, 'u' * 5000, ERROR_ACCESS_DENIED),
    case('name-length', 'get-info-client', 'get_info', 'admin', '\\\\' + 'c' * 5000, 'alice',
         ERROR_INVALID_PARAMETER),
    case('name-length', 'del-client-longest', 'delete', 'admin', '\\\\' + 'c' * (LONGEST - 2), None,
         NERR_CLIENT_NAME_NOT_FOUND),
    case('name-length', 'del-client-one-more', 'delete', 'admin', '\\\\' + 'c' * (LONGEST - 1), None,
         ERROR_INVALID_PARAMETER),
    case('name-length', 'del-user-longest', 'delete', 'admin', None, 'u' * LONGEST, NERR_CLIENT_NAME_NOT_FOUND),
    case('name-length', 'del-user-one-more', 'delete', 'admin', '\\\\WKS01', 'u' * MAX_NAME_CHARS,
         ERROR_INVALID_PARAMETER),
    case('name-length', 'del-before-rights', 'delete', 'plain', None, 'u' * 5000, ERROR_INVALID_PARAMETER),
])
def test_name_length(call, caller, client, user, status):
    served = model(hardened=False)
    if call == 'delete':
        assert served.delete(caller, client, user) == status
    else:
        level = 10 if call == 'get_info' else 502
        result = getattr(served, call)(caller, level, client, user)
        assert (result.status, result.entries) == (status, [])
    assert served.snapshot() == list(SESSIONS)


# -- filters ------------------------------------------------------------------------------------

@pytest.mark.parametrize('client, user, status, expected', [
    case('client-filter', 'ip', '\\\\192.0.2.15', None, NERR_SUCCESS, ALL[:2]),
    case('client-filter', 'name-case-insensitive', '\\\\wks01', None, NERR_SUCCESS, [ALL[2]]),
    case('client-filter', 'no-match', '\\\\192.0.2.99', None, NERR_CLIENT_NAME_NOT_FOUND, []),
    case('client-filter', 'no-match-before-user', '\\\\192.0.2.99', 'alice', NERR_CLIENT_NAME_NOT_FOUND, []),
    case('client-filter', 'prefix-is-not-a-match', '\\\\192.0.2.1', None, NERR_CLIENT_NAME_NOT_FOUND, []),
])
def test_client_filter(client, user, status, expected):
    result = model().enum('admin', 502, client, user)
    assert (result.status, pairs(result)) == (status, expected)


@pytest.mark.parametrize('client, user, status, expected', [
    case('user-filter', 'case-insensitive', None, 'ALICE', NERR_SUCCESS, [ALL[0], ALL[2]]),
    case('user-filter', 'with-client', '\\\\192.0.2.15', 'bob', NERR_SUCCESS, [ALL[1]]),
    case('user-filter', 'no-match', None, 'nobody', NERR_USER_NOT_FOUND, []),
    case('user-filter', 'not-on-that-client', '\\\\192.0.2.16', 'alice', NERR_USER_NOT_FOUND, []),
    case('user-filter', 'empty-is-null', None, '', NERR_SUCCESS, ALL),
])
def test_user_filter(client, user, status, expected):
    result = model().enum('admin', 10, client, user)
    assert (result.status, pairs(result)) == (status, expected)


# -- entries ------------------------------------------------------------------------------------

@pytest.mark.parametrize('level', [
    case('entry-fields', f"level-{level}", level) for level in (0, 1, 2, 10, 502)
])
def test_entry_fields(level):
    entry = model().enum('admin', level, '\\\\WKS01', None).entries[0]
    full = {'cname': '\\\\WKS01', 'username': 'Alice', 'num_opens': 1, 'time': 7200, 'idle_time': 3600,
            'user_flags': SESS_GUEST, 'cltype_name': 'Windows Server 2019',
            'transport': '\\Device\\NetbiosSmb'}
    assert list(entry) == list(LEVEL_FIELDS[level])
    assert entry == {field: full[field] for field in LEVEL_FIELDS[level]}


@pytest.mark.parametrize('call, level', [
    case('cname-unc', f"enum-level-{level}", 'enum', level) for level in (0, 1, 2, 10, 502)
] + [case('cname-unc', 'get-info', 'get_info', 10)])
def test_cname_unc(call, level):
    served = model()
    if call == 'enum':
        result = served.enum('admin', level, None, None)
        assert [entry['cname'] for entry in result.entries] == [cname for cname, _user in ALL]
    else:
        result = served.get_info('admin', level, '\\\\wks01', 'alice')
        assert [entry['cname'] for entry in result.entries] == ['\\\\WKS01']
    # The session list keeps the bare name; the \\ is how the answer reports it.
    assert [session.cname for session in served.snapshot()] == [s.cname for s in SESSIONS]
    assert all(entry['cname'].startswith('\\\\') and not entry['cname'].startswith('\\\\\\')
               for entry in result.entries)


# -- paging -------------------------------------------------------------------------------------

# Five sessions whose level-0 entries take 8 + 2 * (len('\\\\192.0.2.NN') + 1) = 34 bytes each.
PAGED = tuple(Session(f"192.0.2.{index}{index}", f"u{index}") for index in range(1, 6))


def walk(served: WindowsSessionModel, level: int, pref_max_len: int, client=None, user=None):
    """Call NetrSessionEnum as a client does: on while ERROR_MORE_DATA, the handle passed back."""
    results = []
    resume = 0
    for _call in range(10):
        result = served.enum('admin', level, client, user, pref_max_len, resume)
        results.append(result)
        resume = result.resume_handle
        if result.status != ERROR_MORE_DATA:
            break
    return results


@pytest.mark.parametrize('level, pref_max_len, pages', [
    case('paging', 'all-at-once', 0, MAX_PREFERRED_LENGTH, [5]),
    case('paging', 'one-fits', 0, 34, [1, 1, 1, 1, 1]),
    case('paging', 'one-and-a-bit', 0, 67, [1, 1, 1, 1, 1]),
    case('paging', 'two-fit', 0, 68, [2, 2, 1]),
    case('paging', 'at-least-one', 0, 1, [1, 1, 1, 1, 1]),
    case('paging', 'zero-still-one', 0, 0, [1, 1, 1, 1, 1]),
    case('paging', 'exactly-all', 0, 170, [5]),
    # level 10: 24 + cname 26 + username 6 = 56 bytes per entry
    case('paging', 'level-10-three', 10, 3 * 56, [3, 2]),
    case('paging', 'level-10-just-short', 10, 3 * 56 - 1, [2, 2, 1]),
])
def test_paging(level, pref_max_len, pages):
    results = walk(model(sessions=PAGED), level, pref_max_len)
    assert [len(result.entries) for result in results] == pages
    assert [result.status for result in results] == [ERROR_MORE_DATA] * (len(pages) - 1) + [NERR_SUCCESS]
    # Without filters the handle counts the sessions passed: the last page's is 5, not 0.
    assert [result.resume_handle for result in results] == list(itertools.accumulate(pages))
    assert [entry['cname'] for result in results for entry in result.entries] == \
        ['\\\\' + session.cname for session in PAGED]


def test_paging_entry_size_is_struct_plus_utf16_strings():
    entry = {'cname': '\\\\WKS01', 'username': 'Zoë', 'num_opens': 1, 'time': 2, 'idle_time': 3,
             'user_flags': 0, 'cltype_name': '', 'transport': 'T'}
    assert entry_size(502, entry) == STRUCT_SIZE_X64[502] + 16 + 8 + 2 + 4 == 78
    assert STRUCT_SIZE_X64 == {0: 8, 1: 32, 2: 40, 10: 24, 502: 48}


@pytest.mark.parametrize('client, user, resume, status, expected, handle', [
    case('resume-handle', 'start', None, None, 0, NERR_SUCCESS, ALL, 4),
    case('resume-handle', 'indexes-the-session-list', None, None, 2, NERR_SUCCESS, ALL[2:], 4),
    case('resume-handle', 'filter-after-the-resume-point', '\\\\192.0.2.15', None, 1, NERR_SUCCESS, [ALL[1]], 2),
    case('resume-handle', 'user-filter-after-the-resume-point', None, 'alice', 1, NERR_SUCCESS, [ALL[2]], 3),
    case('resume-handle', 'client-gone-after-the-resume-point', '\\\\192.0.2.15', None, 2,
         NERR_CLIENT_NAME_NOT_FOUND, [], 0),
    case('resume-handle', 'user-gone-after-the-resume-point', None, 'bob', 2, NERR_USER_NOT_FOUND, [], 0),
    case('resume-handle', 'last-session', None, None, 3, NERR_SUCCESS, [ALL[3]], 4),
    case('resume-handle', 'at-the-end', None, None, 4, NERR_SUCCESS, [], 4),
    case('resume-handle', 'past-the-end', None, None, 99, NERR_SUCCESS, [], 99),
    case('resume-handle', 'past-the-end-whatever-the-filters', '\\\\192.0.2.99', 'nobody', 4, NERR_SUCCESS, [], 4),
    case('resume-handle', 'last-page-of-a-filter-is-non-zero', '\\\\192.0.2.15', None, 0, NERR_SUCCESS, ALL[:2], 2),
])
def test_resume_handle(client, user, resume, status, expected, handle):
    result = model().enum('admin', 10, client, user, MAX_PREFERRED_LENGTH, resume)
    assert (result.status, pairs(result), result.resume_handle) == (status, expected, handle)


def test_resume_handle_walk_with_a_filter_skips_by_session_list_index():
    # One entry a page: alice's sessions are 0 and 2 of the list; the handle says where to go on.
    results = walk(model(), 10, 1, user='alice')
    assert [(r.status, pairs(r), r.resume_handle, r.total_entries) for r in results] == [
        (ERROR_MORE_DATA, [ALL[0]], 1, 2),
        (NERR_SUCCESS, [ALL[2]], 3, 1),
    ]


@pytest.mark.parametrize('client, user, resume, total', [
    case('total-entries', 'first-call', None, None, 0, 5),
    case('total-entries', 'from-resume-position', None, None, 2, 3),
    case('total-entries', 'last-entry', None, None, 4, 1),
    case('total-entries', 'past-the-end', None, None, 5, 0),
    case('total-entries', 'filtered', '\\\\192.0.2.33', None, 0, 1),
    case('total-entries', 'filtered-from-resume-position', None, 'U4', 1, 1),
    case('total-entries', 'failure', '\\\\192.0.2.99', None, 0, 0),
])
def test_total_entries(client, user, resume, total):
    result = model(sessions=PAGED).enum('admin', 0 if user is None else 10, client, user, 34, resume)
    assert result.total_entries == total


# -- NetSessionGetInfo --------------------------------------------------------------------------

@pytest.mark.parametrize('caller, level, client, user, status', [
    case('get-info-args', 'both', 'admin', 10, '\\\\WKS01', 'alice', NERR_SUCCESS),
    case('get-info-args', 'no-client', 'admin', 10, None, 'alice', ERROR_INVALID_PARAMETER),
    case('get-info-args', 'empty-client', 'admin', 10, '', 'alice', ERROR_INVALID_PARAMETER),
    case('get-info-args', 'no-user', 'admin', 10, '\\\\WKS01', None, ERROR_INVALID_PARAMETER),
    case('get-info-args', 'empty-user', 'admin', 10, '\\\\WKS01', '', ERROR_INVALID_PARAMETER),
    case('get-info-args', 'before-level', 'admin', 502, None, None, ERROR_INVALID_PARAMETER),
    case('get-info-args', 'before-rights', 'plain', 10, None, 'alice', ERROR_INVALID_PARAMETER),
])
def test_get_info_args(caller, level, client, user, status):
    assert model().get_info(caller, level, client, user).status == status


@pytest.mark.parametrize('caller, level, client, user, status, expected', [
    case('get-info-level', 'level-0', 'admin', 0, '\\\\192.0.2.15', 'BOB', NERR_SUCCESS, [{'cname': '\\\\192.0.2.15'}]),
    case('get-info-level', 'level-1', 'admin', 1, '\\\\192.0.2.15', 'bob', NERR_SUCCESS, [
        {'cname': '\\\\192.0.2.15', 'username': 'bob', 'num_opens': 0, 'time': 120, 'idle_time': 120,
         'user_flags': SESS_NOENCRYPTION}]),
    case('get-info-level', 'level-2', 'admin', 2, '\\\\WKS01', 'alice', NERR_SUCCESS, [
        {'cname': '\\\\WKS01', 'username': 'Alice', 'num_opens': 1, 'time': 7200, 'idle_time': 3600,
         'user_flags': SESS_GUEST, 'cltype_name': 'Windows Server 2019'}]),
    case('get-info-level', 'level-10', 'admin', 10, '\\\\WKS01', 'alice', NERR_SUCCESS, [
        {'cname': '\\\\WKS01', 'username': 'Alice', 'time': 7200, 'idle_time': 3600}]),
    case('get-info-level', 'level-502', 'admin', 502, '\\\\WKS01', 'alice', ERROR_INVALID_LEVEL, []),
    case('get-info-level', 'level-3', 'admin', 3, '\\\\WKS01', 'alice', ERROR_INVALID_LEVEL, []),
    case('get-info-level', 'rights', 'plain', 1, '\\\\WKS01', 'alice', ERROR_ACCESS_DENIED, []),
    case('get-info-level', 'name-form', 'admin', 10, 'WKS01', 'alice', NERR_INVALID_COMPUTER, []),
    case('get-info-level', 'no-client', 'admin', 10, '\\\\WKS02', 'alice', NERR_CLIENT_NAME_NOT_FOUND, []),
    case('get-info-level', 'no-user', 'admin', 10, '\\\\WKS01', 'bob', NERR_USER_NOT_FOUND, []),
])
def test_get_info_level(caller, level, client, user, status, expected):
    result = model().get_info(caller, level, client, user)
    assert (result.status, result.entries) == (status, expected)


# -- NetrSessionDel -----------------------------------------------------------------------------

@pytest.mark.parametrize('caller, client, user, status', [
    case('del-args', 'both-null', 'admin', None, None, ERROR_INVALID_PARAMETER),
    case('del-args', 'both-empty', 'admin', '', '', ERROR_INVALID_PARAMETER),
    case('del-args', 'both-null-before-rights', 'plain', None, None, ERROR_INVALID_PARAMETER),
])
def test_del_args(caller, client, user, status):
    served = model()
    assert served.delete(caller, client, user) == status
    assert served.snapshot() == list(SESSIONS)


@pytest.mark.parametrize('caller, client, user, status', [
    case('del-client-name-form', 'no-backslashes', 'admin', '192.0.2.15', 'alice', NERR_CLIENT_NAME_NOT_FOUND),
    case('del-client-name-form', 'no-backslashes-no-user', 'admin', '192.0.2.15', None, NERR_CLIENT_NAME_NOT_FOUND),
    case('del-client-name-form', 'one-backslash', 'admin', '\\192.0.2.15', None, NERR_CLIENT_NAME_NOT_FOUND),
    case('del-client-name-form', 'forward-slashes', 'admin', '//192.0.2.15', 'bob', NERR_CLIENT_NAME_NOT_FOUND),
    case('del-client-name-form', 'before-rights', 'plain', '192.0.2.15', 'alice', NERR_CLIENT_NAME_NOT_FOUND),
    case('del-client-name-form', 'unc-closes', 'admin', '\\\\192.0.2.15', 'alice', NERR_SUCCESS),
])
def test_del_client_name_form(caller, client, user, status):
    served = model()
    assert served.delete(caller, client, user) == status
    assert len(served.snapshot()) == len(SESSIONS) - (status == NERR_SUCCESS)


@pytest.mark.parametrize('caller, status', [
    case('del-rights', 'admin', 'ADMIN', NERR_SUCCESS),
    case('del-rights', 'plain-user', 'plain', ERROR_ACCESS_DENIED),
    case('del-rights', 'unknown-account', 'mallory', ERROR_ACCESS_DENIED),
])
def test_del_rights(caller, status):
    served = model(hardened=False)
    assert served.delete(caller, '\\\\192.0.2.16', 'carol') == status
    assert len(served.snapshot()) == (len(SESSIONS) - 1 if status == NERR_SUCCESS else len(SESSIONS))


@pytest.mark.parametrize('client, user, status, left', [
    case('del-scope', 'user-everywhere', None, 'ALICE', NERR_SUCCESS,
         [('192.0.2.15', 'bob'), ('192.0.2.16', 'carol')]),
    case('del-scope', 'client-every-user', '\\\\192.0.2.15', None, NERR_SUCCESS,
         [('WKS01', 'Alice'), ('192.0.2.16', 'carol')]),
    case('del-scope', 'pair', '\\\\192.0.2.15', 'alice', NERR_SUCCESS,
         [('192.0.2.15', 'bob'), ('WKS01', 'Alice'), ('192.0.2.16', 'carol')]),
    case('del-scope', 'client-case', '\\\\wks01', None, NERR_SUCCESS,
         [('192.0.2.15', 'alice'), ('192.0.2.15', 'bob'), ('192.0.2.16', 'carol')]),
    case('del-scope', 'no-client', '\\\\192.0.2.99', None, NERR_CLIENT_NAME_NOT_FOUND,
         [(s.cname, s.username) for s in SESSIONS]),
    case('del-scope', 'no-user', None, 'nobody', NERR_CLIENT_NAME_NOT_FOUND,
         [(s.cname, s.username) for s in SESSIONS]),
    case('del-scope', 'user-not-on-client', '\\\\192.0.2.16', 'alice', NERR_CLIENT_NAME_NOT_FOUND,
         [(s.cname, s.username) for s in SESSIONS]),
])
def test_del_scope(client, user, status, left):
    served = model()
    assert served.delete('admin', client, user) == status
    assert [(s.cname, s.username) for s in served.snapshot()] == left


def test_model_copies_its_sessions_and_rejects_unknown_roles():
    sessions = [Session('192.0.2.15', 'alice')]
    served = WindowsSessionModel(sessions, {'admin': ADMIN})
    served.delete('admin', None, 'alice')
    assert sessions == [Session('192.0.2.15', 'alice')] and served.snapshot() == []
    with pytest.raises(ValueError):
        WindowsSessionModel((), {'root': 'superuser'})
