# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Account names: ``user``, ``DOMAIN\\user`` and ``user@dns.domain``, as given and as reported.

Private to the lanman.server collection: not a public API. Pure functions, no network.

Windows reports a session's user as the bare account name (``alice``); a Samba AD domain
controller reports it qualified with the NetBIOS domain (``LAB\\alice``). Filters may be given in
any of the three forms. One rule for every server: the account names must be equal (without
regard to case); a bare name matches that account in any domain; a qualified one matches only
its own domain, or a record whose server did not say the domain.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from ._errors import OptionError

__all__ = ['AccountName', 'check_account', 'check_name_text', 'domain_matches', 'kerberos_realm', 'reported_account']

# Characters that cannot appear in a Windows user name ("Naming conventions in Active
# Directory", sAMAccountName; NetUserAdd rejects the same) -- '*' and '?' included, so a filter
# can never be a wildcard. '\' and '@' separate a domain and are handled before this check.
_FORBIDDEN = set('"/\\[]:;|=,+*?<>@')
ACCOUNT_MAX = 256  # UNLEN, lmcons.h: the longest user name the Net* API takes
DOMAIN_MAX = 255  # DNLEN is 15 for NetBIOS names; a DNS domain name is at most 253 (RFC 1035)
# A NetBIOS or DNS domain name: labels of letters, digits, '-' and '_' separated by dots.
_DOMAIN_LABEL = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$')
# Unicode categories that are never part of a name: controls (C0, DEL, C1), invisible format
# characters (zero-width, bidirectional overrides, BOM), surrogates, line/paragraph separators.
INVISIBLE_CATEGORIES = frozenset({'Cc', 'Cf', 'Cs', 'Zl', 'Zp'})
FORMS = r"'user', 'DOMAIN\user' or 'user@dns.domain'"


class AccountName(NamedTuple):
    """An account name and, when qualified, its domain (a NetBIOS or a DNS domain name)."""

    name: str
    domain: str | None = None

    @property
    def server_form(self) -> str:
        """The name as a server reports (and NetSessionDel takes) it: ``DOMAIN\\user`` or ``user``."""
        return f'{self.domain}\\{self.name}' if self.domain else self.name

    def matches(self, name: str | None, domain: str | None) -> bool:
        """Whether a record's user (``name`` in ``domain``, None if not reported) is this one."""
        if name is None or name.casefold() != self.name.casefold():
            return False
        return self.domain is None or domain is None or domain_matches(domain, self.domain)


def domain_matches(reported: str, given: str) -> bool:
    """Whether a server's domain name and a given one name the same domain.

    Servers report the NetBIOS name (``LAB``); users may give it or the DNS name
    (``lab.test``), whose first label Active Directory takes as the NetBIOS name by default.
    """
    reported, given = reported.casefold(), given.casefold()
    return reported == given or reported == given.split('.')[0] or given == reported.split('.')[0]


def reported_account(value: str | None) -> AccountName | None:
    """A session's user name as the server reported it, split into account and domain."""
    if value is None:
        return None
    value = value.rstrip('\x00')
    domain, backslash, name = value.rpartition('\\')
    return AccountName(name, domain or None) if backslash else AccountName(value)


def check_name_text(option: str, value: str, kind: str) -> None:
    """What every name must be: not blank, no controls or invisible characters, no padding."""
    check_text(option, value, f"{kind} name", f"(to Samba an empty {kind} name means any {kind}); "
                                              f"leave the option out to match any {kind}")


def check_text(option: str, value: str, what: str, if_empty: str) -> None:
    """What every filter text must be: not blank (``if_empty`` says why and what to do instead),
    no controls or invisible characters, no white space around it."""
    if not value.strip():
        raise OptionError(option, f"must not be empty or blank {if_empty}")
    hidden = [char for char in value if unicodedata.category(char) in INVISIBLE_CATEGORIES]
    if hidden:
        raise OptionError(option, f"{value!r} contains a control character, NUL or invisible "
                                  f"character (U+{ord(hidden[0]):04X}); allowed: printable "
                                  "characters only")
    if value != value.strip():
        raise OptionError(option, f"{value!r} begins or ends with white space; give the {what} "
                                  "without it")


def check_account(option: str, value: str) -> AccountName:
    """Validate a user name given as ``user``, ``DOMAIN\\user`` or ``user@dns.domain``."""
    check_name_text(option, value, 'user')
    if '\\' in value and '@' in value:
        raise OptionError(option, f"{value!r} has both a DOMAIN\\ prefix and an @domain suffix; "
                                  f"give one of {FORMS}")
    if value.count('\\') > 1 or value.count('@') > 1:
        raise OptionError(option, f"{value!r} has more than one domain separator; give one of "
                                  f"{FORMS} (without domain or wildcards)")
    if '\\' in value:
        domain, _sep, name = value.partition('\\')
    elif '@' in value:
        name, _sep, domain = value.partition('@')
    else:
        domain, name = '', value
    if ('\\' in value or '@' in value) and not (domain and name):
        part = 'domain' if not domain else 'user'
        raise OptionError(option, f"{value!r} has an empty {part} part; give one of {FORMS}")
    _check_account_part(option, value, name)
    if domain:
        labels = domain[:-1].split('.') if domain.endswith('.') else domain.split('.')
        if len(domain) > DOMAIN_MAX or not all(_DOMAIN_LABEL.match(label) for label in labels):
            raise OptionError(option, f"{value!r}: the domain {domain!r} is not a NetBIOS or DNS "
                                      "domain name (letters, digits, '-' and '_' in dot-separated "
                                      "labels of at most 63)")
    return AccountName(name, domain or None)


def _check_account_part(option: str, value: str, name: str) -> None:
    forbidden = sorted(set(name) & _FORBIDDEN)
    if forbidden:
        raise OptionError(option, f"{value!r} contains {''.join(forbidden)!r}, which cannot be "
                                  f"part of a Windows user name (give one of {FORMS}, without "
                                  "wildcards)")
    if not name.strip('.'):
        raise OptionError(option, f"{value!r} is not a user name (a Windows user name cannot "
                                  "consist of periods only)")
    if len(name) > ACCOUNT_MAX:
        raise OptionError(option, f"is {len(name)} characters long; at most {ACCOUNT_MAX} "
                                  "(UNLEN)")


def kerberos_realm(account: AccountName, connection_domain: str | None,
                   host_name: str) -> tuple[str | None, str | None]:
    """The Kerberos realm of the connection's account: (given, guessed).

    ``given`` is a DNS domain that the user named (``user@lab.test`` or a dotted
    ``connection_domain``): a ticket cache must then be of that realm. Otherwise ``guessed`` is
    what a password logon asks for: the DNS domain of the server's host name
    (``fs1.lab.test`` -> ``LAB.TEST``), or else the NetBIOS domain as given. Realms are upper
    case in Active Directory (RFC 4120 6.1 leaves case to the realm; AD uses the DNS domain in
    upper case), so both are returned in upper case.
    """
    domain = connection_domain or account.domain
    if domain and '.' in domain:
        return domain.rstrip('.').upper(), None
    _host, dot, suffix = host_name.partition('.')
    if dot and suffix:
        return None, suffix.rstrip('.').upper()
    return None, domain.upper() if domain else None
