"""The session record, levels, filters and selection (module_utils/_sessions.py)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.lanman.server.plugins.module_utils._errors import OptionError
from ansible_collections.lanman.server.plugins.module_utils._accounts import check_account
from ansible_collections.lanman.server.plugins.module_utils._options import (
    check_client, check_server, type_errors,
)
from ansible_collections.lanman.server.plugins.module_utils._own_session import (
    OwnSession, hide_own_session,
)
from ansible_collections.lanman.server.plugins.module_utils._records import (
    SESSION_KEYS, levels_to_try, make_record, matches, unc_client_name,
)
from ansible_collections.lanman.server.plugins.module_utils._selection import (
    Pair, one_call_username, select_pairs,
)

FULL_ENTRY = {'cname': '\\\\10.0.0.5\x00', 'username': 'LAB\\Alice\x00', 'num_opens': 3,
              'time': 120, 'idle_time': 30, 'user_flags': 0, 'cltype_name': 'Windows\x00',
              'transport': '\\Device\\NetbiosSmb\x00'}


@pytest.mark.parametrize('level, present', [
    (0, {'client'}),
    (1, {'client', 'username', 'domain', 'open_files', 'active_seconds', 'idle_seconds', 'guest',
         'password_encrypted'}),
    (2, {'client', 'username', 'domain', 'open_files', 'active_seconds', 'idle_seconds', 'guest',
         'password_encrypted', 'client_type'}),
    (10, {'client', 'username', 'domain', 'active_seconds', 'idle_seconds'}),
    (502, set(SESSION_KEYS)),
])
def test_record_has_every_key_and_null_for_what_the_level_lacks(level, present):
    record = make_record(level, FULL_ENTRY)
    assert list(record) == list(SESSION_KEYS)
    assert {key for key, value in record.items() if value is not None} == present


def test_record_values_are_normalized():
    record = make_record(502, FULL_ENTRY)
    assert record == {'client': '10.0.0.5', 'username': 'Alice', 'domain': 'LAB', 'open_files': 3,
                      'active_seconds': 120, 'idle_seconds': 30, 'guest': False,
                      'password_encrypted': True, 'client_type': 'Windows',
                      'transport': '\\Device\\NetbiosSmb'}


@pytest.mark.parametrize('flags, guest, encrypted', [
    (0, False, True), (1, True, True), (2, False, False), (3, True, False),
])
def test_user_flags(flags, guest, encrypted):
    record = make_record(1, dict(FULL_ENTRY, user_flags=flags))
    assert (record['guest'], record['password_encrypted']) == (guest, encrypted)


def test_samba_underflowed_age_reads_as_zero():
    assert make_record(1, dict(FULL_ENTRY, time=0xFFFFFFFF))['active_seconds'] == 0


def test_auto_tries_richest_first_and_skips_level_0_when_a_user_is_needed():
    assert levels_to_try('auto', need_username=False) == [502, 2, 1, 10, 0]
    assert levels_to_try('auto', need_username=True) == [502, 2, 1, 10]
    assert levels_to_try('10', need_username=True) == [10]
    # A server known to answer levels 0 and 1 only (Samba) is asked for those only; an explicit
    # level, and a hint that leaves nothing, change nothing.
    assert levels_to_try('auto', need_username=False, served=frozenset({0, 1})) == [1, 0]
    assert levels_to_try('auto', need_username=True, served=frozenset({0, 1})) == [1]
    assert levels_to_try('502', need_username=True, served=frozenset({0, 1})) == [502]
    assert levels_to_try('auto', need_username=True, served=frozenset({0})) == [502, 2, 1, 10]


@pytest.mark.parametrize('value, expected', [
    ('10.0.0.5', '10.0.0.5'), ('\\\\10.0.0.5', '10.0.0.5'), ('WKS01', 'WKS01'),
    ('wks01.example.com', 'wks01.example.com'), ('::1', '::1'), ('[::1]', '[::1]'),
])
def test_client_accepted(value, expected):
    assert check_client('client', value) == expected


@pytest.mark.parametrize('value, fragment', [
    ('', 'must not be empty'), ('   ', 'must not be empty'), ('a\x00b', 'control character'),
    ('a\nb', 'control character'), ('bad name', 'not an IP address or host name'),
    ('a;b', 'not an IP address or host name'), ('//host', 'not an IP address or host name'),
])
def test_client_rejected(value, fragment):
    with pytest.raises(OptionError, match=re.escape(fragment)) as caught:
        check_client('client', value)
    assert str(caught.value).startswith('client: ')


@pytest.mark.parametrize('value, fragment', [
    ('', 'must not be empty'), (' ', 'must not be empty'), ('al\x01ice', 'control character'),
    ('DOM\\al*ce', 'cannot be part of a Windows user name'), ('*', 'cannot be part'),
    ('a' * 257, 'at most 256'),
])
def test_username_rejected(value, fragment):
    with pytest.raises(OptionError, match=re.escape(fragment)):
        check_account('username', value)


@pytest.mark.parametrize('value, fragment', [
    ('\\\\\\\\wks01', 'optionally with one leading'), ('\\\\', 'not an IP address'),
    ('\\wks01', 'not an IP address'), ('wks\u200b01', 'U+200B'), ('\u202ewks', 'U+202E'),
    ('wks01\x85', 'U+0085'), (' wks01', 'white space'), ('*', 'not an IP address'),
    ('a' * 64, 'labels of at most 63'), ('.'.join(['a' * 63] * 4), 'at most 253'),
    ('x..y', 'not an IP address'), ('[wks01]', 'not an IP address'), ('wks-\u00fc', 'ASCII'),
])
def test_client_rejected_with_what_is_allowed(value, fragment):
    with pytest.raises(OptionError, match=re.escape(fragment)):
        check_client('client', value)


def test_client_names_up_to_the_dns_limits_are_accepted():
    name = '.'.join(['a' * 63] * 3 + ['a' * 61])
    assert len(name) == 253 and check_client('client', name) == name
    assert check_client('client', '\\\\[::1]') == '[::1]'


@pytest.mark.parametrize('value, expected', [
    ('127.0.0.1', '127.0.0.1'), ('[::1]', '::1'), ('::1', '::1'), ('fs01.example.com', 'fs01.example.com'),
])
def test_server_accepted_and_ipv6_brackets_removed(value, expected):
    assert check_server('server', value) == expected


@pytest.mark.parametrize('value, fragment', [
    ('', 'must not be empty'), (' ', 'must not be empty'), ('\\\\fs01', 'not an IP address'),
    ('smb://fs01', 'not an IP address'), ('fs01:445', 'not an IP address'), ('a' * 300, 'at most 253'),
    ('fs-\u00fc', 'ASCII'), ('fs01\x00', 'U+0000'),
])
def test_server_rejected(value, fragment):
    with pytest.raises(OptionError, match=re.escape(fragment)) as caught:
        check_server('server', value)
    assert str(caught.value).startswith('server: ')


@pytest.mark.parametrize('value, fragment', [
    (' alice', 'white space'), ('alice ', 'white space'), ('...', 'periods only'),
    ('\ufeffalice', 'U+FEFF'), ('al?ce', "'?'"),
])
def test_username_rejected_more(value, fragment):
    with pytest.raises(OptionError, match=re.escape(fragment)):
        check_account('username', value)


def test_username_of_unlen_characters_and_unicode_accepted():
    assert check_account('username', 'a' * 256) == ('a' * 256, None)
    assert check_account('username', 'J\u00fcrgen') == ('J\u00fcrgen', None)


def test_type_errors_refuse_what_ansible_would_convert():
    spec = {'client': {'type': 'str'}, 'port': {'type': 'int'},
            'names': {'type': 'list', 'elements': 'str'}}
    assert type_errors(spec, {'client': ['a'], 'port': True, 'names': [['b']]}) == [
        'client: expected a string, got a list', 'port: expected an integer, got a boolean (True)',
        'names: expected a list of strings, got an element that is a list']
    assert type_errors(spec, {'client': 'a', 'port': 5, 'names': 'a,b', 'other': [1]}) == []


def test_unc_client_name_adds_the_prefix_windows_requires():
    assert unc_client_name('10.0.0.5') == '\\\\10.0.0.5'


def rec(client, username, idle=0, active=100, domain=None):
    return {'client': client, 'username': username, 'domain': domain, 'open_files': 0,
            'active_seconds': active, 'idle_seconds': idle, 'guest': False, 'password_encrypted': True,
            'client_type': None, 'transport': None}


def user(value):
    """A user name filter as the modules pass it on: validated and split."""
    return check_account('username', value)


def test_filters_compare_without_case():
    record = rec('WKS01', 'Alice')
    assert matches(record, client='wks01', username=user('ALICE'))
    assert not matches(record, client='wks02', username=None)
    assert not matches(record, client=None, username=user('bob'))


def test_own_session_hidden_youngest_of_its_pair_only():
    older = rec('127.0.0.1', 'admin', active=500)
    ours = rec('127.0.0.1', 'admin', active=0)
    other = rec('127.0.1.1', 'admin', active=0)
    own = OwnSession.of(['127.0.0.1', 'CONTROLLER'], 'EXAMPLE\\Admin')
    assert hide_own_session([older, ours, other], own) == ([older, other], False)
    assert hide_own_session([other], own) == ([other], True)
    # Over port 139 Samba names the client by the NetBIOS name the module sent.
    by_name = rec('controller', 'admin')
    assert hide_own_session([by_name], own) == ([], False)


def test_selection_closes_whole_pairs_only():
    a1, a2 = rec('c1', 'alice', idle=100), rec('c1', 'alice', idle=5)
    b = rec('c2', 'bob', idle=100)
    chosen = select_pairs([a1, a2, b], client=None, username=None, min_idle_seconds=60,
                          exclude_usernames=[], own=None, own_unseen=True)
    assert [pair for pair, _members in chosen.to_close] == [Pair('c2', 'bob')]
    assert chosen.kept_partial == [a1]


def test_selection_never_closes_the_own_pair_or_excluded_users():
    mine = rec('127.0.0.1', 'Admin')
    alice = rec('c1', 'alice')
    carol = rec('c1', 'CAROL')
    admin_elsewhere = rec('c2', 'admin')
    chosen = select_pairs([mine, alice, carol, admin_elsewhere], client=None, username=None,
                          min_idle_seconds=None, exclude_usernames=[user('carol')],
                          own=OwnSession.of(['127.0.0.1'], 'admin@EXAMPLE.COM'), own_unseen=False)
    assert [pair for pair, _members in chosen.to_close] == [Pair('c1', 'alice'), Pair('c2', 'admin')]
    assert chosen.kept_own == [mine]


def test_selection_keeps_every_pair_of_its_user_when_its_own_session_was_not_seen():
    # Behind NAT the server reports the controller under an address the module cannot know.
    natted = rec('203.0.113.9', 'admin')
    alice = rec('c1', 'alice')
    chosen = select_pairs([natted, alice], client=None, username=None, min_idle_seconds=None,
                          exclude_usernames=[], own=OwnSession.of(['10.1.2.3'], 'admin'),
                          own_unseen=True)
    assert [pair for pair, _members in chosen.to_close] == [Pair('c1', 'alice')]
    assert chosen.kept_own == [natted]


def test_selection_applies_filters():
    sessions = [rec('c1', 'alice'), rec('c2', 'alice'), rec('c1', 'bob')]
    chosen = select_pairs(sessions, client='C1', username=user('alice'), min_idle_seconds=None,
                          exclude_usernames=[], own=None, own_unseen=True)
    assert [pair for pair, _members in chosen.to_close] == [Pair('c1', 'alice')]
    assert select_pairs(sessions, client='c9', username=None, min_idle_seconds=None,
                        exclude_usernames=[], own=None, own_unseen=True).to_close == []


def test_selection_never_closes_a_session_without_a_user_name():
    anonymous = rec('c1', '')
    alice = rec('c1', 'alice')
    chosen = select_pairs([anonymous, alice], client='c1', username=None, min_idle_seconds=None,
                          exclude_usernames=[], own=None, own_unseen=True)
    assert [pair for pair, _members in chosen.to_close] == [Pair('c1', 'alice')]
    assert chosen.kept_unnamed == [anonymous]


def test_record_of_null_string_pointers():
    record = make_record(1, dict(FULL_ENTRY, username=None))
    assert record['username'] == ''


def _one_call(records, *, client=None, username='alice', min_idle=None, own_user='admin', own_unseen=False):
    own = OwnSession.of(['127.0.0.1'], own_user) if own_user is not False else None
    username = user(username)
    chosen = select_pairs(records, client=client, username=username, min_idle_seconds=min_idle,
                          exclude_usernames=[], own=own, own_unseen=own_unseen)
    return one_call_username(chosen, client=client, username=username, min_idle_seconds=min_idle, own=own)


def test_one_call_closes_a_users_sessions_only_when_that_is_exactly_the_request():
    two_clients = [rec('c1', 'Alice'), rec('c2', 'Alice'), rec('c2', 'bob')]
    assert _one_call(two_clients, username='ALICE') == 'Alice'  # the server's spelling
    assert _one_call(two_clients, own_user=False) == 'Alice'  # WinRM: no session of its own
    assert _one_call([rec('c1', 'alice')]) is None  # one pair: the pair call is as cheap
    assert _one_call(two_clients, client='c1') is None
    assert _one_call(two_clients, min_idle=0) is None  # idle is per session: per pair
    assert _one_call(two_clients, own_user='ALICE') is None  # could cut its own connection
    assert _one_call(two_clients, own_user=None) is None  # its own user is unknown
    # A session of the user that must stay open (no client name; not idle enough) forbids it.
    assert _one_call(two_clients + [rec('', 'alice')]) is None
    assert _one_call([rec('c1', 'alice'), rec('c2', 'alice'), rec('c2', 'alice', idle=5)],
                     min_idle=None) == 'alice'
    assert _one_call([rec('c1', 'alice'), rec('c2', 'ALICE')]) is None  # two spellings listed
