"""Both modules through Ansible against a real Samba AD domain controller, over NTLM and Kerberos.

The DC (dc1.lab.test, 127.0.50.1) runs in a network namespace of its own (tests/lab/domain.py);
Ansible runs inside it too, with the domain's krb5.conf. The inventory names the host by its
FQDN and connects by IP, as most inventories do: the action plugin takes the Kerberos host name
from the inventory name. Sessions are held by domain users over NTLM and over Kerberos, from
distinct client addresses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import ansible_runner
import pytest

from tests.e2e.conftest import BIN, REPO, mine
from tests.lab import domain as ad

INFO = 'lanman.server.netsession_info'
DELETE = 'lanman.server.netsession_delete'
ACCOUNTS = {account.name: account for account in ad.ACCOUNTS}
# How the connection logs on: over NTLM with DOMAIN\user, over Kerberos with user@REALM and a
# password, and over Kerberos from a ticket cache that holds only a TGT (kinit, as AWX does),
# with no password anywhere.
MODES = ('ntlm', 'kerberos-password', 'kerberos-ticket-cache')


def domain_inventory(tmp_path: Path, name: str, mode: str, *, host_name: str = ad.DC_FQDN,
                     address: str = ad.DC_ADDRESS) -> Path:
    account = ACCOUNTS[name]
    lines = ['[domain]', f'{host_name} ansible_host={address}', '', '[domain:vars]',
             'ansible_connection=ssh', 'ansible_port=2222']
    if mode == 'ntlm':
        lines += [f'ansible_user={ad.DOMAIN}\\{name}', f'ansible_password={account.password}']
    elif mode == 'kerberos-password':
        lines += [f'ansible_user={name}@{ad.REALM}', f'ansible_password={account.password}']
    else:
        lines += [f'ansible_user={name}']
    path = tmp_path / f'inventory-{name}-{mode}.ini'
    path.write_text('\n'.join(lines) + '\n')
    return path


def mode_env(domain: ad.DomainController, tmp_path: Path, name: str, mode: str) -> dict[str, str]:
    """KRB5CCNAME for the ticket-cache mode: a cache from kinit holding only the TGT."""
    if mode != 'kerberos-ticket-cache':
        return {}
    cache = domain.kinit(ACCOUNTS[name], tmp_path / f'{name}.cc')
    listed = domain.run(['klist', '-c', str(cache)])
    assert f'krbtgt/{ad.REALM}@{ad.REALM}' in listed and 'cifs/' not in listed
    return {'KRB5CCNAME': f'FILE:{cache}'}


def auth_args(mode: str) -> str:
    return '' if mode == 'ntlm' else 'auth=kerberos'


def play(tasks: str, mode: str) -> str:
    defaults = '' if mode == 'ntlm' else '''
  module_defaults:
    group/lanman.server.netsession:
      auth: kerberos'''
    return f'''
- hosts: domain
  gather_facts: false{defaults}
  tasks:
{tasks}'''


def shape(records: list[dict], clients) -> list[tuple[str, str, str | None]]:
    prefix = f'127.0.{clients.block}.'
    return sorted((rec['client'], rec['username'], rec['domain']) for rec in records
                  if rec['client'].startswith(prefix))


def listed_after_close(domain_ansible, inv, env, mode, clients, gone):
    """This test's sessions, once the closed ones are gone (Samba ends a closed session's
    connection a moment after NetrSessionDel returns); bounded to 5 s."""
    deadline = time.monotonic() + 5
    while True:
        run = domain_ansible(inv, INFO, auth_args(mode), pattern='domain', env=env)
        assert run.rc == 0, run.output
        listed = mine(run.by_host()[ad.DC_FQDN]['sessions'], clients)
        if not set(gone) & set(listed) or time.monotonic() > deadline:
            return listed
        time.sleep(0.2)


@pytest.mark.parametrize('mode', MODES)
def test_list_filter_close_check_mode_and_idempotence(domain, domain_clients, domain_playbook,
                                                      domain_ansible, tmp_path, mode):
    c = domain_clients
    c.hold([(1, 'user1', 2, 'ntlm'), (2, 'user1', 0, 'kerberos'), (1, 'user2', 0, 'ntlm'),
            (3, 'user3', 0, 'kerberos')])
    inv = domain_inventory(tmp_path, 'labadmin', mode)
    env = mode_env(domain, tmp_path, 'labadmin', mode)
    tasks = '\n'.join(f'''    - name: {name}
      {module}: {args}
      check_mode: {str(check).lower()}''' for name, module, args, check in [
        ('list all', INFO, '{}', False),
        ('list bare', INFO, '{username: USER1}', False),
        ('list netbios', INFO, "{username: 'lab\\user1'}", False),
        ('list upn', INFO, '{username: user1@LAB.TEST}', False),
        ('list other domain', INFO, "{username: 'OTHER\\user1'}", False),
        ('close check', DELETE, "{username: 'LAB\\user1'}", True),
        ('close', DELETE, '{username: user1@lab.test}', False),
        ('close again', DELETE, '{username: user1@lab.test}', False),
    ])
    run = domain_playbook(inv, play(tasks, mode), env=env)
    assert run.rc == 0, run.output
    result = {name: run.task(name)[ad.DC_FQDN] for name in (
        'list all', 'list bare', 'list netbios', 'list upn', 'list other domain', 'close check',
        'close', 'close again')}
    user1 = [(c.address(1), 'user1', 'LAB'), (c.address(2), 'user1', 'LAB')]
    everyone = sorted(user1 + [(c.address(1), 'user2', 'LAB'), (c.address(3), 'user3', 'LAB')])
    assert shape(result['list all']['sessions'], c) == everyone
    files = {(rec['client'], rec['username']): rec['open_files'] for rec in result['list all']['sessions']}
    assert files[(c.address(1), 'user1')] == 2
    # The module's own session (labadmin from 127.0.0.1) is recognised and left out.
    assert not [rec for rec in result['list all']['sessions'] if rec['username'] == 'labadmin']
    for name in ('list bare', 'list netbios', 'list upn'):
        assert shape(result[name]['sessions'], c) == user1, name
    assert shape(result['list other domain']['sessions'], c) == []
    assert result['close check']['changed'] is True
    assert shape(result['close check']['closed'], c) == user1
    assert result['close']['changed'] is True
    assert shape(result['close']['closed'], c) == user1
    assert result['close again']['changed'] is False
    assert shape(result['close again']['closed'], c) == []
    # Exactly user1's sessions are gone, from both clients; user2 on the same client stays.
    left = listed_after_close(domain_ansible, inv, env, mode, c, [(c.address(1), 'user1')])
    assert left == [(c.address(1), 'user2'), (c.address(3), 'user3')]


@pytest.mark.parametrize('mode', MODES)
def test_rights_of_a_builtin_administrator_and_a_plain_user(domain, domain_clients, domain_ansible,
                                                            tmp_path, mode):
    domain_clients.hold([(1, 'user2', 0, 'ntlm')])
    pair = [(domain_clients.address(1), 'user2')]
    operator = domain_inventory(tmp_path, 'laboper', mode)
    operator_env = mode_env(domain, tmp_path, 'laboper', mode)
    listing = domain_ansible(operator, INFO, auth_args(mode), pattern='domain', env=operator_env)
    assert listing.rc == 0, listing.output
    assert mine(listing.by_host()[ad.DC_FQDN]['sessions'], domain_clients) == pair
    close = domain_ansible(operator, DELETE, f'{auth_args(mode)} username=LAB\\user2'.strip(),
                           pattern='domain', env=operator_env)
    result = close.by_host()[ad.DC_FQDN]
    assert close.rc != 0 and result['code'] == 5 and result['code_name'] == 'ERROR_ACCESS_DENIED'
    assert mine(result['not_closed'], domain_clients) == pair and result['changed'] is False

    plain = domain_inventory(tmp_path, 'user3', mode)
    denied = domain_ansible(plain, INFO, auth_args(mode), pattern='domain',
                            env=mode_env(domain, tmp_path, 'user3', mode))
    assert denied.rc != 0 and denied.by_host()[ad.DC_FQDN]['code'] == 5


@pytest.mark.parametrize('user, extra', [
    ('labadmin', 'kdc_host=127.0.50.1'),
    ('LAB\\labadmin', ''),
    ('labadmin@LAB.TEST', 'kdc_host=dc1.lab.test'),
    ('labadmin@lab.test', 'connect_timeout=5'),  # the realm in lower case: upper-cased, as AD's is
])
def test_ad_hoc_kerberos_with_every_form_of_the_user_name(domain, domain_clients, domain_ansible,
                                                          tmp_path, user, extra):
    domain_clients.hold([(1, 'user1', 0, 'kerberos')])
    inv = domain_inventory(tmp_path, 'labadmin', 'kerberos-password')
    password = ACCOUNTS['labadmin'].password
    run = domain_ansible(inv, INFO, f'auth=kerberos connection_username={user} '
                                    f'connection_password={password} {extra}', pattern='domain')
    assert run.rc == 0, run.output
    result = run.by_host()[ad.DC_FQDN]
    assert mine(result['sessions'], domain_clients) == [(domain_clients.address(1), 'user1')]
    assert password not in run.output


def test_kerberos_failures_are_named(domain, domain_ansible, domain_playbook, tmp_path):
    """Wrong password, unknown user, no password and no ticket cache, a KDC that never answers
    (bounded by connect_timeout), an inventory that names the host by its address only."""
    silent = subprocess.Popen(domain.command([sys.executable, '-c', (
        'import socket, time\n'
        's = socket.create_server(("127.0.60.1", 88))\n'
        'conns = []\n'
        'deadline = time.monotonic() + 120\n'
        's.settimeout(1)\n'
        'while time.monotonic() < deadline:\n'
        '    try: conns.append(s.accept()[0])\n'
        '    except OSError: pass\n')]))
    try:
        time.sleep(0.5)
        inv = domain_inventory(tmp_path, 'labadmin', 'kerberos-ticket-cache')
        tasks = '''
    - name: wrong password
      lanman.server.netsession_info: {auth: kerberos, connection_password: not-the-password}
      ignore_errors: true
    - name: unknown user
      lanman.server.netsession_info: {auth: kerberos, connection_username: nobody@LAB.TEST, connection_password: x}
      ignore_errors: true
    - name: no ticket cache
      lanman.server.netsession_info: {auth: kerberos}
      ignore_errors: true
    - name: silent kdc
      lanman.server.netsession_info: {auth: kerberos, connection_password: x, kdc_host: 127.0.60.1, connect_timeout: 2}
      ignore_errors: true
'''
        started = time.monotonic()
        run = domain_playbook(inv, f'- hosts: domain\n  gather_facts: false\n  tasks:{tasks}',
                              env={'KRB5CCNAME': f'FILE:{tmp_path}/no-such-cache'})
        elapsed = time.monotonic() - started
    finally:
        silent.kill()
        silent.wait(10)
    results = {name: run.task(name)[ad.DC_FQDN] for name in (
        'wrong password', 'unknown user', 'no ticket cache', 'silent kdc')}
    expected = {'wrong password': (24, 'KDC_ERR_PREAUTH_FAILED'),
                'unknown user': (6, 'KDC_ERR_C_PRINCIPAL_UNKNOWN'),
                'no ticket cache': (0x8009030E, 'SEC_E_NO_CREDENTIALS'),
                'silent kdc': (121, 'ERROR_SEM_TIMEOUT')}
    for name, (code, code_name) in expected.items():
        result = results[name]
        assert (result['code'], result['code_name']) == (code, code_name), result
        # (Ansible quotes the play's own text when a task fails: the results are what counts.)
        assert 'Traceback' not in result['msg'] and 'not-the-password' not in json.dumps(result)
    assert 'no-such-cache' in results['no ticket cache']['msg']
    assert elapsed < 60

    by_address = domain_inventory(tmp_path, 'labadmin', 'kerberos-password', host_name=ad.DC_ADDRESS)
    run = domain_ansible(by_address, INFO, 'auth=kerberos', pattern='domain')
    result = run.by_host()[ad.DC_ADDRESS]
    assert run.rc != 0 and result['option'] == 'kerberos_hostname' and 'code' not in result
    named = domain_ansible(by_address, INFO, f'auth=kerberos kerberos_hostname={ad.DC_FQDN}',
                           pattern='domain')
    assert named.rc == 0, named.output


def test_impacket_alone_is_still_refused_by_samba_kdc(domain):
    """What the SMB transport's TGS-REQ checksum stands in for (_smb_kerberos.py): impacket's own
    Kerberos logon against Samba's KDC. When impacket sends the checksum itself, this fails, and
    the stand-in can go."""
    account = ACCOUNTS['labadmin']
    script = ('import sys\n'
              'from impacket.smbconnection import SMBConnection\n'
              f'smb = SMBConnection("{ad.DC_FQDN}", "{ad.DC_ADDRESS}", timeout=10)\n'
              'try:\n'
              f'    smb.kerberosLogin("{account.name}", sys.stdin.read(), "{ad.REALM}", '
              f'kdcHost="{ad.DC_ADDRESS}", useCache=False)\n'
              'except Exception as error:\n'
              '    print(error)\n'
              'else:\n'
              '    print("logged on")\n')
    output = domain.run([sys.executable, '-c', script], stdin=account.password)
    assert 'KRB_AP_ERR_INAPP_CKSUM' in output, output


def test_the_own_session_is_never_closed_whatever_form_the_server_reports(
        domain, domain_clients, domain_ansible, tmp_path):
    """Closing every session of the connection's own user leaves its own connection alone."""
    domain_clients.hold([(1, 'labadmin', 0, 'ntlm')])
    inv = domain_inventory(tmp_path, 'labadmin', 'kerberos-password')
    run = domain_ansible(inv, DELETE, 'auth=kerberos username=LAB\\labadmin', pattern='domain')
    assert run.rc == 0, run.output
    result = run.by_host()[ad.DC_FQDN]
    assert mine(result['closed'], domain_clients) == [(domain_clients.address(1), 'labadmin')]
    assert len(result['closed']) == 1  # not the module's own labadmin session


def test_awx_job_through_ansible_runner_from_a_ticket_cache(
        domain, domain_clients, tmp_path, monkeypatch):
    """An AWX job with Kerberos: a Machine credential naming user@REALM with no password, and the
    ticket cache (a TGT from kinit) that the job's environment names in KRB5CCNAME. The job runs
    inside the domain's namespace (ansible-runner's child processes inherit it)."""
    monkeypatch.setenv('PATH', f"{BIN}{os.pathsep}{os.environ['PATH']}")
    held = domain_clients.hold([(1, 'user1', 1, 'kerberos'), (2, 'user2', 0, 'ntlm')])
    cache = domain.kinit(ACCOUNTS['labadmin'], tmp_path / 'awx-job.cc')
    data = tmp_path / 'job'
    (data / 'project').mkdir(parents=True)
    (data / 'project' / 'sessions.yml').write_text('''
- name: Report and close sessions with Kerberos
  hosts: fileservers
  gather_facts: false
  module_defaults:
    group/lanman.server.netsession:
      auth: kerberos
  tasks:
    - name: List the sessions
      lanman.server.netsession_info:
    - name: Close the sessions of the user named in the extra vars
      lanman.server.netsession_delete:
        username: "{{ close_user }}"
''')
    inventory = {'all': {'children': {'fileservers': {'hosts': {
        ad.DC_FQDN: {'ansible_host': ad.DC_ADDRESS}}}}}}
    with domain.inside():
        runner = ansible_runner.run(
            private_data_dir=str(data), playbook='sessions.yml', inventory=inventory,
            extravars={'close_user': 'LAB\\user1'}, cmdline=f'-u labadmin@{ad.REALM}',
            envvars={'ANSIBLE_COLLECTIONS_PATH': str(REPO / 'build' / 'collections'),
                     'KRB5CCNAME': f'FILE:{cache}', **domain.env},
            quiet=True, timeout=180)
    assert (runner.status, runner.rc) == ('successful', 0), runner.stdout.read()
    events = list(runner.events)
    results = {e['event_data']['task']: e['event_data']['res'] for e in events
               if e['event'] == 'runner_on_ok'}
    assert mine(results['List the sessions']['sessions'], domain_clients) == sorted(held)
    closed = results['Close the sessions of the user named in the extra vars']
    assert closed['changed'] and mine(closed['closed'], domain_clients) == [held[0]]
    [stats] = [e['event_data'] for e in events if e['event'] == 'playbook_on_stats']
    assert stats['failures'] == {} and stats['changed'] == {ad.DC_FQDN: 1}
