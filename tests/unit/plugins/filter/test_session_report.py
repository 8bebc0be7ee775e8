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
                                'clients': 2, 'open_files': 3}
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
