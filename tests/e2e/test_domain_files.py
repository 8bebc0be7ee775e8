"""netfile_info and netfile_close through Ansible against a real Samba AD domain controller.

Domain users hold files on the DC's share, over Kerberos and over NTLM (tests/lab/domain.py, the
fixtures in conftest.py). Samba AD reports a file's user as the Unix name winbind gives the
account, ``LAB\\user1``: the records say username ``user1``, domain ``LAB``, and every form of
the name a task may give (bare, ``LAB\\user1``, ``user1@lab.test``) finds the file. The
connection logs on as labadmin over NTLM and over Kerberos.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import uuid

import pytest

from tests.e2e.conftest import DomainClients, _playbook_runner
from tests.e2e.test_domain import domain_inventory
from tests.e2e.test_files import CLOSED, OK, local_path, no_id, record, results_of, wait_status
from tests.lab import domain as ad
from tests.lab.holder import FileSpec, SessionHolder, SessionSpec
from tests.lab.samba import SHARE_NAME

INFO = 'lanman.server.netfile_info'
CLOSE = 'lanman.server.netfile_close'
ACCOUNTS = {account.name: account for account in ad.ACCOUNTS}


class DomainFileClients(DomainClients):
    """Sessions of domain users holding files in folders of the test's own, ``<tag>-<user>``."""

    def __init__(self, controller: ad.DomainController) -> None:
        super().__init__(controller)
        self.tag = uuid.uuid4().hex[:10]

    def hold_files(self, specs: list[tuple[int, str, tuple[FileSpec, ...], str]]) -> SessionHolder:
        """(client host number, account, files relative to its folder, 'ntlm' or 'kerberos')."""
        sessions = []
        for host, name, files, auth in specs:
            ccache = ''
            if auth == 'kerberos':
                ccache = str(self.controller.kinit(
                    ACCOUNTS[name], self.controller.base_dir / f'files-{self.tag}-{host}-{name}.cc',
                    (f'cifs/{ad.DC_FQDN}',)))
            named = tuple(dataclasses.replace(spec, name=f'{self.tag}-{name}/{spec.name}') for spec in files)
            sessions.append(SessionSpec(self.address(host), name, ACCOUNTS[name].password, files=named,
                                        domain=ad.DOMAIN, ccache=ccache))
        holder = SessionHolder(ad.DC_ADDRESS, 445, sessions, server_name=ad.DC_FQDN,
                               command_prefix=self.controller.command([]))
        self._holders.append(holder)
        holder.start()
        return holder


@pytest.fixture
def domain_file_clients(domain):
    held = DomainFileClients(domain)
    yield held
    held.stop()


# Samba AD keeps privileges in private/privilege.ldb; its provision gives BUILTIN\Administrators
# no SeDiskOperatorPrivilege (a standalone server's passdb does), and NetrFileClose needs it (or
# root). Written with the ldb module of the system's Python, which Samba's packages install.
_GRANT = ('import ldb, sys\n'
          'db = ldb.Ldb(sys.argv[1])\n'
          'message = ldb.Message(ldb.Dn(db, "sid=" + sys.argv[2]))\n'
          'message["privilege"] = ldb.MessageElement(sys.argv[3], ldb.FLAG_MOD_ADD, "privilege")\n'
          'db.modify(message)\n')
BUILTIN_ADMINISTRATORS = 'S-1-5-32-544'


def _system_python_with_ldb() -> str | None:
    for candidate in ('/usr/bin/python3', shutil.which('python3')):
        if candidate and subprocess.run([candidate, '-c', 'import ldb'], capture_output=True,
                                        timeout=30, check=False).returncode == 0:
            return candidate
    return None


@pytest.fixture(scope='module')
def disk_operators_domain(domain):
    """A second copy of the domain (same template, a namespace of its own) in which
    BUILTIN\\Administrators holds SeDiskOperatorPrivilege, as on a standalone Samba server."""
    python = _system_python_with_ldb()
    if python is None:
        pytest.skip("no Python with Samba's ldb module (python3-ldb) to grant the privilege with")
    with ad.DomainController(domain.template) as controller:
        subprocess.run([python, '-c', _GRANT, str(controller.dc_dir / 'private' / 'privilege.ldb'),
                        BUILTIN_ADMINISTRATORS, 'SeDiskOperatorPrivilege'],
                       capture_output=True, text=True, timeout=60, check=True)
        yield controller


def dc_paths(domain: ad.DomainController, holder: SessionHolder, session: int) -> list[str]:
    return [local_path(domain.dc_dir / SHARE_NAME, name) for name in holder.file_names(session)]


def mine(records: list[dict], clients: DomainFileClients) -> list[dict]:
    return no_id([rec for rec in records if f'\\{clients.tag}-' in rec['path']])


def hold_budget(clients: DomainFileClients, user1_auth: str) -> tuple[SessionHolder, list[dict], list[dict]]:
    """user1 holds budget.txt (read/write, one lock) and kept.txt (read) from client 1 over
    ``user1_auth``; user2 holds plan.txt from client 2 over NTLM. Returns the holder and the
    records (without ids) of user1's and user2's files."""
    holder = clients.hold_files([
        (1, 'user1', (FileSpec('budget.txt', 'readwrite', 1), FileSpec('kept.txt', 'read')), user1_auth),
        (2, 'user2', (FileSpec('plan.txt', 'read'),), 'ntlm')])
    budget, kept = dc_paths(clients.controller, holder, 0)
    [plan] = dc_paths(clients.controller, holder, 1)
    return holder, [record(budget, 'user1', 'readwrite', 1, clients.address(1), 'LAB'),
                    record(kept, 'user1', 'read', 0, clients.address(1), 'LAB')], \
        [record(plan, 'user2', 'read', 0, clients.address(2), 'LAB')]


def domain_play(tasks: list[tuple[str, str, dict, bool]], mode: str) -> str:
    """The play as JSON (backslashes arrive as given); over Kerberos by module_defaults."""
    defaults = {} if mode == 'ntlm' else {'group/lanman.server.netsession': {'auth': 'kerberos'}}
    return json.dumps([{'hosts': 'domain', 'gather_facts': False, 'module_defaults': defaults,
                        'tasks': [{'name': name, module: args, 'check_mode': check, 'ignore_errors': True}
                                  for name, module, args, check in tasks]}])


LISTINGS = [
    ('all', INFO, {}, False),
    ('netbios', INFO, {'username': 'LAB\\user1'}, False),
    ('upn', INFO, {'username': 'user1@lab.test'}, False),
    ('bare', INFO, {'username': 'USER1'}, False),
    ('other domain', INFO, {'username': 'OTHER\\user1'}, False),
]


def assert_listings(results: dict[str, dict], clients: DomainFileClients, user1: list[dict], user2: list[dict]) -> None:
    """Samba AD reports LAB\\user1: username user1, domain LAB, found by every form of the name."""
    assert mine(results['all']['files'], clients) == no_id(user1 + user2)
    for name in ('netbios', 'upn', 'bare'):
        assert no_id(results[name]['files']) == no_id(user1), name
    assert results['other domain']['files'] == []


def test_domain_admin_finds_a_users_file_by_every_form_of_the_name_but_samba_ad_refuses_the_close(
        domain, domain_file_clients, domain_playbook, tmp_path):
    """Over Kerberos, on the domain as provisioned: labadmin (Domain Admins, so BUILTIN\\Administrators)
    may list; NetrFileClose needs SeDiskOperatorPrivilege, which Samba AD does not grant it: the
    close fails with the code, names the file it did not close, and closes nothing."""
    c = domain_file_clients
    holder, user1, user2 = hold_budget(c, 'kerberos')
    budget = user1[0]['path']
    inv = domain_inventory(tmp_path, 'labadmin', 'kerberos-password')
    run = domain_playbook(inv, domain_play(LISTINGS + [
        ('close check', CLOSE, {'path': budget}, True),
        ('close', CLOSE, {'path': budget}, False),
    ], 'kerberos-password'))
    results = results_of(run)
    failed = sorted(name for name, result in results.items() if result['failed'])
    assert failed == ['close'], run.output
    assert_listings(results, c, user1, user2)
    check = results['close check']  # check mode lists, and closes nothing: no right is needed
    assert check['changed'] is True and no_id(check['closed']) == no_id(user1[:1])
    refused = results['close']
    assert (refused['code'], refused['code_name']) == (5, 'ERROR_ACCESS_DENIED'), refused
    assert refused['operation'].startswith('NetrFileClose'), refused
    assert (refused['changed'], refused['closed'], refused['already_gone']) == (False, [], [])
    assert no_id(refused['not_closed']) == no_id(user1[:1])
    assert holder.probe_file(0, 0) == OK and holder.probe_file(0, 1) == OK
    assert holder.probe_session(0) == OK and holder.probe_file(1, 0) == OK
    assert 'Traceback' not in run.output and ACCOUNTS['labadmin'].password not in run.output


def test_domain_admin_with_the_disk_operator_privilege_closes_a_users_file_by_path(
        disk_operators_domain, tmp_path):
    """Over NTLM, on a copy of the domain whose BUILTIN\\Administrators hold SeDiskOperatorPrivilege:
    user1's file (held over NTLM), found as LAB\\user1 and user1@lab.test, is closed by its path,
    and only it."""
    controller = disk_operators_domain
    c = DomainFileClients(controller)
    try:
        holder, user1, user2 = hold_budget(c, 'ntlm')
        budget = user1[0]['path']
        run = _playbook_runner(tmp_path, controller.command([]), controller.env)(
            domain_inventory(tmp_path, 'labadmin', 'ntlm'), domain_play(LISTINGS[:3] + [
                ('close check', CLOSE, {'path': budget}, True),
                ('close', CLOSE, {'path': budget.upper(), 'username': 'user1@LAB.TEST'}, False),
                ('close again', CLOSE, {'path': budget}, False),
                ('left', INFO, {'username': 'LAB\\user1'}, False),
            ], 'ntlm'))
        results = results_of(run)
        assert [name for name, result in results.items() if result['failed']] == [], run.output
        assert mine(results['all']['files'], c) == no_id(user1 + user2)
        assert no_id(results['netbios']['files']) == no_id(user1) == no_id(results['upn']['files'])
        check, closed, again = results['close check'], results['close'], results['close again']
        assert check['changed'] is True and no_id(check['closed']) == no_id(user1[:1])
        assert closed['changed'] is True and no_id(closed['closed']) == no_id(user1[:1])
        assert closed['not_closed'] == [] and closed['already_gone'] == []
        assert (again['changed'], again['closed']) == (False, [])
        assert no_id(results['left']['files']) == no_id(user1[1:])
        # The server agrees: user1's budget handle is closed; the session, its other file and
        # user2's file are not.
        assert wait_status(lambda: holder.probe_file(0, 0, 'query_info'), CLOSED) == CLOSED, holder.last_reply
        assert holder.probe_file(0, 1) == OK and holder.probe_session(0) == OK
        assert holder.probe_file(1, 0) == OK
        assert ACCOUNTS['labadmin'].password not in run.output
    finally:
        c.stop()
