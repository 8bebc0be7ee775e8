"""Account names in three forms, one matching rule for every server (module_utils/_accounts.py)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.lanman.server.plugins.module_utils._accounts import (
    AccountName, check_account, kerberos_realm, reported_account,
)
from ansible_collections.lanman.server.plugins.module_utils._errors import OptionError
from ansible_collections.lanman.server.plugins.module_utils._own_session import OwnSession
from ansible_collections.lanman.server.plugins.module_utils._records import make_record
from ansible_collections.lanman.server.plugins.module_utils._selection import (
    Pair, one_call_username, select_pairs,
)


@pytest.mark.parametrize('value, expected', [
    ('alice', AccountName('alice')),
    ('LAB\\alice', AccountName('alice', 'LAB')),
    ('alice@lab.example.com', AccountName('alice', 'lab.example.com')),
    ('J\u00fcrgen', AccountName('J\u00fcrgen')),
])
def test_three_forms_are_accepted(value, expected):
    assert check_account('username', value) == expected


@pytest.mark.parametrize('value, fragment', [
    ('LAB\\alice@lab.test', 'both a DOMAIN\\ prefix and an @domain suffix'),
    ('\\alice', 'empty domain part'),
    ('alice@', 'empty domain part'),
    ('LAB\\', 'empty user part'),
    ('@lab.test', 'empty user part'),
    ('A\\B\\alice', 'more than one domain separator'),
    ('\\\\alice', 'more than one domain separator'),
    ('a@b@c', 'more than one domain separator'),
    ('LAB\\al*ce', "'*'"),
    ('LA B\\alice', 'not a NetBIOS or DNS domain name'),
    ('alice@lab..test', 'not a NetBIOS or DNS domain name'),
    ('LAB\\' + 'a' * 257, 'at most 256'),
])
def test_malformed_names_are_refused_naming_the_option(value, fragment):
    with pytest.raises(OptionError, match=re.escape(fragment)) as caught:
        check_account('connection_username', value)
    assert str(caught.value).startswith('connection_username: ')


@pytest.mark.parametrize('reported, name, domain', [
    ('user1', 'user1', None), ('LAB\\user1', 'user1', 'LAB'), ('LAB\\user1\x00', 'user1', 'LAB'),
])
def test_reported_names_are_split(reported, name, domain):
    assert reported_account(reported) == AccountName(name, domain)
    record = make_record(1, {'cname': 'c1', 'username': reported, 'num_opens': 0, 'time': 1,
                             'idle_time': 0, 'user_flags': 0})
    assert (record['username'], record['domain']) == (name, domain)


@pytest.mark.parametrize('given, name, domain, expected', [
    ('user1', 'USER1', 'LAB', True),          # a bare name matches in any domain
    ('user1', 'user1', None, True),
    ('LAB\\user1', 'user1', 'lab', True),     # a qualified one only its own domain ...
    ('OTHER\\user1', 'user1', 'LAB', False),
    ('user1@lab.test', 'user1', 'LAB', True),  # ... by NetBIOS or DNS name
    ('user1@other.test', 'user1', 'LAB', False),
    ('LAB\\user1', 'user1', None, True),      # ... or a server that does not say (Windows)
    ('LAB\\user1', 'user2', 'LAB', False),
])
def test_one_matching_rule(given, name, domain, expected):
    assert check_account('username', given).matches(name, domain) is expected


def test_pairs_are_closed_by_the_name_in_the_servers_own_form():
    samba_ad = {'client': 'c1', 'username': 'user1', 'domain': 'LAB'}
    windows = {'client': 'c1', 'username': 'user1', 'domain': None}
    assert Pair.of(samba_ad) == Pair('c1', 'LAB\\user1')
    assert Pair.of(windows) == Pair('c1', 'user1')


def _record(client, name, domain='LAB'):
    return {'client': client, 'username': name, 'domain': domain, 'open_files': 0,
            'active_seconds': 10, 'idle_seconds': 0, 'guest': False, 'password_encrypted': True,
            'client_type': None, 'transport': None}


def test_a_domain_user_is_closed_on_every_client_and_others_stay():
    records = [_record('c1', 'user1'), _record('c2', 'user1'), _record('c1', 'user2'),
               _record('c3', 'user1', 'OTHER')]
    own = OwnSession.of(['127.0.0.1'], 'labadmin@LAB.TEST')
    for given in ('user1', 'LAB\\user1', 'user1@lab.test'):
        username = check_account('username', given)
        chosen = select_pairs(records, client=None, username=username, min_idle_seconds=None,
                              exclude_usernames=[], own=own, own_unseen=False)
        pairs = [pair for pair, _members in chosen.to_close]
        expected = [Pair('c1', 'LAB\\user1'), Pair('c2', 'LAB\\user1')]
        if given == 'user1':  # bare: the other domain's user1 too, closed pair by pair
            assert pairs == expected + [Pair('c3', 'OTHER\\user1')]
            assert one_call_username(chosen, client=None, username=username,
                                     min_idle_seconds=None, own=own) is None
        else:
            assert pairs == expected
            assert one_call_username(chosen, client=None, username=username,
                                     min_idle_seconds=None, own=own) == 'LAB\\user1'


def test_the_own_session_is_recognised_in_either_form():
    own = OwnSession.of(['127.0.0.1'], 'LAB\\labadmin')
    assert own.could_be(_record('127.0.0.1', 'labadmin'))
    assert own.could_be(_record('127.0.0.1', 'LABADMIN', None))
    chosen = select_pairs([_record('127.0.0.1', 'labadmin')], client=None, username=None,
                          min_idle_seconds=None, exclude_usernames=[check_account('x', 'labadmin@lab.test')],
                          own=own, own_unseen=False)
    assert chosen.to_close == [] and chosen.kept_own == []


@pytest.mark.parametrize('user, connection_domain, host, expected', [
    ('user1@lab.test', None, 'dc1.lab.test', ('LAB.TEST', None)),
    ('LAB\\user1', None, 'dc1.lab.test', (None, 'LAB.TEST')),
    ('user1', 'lab.test', 'fs1', ('LAB.TEST', None)),
    ('user1', 'LAB', 'fs1', (None, 'LAB')),
    ('user1', None, 'fs1', (None, None)),
    ('user1', None, 'fs1.corp.example.com.', (None, 'CORP.EXAMPLE.COM')),
])
def test_kerberos_realm(user, connection_domain, host, expected):
    assert kerberos_realm(check_account('u', user), connection_domain, host) == expected
