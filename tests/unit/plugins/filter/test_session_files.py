"""The session_files and held_by filters (plugins/filter/session_files.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lanman.server.plugins.filter.session_files import held_by, session_files


def srec(client, username, domain=None):
    return {'client': client, 'username': username, 'domain': domain, 'open_files': 1}


def frec(file_id, username, client, domain=None):
    return {'id': file_id, 'path': f'C:\\srv\\{file_id}.txt', 'username': username, 'domain': domain,
            'permissions': 1, 'permission_names': ['read'], 'locks': 0, 'client': client}


def ids(records):
    return [record['id'] for record in records]


def test_a_file_goes_to_the_one_session_of_its_client_and_user():
    sessions = [srec('10.0.0.1', 'alice'), srec('10.0.0.2', 'bob'), srec('10.0.0.1', 'bob')]
    got = session_files(sessions, [frec(1, 'ALICE', '10.0.0.1'), frec(2, 'bob', None), frec(3, 'carol', '10.0.0.1')])
    assert [(ids(s['files']), ids(s['user_files'])) for s in got] == [([1], []), ([], [2]), ([], [2])]
    assert got[0]['client'] == '10.0.0.1' and 'files' not in sessions[0]  # copies, input untouched


def test_client_names_compare_without_case_or_ipv6_brackets():
    got = session_files([srec('[FE80::1]', 'alice'), srec('PC7', 'bob')],
                        [frec(1, 'alice', 'fe80::1'), frec(2, 'bob', 'pc7')])
    assert [ids(s['files']) for s in got] == [[1], [2]]


def test_two_sessions_of_one_user_from_one_client_share_the_file_per_user():
    got = session_files([srec('c1', 'alice'), srec('c1', 'alice'), srec('c2', 'alice')], [frec(1, 'alice', 'c1')])
    assert [(ids(s['files']), ids(s['user_files'])) for s in got] == [([], [1]), ([], [1]), ([], [1])]


def test_a_file_of_a_session_not_listed_goes_nowhere():
    """Drained by client: alice's file from another client is not one of these sessions'."""
    got = session_files([srec('c1', 'alice')], [frec(1, 'alice', 'c9')])
    assert got[0]['files'] == got[0]['user_files'] == []


def test_domains_must_agree_when_both_are_reported():
    sessions = [srec('c1', 'user1', 'LAB'), srec('c2', 'user1', 'OTHER'), srec('c3', 'user2')]
    files = [frec(1, 'user1', 'c1', 'lab.test'), frec(2, 'user1', 'c2', 'LAB'), frec(3, 'user2', 'c3', 'LAB'),
             frec(4, 'user1', None, 'LAB')]
    got = session_files(sessions, files)
    assert [(ids(s['files']), ids(s['user_files'])) for s in got] == [([1], [4]), ([], []), ([3], [])]


def test_no_files_and_wrong_input():
    assert session_files([srec('c1', 'alice')], None) == [dict(srec('c1', 'alice'), files=[], user_files=[])]
    assert session_files([], [frec(1, 'alice', None)]) == []
    with pytest.raises(AnsibleFilterError, match='list of sessions'):
        session_files({'sessions': []}, [])


def test_held_by_selects_users_and_optionally_a_client():
    files = [frec(1, 'carol', 'c1'), frec(2, 'Carol', None), frec(3, 'alice', 'c1'), frec(4, 'backup', 'C2', 'LAB')]
    assert ids(held_by(files, ['carol'])) == [1, 2]
    assert ids(held_by(files, ['CAROL', 'lab\\backup'])) == [1, 2, 4]
    assert ids(held_by(files, 'carol', 'C1')) == [1]  # unknown client: left out
    assert ids(held_by(files, ['backup@lab.test'], 'c2')) == [4]
    assert held_by(files, []) == []
    with pytest.raises(AnsibleFilterError, match='held_by'):
        held_by(files, [' carol'])
