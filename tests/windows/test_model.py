"""The Windows session model, one table-driven test per rule (tests/windows/model.py RULES).

Every case id starts with the rule and ends with its source, e.g.
``client-name-form:no-backslashes@MS-SRVS_3.1.4.5_ClientName``.
"""

from __future__ import annotations

import pytest

from .model import (
    ADMIN, ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL, ERROR_INVALID_PARAMETER, ERROR_MORE_DATA,
    LEVEL_FIELDS, MAX_PREFERRED_LENGTH, NERR_CLIENT_NAME_NOT_FOUND, NERR_SUCCESS,
    NERR_USER_NOT_FOUND, RULES, SESS_GUEST, SESS_NOENCRYPTION, STRUCT_SIZE_X64, USER, EnumResult,
    Session, WindowsSessionModel, entry_size,
)

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
    case('enum-rights-user-levels', 'unknown-account', 'mallory', False, 0, ERROR_ACCESS_DENIED),
])
def test_enum_rights_user_levels(caller, hardened, level, status):
    result = model(hardened=hardened).enum(caller, level, None, None)
    assert result.status == status
    assert len(result.entries) == (len(SESSIONS) if status == NERR_SUCCESS else 0)


@pytest.mark.parametrize('caller, client, status, count', [
    case('client-name-form', 'null', 'admin', None, NERR_SUCCESS, 4),
    case('client-name-form', 'empty-is-null', 'admin', '', NERR_SUCCESS, 4),
    case('client-name-form', 'unc', 'admin', '\\\\WKS01', NERR_SUCCESS, 1),
    case('client-name-form', 'no-backslashes', 'admin', 'WKS01', ERROR_INVALID_PARAMETER, 0),
    case('client-name-form', 'one-backslash', 'admin', '\\WKS01', ERROR_INVALID_PARAMETER, 0),
    case('client-name-form', 'forward-slashes', 'admin', '//WKS01', ERROR_INVALID_PARAMETER, 0),
    case('client-name-form', 'rights-checked-first', 'plain', 'WKS01', ERROR_ACCESS_DENIED, 0),
])
def test_client_name_form(caller, client, status, count):
    result = model().enum(caller, 10, client, None)
    assert (result.status, len(result.entries)) == (status, count)


@pytest.mark.parametrize('client, user, status, expected', [
    case('client-filter', 'ip', '\\\\192.0.2.15', None, NERR_SUCCESS,
         [('192.0.2.15', 'alice'), ('192.0.2.15', 'bob')]),
    case('client-filter', 'name-case-insensitive', '\\\\wks01', None, NERR_SUCCESS, [('WKS01', 'Alice')]),
    case('client-filter', 'no-match', '\\\\192.0.2.99', None, NERR_CLIENT_NAME_NOT_FOUND, []),
    case('client-filter', 'no-match-before-user', '\\\\192.0.2.99', 'alice', NERR_CLIENT_NAME_NOT_FOUND, []),
    case('client-filter', 'prefix-is-not-a-match', '\\\\192.0.2.1', None, NERR_CLIENT_NAME_NOT_FOUND, []),
])
def test_client_filter(client, user, status, expected):
    result = model().enum('admin', 502, client, user)
    assert (result.status, pairs(result)) == (status, expected)


@pytest.mark.parametrize('client, user, status, expected', [
    case('user-filter', 'case-insensitive', None, 'ALICE', NERR_SUCCESS,
         [('192.0.2.15', 'alice'), ('WKS01', 'Alice')]),
    case('user-filter', 'with-client', '\\\\192.0.2.15', 'bob', NERR_SUCCESS, [('192.0.2.15', 'bob')]),
    case('user-filter', 'no-match', None, 'nobody', NERR_USER_NOT_FOUND, []),
    case('user-filter', 'not-on-that-client', '\\\\192.0.2.16', 'alice', NERR_USER_NOT_FOUND, []),
    case('user-filter', 'empty-is-null', None, '', NERR_SUCCESS,
         [('192.0.2.15', 'alice'), ('192.0.2.15', 'bob'), ('WKS01', 'Alice'), ('192.0.2.16', 'carol')]),
])
def test_user_filter(client, user, status, expected):
    result = model().enum('admin', 10, client, user)
    assert (result.status, pairs(result)) == (status, expected)


@pytest.mark.parametrize('level', [
    case('entry-fields', f"level-{level}", level) for level in (0, 1, 2, 10, 502)
])
def test_entry_fields(level):
    entry = model().enum('admin', level, '\\\\WKS01', None).entries[0]
    full = {'cname': 'WKS01', 'username': 'Alice', 'num_opens': 1, 'time': 7200, 'idle_time': 3600,
            'user_flags': SESS_GUEST, 'cltype_name': 'Windows Server 2019',
            'transport': '\\Device\\NetbiosSmb'}
    assert list(entry) == list(LEVEL_FIELDS[level])
    assert entry == {field: full[field] for field in LEVEL_FIELDS[level]}


# Five sessions whose level-0 entries take 8 + 2 * (len(cname) + 1) bytes each: 30, 30, 30, 30, 30.
PAGED = tuple(Session(f"192.0.2.{index}{index}", f"u{index}") for index in range(1, 6))


@pytest.mark.parametrize('level, pref_max_len, pages', [
    case('paging', 'all-at-once', 0, MAX_PREFERRED_LENGTH, [5]),
    case('paging', 'one-fits', 0, 30, [1, 1, 1, 1, 1]),
    case('paging', 'one-and-a-bit', 0, 59, [1, 1, 1, 1, 1]),
    case('paging', 'two-fit', 0, 60, [2, 2, 1]),
    case('paging', 'at-least-one', 0, 1, [1, 1, 1, 1, 1]),
    case('paging', 'zero-still-one', 0, 0, [1, 1, 1, 1, 1]),
    case('paging', 'exactly-all', 0, 150, [5]),
    # level 10: 24 + cname 22 + username 6 = 52 bytes per entry
    case('paging', 'level-10-three', 10, 3 * 52, [3, 2]),
    case('paging', 'level-10-just-short', 10, 3 * 52 - 1, [2, 2, 1]),
])
def test_paging(level, pref_max_len, pages):
    served = model(sessions=PAGED)
    seen, sizes, statuses, handles = [], [], [], []
    resume = 0
    for _call in range(10):
        result = served.enum('admin', level, None, None, pref_max_len, resume)
        seen += [entry['cname'] for entry in result.entries]
        sizes.append(len(result.entries))
        statuses.append(result.status)
        handles.append(result.resume_handle)
        resume = result.resume_handle
        if result.status != ERROR_MORE_DATA:
            break
    assert sizes == pages
    assert statuses == [ERROR_MORE_DATA] * (len(pages) - 1) + [NERR_SUCCESS]
    assert handles[:-1] == [sum(pages[:i + 1]) for i in range(len(pages) - 1)] and handles[-1] == 0
    assert seen == [session.cname for session in PAGED]


def test_paging_entry_size_is_struct_plus_utf16_strings():
    entry = {'cname': 'WKS01', 'username': 'Zoë', 'num_opens': 1, 'time': 2, 'idle_time': 3,
             'user_flags': 0, 'cltype_name': '', 'transport': 'T'}
    assert entry_size(502, entry) == STRUCT_SIZE_X64[502] + 12 + 8 + 2 + 4 == 74
    assert STRUCT_SIZE_X64 == {0: 8, 1: 32, 2: 40, 10: 24, 502: 48}


@pytest.mark.parametrize('resume, total', [
    case('total-entries', 'first-call', 0, 5),
    case('total-entries', 'from-resume-position', 2, 3),
    case('total-entries', 'last-entry', 4, 1),
])
def test_total_entries(resume, total):
    result = model(sessions=PAGED).enum('admin', 0, None, None, 30, resume)
    assert result.total_entries == total


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
    case('get-info-level', 'level-0', 'admin', 0, '\\\\192.0.2.15', 'BOB', NERR_SUCCESS, [{'cname': '192.0.2.15'}]),
    case('get-info-level', 'level-1', 'admin', 1, '\\\\192.0.2.15', 'bob', NERR_SUCCESS, [
        {'cname': '192.0.2.15', 'username': 'bob', 'num_opens': 0, 'time': 120, 'idle_time': 120,
         'user_flags': SESS_NOENCRYPTION}]),
    case('get-info-level', 'level-2', 'admin', 2, '\\\\WKS01', 'alice', NERR_SUCCESS, [
        {'cname': 'WKS01', 'username': 'Alice', 'num_opens': 1, 'time': 7200, 'idle_time': 3600,
         'user_flags': SESS_GUEST, 'cltype_name': 'Windows Server 2019'}]),
    case('get-info-level', 'level-10', 'admin', 10, '\\\\WKS01', 'alice', NERR_SUCCESS, [
        {'cname': 'WKS01', 'username': 'Alice', 'time': 7200, 'idle_time': 3600}]),
    case('get-info-level', 'level-502', 'admin', 502, '\\\\WKS01', 'alice', ERROR_INVALID_LEVEL, []),
    case('get-info-level', 'level-3', 'admin', 3, '\\\\WKS01', 'alice', ERROR_INVALID_LEVEL, []),
    case('get-info-level', 'rights', 'plain', 1, '\\\\WKS01', 'alice', ERROR_ACCESS_DENIED, []),
    case('get-info-level', 'name-form', 'admin', 10, 'WKS01', 'alice', ERROR_INVALID_PARAMETER, []),
    case('get-info-level', 'no-client', 'admin', 10, '\\\\WKS02', 'alice', NERR_CLIENT_NAME_NOT_FOUND, []),
    case('get-info-level', 'no-user', 'admin', 10, '\\\\WKS01', 'bob', NERR_USER_NOT_FOUND, []),
])
def test_get_info_level(caller, level, client, user, status, expected):
    result = model().get_info(caller, level, client, user)
    assert (result.status, result.entries) == (status, expected)


@pytest.mark.parametrize('caller, client, user, status', [
    case('del-args', 'both-null', 'admin', None, None, ERROR_INVALID_PARAMETER),
    case('del-args', 'both-empty', 'admin', '', '', ERROR_INVALID_PARAMETER),
    case('del-args', 'no-backslashes', 'admin', '192.0.2.15', 'alice', ERROR_INVALID_PARAMETER),
    case('del-args', 'one-backslash', 'admin', '\\192.0.2.15', None, ERROR_INVALID_PARAMETER),
    case('del-args', 'both-null-before-rights', 'plain', None, None, ERROR_INVALID_PARAMETER),
    case('del-args', 'form-before-rights', 'plain', '192.0.2.15', 'alice', ERROR_INVALID_PARAMETER),
])
def test_del_args(caller, client, user, status):
    served = model()
    assert served.delete(caller, client, user) == status
    assert served.snapshot() == list(SESSIONS)


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
