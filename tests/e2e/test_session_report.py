"""roles/session_report against real Samba servers and one server that cannot be reached."""

from __future__ import annotations

import csv
import json
import re
import sys
import uuid
from pathlib import PurePosixPath

import pytest
from markupsafe import escape

from tests.e2e.browser import render
from tests.e2e.conftest import ADMIN, REPO, USERS, mine
from tests.lab.holder import FileSpec, SessionHolder, SessionSpec


@pytest.fixture
def hold_files(clients):
    """Hold sessions with chosen open files: (client host number, user, FileSpecs); returns the
    holder (its file_names give each session's files), stopped after the test."""
    holders = []

    def hold(server, specs):
        holder = SessionHolder(server.address, 445, [
            SessionSpec(clients.address(host), user, USERS[user], files=tuple(files)) for host, user, files in specs])
        holders.append(holder)
        holder.start()
        return holder

    yield hold
    for holder in holders:
        holder.stop()


def samba_path(server, name):
    """A share-relative name as Samba reports it in netfile_info's path."""
    return 'C:' + str(server.samba.share_path / PurePosixPath(*name.split('\\'))).replace('/', '\\')


def test_report_of_two_servers_and_a_failing_one(servers, clients, hold_files, playbook, tmp_path):
    fs1, fs2 = servers
    tag = uuid.uuid4().hex[:8]
    odd = f"R&D {{{{ 40 + 2 }}}} 'q' {tag}.txt"  # &, quotes and braces: escaped in HTML, never templated
    # alice has sessions from two clients on fs1: the server cannot say which one holds her
    # files, which the report puts down to her only; bob's one session holds his.
    on_fs1 = hold_files(fs1, [(1, 'alice', [FileSpec(odd, 'read', locks=2), FileSpec()]), (2, 'alice', []),
                              (3, 'bob', [FileSpec(f'sub-{tag}/b;o,b.txt')])])
    on_fs2 = clients.hold(fs2, [(4, 'alice', 1)])
    inv = tmp_path / 'estate.ini'
    inv.write_text(
        '[fileservers]\n'
        f'fs1 ansible_host={fs1.address}\n'
        f'fs2 ansible_host={fs2.address} files_port=4459\n'
        f'broken ansible_host={fs1.address} smb_port=4459\n\n'
        f'[fileservers:vars]\nansible_user={ADMIN[0]}\nansible_password={ADMIN[1]}\n')
    out = tmp_path / 'report'
    # fs2's open files cannot be listed (nothing answers on the port its file listing uses):
    # its sessions are reported all the same.
    play = f'''
- hosts: fileservers
  gather_facts: false
  module_defaults:
    group/lanman.server.netsession:
      port: "{{{{ smb_port | default(445) }}}}"
    lanman.server.netfile_info:
      port: "{{{{ files_port | default(smb_port) | default(445) }}}}"
  roles:
    - role: lanman.server.session_report
      session_report_dir: {out}
      session_report_title: Lab estate
'''
    run = playbook(inv, play)
    assert run.rc == 0, run.output

    report = json.loads((out / 'sessions.json').read_text())
    held = [(spec.source_address, spec.username) for spec in on_fs1.sessions]
    assert mine(report['sessions'], clients) == sorted(held + on_fs2)
    assert [s['host'] for s in report['servers']] == ['fs1', 'fs2']
    assert [(f['host'], f['code_name']) for f in report['failed']] == [('broken', 'ERROR_BAD_NETPATH')]
    assert [(f['host'], f['code_name']) for f in report['files_failed']] == [('fs2', 'ERROR_BAD_NETPATH')]
    totals = report['totals']
    assert (totals['servers'], totals['servers_failed'], totals['servers_files_failed']) == (2, 1, 1)
    assert totals['sessions'] == len(report['sessions']) == sum(s['sessions'] for s in report['servers'])
    alice = next(u for u in report['users'] if u['username'] == 'alice')
    assert alice['servers'] == ['fs1', 'fs2'] and alice['sessions'] >= 3

    # The open files: per session, per user and in the totals.
    alice_paths = [samba_path(fs1, name) for name in on_fs1.file_names(0)]
    bob_path = samba_path(fs1, on_fs1.file_names(2)[0])
    assert "{{ 40 + 2 }}" in alice_paths[0]
    files = {f['path']: f for f in report['files'] if f['path'] in alice_paths + [bob_path]}
    assert {path: (f['host'], f['username'], f['client'], f['attribution'], f['locks'])
            for path, f in files.items()} == {
        alice_paths[0]: ('fs1', 'alice', None, 'user', 2), alice_paths[1]: ('fs1', 'alice', None, 'user', 0),
        bob_path: ('fs1', 'bob', clients.address(3), 'session', 0)}
    assert files[alice_paths[0]]['permission_names'] == ['read']
    assert totals['listed_files'] == len(report['files']) == report['servers'][0]['listed_files'] >= 3
    assert totals['locks'] == sum(f['locks'] for f in report['files']) >= 2
    assert totals['files_per_user_only'] == sum(f['attribution'] == 'user' for f in report['files']) >= 2
    assert report['servers'][1]['listed_files'] is None  # fs2: not listed
    sessions = {(s['client'], s['username']): s for s in report['sessions']}
    bob_session = sessions[(clients.address(3), 'bob')]
    assert [f['path'] for f in bob_session['files']] == [bob_path] and bob_session['user_files'] == []
    for host in (1, 2):
        alice_session = sessions[(clients.address(host), 'alice')]
        assert alice_session['files'] == [] and sorted(f['path'] for f in alice_session['user_files']) == sorted(alice_paths)
    assert sessions[(clients.address(4), 'alice')]['files'] is None  # fs2's files were not listed
    assert set(alice_paths) <= {f['path'] for f in alice['files']} and alice['listed_files'] >= 2

    rows = list(csv.DictReader((out / 'sessions.csv').open()))
    assert len(rows) == totals['sessions']
    mine_rows = {(r['client'], r['username']): r for r in rows if r['client'].startswith(f'127.0.{clients.block}.')}
    first = mine_rows[(clients.address(1), 'alice')]
    assert first['open_files'] == '2' and first['guest'] == 'False'
    assert (first['listed_files'], first['files'], first['user_files']) == ('0', '', '2')
    assert mine_rows[(clients.address(3), 'bob')]['files'] == bob_path
    assert mine_rows[(clients.address(4), 'alice')]['listed_files'] == ''  # not listed on fs2
    file_rows = list(csv.DictReader((out / 'files.csv').open()))
    assert len(file_rows) == totals['listed_files']
    odd_row = next(r for r in file_rows if r['path'] == alice_paths[0])
    assert (odd_row['host'], odd_row['username'], odd_row['client'], odd_row['attribution'], odd_row['locks'],
            odd_row['permission_names']) == ('fs1', 'alice', '', 'user', '2', 'read')

    page = (out / 'sessions.html').read_text()
    assert '<title>Lab estate</title>' in page and 'failed: ' in page
    assert f'>{totals["sessions"]} sessions<' in page
    assert f'>{totals["listed_files"]} files listed<' in page and f'>{totals["locks"]} locks<' in page
    assert '>1 servers\' files not listed<' in page
    assert 'fs2: open files could not be listed: ERROR_BAD_NETPATH' in page
    assert 'not listed: ERROR_BAD_NETPATH</td>' in page
    files_table = page[page.index('<table id="files"'):]
    assert f'<td class="paths">{escape(alice_paths[0])}</td>' in files_table
    assert 'R&amp;D {{ 40 + 2 }} &#39;q&#39;' in page and "R&D {{" not in page
    assert f'<td>{clients.address(3)}</td><td class="paths">{escape(bob_path)}</td>' in files_table
    assert 'not known (per user only)' in files_table
    assert 'http://' not in page.replace('http://www.w3.org/2000/svg', '')  # nothing fetched
    assert ADMIN[1] not in run.output + page


def test_role_variables_are_validated(servers, playbook, tmp_path):
    inv = tmp_path / 'one.ini'
    inv.write_text(f'fs1 ansible_host={servers[0].address} ansible_user={ADMIN[0]} ansible_password={ADMIN[1]}\n')
    play = '''
- hosts: fs1
  gather_facts: false
  roles:
    - role: lanman.server.session_report
      session_report_formats: [pdf]
'''
    run = playbook(inv, play)
    assert run.rc != 0
    assert 'session_report_formats' in run.output and 'pdf' in run.output
    assert not (tmp_path / 'session-report').exists()


def test_html_report_in_a_browser(servers, clients, hold_files, playbook, tmp_path):
    clients.hold(servers[0], [(1, 'alice', 2), (2, 'bob', 0)])
    carol = hold_files(servers[0], [(3, 'carol', [FileSpec(f"carol's & co {uuid.uuid4().hex[:8]}.txt", locks=1)])])
    inv = tmp_path / 'one.ini'
    inv.write_text(f'fs1 ansible_host={servers[0].address} ansible_user={ADMIN[0]} ansible_password={ADMIN[1]}\n'
                   f'down ansible_host=127.0.0.254 ansible_user={ADMIN[0]} ansible_password={ADMIN[1]}\n')
    out = tmp_path / 'report'
    run = playbook(inv, f'''
- hosts: all
  gather_facts: false
  module_defaults:
    group/lanman.server.netsession:
      connect_timeout: 2
  roles:
    - role: lanman.server.session_report
      session_report_dir: {out}
''')
    assert run.rc == 0, run.output
    report = json.loads((out / 'sessions.json').read_text())
    dom, console = render(out / 'sessions.html', screenshot=tmp_path / 'report.png')
    assert console == []  # no script error, nothing logged
    table = dom[dom.index('<table id="sessions"'):dom.index('<table id="files"')]
    rows = re.findall(r'<tr(?: class="[\w-]+")?><td>fs1</td><td>(127\.0\.[0-9.]+)</td><td>(\w*)</td>', table)
    assert len(rows) == report['totals']['sessions'] == len(report['sessions'])
    assert (clients.address(1), 'alice') in rows and (clients.address(2), 'bob') in rows
    assert f'{report["totals"]["sessions"]} sessions</span>' in dom
    assert '1 servers failed' in dom and '<tr class="failed"><td>down</td>' in dom
    assert dom.count('<rect ') == 1  # one bar: the one server that answered
    assert f'Generated {report["generated_at"]["utc"]} (UTC)' in dom
    busiest = report['highlights']['most_open_files']
    assert busiest['open_files'] >= 2 and f'<li id="most-open-files">Most open files: {busiest["username"]}' in dom
    assert dom.count('<tr class="most-files">') == 1
    assert report['highlights']['longest_idle'] is None  # Samba reports every session as idle 0 s
    # The open files' own table: one row per file listed, carol's put down to her one session.
    files_table = dom[dom.index('<table id="files" class="sortable">'):]
    assert files_table.count('<tr><td>fs1</td>') == report['totals']['listed_files'] >= 3
    carol_path = samba_path(servers[0], carol.file_names(0)[0])
    row = f'<tr><td>fs1</td><td>carol</td><td>{clients.address(3)}</td><td class="paths">{{}}</td><td>read, write</td><td>1</td>'
    assert row.format(escape(carol_path)) in (out / 'sessions.html').read_text()
    assert row.format(carol_path.replace('&', '&amp;')) in files_table  # as the browser writes the text out
    assert f'<span id="total-listed-files">{report["totals"]["listed_files"]} files listed</span>' in dom
    assert (tmp_path / 'report.png').stat().st_size > 10000


def test_html_escapes_file_paths(playbook, tmp_path):
    """Paths come from the server: <, & and quotes (which Windows and Samba allow in some
    places, and SMB clients cannot create on the lab) are shown as text, never as markup."""
    path = 'C:\\x\\<img src=x onerror="console.log(1)"> & \'q\'.txt'
    inv = tmp_path / 'local.ini'
    inv.write_text(f'localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n')
    session = {'client': 'c1', 'username': '<b>eve</b>', 'domain': None, 'open_files': 1, 'active_seconds': 1,
               'idle_seconds': 0, 'guest': False, 'password_encrypted': True, 'client_type': None, 'transport': None}
    file = {'id': 1, 'path': path, 'username': '<b>eve</b>', 'domain': None, 'permissions': 1,
            'permission_names': ['read'], 'locks': 0, 'client': 'c1'}
    out = tmp_path / 'sessions.html'
    run = playbook(inv, f'''
- hosts: localhost
  gather_facts: false
  vars:
    session_report_title: Escaping
  tasks:
    - name: Register what netsession_info and netfile_info would
      ansible.builtin.set_fact:
        sessions_result: {json.dumps({'server': 's', 'backend': 'smb', 'level': 1, 'sessions': [session]})}
        files_result: {json.dumps({'server': 's', 'files': [file]})}
    - name: Aggregate
      ansible.builtin.set_fact:
        _session_report_data: "{{{{ hostvars | lanman.server.session_report(['localhost'], 'sessions_result', 'files_result') }}}}"
    - name: Write the page
      ansible.builtin.template:
        src: {REPO / 'roles/session_report/templates/sessions.html.j2'}
        dest: {out}
        mode: "0644"
''')
    assert run.rc == 0, run.output
    page = out.read_text()
    assert '<img' not in page and '<b>eve' not in page
    assert f'<td class="paths">{escape(path)}</td>' in page  # in the session's cell and the files table
    assert page.count(str(escape(path))) == 2
    dom, console = render(out)
    assert console == [] and '<img' not in dom


def test_report_without_open_files(servers, clients, playbook, tmp_path):
    clients.hold(servers[0], [(1, 'alice', 1)])
    inv = tmp_path / 'one.ini'
    inv.write_text(f'fs1 ansible_host={servers[0].address} ansible_user={ADMIN[0]} ansible_password={ADMIN[1]}\n')
    out = tmp_path / 'report'
    run = playbook(inv, f'''
- hosts: fs1
  gather_facts: false
  roles:
    - role: lanman.server.session_report
      session_report_dir: {out}
      session_report_open_files: false
''')
    assert run.rc == 0, run.output
    assert [item['status'] for item in run.results
            if item['task'].endswith('List the open files of each file server')] == ['skipped']
    report = json.loads((out / 'sessions.json').read_text())
    assert report['files_listed'] is False and report['files'] == [] and report['files_failed'] == []
    assert report['totals']['open_files'] >= 1 and report['servers'][0]['listed_files'] is None
    assert not (out / 'files.csv').exists()
    assert 'Open files were not listed.' in (out / 'sessions.html').read_text()


def test_browser_check_sees_script_errors(tmp_path):
    broken = tmp_path / 'broken.html'
    broken.write_text('<html><body><script>undefinedFunction();</script></body></html>')
    _dom, console = render(broken)
    assert any('undefinedFunction' in message for message in console)
