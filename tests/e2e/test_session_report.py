"""roles/session_report against real Samba servers and one server that cannot be reached."""

from __future__ import annotations

import csv
import json
import re

from tests.e2e.browser import render
from tests.e2e.conftest import ADMIN, mine


def test_report_of_two_servers_and_a_failing_one(servers, clients, playbook, tmp_path):
    fs1, fs2 = servers
    on_fs1 = clients.hold(fs1, [(1, 'alice', 2), (2, 'bob', 0)])
    on_fs2 = clients.hold(fs2, [(3, 'alice', 1)])
    inv = tmp_path / 'estate.ini'
    inv.write_text(
        '[fileservers]\n'
        f'fs1 ansible_host={fs1.address}\n'
        f'fs2 ansible_host={fs2.address}\n'
        f'broken ansible_host={fs1.address} smb_port=4459\n\n'
        f'[fileservers:vars]\nansible_user={ADMIN[0]}\nansible_password={ADMIN[1]}\n')
    out = tmp_path / 'report'
    play = f'''
- hosts: fileservers
  gather_facts: false
  module_defaults:
    group/lanman.server.netsession:
      port: "{{{{ smb_port | default(445) }}}}"
  roles:
    - role: lanman.server.session_report
      session_report_dir: {out}
      session_report_title: Lab estate
'''
    run = playbook(inv, play)
    assert run.rc == 0, run.output

    report = json.loads((out / 'sessions.json').read_text())
    assert mine(report['sessions'], clients) == sorted(on_fs1 + on_fs2)
    assert [s['host'] for s in report['servers']] == ['fs1', 'fs2']
    assert [(f['host'], f['code_name']) for f in report['failed']] == [('broken', 'ERROR_BAD_NETPATH')]
    totals = report['totals']
    assert (totals['servers'], totals['servers_failed']) == (2, 1)
    assert totals['sessions'] == len(report['sessions']) == sum(s['sessions'] for s in report['servers'])
    alice = next(u for u in report['users'] if u['username'] == 'alice')
    assert alice['servers'] == ['fs1', 'fs2'] and alice['sessions'] >= 2

    rows = list(csv.DictReader((out / 'sessions.csv').open()))
    assert len(rows) == totals['sessions']
    mine_rows = [r for r in rows if r['client'] == clients.address(1)]
    assert mine_rows[0]['open_files'] == '2' and mine_rows[0]['guest'] == 'False'

    page = (out / 'sessions.html').read_text()
    assert '<title>Lab estate</title>' in page and 'failed: ' in page
    assert f'>{totals["sessions"]} sessions<' in page
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


def test_html_report_in_a_browser(servers, clients, playbook, tmp_path):
    clients.hold(servers[0], [(1, 'alice', 2), (2, 'bob', 0)])
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
    table = dom[dom.index('<table id="sessions">'):]
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
    assert (tmp_path / 'report.png').stat().st_size > 10000


def test_browser_check_sees_script_errors(tmp_path):
    broken = tmp_path / 'broken.html'
    broken.write_text('<html><body><script>undefinedFunction();</script></body></html>')
    _dom, console = render(broken)
    assert any('undefinedFunction' in message for message in console)
