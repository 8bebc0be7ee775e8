"""The session_report filter's aggregation (plugins/filter/session_report.py)."""

from __future__ import annotations

from ansible_collections.lanman.server.plugins.filter.session_report import session_report


def rec(client, username, open_files=0):
    return {'client': client, 'username': username, 'open_files': open_files, 'active_seconds': 5,
            'idle_seconds': 0, 'guest': False, 'password_encrypted': True, 'client_type': None, 'transport': None}


HOSTVARS = {
    'fs1': {'r': {'server': '10.9.0.1', 'backend': 'smb', 'level': 1,
                  'sessions': [rec('c1', 'alice', 2), rec('c2', 'Bob'), rec('c1', 'ALICE')]}},
    'fs2': {'r': {'server': 'fs2.example.com', 'backend': 'winrm', 'level': 502,
                  'sessions': [rec('C1', 'bob', 1)]}},
    'down': {'r': {'failed': True, 'server': 'down', 'msg': 'connect failed', 'code': 53,
                   'code_name': 'ERROR_BAD_NETPATH'}},
    'early': {},
}


def test_totals_and_summaries():
    report = session_report(HOSTVARS, ['fs1', 'fs2', 'down', 'early'], 'r')
    assert report['totals'] == {'servers': 2, 'servers_failed': 2, 'sessions': 4, 'users': 2,
                                'clients': 2, 'open_files': 3, 'listed_files': 0, 'files_per_user_only': 0,
                                'locks': 0, 'servers_files_failed': 0}
    assert [(s['host'], s['sessions'], s['users'], s['clients']) for s in report['servers']] == [
        ('fs1', 3, 2, 2), ('fs2', 1, 1, 1)]
    assert [(u['username'], u['sessions'], u['servers']) for u in report['users']] == [
        ('alice', 2, ['fs1']), ('Bob', 2, ['fs1', 'fs2'])]
    assert [(f['host'], f['code']) for f in report['failed']] == [('down', 53), ('early', None)]
    assert report['failed'][1]['error'].startswith('no result')
    assert {row['host'] for row in report['sessions']} == {'fs1', 'fs2'}


def test_a_user_counts_once_whether_reported_bare_or_with_a_domain():
    hostvars = {
        'win': {'r': {'server': 'w', 'sessions': [dict(rec('c1', 'user1'), domain=None)]}},
        'ad': {'r': {'server': 'a', 'sessions': [dict(rec('c2', 'USER1'), domain='LAB')]}},
    }
    report = session_report(hostvars, ['win', 'ad'], 'r')
    assert report['totals']['users'] == 1
    assert [(u['username'], u['domain'], u['sessions']) for u in report['users']] == [
        ('user1', 'LAB', 2)]


def test_generated_at_and_highlights():
    import datetime
    made = datetime.datetime(2026, 11, 29, 3, 4, 5, tzinfo=datetime.UTC)
    hostvars = {'fs1': {'r': {'server': 's', 'sessions': [
        dict(rec('c1', 'alice', 1), idle_seconds=7500, domain=None),
        dict(rec('c2', 'bob', 4), idle_seconds=10, domain=None)]}}}
    report = session_report(hostvars, ['fs1'], 'r', now=made)
    assert report['generated_at']['utc'] == '2026-11-29T03:04:05+00:00'
    assert report['generated_at']['local'].startswith('2026-11-29T')
    assert report['highlights']['longest_idle']['username'] == 'alice'
    assert report['highlights']['most_open_files']['username'] == 'bob'
    quiet = session_report({'fs1': {'r': {'server': 's', 'sessions': []}}}, ['fs1'], 'r', now=made)
    assert quiet['highlights'] == {'longest_idle': None, 'most_open_files': None}


def test_durations_read_as_a_person_reads_them():
    from ansible_collections.lanman.server.plugins.filter.session_report import duration
    assert [duration(value) for value in (None, 0, 45, 185, 7500, 277200, -3)] == [
        '', '0 s', '45 s', '3 m 05 s', '2 h 05 m', '3 d 05 h', '0 s']


def frec(file_id, path, username, client, locks=0, domain=None):
    return {'id': file_id, 'path': path, 'username': username, 'domain': domain, 'permissions': 3,
            'permission_names': ['read', 'write'], 'locks': locks, 'client': client}


def with_files(hostvars, files):
    """``hostvars`` with a netfile_info result under 'f' for every host named in ``files``."""
    return {host: dict(values, **({'f': files[host]} if host in files else {}))
            for host, values in hostvars.items()}


FILES = {
    # alice has two sessions from c1 on fs1: her files there are put down to her only.
    'fs1': {'server': '10.9.0.1', 'files': [frec(7, 'C:\\srv\\a<b>&"c\'.txt', 'alice', None, locks=2),
                                            frec(8, 'C:\\srv\\bob.txt', 'bob', 'c2')]},
    # bob's one session on fs2 holds his file; carol has no session, only a durable handle.
    'fs2': {'server': 'fs2.example.com', 'files': [frec(9, 'D:\\x.txt', 'BOB', 'c1', locks=1),
                                                   frec(10, 'D:\\durable.txt', 'carol', None)]},
}


def test_files_per_session_per_user_and_in_the_totals():
    report = session_report(with_files(HOSTVARS, FILES), ['fs1', 'fs2', 'down', 'early'], 'r', 'f')
    assert report['files_listed'] is True
    assert report['totals'] == {'servers': 2, 'servers_failed': 2, 'sessions': 4, 'users': 2, 'clients': 2,
                                'open_files': 3, 'listed_files': 4, 'files_per_user_only': 2, 'locks': 3,
                                'servers_files_failed': 0}
    assert [(s['host'], s['listed_files'], s['locks']) for s in report['servers']] == [('fs1', 2, 2), ('fs2', 2, 1)]
    assert report['files_failed'] == []
    alice1, bob, alice2 = report['sessions'][:3]
    assert alice1['files'] == alice2['files'] == []
    assert [f['id'] for f in alice1['user_files']] == [f['id'] for f in alice2['user_files']] == [7]
    assert bob['files'] == [{'id': 8, 'path': 'C:\\srv\\bob.txt', 'permissions': 3,
                             'permission_names': ['read', 'write'], 'locks': 0}]
    assert bob['user_files'] == []
    assert [f['id'] for f in report['sessions'][3]['files']] == [9]
    assert [(f['id'], f['host'], f['server'], f['attribution']) for f in report['files']] == [
        (7, 'fs1', '10.9.0.1', 'user'), (8, 'fs1', '10.9.0.1', 'session'),
        (9, 'fs2', 'fs2.example.com', 'session'), (10, 'fs2', 'fs2.example.com', 'user')]
    users = {u['username']: u for u in report['users']}
    assert [(u['username'], u['sessions'], u['listed_files']) for u in report['users']] == [
        ('alice', 2, 1), ('Bob', 2, 2), ('carol', 0, 1)]
    assert [f['id'] for f in users['Bob']['files']] == [8, 9] and users['carol']['servers'] == ['fs2']
    # Per client: only the files put down to one of its sessions.
    assert [(c['client'], c['listed_files']) for c in report['clients']] == [('c1', 1), ('c2', 1)]


def test_a_host_whose_files_cannot_be_listed_is_reported_with_its_sessions():
    files = dict(FILES, fs2={'failed': True, 'server': 'fs2.example.com', 'msg': 'NetrFileEnum failed',
                             'code': 5, 'code_name': 'ERROR_ACCESS_DENIED'})
    report = session_report(with_files(HOSTVARS, files), ['fs1', 'fs2', 'down'], 'r', 'f')
    assert [s['host'] for s in report['servers']] == ['fs1', 'fs2']
    assert report['totals']['sessions'] == 4 and report['totals']['listed_files'] == 2
    assert report['totals']['servers_files_failed'] == 1
    assert report['files_failed'] == [{'host': 'fs2', 'server': 'fs2.example.com', 'error': 'NetrFileEnum failed',
                                       'code': 5, 'code_name': 'ERROR_ACCESS_DENIED'}]
    assert [(s['host'], s['listed_files'], s['locks']) for s in report['servers']] == [('fs1', 2, 2), ('fs2', None, None)]
    assert [s['files'] for s in report['sessions'] if s['host'] == 'fs2'] == [None]
    # A host that failed altogether is not said to have failed its files as well.
    assert [f['host'] for f in report['failed']] == ['down']
    missing = session_report(HOSTVARS, ['fs1'], 'r', 'f')
    assert missing['files_failed'][0]['error'].startswith('no result') and missing['files_failed'][0]['server'] == '10.9.0.1'


def test_without_a_files_variable_no_file_is_reported():
    report = session_report(with_files(HOSTVARS, FILES), ['fs1', 'fs2'], 'r')
    assert report['files_listed'] is False and report['files'] == [] and report['files_failed'] == []
    assert report['totals']['listed_files'] == 0 and report['totals']['servers_files_failed'] == 0
    assert {s['listed_files'] for s in report['servers']} == {None}
    assert all(s['files'] is None and s['user_files'] is None for s in report['sessions'])
