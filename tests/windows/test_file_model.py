"""The Windows model's open files, one table-driven test per rule (tests/windows/model.py RULES
'file-*' and 'del-closes-files'), then the same model served over SMB and through the WinRM
shim's responder.

Every case id starts with the rule and ends with its source, as in test_model.py. The SMB tests
talk to ModelSmbServer with impacket's own srvs helpers (hNetrFileEnum, hNetrFileGetInfo,
hNetrFileClose): real NDR over a real \\pipe\\srvsvc, independent of the collection's code.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from impacket.dcerpc.v5 import srvs, transport
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.smbconnection import SMBConnection

from .model import (
    ADMIN, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_INVALID_LEVEL, ERROR_INVALID_PARAMETER,
    ERROR_MORE_DATA, FILE_LEVEL_FIELDS, FILE_STRUCT_SIZE_X64, MAX_FILE_ID, MAX_NAME_CHARS,
    MAX_PREFERRED_LENGTH, NERR_BUF_TOO_SMALL, NERR_CLIENT_NAME_NOT_FOUND, NERR_FILE_ID_NOT_FOUND,
    NERR_SUCCESS, PERM_FILE_CREATE, PERM_FILE_READ, PERM_FILE_WRITE, RULES, USER, EnumResult,
    OpenFile, Session, WindowsSessionModel, file_entry_size,
)
from .shim_model import UnknownAccountError, shim_responder
from .smb_server import ModelSmbServer

RW = PERM_FILE_READ | PERM_FILE_WRITE
FILES = (
    OpenFile(1001, 'C:\\DATA\\report.xlsx', 'alice', RW, 2, '192.0.2.15'),
    OpenFile(1002, 'C:\\DATA\\Budget\\2024.xlsx', 'Bob', PERM_FILE_READ, 0, '192.0.2.15'),
    OpenFile(1005, '\\PIPE\\srvsvc', 'alice', RW, 0, '192.0.2.16'),
    OpenFile(1009, 'D:\\Shares\\data\\notes.txt', 'carol', RW | PERM_FILE_CREATE, 1, 'WKS01'),
    OpenFile(1010, 'C:\\DATA2\\x.txt', 'alice', PERM_FILE_READ, 0, 'WKS01'),
)
IDS = [open_file.id for open_file in FILES]
SESSIONS = (
    Session('192.0.2.15', 'alice', num_opens=1),
    Session('192.0.2.15', 'bob', num_opens=1),
    Session('192.0.2.16', 'alice', num_opens=1),
    Session('WKS01', 'carol', num_opens=1),
    Session('WKS01', 'Alice', num_opens=1),
)
PRINCIPALS = {'Admin': ADMIN, 'plain': USER}

_covered: set[str] = set()


def case(rule: str, name: str, *values):
    """A pytest case whose id names the rule and its source."""
    _covered.add(rule)
    return pytest.param(*values, id=f"{rule}:{name}@{RULES[rule].source.replace(' ', '_')}")


def model(*, hardened: bool = True, files=FILES, sessions=SESSIONS) -> WindowsSessionModel:
    return WindowsSessionModel(sessions, PRINCIPALS, hardened=hardened, files=files)


def ids(result: EnumResult) -> list[int]:
    return [entry['id'] for entry in result.entries]


def left(served: WindowsSessionModel) -> list[int]:
    return [open_file.id for open_file in served.file_snapshot()]


# -- NetrFileEnum: level, rights, names ------------------------------------------------------------

@pytest.mark.parametrize('caller, level, status', [
    case('file-enum-level', 'level-2', 'admin', 2, NERR_SUCCESS),
    case('file-enum-level', 'level-3', 'admin', 3, NERR_SUCCESS),
    case('file-enum-level', 'level-0', 'admin', 0, ERROR_INVALID_LEVEL),
    case('file-enum-level', 'level-1', 'admin', 1, ERROR_INVALID_LEVEL),
    case('file-enum-level', 'level-4', 'admin', 4, ERROR_INVALID_LEVEL),
    case('file-enum-level', 'level-502', 'admin', 502, ERROR_INVALID_LEVEL),
    case('file-enum-level', 'checked-before-rights', 'plain', 1, ERROR_INVALID_LEVEL),
])
def test_file_enum_level(caller, level, status):
    result = model().file_enum(caller, level, None, None)
    assert result.status == status
    assert ids(result) == (IDS if status == NERR_SUCCESS else [])


@pytest.mark.parametrize('caller, hardened, level, status', [
    case('file-enum-rights', 'admin', 'admin', True, 3, NERR_SUCCESS),
    case('file-enum-rights', 'admin-any-case', 'ADMIN', True, 2, NERR_SUCCESS),
    case('file-enum-rights', 'user-hardened', 'plain', True, 3, ERROR_ACCESS_DENIED),
    case('file-enum-rights', 'user-unhardened-too', 'plain', False, 3, ERROR_ACCESS_DENIED),
    case('file-enum-rights', 'user-level-2-too', 'PLAIN', False, 2, ERROR_ACCESS_DENIED),
    case('file-enum-rights', 'unknown-account', 'mallory', False, 3, ERROR_ACCESS_DENIED),
])
def test_file_enum_rights(caller, hardened, level, status):
    result = model(hardened=hardened).file_enum(caller, level, None, None)
    assert (result.status, len(result.entries), result.total_entries) == \
        (status, len(FILES) if status == NERR_SUCCESS else 0, len(FILES) if status == NERR_SUCCESS else 0)


LONGEST = MAX_NAME_CHARS - 1  # characters of the longest name allowed: 1,024 with its null


@pytest.mark.parametrize('caller, base_path, user, status', [
    case('file-name-length', 'base-path-longest', 'admin', 'C:\\' + 'p' * (LONGEST - 3), None, NERR_SUCCESS),
    case('file-name-length', 'base-path-one-more', 'admin', 'C:\\' + 'p' * (LONGEST - 2), None, ERROR_INVALID_PARAMETER),
    case('file-name-length', 'user-longest', 'admin', None, 'u' * LONGEST, NERR_SUCCESS),
    case('file-name-length', 'user-one-more', 'admin', None, 'u' * MAX_NAME_CHARS, ERROR_INVALID_PARAMETER),
    case('file-name-length', 'user-with-a-matching-path', 'admin', 'C:\\', 'u' * 5000, ERROR_INVALID_PARAMETER),
    case('file-name-length', 'rights-checked-first', 'plain', 'p' * 5000, None, ERROR_ACCESS_DENIED),
    case('file-name-length', 'level-checked-first', 'admin', 'p' * 5000, None, ERROR_INVALID_LEVEL),
])
def test_file_name_length(caller, base_path, user, status):
    level = 1 if status == ERROR_INVALID_LEVEL else 3
    result = model().file_enum(caller, level, base_path, user)
    assert (result.status, result.entries) == (status, [])


# -- filters ------------------------------------------------------------------------------------

@pytest.mark.parametrize('base_path, expected', [
    case('file-base-path', 'directory', 'C:\\DATA\\', [1001, 1002]),
    case('file-base-path', 'case-insensitive', 'c:\\data\\', [1001, 1002]),
    case('file-base-path', 'whole-path', 'C:\\DATA\\report.xlsx', [1001]),
    case('file-base-path', 'plain-string-prefix', 'C:\\DATA', [1001, 1002, 1010]),
    case('file-base-path', 'drive', 'D:', [1009]),
    case('file-base-path', 'no-match-is-success', 'E:\\', []),
    case('file-base-path', 'not-a-suffix', 'report.xlsx', []),
    case('file-base-path', 'empty-is-null', '', IDS),
    case('file-base-path', 'null', None, IDS),
])
def test_file_base_path(base_path, expected):
    result = model().file_enum('admin', 3, base_path, None)
    assert (result.status, ids(result), result.total_entries) == (NERR_SUCCESS, expected, len(expected))


@pytest.mark.parametrize('base_path, user, expected', [
    case('file-user-filter', 'case-insensitive', None, 'ALICE', [1001, 1005, 1010]),
    case('file-user-filter', 'stored-in-other-case', None, 'bob', [1002]),
    case('file-user-filter', 'no-match-is-success', None, 'nobody', []),
    case('file-user-filter', 'empty-is-null', None, '', IDS),
    case('file-user-filter', 'connection-name', None, '\\\\192.0.2.15', [1001, 1002]),
    case('file-user-filter', 'connection-name-case', None, '\\\\wks01', [1009, 1010]),
    case('file-user-filter', 'connection-not-a-user', None, '\\\\alice', []),
    case('file-user-filter', 'with-base-path', 'C:\\', 'alice', [1001, 1010]),
    case('file-user-filter', 'with-base-path-no-match', 'D:\\', 'alice', []),
])
def test_file_user_filter(base_path, user, expected):
    result = model().file_enum('admin', 3, base_path, user)
    assert (result.status, ids(result)) == (NERR_SUCCESS, expected)


@pytest.mark.parametrize('call, expected', [
    case('file-pipes', 'listed-like-files', 'enum', IDS),
    case('file-pipes', 'base-path-selects-pipes', 'pipes', [1005]),
    case('file-pipes', 'closed-like-files', 'close', [1001, 1002, 1009, 1010]),
])
def test_file_pipes(call, expected):
    served = model()
    if call == 'close':
        assert served.file_close('admin', 1005) == NERR_SUCCESS
        assert left(served) == expected
        return
    result = served.file_enum('admin', 3, '\\pipe\\' if call == 'pipes' else None, None)
    assert ids(result) == expected
    pipe = next(entry for entry in result.entries if entry['id'] == 1005)
    assert pipe == {'id': 1005, 'permissions': RW, 'num_locks': 0, 'pathname': '\\PIPE\\srvsvc',
                    'username': 'alice'}


# -- paging -------------------------------------------------------------------------------------

# Five opens whose level-3 entries take 32 + 2 * (len('C:\\F\\N.txt') + 1) + 2 * (len('uN') + 1)
# = 32 + 22 + 6 = 60 bytes each; level 2: 4 bytes each.
PAGED = tuple(OpenFile(index, f"C:\\F\\{index}.txt", f"u{index}") for index in range(1, 6))


def walk(served: WindowsSessionModel, level: int, pref_max_len: int, base_path=None, user=None):
    """Call NetrFileEnum as a client does: on while ERROR_MORE_DATA, the handle passed back."""
    results = []
    resume = 0
    for _call in range(10):
        result = served.file_enum('admin', level, base_path, user, pref_max_len, resume)
        results.append(result)
        resume = result.resume_handle
        if result.status != ERROR_MORE_DATA:
            break
    return results


@pytest.mark.parametrize('level, pref_max_len, pages', [
    case('file-paging', 'all-at-once', 3, MAX_PREFERRED_LENGTH, [5]),
    case('file-paging', 'one-fits', 3, 60, [1, 1, 1, 1, 1]),
    case('file-paging', 'one-and-a-bit', 3, 119, [1, 1, 1, 1, 1]),
    case('file-paging', 'two-fit', 3, 120, [2, 2, 1]),
    case('file-paging', 'exactly-all', 3, 300, [5]),
    case('file-paging', 'level-2-one', 2, 4, [1, 1, 1, 1, 1]),
    case('file-paging', 'level-2-two-and-a-bit', 2, 11, [2, 2, 1]),
    case('file-paging', 'level-2-all', 2, 20, [5]),
])
def test_file_paging(level, pref_max_len, pages):
    results = walk(model(files=PAGED), level, pref_max_len)
    assert [len(result.entries) for result in results] == pages
    assert [result.status for result in results] == [ERROR_MORE_DATA] * (len(pages) - 1) + [NERR_SUCCESS]
    assert [result.resume_handle for result in results] == list(itertools.accumulate(pages))
    assert [entry['id'] for result in results for entry in result.entries] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize('level, pref_max_len, resume, total', [
    case('file-paging', 'too-small-for-one', 3, 59, 0, 5),
    case('file-paging', 'zero', 3, 0, 0, 5),
    case('file-paging', 'level-2-too-small', 2, 3, 0, 5),
    case('file-paging', 'too-small-later-on', 3, 59, 2, 3),
])
def test_file_paging_buffer_too_small_for_one_entry(level, pref_max_len, resume, total):
    result = model(files=PAGED).file_enum('admin', level, None, None, pref_max_len, resume)
    assert result == EnumResult(NERR_BUF_TOO_SMALL, [], total, resume)


@pytest.mark.parametrize('base_path, pref_max_len', [
    case('file-paging', 'nothing-to-fit-is-success', 'E:\\', 0),
    case('file-paging', 'nothing-to-fit-is-success-max', 'E:\\', MAX_PREFERRED_LENGTH),
])
def test_file_paging_nothing_matching_needs_no_room(base_path, pref_max_len):
    assert model(files=PAGED).file_enum('admin', 3, base_path, None, pref_max_len) == EnumResult(NERR_SUCCESS, [], 0, 0)


def test_file_paging_entry_size_is_struct_plus_utf16_strings():
    entry = {'id': 7, 'permissions': RW, 'num_locks': 0, 'pathname': 'C:\\Zoë.txt', 'username': 'zoë'}
    assert file_entry_size(3, entry) == FILE_STRUCT_SIZE_X64[3] + 2 * 11 + 2 * 4 == 62
    assert file_entry_size(2, {'id': 7}) == FILE_STRUCT_SIZE_X64[2] == 4
    assert FILE_STRUCT_SIZE_X64 == {2: 4, 3: 32}


@pytest.mark.parametrize('base_path, user, resume, status, expected, handle', [
    case('file-resume-handle', 'start', None, None, 0, NERR_SUCCESS, IDS, 5),
    case('file-resume-handle', 'indexes-the-file-list', None, None, 2, NERR_SUCCESS, IDS[2:], 5),
    case('file-resume-handle', 'filter-after-the-resume-point', 'C:\\DATA\\', None, 1, NERR_SUCCESS, [1002], 2),
    case('file-resume-handle', 'user-filter-after-the-resume-point', None, 'alice', 1, NERR_SUCCESS, [1005, 1010], 5),
    case('file-resume-handle', 'filter-gone-after-the-resume-point', 'C:\\DATA\\', None, 2, NERR_SUCCESS, [], 2),
    case('file-resume-handle', 'last-open', None, None, 4, NERR_SUCCESS, [1010], 5),
    case('file-resume-handle', 'at-the-end', None, None, 5, NERR_SUCCESS, [], 5),
    case('file-resume-handle', 'past-the-end', None, None, 99, NERR_SUCCESS, [], 99),
    case('file-resume-handle', 'last-page-of-a-filter-is-non-zero', 'D:\\', None, 0, NERR_SUCCESS, [1009], 4),
])
def test_file_resume_handle(base_path, user, resume, status, expected, handle):
    result = model().file_enum('admin', 2, base_path, user, MAX_PREFERRED_LENGTH, resume)
    assert (result.status, ids(result), result.resume_handle) == (status, expected, handle)


def test_file_resume_handle_walk_with_a_filter_skips_by_file_list_index():
    # One entry a page: alice's opens are 0, 2 and 4 of the list.
    results = walk(model(), 2, 4, user='alice')
    assert [(r.status, ids(r), r.resume_handle, r.total_entries) for r in results] == [
        (ERROR_MORE_DATA, [1001], 1, 3),
        (ERROR_MORE_DATA, [1005], 3, 2),
        (NERR_SUCCESS, [1010], 5, 1),
    ]


@pytest.mark.parametrize('base_path, user, resume, total', [
    case('file-total-entries', 'first-call', None, None, 0, 5),
    case('file-total-entries', 'from-resume-position', None, None, 2, 3),
    case('file-total-entries', 'last-entry', None, None, 4, 1),
    case('file-total-entries', 'past-the-end', None, None, 5, 0),
    case('file-total-entries', 'filtered', 'C:\\F\\3', None, 0, 1),
    case('file-total-entries', 'filtered-from-resume-position', None, 'U4', 1, 1),
    case('file-total-entries', 'no-match', 'E:\\', None, 0, 0),
])
def test_file_total_entries(base_path, user, resume, total):
    result = model(files=PAGED).file_enum('admin', 3, base_path, user, 60, resume)
    assert result.total_entries == total


def test_file_total_entries_on_a_failure_is_zero():
    assert model().file_enum('plain', 3, None, None).total_entries == 0


# -- entries ------------------------------------------------------------------------------------

@pytest.mark.parametrize('level, expected', [
    case('file-entry-fields', 'level-2', 2, {'id': 1009}),
    case('file-entry-fields', 'level-3', 3, {'id': 1009, 'permissions': RW | PERM_FILE_CREATE, 'num_locks': 1,
                                             'pathname': 'D:\\Shares\\data\\notes.txt', 'username': 'carol'}),
])
def test_file_entry_fields(level, expected):
    entry = model().file_enum('admin', level, 'D:\\', None).entries[0]
    assert list(entry) == list(FILE_LEVEL_FIELDS[level])
    assert entry == expected
    assert (PERM_FILE_READ, PERM_FILE_WRITE, PERM_FILE_CREATE) == (0x1, 0x2, 0x4)


@pytest.mark.parametrize('files', [
    case('file-ids-unique', 'duplicate', (OpenFile(7, 'C:\\a', 'u'), OpenFile(7, 'C:\\b', 'v'))),
    case('file-ids-unique', 'negative', (OpenFile(-1, 'C:\\a', 'u'),)),
    case('file-ids-unique', 'not-a-dword', (OpenFile(MAX_FILE_ID + 1, 'C:\\a', 'u'),)),
])
def test_file_ids_unique_refused(files):
    with pytest.raises(ValueError):
        WindowsSessionModel((), PRINCIPALS, files=files)


@pytest.mark.parametrize('how', [
    case('file-ids-unique', 'add-a-taken-id', 'add'),
    case('file-ids-unique', 'new-opens-get-fresh-ids', 'open'),
    case('file-ids-unique', 'model-copies-its-files', 'copy'),
])
def test_file_ids_unique(how):
    files = list(FILES)
    served = model(files=files)
    if how == 'add':
        with pytest.raises(ValueError):
            served.add_file(OpenFile(1005, 'C:\\other', 'dave'))
        served.add_file(OpenFile(MAX_FILE_ID, 'C:\\other', 'dave'))
        assert left(served) == IDS + [MAX_FILE_ID]
        # Above the highest id there is no DWORD left: the next open reuses a free one.
        assert served.open_file('C:\\next', 'dave').id not in IDS + [MAX_FILE_ID]
    elif how == 'open':
        opened = [served.open_file('C:\\DATA\\report.xlsx', 'alice', RW, 0, '192.0.2.15') for _count in range(3)]
        assert [open_file.id for open_file in opened] == [1011, 1012, 1013]
        assert len(set(left(served))) == len(FILES) + 3
        # Closing one of two opens of the same path closes only that one.
        assert served.file_close('admin', 1012) == NERR_SUCCESS
        assert left(served) == IDS + [1011, 1013]
    else:
        files.clear()
        served.file_close('admin', 1001)
        assert left(served) == IDS[1:]
        assert FILES[0] == OpenFile(1001, 'C:\\DATA\\report.xlsx', 'alice', RW, 2, '192.0.2.15')


# -- NetrFileGetInfo ----------------------------------------------------------------------------

@pytest.mark.parametrize('caller, file_id, level, status, expected', [
    case('file-get-info', 'level-2', 'admin', 1002, 2, NERR_SUCCESS, [{'id': 1002}]),
    case('file-get-info', 'level-3', 'admin', 1002, 3, NERR_SUCCESS, [
        {'id': 1002, 'permissions': PERM_FILE_READ, 'num_locks': 0, 'pathname': 'C:\\DATA\\Budget\\2024.xlsx',
         'username': 'Bob'}]),
    case('file-get-info', 'level-1', 'admin', 1002, 1, ERROR_INVALID_LEVEL, []),
    case('file-get-info', 'level-before-rights', 'plain', 1002, 502, ERROR_INVALID_LEVEL, []),
    case('file-get-info', 'rights', 'plain', 1002, 3, ERROR_ACCESS_DENIED, []),
    case('file-get-info', 'unknown-id-is-2', 'admin', 4242, 3, ERROR_FILE_NOT_FOUND, []),
    case('file-get-info', 'rights-before-id', 'plain', 4242, 3, ERROR_ACCESS_DENIED, []),
])
def test_file_get_info(caller, file_id, level, status, expected):
    result = model().file_get_info(caller, file_id, level)
    assert (result.status, result.entries) == (status, expected)


# -- NetrFileClose ------------------------------------------------------------------------------

@pytest.mark.parametrize('caller, hardened, file_id, status', [
    case('file-close-rights', 'admin', 'ADMIN', True, 1009, NERR_SUCCESS),
    case('file-close-rights', 'plain-user', 'plain', True, 1009, ERROR_ACCESS_DENIED),
    case('file-close-rights', 'plain-user-unhardened-too', 'plain', False, 1009, ERROR_ACCESS_DENIED),
    case('file-close-rights', 'unknown-account', 'mallory', False, 1009, ERROR_ACCESS_DENIED),
    case('file-close-rights', 'before-the-id', 'plain', True, 4242, ERROR_ACCESS_DENIED),
])
def test_file_close_rights(caller, hardened, file_id, status):
    served = model(hardened=hardened)
    assert served.file_close(caller, file_id) == status
    assert left(served) == ([i for i in IDS if i != file_id] if status == NERR_SUCCESS else IDS)


@pytest.mark.parametrize('first, second, statuses', [
    case('file-close-unknown-id', 'never-opened', None, 4242, [NERR_FILE_ID_NOT_FOUND]),
    case('file-close-unknown-id', 'id-zero', None, 0, [NERR_FILE_ID_NOT_FOUND]),
    case('file-close-unknown-id', 'closed-already', 1002, 1002, [NERR_SUCCESS, NERR_FILE_ID_NOT_FOUND]),
])
def test_file_close_unknown_id(first, second, statuses):
    served = model()
    answers = [served.file_close('admin', file_id) for file_id in (first, second) if file_id is not None]
    assert answers == statuses
    # MS-SRVS 3.1.4.4's code on the wire, not the SDK page's ERROR_FILE_NOT_FOUND.
    assert ERROR_FILE_NOT_FOUND not in answers and NERR_FILE_ID_NOT_FOUND == 0x90A


@pytest.mark.parametrize('file_id, still_listed', [
    case('file-close-removes', 'with-its-locks', 1001, [1002, 1005, 1009, 1010]),
    case('file-close-removes', 'other-opens-of-the-user-stay', 1010, [1001, 1002, 1005, 1009]),
])
def test_file_close_removes(file_id, still_listed):
    served = model()
    locks_before = sum(open_file.num_locks for open_file in served.file_snapshot())
    closed = next(open_file for open_file in FILES if open_file.id == file_id)
    assert served.file_close('admin', file_id) == NERR_SUCCESS
    assert ids(served.file_enum('admin', 3, None, None)) == still_listed
    assert served.file_get_info('admin', file_id, 3).status == ERROR_FILE_NOT_FOUND
    assert sum(open_file.num_locks for open_file in served.file_snapshot()) == locks_before - closed.num_locks
    assert served.file_close('admin', file_id) == NERR_FILE_ID_NOT_FOUND
    assert served.snapshot() == list(SESSIONS)  # closing a file closes no session


# -- NetrSessionDel closes the session's files ----------------------------------------------------

@pytest.mark.parametrize('client, user, status, still_open', [
    case('del-closes-files', 'pair', '\\\\192.0.2.15', 'alice', NERR_SUCCESS, [1002, 1005, 1009, 1010]),
    case('del-closes-files', 'user-everywhere', None, 'ALICE', NERR_SUCCESS, [1002, 1009]),
    case('del-closes-files', 'client-every-user', '\\\\wks01', None, NERR_SUCCESS, [1001, 1002, 1005]),
    case('del-closes-files', 'another-user-of-the-client-keeps-theirs', '\\\\192.0.2.15', 'bob', NERR_SUCCESS,
         [1001, 1005, 1009, 1010]),
    case('del-closes-files', 'nothing-closed-nothing-lost', '\\\\192.0.2.99', None, NERR_CLIENT_NAME_NOT_FOUND, IDS),
    case('del-closes-files', 'refused-nothing-lost', '\\\\192.0.2.15', 'alice', ERROR_ACCESS_DENIED, IDS),
])
def test_del_closes_files(client, user, status, still_open):
    served = model()
    caller = 'plain' if status == ERROR_ACCESS_DENIED else 'admin'
    assert served.delete(caller, client, user) == status
    assert left(served) == still_open


def test_every_file_rule_has_a_test():
    rules = {name for name in RULES if name.startswith('file-')} | {'del-closes-files'}
    assert rules <= _covered, sorted(rules - _covered)
    assert all(RULES[name].text and RULES[name].source for name in rules)


# -- the WinRM shim's answers from the model ----------------------------------------------------

def test_shim_files_pages_until_done_and_filters():
    respond = shim_responder(model(files=PAGED))
    answer = respond({'operation': 'files', 'base_path': None, 'username': None, 'pref_max_len': 120},
                     user='LAB\\admin')
    assert answer == {'status': NERR_SUCCESS, 'entries': [
        {'id': i, 'permissions': PERM_FILE_READ, 'num_locks': 0, 'pathname': f"C:\\F\\{i}.txt", 'username': f"u{i}"}
        for i in range(1, 6)]}
    # Empty strings are NULL; level 3 unless asked; default pref_max_len is MAX_PREFERRED_LENGTH.
    assert [e['id'] for e in respond({'operation': 'files', 'base_path': '', 'username': 'U2'}, user='admin')['entries']] == [2]
    assert respond({'operation': 'files', 'level': 2, 'base_path': 'c:\\f\\', 'username': ''},
                   user='admin')['entries'] == [{'id': i} for i in range(1, 6)]


@pytest.mark.parametrize('request_, user, expected', [
    pytest.param({'operation': 'files', 'base_path': None, 'username': None}, 'plain',
                 {'status': ERROR_ACCESS_DENIED, 'entries': []}, id='refused'),
    pytest.param({'operation': 'files', 'base_path': None, 'username': None, 'pref_max_len': 10}, 'admin',
                 {'status': NERR_BUF_TOO_SMALL, 'entries': []}, id='too-small'),
    pytest.param({'operation': 'files', 'base_path': 'E:\\', 'username': None}, 'admin',
                 {'status': NERR_SUCCESS, 'entries': []}, id='nothing'),
])
def test_shim_files_failures_carry_no_entries(request_, user, expected):
    assert shim_responder(model())(request_, user=user) == expected


@pytest.mark.parametrize('ids_, user, expected, still_open', [
    pytest.param([1001, 4242, 1009], 'admin', {'status': NERR_SUCCESS,
                                               'statuses': [NERR_SUCCESS, NERR_FILE_ID_NOT_FOUND, NERR_SUCCESS]},
                 [1002, 1005, 1010], id='gone-goes-on'),
    pytest.param([1001, 1001], 'admin', {'status': NERR_FILE_ID_NOT_FOUND,
                                         'statuses': [NERR_SUCCESS, NERR_FILE_ID_NOT_FOUND]},
                 [1002, 1005, 1009, 1010], id='twice'),
    pytest.param([1001, 1002], 'plain', {'status': ERROR_ACCESS_DENIED, 'statuses': [ERROR_ACCESS_DENIED]},
                 IDS, id='refused-stops'),
    pytest.param([-1, 1001], 'admin', {'status': ERROR_INVALID_PARAMETER, 'statuses': [ERROR_INVALID_PARAMETER]},
                 IDS, id='not-a-dword-stops'),
    pytest.param([], 'admin', {'status': ERROR_INVALID_PARAMETER, 'statuses': []}, IDS, id='none'),
])
def test_shim_close_files(ids_, user, expected, still_open):
    served = model()
    assert shim_responder(served)({'operation': 'close_files', 'ids': ids_}, user=user) == expected
    assert left(served) == still_open


def test_shim_file_requests_of_an_unknown_account_never_reach_the_model():
    served = model()
    respond = shim_responder(served)
    for request_ in ({'operation': 'files', 'base_path': None, 'username': None},
                     {'operation': 'close_files', 'ids': [1001]}):
        with pytest.raises(UnknownAccountError):
            respond(request_, user='ghost')
    assert left(served) == IDS


# -- served over SMB: impacket's own srvs client --------------------------------------------------

PASSWORDS = {'admin': 'Adm1n-pass!', 'plain': 'Pl4in-pass!'}
_ports = itertools.count(4700)
_hosts = itertools.cycle(range(231, 241))


class Pipe:
    """A logged-on SMB connection with \\pipe\\srvsvc bound, for impacket's srvs helpers."""

    def __init__(self, server: ModelSmbServer, user: str) -> None:
        self.smb = SMBConnection(server.address, server.address, sess_port=server.port, timeout=5)
        self.smb.login(user, PASSWORDS[user])
        rpc = transport.SMBTransport(server.address, server.port, r'\srvsvc', smb_connection=self.smb)
        self.dce: Any = rpc.get_dce_rpc()
        self.dce.connect()
        self.dce.bind(srvs.MSRPC_UUID_SRVS)

    def call(self, helper, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        """(status, answer): impacket raises for any status but 0, with the answer attached
        when it decodes (a status that is also an RPC status, as 5, comes without it)."""
        try:
            return NERR_SUCCESS, helper(self.dce, *args, **kwargs)
        except DCERPCException as error:
            return error.get_error_code(), error.packet

    def close(self) -> None:
        if self.dce is not None:
            self.dce.disconnect()
            self.smb.close()
            self.dce = None


@pytest.fixture
def pipe() -> Iterator:
    """pipe(model, user='admin', **options) -> (Pipe, server); everything is closed afterwards."""
    started: list[tuple[ModelSmbServer, Pipe]] = []

    def start(served: WindowsSessionModel, user: str = 'admin', **options: Any) -> tuple[Pipe, ModelSmbServer]:
        server = ModelSmbServer(served, f"127.0.0.{next(_hosts)}", next(_ports), PASSWORDS, user, **options)
        server.start()
        try:
            connection = Pipe(server, user)
        except BaseException:
            server.stop()
            raise
        started.append((server, connection))
        return connection, server

    before = set(threading.enumerate())
    yield start
    for server, connection in started:
        connection.close()
        server.stop()
    assert set(threading.enumerate()) <= before, 'a server thread outlived stop()'


def _entries(answer: Any, level: int) -> list[dict[str, Any]]:
    buffer = answer['InfoStruct']['FileInfo'][f'Level{level}']['Buffer'] or []
    if level == 2:
        return [{'id': item['fi2_id']} for item in buffer]
    return [{'id': item['fi3_id'], 'permissions': item['fi3_permissions'], 'num_locks': item['fi3_num_locks'],
             'pathname': item['fi3_path_name'].rstrip('\x00'), 'username': item['fi3_username'].rstrip('\x00')}
            for item in buffer]


@pytest.mark.parametrize('level', [2, 3])
def test_smb_file_enum_answers_impacket_at_both_levels(pipe, level):
    served = model()
    connection, server = pipe(served)
    status, answer = connection.call(srvs.hNetrFileEnum, NULL, NULL, level)
    assert status == NERR_SUCCESS
    assert _entries(answer, level) == served.file_enum('admin', level, None, None).entries
    assert [e['id'] for e in _entries(answer, level)] == IDS
    assert (answer['TotalEntries'], answer['ResumeHandle'], answer['InfoStruct']['Level']) == (5, 5, level)
    status, answer = connection.call(srvs.hNetrFileEnum, 'C:\\DATA\\\x00', 'ALICE\x00', level)
    assert (status, [e['id'] for e in _entries(answer, level)]) == (NERR_SUCCESS, [1001])
    assert [(c.opnum, c.level, c.base_path, c.user_name, c.status) for c in server.calls] == [
        (9, level, None, None, NERR_SUCCESS), (9, level, 'C:\\DATA\\', 'ALICE', NERR_SUCCESS)]


@pytest.mark.parametrize('level, pref_max_len, pages', [
    pytest.param(3, 120, [2, 2, 1], id='level-3-two-a-page'),
    pytest.param(2, 4, [1, 1, 1, 1, 1], id='level-2-one-a-page'),
])
def test_smb_file_enum_pages_with_a_small_prefered_maximum_length(pipe, level, pref_max_len, pages):
    connection, server = pipe(model(files=PAGED))
    resume = 0
    seen: list[tuple[int, int, int, int]] = []
    got: list[int] = []
    for _call in range(10):
        status, answer = connection.call(srvs.hNetrFileEnum, NULL, NULL, level, resumeHandle=resume,
                                         preferedMaximumLength=pref_max_len)
        page = _entries(answer, level)
        got += [entry['id'] for entry in page]
        resume = answer['ResumeHandle']
        seen.append((status, len(page), answer['TotalEntries'], resume))
        if status != ERROR_MORE_DATA:
            break
    totals = list(itertools.accumulate([0] + pages[:-1]))
    assert seen == [(ERROR_MORE_DATA if i < len(pages) - 1 else NERR_SUCCESS, n, 5 - totals[i], totals[i] + n)
                    for i, n in enumerate(pages)]
    assert got == [1, 2, 3, 4, 5]
    assert [c.resume_handle for c in server.calls] == totals


def test_smb_page_bytes_caps_what_the_client_asks(pipe):
    connection, server = pipe(model(files=PAGED), page_bytes=60)
    status, answer = connection.call(srvs.hNetrFileEnum, NULL, NULL, 3)
    assert (status, len(_entries(answer, 3)), answer['ResumeHandle']) == (ERROR_MORE_DATA, 1, 1)
    assert server.calls[-1].pref_max_len == 60


def test_smb_file_enum_buffer_too_small(pipe):
    connection, _server = pipe(model(files=PAGED))
    status, answer = connection.call(srvs.hNetrFileEnum, NULL, NULL, 3, preferedMaximumLength=10)
    assert (status, _entries(answer, 3), answer['TotalEntries']) == (NERR_BUF_TOO_SMALL, [], 5)


def test_smb_non_admin_is_refused_listing_and_closing(pipe):
    served = model()
    connection, server = pipe(served, 'plain')
    assert connection.call(srvs.hNetrFileEnum, NULL, NULL, 3)[0] == ERROR_ACCESS_DENIED
    assert connection.call(srvs.hNetrFileClose, 1001)[0] == ERROR_ACCESS_DENIED
    assert connection.call(srvs.hNetrFileGetInfo, 1001, 3)[0] == ERROR_ACCESS_DENIED
    assert [(c.opnum, c.status) for c in server.calls] == [(9, 5), (11, 5), (10, 5)]
    assert left(served) == IDS


def test_smb_file_close_and_unknown_id(pipe):
    served = model()
    connection, server = pipe(served)
    assert connection.call(srvs.hNetrFileClose, 1002)[0] == NERR_SUCCESS
    assert connection.call(srvs.hNetrFileClose, 1002)[0] == NERR_FILE_ID_NOT_FOUND
    assert connection.call(srvs.hNetrFileClose, 4242)[0] == NERR_FILE_ID_NOT_FOUND
    assert left(served) == [1001, 1005, 1009, 1010]
    status, answer = connection.call(srvs.hNetrFileEnum, NULL, NULL, 2)
    assert (status, [e['id'] for e in _entries(answer, 2)]) == (NERR_SUCCESS, [1001, 1005, 1009, 1010])
    assert [(c.opnum, c.file_id, c.status) for c in server.calls[:3]] == [
        (11, 1002, NERR_SUCCESS), (11, 1002, NERR_FILE_ID_NOT_FOUND), (11, 4242, NERR_FILE_ID_NOT_FOUND)]


@pytest.mark.parametrize('file_id, level, status', [
    pytest.param(1009, 3, NERR_SUCCESS, id='level-3'),
    pytest.param(1009, 2, NERR_SUCCESS, id='level-2'),
    pytest.param(4242, 3, ERROR_FILE_NOT_FOUND, id='unknown-id-2'),
    pytest.param(1009, 7, ERROR_INVALID_LEVEL, id='bad-level'),
])
def test_smb_file_get_info(pipe, file_id, level, status):
    connection, _server = pipe(model())
    got, answer = connection.call(srvs.hNetrFileGetInfo, file_id, level)
    assert got == status
    if status == NERR_SUCCESS:
        info = answer['InfoStruct'][f'FileInfo{level}']
        assert info[f'fi{level}_id'] == 1009
        if level == 3:
            assert (info['fi3_path_name'], info['fi3_username'], info['fi3_num_locks']) == \
                ('D:\\Shares\\data\\notes.txt\x00', 'carol\x00', 1)


def test_smb_own_pipe_is_listed_as_an_open_file_while_it_is_open(pipe):
    served = model(files=())
    connection, server = pipe(served, own_files=True)
    status, answer = connection.call(srvs.hNetrFileEnum, '\\PIPE\\\x00', NULL, 3)
    assert status == NERR_SUCCESS
    assert [(e['pathname'], e['username'], e['permissions']) for e in _entries(answer, 3)] == \
        [('\\PIPE\\srvsvc', 'admin', RW)]
    assert [f.client for f in served.file_snapshot()] == ['127.0.0.1']
    connection.close()
    server.wait_disconnected()
    assert served.file_snapshot() == []
