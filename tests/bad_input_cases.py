"""The bad-input matrix of both modules, shared by the Samba and the WinRM runs.

tests/e2e/test_bad_input.py runs it against real Samba servers (backend=smb) and
tests/windows/test_bad_input_winrm.py against the WinRM endpoint with the Windows model
(backend=winrm). Each run is one ansible-playbook: every case is a task with ignore_errors, and
after every delete case a separate listing (another task, as another account) shows what is left.

Every case either fails with a message that starts with the option's name and says what is
allowed, or is a documented normalisation whose normalised value shows up in the result.

The servers hold the same layout of sessions in both runs (placeholders <c1>, <c2>, <c3> are the
client names of the run): alice and bob from <c1>, alice from <c2>, carol from <c3>.

Limits used (and documented in the modules): user names at most 256 characters (UNLEN,
lmcons.h); client and server names are IP addresses or NetBIOS/DNS names of at most 253
characters in labels of at most 63 (RFC 1035 2.3.4, RFC 1123 2.1; a NetBIOS name is at most 15,
MS-NBTE 2.1); min_idle_seconds at most 0xFFFFFFFF (a DWORD, MS-SRVS 2.2.4.15).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

INFO = 'lanman.server.netsession_info'
DELETE = 'lanman.server.netsession_delete'
BOTH = (INFO, DELETE)

# The sessions each run holds, as (client placeholder, user).
LAYOUT = (('<c1>', 'alice'), ('<c1>', 'bob'), ('<c2>', 'alice'), ('<c3>', 'carol'))
ALL = frozenset(LAYOUT)

HOST_ALLOWED = 'not an IP address or host name; allowed: an IPv4 or IPv6 address'


@dataclass(frozen=True)
class Case:
    """One bad or odd input.

    ``option`` set: the task fails, its message starts with ``option`` and contains ``fragment``.
    ``option`` None: the task succeeds; ``match`` is what it lists (info) or closes (delete),
    as (client placeholder, user) pairs of LAYOUT; ``check`` runs a delete in check mode.
    """

    id: str
    modules: tuple[str, ...]
    args: dict[str, Any]
    option: str | None = None
    fragment: str | tuple[str, ...] = ''
    match: frozenset = field(default_factory=frozenset)
    check: bool = True
    level: int | None = None


def bad(id_, args, option, fragment, modules=BOTH):
    return Case(id_, modules, args, option, fragment)


def ok(id_, args, match=(), modules=BOTH, check=True, level=None):
    return Case(id_, modules, args, None, '', frozenset(match), check, level)


C1 = {('<c1>', 'alice'), ('<c1>', 'bob')}
ALICE = {('<c1>', 'alice'), ('<c2>', 'alice')}

CASES = [
    # --- client: empty, blank, control and invisible characters -----------------------------
    bad('client-empty', {'client': ''}, 'client', 'must not be empty'),
    bad('client-blank', {'client': '   '}, 'client', 'must not be empty'),
    bad('client-nul', {'client': '<c1>\x00'}, 'client', 'control character, NUL'),
    bad('client-newline', {'client': 'wks\nx'}, 'client', 'U+000A'),
    bad('client-tab', {'client': '\t<c1>'}, 'client', 'U+0009'),
    bad('client-zero-width', {'client': 'wks\u200b01'}, 'client', 'U+200B'),
    bad('client-bidi-override', {'client': '\u202ewks01'}, 'client', 'U+202E'),
    bad('client-trailing-space', {'client': '<c1> '}, 'client', 'white space'),
    bad('client-inner-space', {'client': 'wks 01'}, 'client', HOST_ALLOWED),
    # --- client: wildcards, prefixes, URLs ----------------------------------------------------
    bad('client-star', {'client': '*'}, 'client', HOST_ALLOWED),
    bad('client-question', {'client': 'wks0?'}, 'client', HOST_ALLOWED),
    bad('client-star-address', {'client': '127.0.*'}, 'client', HOST_ALLOWED),
    bad('client-forward-slashes', {'client': '//<c1>'}, 'client', 'optionally with one leading'),
    bad('client-four-backslashes', {'client': '\\\\\\\\<c1>'}, 'client', HOST_ALLOWED),
    bad('client-one-backslash', {'client': '\\<c1>'}, 'client', HOST_ALLOWED),
    bad('client-prefix-only', {'client': '\\\\'}, 'client', HOST_ALLOWED),
    bad('client-unc-path', {'client': '\\\\<c1>\\share'}, 'client', HOST_ALLOWED),
    bad('client-with-port', {'client': '<c1>:445'}, 'client', HOST_ALLOWED),
    bad('client-url', {'client': 'smb://<c1>'}, 'client', HOST_ALLOWED),
    bad('client-bracketed-name', {'client': '[wks01]'}, 'client', HOST_ALLOWED),
    # --- client: lengths, Unicode, types ------------------------------------------------------
    bad('client-label-64', {'client': 'a' * 64}, 'client', 'labels of at most 63'),
    bad('client-name-254', {'client': '.'.join(['a' * 63] * 4)}, 'client', 'at most 253'),
    bad('client-unicode', {'client': 'wks-\u00fc'}, 'client', 'ASCII'),
    bad('client-list', {'client': ['<c1>', '<c2>']}, 'client', 'expected a string, got a list'),
    bad('client-dict', {'client': {'name': '<c1>'}}, 'client', 'expected a string, got a dict'),
    # --- client: documented normalisations ----------------------------------------------------
    ok('client-unc-prefix', {'client': '\\\\<c1>'}, C1),
    ok('client-unc-and-mixed-case-user', {'client': '\\\\<c1>', 'username': 'BoB'},
       {('<c1>', 'bob')}),
    ok('client-ipv6-bracketed', {'client': '[::1]'}),
    ok('client-ipv6-bare', {'client': '::1'}),
    ok('client-ipv6-unc', {'client': '\\\\[::1]'}),
    ok('client-name-253', {'client': '.'.join(['a' * 63] * 3 + ['a' * 61])}),
    ok('client-int-is-a-name', {'client': 12345}),
    # --- username -----------------------------------------------------------------------------
    bad('username-empty', {'username': ''}, 'username', 'must not be empty'),
    bad('username-blank', {'username': ' \t '}, 'username', 'must not be empty'),
    bad('username-nul', {'username': 'ali\x00ce'}, 'username', 'U+0000'),
    bad('username-cr', {'username': 'alice\r'}, 'username', 'U+000D'),
    bad('username-del', {'username': 'alice\x7f'}, 'username', 'U+007F'),
    bad('username-c1-nel', {'username': 'alice\x85'}, 'username', 'U+0085'),
    bad('username-bom', {'username': '\ufeffalice'}, 'username', 'U+FEFF'),
    bad('username-leading-space', {'username': ' alice'}, 'username', 'white space'),
    bad('username-star', {'username': '*'}, 'username', 'cannot be part of a Windows user name'),
    bad('username-question', {'username': 'al?ce'}, 'username', "'?'"),
    bad('username-unc', {'username': '\\\\alice'}, 'username', 'more than one domain separator'),
    bad('username-both-forms', {'username': 'LAB\\alice@lab.test'}, 'username',
        'both a DOMAIN\\ prefix and an @domain suffix'),
    bad('username-empty-domain', {'username': '\\alice'}, 'username', 'empty domain part'),
    bad('username-empty-dns-domain', {'username': 'alice@'}, 'username', 'empty domain part'),
    bad('username-bad-domain', {'username': 'L B\\alice'}, 'username', 'not a NetBIOS or DNS'),
    bad('username-dots', {'username': '...'}, 'username', 'periods only'),
    bad('username-257', {'username': 'a' * 257}, 'username', 'at most 256'),
    bad('username-list', {'username': ['alice', 'bob']}, 'username', 'expected a string, got a list'),
    ok('username-256', {'username': 'a' * 256}),
    # A qualified name matches a server that reports bare names (Windows, standalone Samba).
    ok('username-netbios-domain', {'username': 'LAB\\alice'}, ALICE),
    ok('username-dns-domain', {'username': 'alice@lab.example.com'}, ALICE),
    ok('username-upper-case', {'username': 'ALICE'}, ALICE),
    ok('username-unicode', {'username': 'J\u00fcrgen'}),
    # --- server and connection numbers (task arguments override the inventory) ---------------
    bad('server-empty', {'server': ''}, 'server', 'must not be empty'),
    bad('server-nul', {'server': '127.0.0.1\x00'}, 'server', 'U+0000'),
    bad('server-unc', {'server': '\\\\127.0.0.1'}, 'server', HOST_ALLOWED),
    bad('server-url', {'server': 'smb://127.0.0.1'}, 'server', HOST_ALLOWED),
    bad('server-with-port', {'server': '127.0.0.1:445'}, 'server', HOST_ALLOWED),
    bad('server-star', {'server': '*'}, 'server', HOST_ALLOWED),
    bad('server-label-64', {'server': 'a' * 64}, 'server', 'labels of at most 63'),
    bad('server-unicode', {'server': 'fs-\u00fc'}, 'server', 'ASCII'),
    bad('server-list', {'server': ['127.0.0.1']}, 'server', 'expected a string, got a list'),
    bad('port-negative', {'port': -1}, 'port', 'allowed: 1 to 65535'),
    bad('port-zero', {'port': 0}, 'port', 'allowed: 1 to 65535'),
    bad('port-huge', {'port': 2 ** 64}, 'port', 'allowed: 1 to 65535'),
    bad('port-string', {'port': 'smb'}, 'port', 'unable to convert to int'),
    bad('port-boolean', {'port': True}, 'port', 'expected an integer, got a boolean'),
    bad('connect-timeout-negative', {'connect_timeout': -5}, 'connect_timeout', 'allowed: 1 to 3600'),
    bad('connect-timeout-huge', {'connect_timeout': 10 ** 12}, 'connect_timeout', 'allowed: 1 to 3600'),
    bad('connect-timeout-float', {'connect_timeout': 1.5}, 'connect_timeout', 'unable to convert to int'),
    bad('winrm-port-negative', {'winrm_port': -5985}, 'winrm_port', 'allowed: 1 to 65535'),
    bad('winrm-operation-timeout-negative', {'winrm_operation_timeout': -1},
        'winrm_operation_timeout', 'allowed: 1 to 3600'),
    bad('winrm-read-timeout-huge', {'winrm_read_timeout': 99999}, 'winrm_read_timeout',
        'allowed: 1 to 3600'),
    bad('backend-unknown', {'backend': 'ssh'}, 'value of backend', 'must be one of'),
    bad('auth-unknown', {'auth': 'basic'}, 'value of auth', 'must be one of'),
    # --- Kerberos names -----------------------------------------------------------------------
    bad('kerberos-hostname-address', {'kerberos_hostname': '127.0.0.1'}, 'kerberos_hostname',
        'is an IP address'),
    bad('kerberos-hostname-ipv6', {'kerberos_hostname': '[::1]'}, 'kerberos_hostname',
        'is an IP address'),
    bad('kerberos-hostname-empty', {'kerberos_hostname': ''}, 'kerberos_hostname', 'must not be empty'),
    bad('kerberos-hostname-blank', {'kerberos_hostname': '  '}, 'kerberos_hostname',
        'must not be empty'),
    bad('kerberos-hostname-control', {'kerberos_hostname': 'fs1\x07.example.com'},
        'kerberos_hostname', 'U+0007'),
    bad('kerberos-hostname-url', {'kerberos_hostname': 'http://fs1'}, 'kerberos_hostname',
        'is not a host name'),
    bad('kdc-host-with-port', {'auth': 'kerberos', 'kdc_host': 'dc1:88'}, 'kdc_host', HOST_ALLOWED),
    bad('kdc-host-empty', {'auth': 'kerberos', 'kdc_host': ''}, 'kdc_host', 'must not be empty'),
    bad('connection-username-both-forms', {'connection_username': 'LAB\\admin@lab.test'},
        'connection_username', 'both a DOMAIN\\ prefix'),
    bad('connection-username-empty-domain', {'connection_username': '\\admin'},
        'connection_username', 'empty domain part'),
    bad('connection-username-empty-realm', {'connection_username': 'admin@'},
        'connection_username', 'empty domain part'),
    # SMB: not a hash; WinRM: no hash at all (pywinrm needs the password).
    bad('nt-hash-short', {'connection_nt_hash': 'abc'}, 'connection_nt_hash',
        ('32 hexadecimal', 'not supported with backend=winrm')),
    bad('unknown-option', {'colour': 'blue'}, 'colour', 'Supported parameters include'),
    bad('unknown-option-password', {'password': 'x'}, 'password', 'Supported parameters include'),
    # --- netsession_info only -----------------------------------------------------------------
    bad('level-3', {'level': '3'}, 'value of level', 'must be one of', (INFO,)),
    bad('level-negative', {'level': -1}, 'value of level', 'must be one of', (INFO,)),
    bad('level-list', {'level': [502]}, 'level', 'expected a string, got a list', (INFO,)),
    bad('level-0-with-username', {'level': '0', 'username': 'alice'}, 'level',
        'carry no user name', (INFO,)),
    ok('level-int-1', {'level': 1, 'client': '\\\\<c2>'}, {('<c2>', 'alice')}, (INFO,), level=1),
    # --- netsession_delete only ---------------------------------------------------------------
    bad('no-filter', {}, 'client', 'needs client, username or both', (DELETE,)),
    bad('all-sessions-with-client', {'all_sessions': True, 'client': '<c1>'}, 'all_sessions',
        'cannot be combined', (DELETE,)),
    bad('all-sessions-with-username', {'all_sessions': True, 'username': 'alice'}, 'all_sessions',
        'cannot be combined', (DELETE,)),
    bad('all-sessions-maybe', {'all_sessions': 'maybe', 'username': 'alice'}, "'all_sessions'",
        'not a valid boolean', (DELETE,)),
    bad('min-idle-negative', {'username': 'alice', 'min_idle_seconds': -1}, 'min_idle_seconds',
        'allowed: 0 to 4294967295', (DELETE,)),
    bad('min-idle-beyond-dword', {'username': 'alice', 'min_idle_seconds': 2 ** 32},
        'min_idle_seconds', 'allowed: 0 to 4294967295', (DELETE,)),
    bad('min-idle-string', {'username': 'alice', 'min_idle_seconds': 'soon'}, "'min_idle_seconds'",
        'unable to convert to int', (DELETE,)),
    bad('min-idle-boolean', {'username': 'alice', 'min_idle_seconds': True}, 'min_idle_seconds',
        'expected an integer, got a boolean', (DELETE,)),
    bad('exclude-empty-name', {'all_sessions': True, 'exclude_usernames': ['']},
        'exclude_usernames', 'must not be empty', (DELETE,)),
    bad('exclude-wildcard', {'all_sessions': True, 'exclude_usernames': ['adm*']},
        'exclude_usernames', 'cannot be part of a Windows user name', (DELETE,)),
    bad('exclude-nested-list', {'all_sessions': True, 'exclude_usernames': [['bob']]},
        'exclude_usernames', 'expected a list of strings', (DELETE,)),
    ok('exclude-comma-string', {'all_sessions': True, 'exclude_usernames': 'alice,BOB'},
       {('<c3>', 'carol')}, (DELETE,)),
    ok('min-idle-dword-max', {'all_sessions': True, 'min_idle_seconds': 2 ** 32 - 1}, (), (DELETE,)),
    # Last: these really close sessions (a valid, normalised request), so later cases see less.
    ok('close-unc-client', {'client': '\\\\<c3>'}, {('<c3>', 'carol')}, (DELETE,), check=False),
    ok('close-upper-case-user', {'username': 'BOB'}, {('<c1>', 'bob')}, (DELETE,), check=False),
    bad('after-close-client-nul', {'client': '<c2>\x00'}, 'client', 'U+0000'),
]


def resolve(value: Any, names: dict[str, str]) -> Any:
    """A case argument with the run's client names put in for <c1>, <c2>, <c3>."""
    if isinstance(value, str):
        for token, name in names.items():
            value = value.replace(token, name)
        return value
    if isinstance(value, list):
        return [resolve(item, names) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, names) for key, item in value.items()}
    return value


def pairs_of(match, names: dict[str, str]) -> set[tuple[str, str]]:
    return {(names[client], user) for client, user in match}


def runs(cases: list[Case]):
    """(number, case, module) in play order; number counts (case, module) pairs."""
    number = 0
    for case in cases:
        for module in case.modules:
            number += 1
            yield number, case, module


def case_task(number: int, case: Case, module: str) -> str:
    return f'case {number} {module.rpartition(".")[2]} {case.id}'


def tasks(cases: list[Case], names: dict[str, str], listing: dict[str, Any],
          listing_after: tuple[str, ...] = (DELETE,)) -> list[dict]:
    """The play's tasks: every case with ignore_errors, then ``listing <n>`` after each case of
    a module in ``listing_after`` (and ``listing before`` first)."""
    result = [{'name': 'listing before', INFO: listing}]
    for number, case, module in runs(cases):
        task = {'name': case_task(number, case, module), module: resolve(case.args, names),
                'ignore_errors': True}
        if module == DELETE:
            task['check_mode'] = case.check
        result.append(task)
        if module in listing_after:
            result.append({'name': f'listing {number}', INFO: listing})
    return result


def playbook(cases: list[Case], names: dict[str, str], listing: dict[str, Any], hosts: str,
             listing_after: tuple[str, ...] = (DELETE,)) -> str:
    """The play as JSON (which is YAML): every character, NUL included, arrives escaped."""
    return json.dumps([{'hosts': hosts, 'gather_facts': False,
                        'tasks': tasks(cases, names, listing, listing_after)}])


def check_failure(case: Case, result: dict) -> list[str]:
    """Problems with the result of a case that must fail (empty when all is well)."""
    msg = result.get('msg', '')
    if not result.get('failed'):
        return [f'{case.id}: did not fail: {msg or result.get("sessions", result.get("closed"))}']
    problems = []
    if case.option not in msg.split(':')[0]:
        problems.append(f'{case.id}: message does not name {case.option!r} first: {msg!r}')
    fragments = (case.fragment,) if isinstance(case.fragment, str) else case.fragment
    if not any(fragment in msg for fragment in fragments):
        problems.append(f'{case.id}: {case.fragment!r} not in {msg!r}')
    if 'code' in result or 'Traceback' in msg:
        problems.append(f'{case.id}: not refused before connecting: {result}')
    if result.get('changed'):
        problems.append(f'{case.id}: changed on bad input')
    return problems


def verify(cases: list[Case], results: dict[str, dict], names: dict[str, str],
           own: Callable[[list[dict]], set]) -> list[str]:
    """Check every case of a run; ``results`` maps task names to the host's result (with
    ``failed`` set from the task's status: the callback never sees that key) and ``own``
    gives the (client, user) pairs of a listing that belong to this run's clients.

    After every delete case the separate listing must show exactly the sessions of before,
    less those the case closed (none in check mode or on failure), and those must be what
    the valid, normalised request matches.
    """
    problems = []
    state = own(results['listing before']['sessions'])
    if state != pairs_of(ALL, names):
        return [f'the sessions to start from are {sorted(state)}']
    for number, case, module in runs(cases):
        result = results.get(case_task(number, case, module))
        if result is None:
            problems.append(f'{case.id} ({module}): no result')
            continue
        closed: set = set()
        if case.option is not None:
            problems += [f'{p} ({module})' for p in check_failure(case, result)]
        elif result.get('failed'):
            problems.append(f'{case.id} ({module}): failed: {result.get("msg")}')
        else:
            expected = pairs_of(case.match, names) & state
            key = 'sessions' if module == INFO else 'closed'
            if key not in result:
                problems.append(f'{case.id} ({module}): no {key} in {result}')
                continue
            got = own(result[key])
            if got != expected:
                problems.append(f'{case.id} ({module}): got {sorted(got)}, expected {sorted(expected)}')
            if case.level is not None and result.get('level') != case.level:
                problems.append(f'{case.id}: level {result.get("level")}, not {case.level}')
            if module == DELETE and not case.check:
                closed = got
        listing = results.get(f'listing {number}')
        if listing is not None:
            after = own(listing.get('sessions', []))
            if after != state - closed:
                problems.append(f'{case.id} ({module}): after it {sorted(after)} are left, '
                                f'expected {sorted(state - closed)}')
            state = after
    return problems
