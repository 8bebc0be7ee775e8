"""Open files (module_utils/_open_files.py, _tasks.netfile_info / netfile_close) over a fake
transport: the record, every filter, the client of a file, and closing exactly what was asked."""

from __future__ import annotations

import pytest

from ansible_collections.lanman.server.plugins.module_utils._errors import (
    ERROR_ACCESS_DENIED, ERROR_NETNAME_DELETED, NERR_FILE_ID_NOT_FOUND,
)
from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._options import (
    FILE_CLOSE_ARGUMENT_SPEC, FILE_INFO_ARGUMENT_SPEC,
)
from ansible_collections.lanman.server.plugins.module_utils._open_files import FILE_KEYS
from ansible_collections.lanman.server.plugins.module_utils import _tasks
from tests.unit.plugins.module_utils.fake_transport import FakeTransport, open_file, session

BUDGET = 'D:\\Shares\\Finance\\budget.xlsx'
FILES = [
    open_file(11, BUDGET + '\x00', 'alice', permissions=3, num_locks=2),
    open_file(12, 'D:\\Shares\\Finance\\plan.docx', 'bob'),
    open_file(13, 'D:\\Shares\\Projects\\x.txt', 'LAB\\carol', permissions=0),
    open_file(14, '\\PIPE\\srvsvc', 'admin'),
]
SESSIONS = [session('192.0.2.15', 'alice'), session('192.0.2.16', 'bob'), session('192.0.2.17', 'bob')]


@pytest.fixture
def served(monkeypatch):
    """A fake server for the tasks: ``served.transport`` is what the module talks to."""
    class Served:
        transport = FakeTransport(SESSIONS, files=FILES)
    monkeypatch.setattr(_tasks, 'open_transport', lambda params: Served.transport)
    return Served


def _params(spec, **given):
    params = {name: option.get('default') for name, option in spec.items()}
    params.update(server='fs.example', connection_username='admin', connection_password='pw', **given)
    return params


def info(**given):
    return execute(_tasks.netfile_info, _params(FILE_INFO_ARGUMENT_SPEC, **given), check_mode=False, diff=False)


def close(check_mode=False, diff=False, **given):
    return execute(_tasks.netfile_close, _params(FILE_CLOSE_ARGUMENT_SPEC, **given), check_mode=check_mode,
                   diff=diff)


# ---- listing ---------------------------------------------------------------------------------

def test_records_have_every_key_decoded_and_pipes_are_not_files(served):
    result = info()
    assert result['changed'] is False and [rec['id'] for rec in result['files']] == [11, 12, 13]
    assert all(list(rec) == list(FILE_KEYS) for rec in result['files'])
    alice, bob, carol = result['files']
    assert alice == {'id': 11, 'path': BUDGET, 'username': 'alice', 'domain': None, 'permissions': 3,
                     'permission_names': ['read', 'write'], 'locks': 2, 'client': '192.0.2.15'}
    assert bob['client'] is None  # bob has sessions from two clients: which holds the file is unknown
    assert (carol['username'], carol['domain'], carol['permission_names'], carol['client']) == \
        ('carol', 'LAB', [], None)


@pytest.mark.parametrize('given, ids', [
    ({'file_id': 12}, [12]),
    ({'path': BUDGET.upper()}, [11]),
    ({'path': 'D:\\Shares\\Finance'}, []),  # exact, not a prefix
    ({'path_prefix': 'd:\\shares\\finance\\'}, [11, 12]),
    ({'username': 'LAB\\Carol'}, [13]),
    ({'username': 'carol@lab.test'}, [13]),
    ({'username': 'OTHER\\carol'}, []),
    ({'username': 'alice', 'path_prefix': 'D:\\Shares\\Projects'}, []),
    ({'path_prefix': '\\PIPE\\'}, []),
])
def test_every_filter_is_applied_on_the_controller(served, given, ids):
    assert [rec['id'] for rec in info(**given)['files']] == ids


def test_the_server_is_sent_the_path_but_not_the_user_name(served):
    info(path_prefix='D:\\Shares\\', username='alice')
    assert served.transport.calls[0] == ('enumerate_files', 'D:\\Shares\\', None)


def test_no_match_skips_the_session_listing(served):
    info(path='D:\\nothing')
    assert [batch[0] for batch in served.transport.batches] == ['enumerate_files']


def test_clients_unknown_when_the_sessions_cannot_be_listed(served):
    served.transport.refuse = {level: ERROR_ACCESS_DENIED for level in (502, 2, 1, 10)}
    result = info(username='alice')
    assert result['files'][0]['client'] is None
    assert 'the client of each file is unknown' in result['warnings'][0]


def test_a_refused_listing_fails_with_its_code(served):
    served.transport.refuse = {'files': ERROR_ACCESS_DENIED}
    result = info()
    assert (result['failed'], result['code'], result['code_name']) == (True, 5, 'ERROR_ACCESS_DENIED')


# ---- closing ---------------------------------------------------------------------------------

def test_closes_exactly_the_selected_file_and_a_second_run_changes_nothing(served):
    result = close(path=BUDGET)
    assert result['changed'] is True and [rec['id'] for rec in result['closed']] == [11]
    assert (result['already_gone'], result['not_closed']) == ([], [])
    assert [entry['id'] for entry in served.transport.files] == [12, 13, 14]
    again = close(path=BUDGET)
    assert again['changed'] is False and again['closed'] == []


def test_check_mode_and_diff_close_nothing(served):
    result = close(check_mode=True, diff=True, path_prefix='D:\\Shares\\Finance\\', max_files=2)
    assert result['changed'] is True and [rec['id'] for rec in result['closed']] == [11, 12]
    assert [rec['id'] for rec in result['diff']['before']['files']] == [11, 12]
    assert result['diff']['after']['files'] == []
    assert len(served.transport.files) == 4
    assert not [call for call in served.transport.calls if call[0] == 'close_file']


def test_more_matches_than_max_files_fail_before_anything_is_closed(served):
    result = close(path_prefix='D:\\Shares\\')
    assert result['failed'] is True and result['option'] == 'max_files'
    assert '3 open files match, more than max_files (1)' in result['msg']
    assert len(served.transport.files) == 4


def test_an_id_the_server_lists_twice_is_refused(served):
    served.transport.files.append(open_file(11, 'D:\\Shares\\Other\\y.txt', 'dave'))
    result = close(path=BUDGET)
    assert result['failed'] is True and result['option'] == 'path'
    assert 'file id(s) 11 for more than one open file' in result['msg']
    assert len(served.transport.files) == 5


def test_all_matches_close_in_one_transport_call(served):
    result = close(path_prefix='D:\\Shares\\', max_files=10)
    assert [rec['id'] for rec in result['closed']] == [11, 12, 13]
    assert ('close_files', 3) in served.transport.batches
    assert [entry['id'] for entry in served.transport.files] == [14]  # the pipe stays


def test_a_file_closed_meanwhile_is_already_gone(served):
    served.transport.refuse = {'close_file': lambda file_id: NERR_FILE_ID_NOT_FOUND if file_id == 11 else 0}
    result = close(path_prefix='D:\\Shares\\Finance\\', max_files=5)
    assert [rec['id'] for rec in result['already_gone']] == [11]
    assert [rec['id'] for rec in result['closed']] == [12] and result['changed'] is True


def test_a_failure_part_way_says_what_was_and_was_not_closed(served):
    served.transport.refuse = {'close_file': lambda file_id: ERROR_NETNAME_DELETED if file_id == 12 else 0}
    result = close(path_prefix='D:\\Shares\\', max_files=5)
    assert result['failed'] is True and result['code'] == ERROR_NETNAME_DELETED
    assert [rec['id'] for rec in result['closed']] == [11]
    assert [rec['id'] for rec in result['not_closed']] == [12, 13]
    assert result['changed'] is True


def test_a_connection_lost_in_the_middle_of_the_files_reports_exactly(served):
    served.transport.cut_at = 2
    result = close(path_prefix='D:\\Shares\\', max_files=5)
    assert result['failed'] is True and result['code'] == ERROR_NETNAME_DELETED
    assert [rec['id'] for rec in result['closed']] == [11]
    assert [rec['id'] for rec in result['not_closed']] == [12, 13]


def test_a_close_the_server_accepts_but_does_not_do_is_not_closed(served, monkeypatch):
    monkeypatch.setattr('ansible_collections.lanman.server.plugins.module_utils._open_files._SETTLE_SECONDS', 0)
    served.transport.close_files = lambda file_ids: iter([None] * len(file_ids))  # "closed", yet still there
    result = close(file_id=12)
    assert result['closed'] == [] and [rec['id'] for rec in result['not_closed']] == [12]
    assert result['changed'] is False and 'still lists them' in result['warnings'][0]


# ---- bad input: refused before anything is sent ----------------------------------------------

@pytest.mark.parametrize('given, option, fragment', [
    ({}, 'file_id', 'needs file_id, path, path_prefix or username'),
    ({'file_id': -1}, 'file_id', 'out of range'),
    ({'file_id': 2 ** 32}, 'file_id', 'out of range'),
    ({'path': ''}, 'path', 'must not be empty'),
    ({'path': '   '}, 'path', 'must not be empty'),
    ({'path': 'D:\\a\x00b'}, 'path', 'control character, NUL'),
    ({'path_prefix': 'D:\\a\nb'}, 'path_prefix', 'control character, NUL'),
    ({'path_prefix': ' D:\\a'}, 'path_prefix', 'white space'),
    ({'username': ''}, 'username', 'must not be empty'),
    ({'username': 'a\x07b'}, 'username', 'control character'),
    ({'path': BUDGET, 'max_files': 0}, 'max_files', 'below 1'),
])
def test_bad_input_is_refused_naming_the_option(served, given, option, fragment):
    result = close(**given)
    assert result['failed'] is True and result['option'] == option and fragment in result['msg']
    assert served.transport.calls == []
