# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session record, info levels, filters and the choice of what to close.

Private to the lanman.server collection: not a public API. Pure functions, no network: both
transports hand their answers to this module, so Windows and Samba give the same results.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ._accounts import AccountName, check_account, check_name_text, reported_account
from ._errors import OptionError

__all__ = [
    'SESSION_KEYS', 'INFO_LEVELS', 'LEVEL_CHOICES', 'levels_to_try', 'needs_same_right',
    'make_record', 'normalize_client', 'check_client', 'check_server', 'check_host_name',
    'check_username',
    'unc_client_name',
    'level_has_username', 'matches', 'hide_own_session', 'Pair', 'OwnSession',
    'Selection', 'select_pairs', 'whole_user',
]

# [MS-SRVS] 2.2.2.3 Session User Flags.
SESS_GUEST = 0x00000001
SESS_NOENCRYPTION = 0x00000002

# [MS-SRVS] 2.2.4.11-2.2.4.15: SESSION_INFO_0, 1, 2, 10 and 502, by the keys of our record.
# ``domain`` is not a field of its own: servers that qualify the user name (Samba AD:
# ``LAB\\alice``) are split into ``username`` and ``domain``, so records look alike everywhere.
SESSION_KEYS = ('client', 'username', 'domain', 'open_files', 'active_seconds', 'idle_seconds',
                'guest', 'password_encrypted', 'client_type', 'transport')
_LEVEL_KEYS = {
    0: {'client'},
    1: {'client', 'username', 'domain', 'open_files', 'active_seconds', 'idle_seconds', 'guest',
        'password_encrypted'},
    2: {'client', 'username', 'domain', 'open_files', 'active_seconds', 'idle_seconds', 'guest',
        'password_encrypted', 'client_type'},
    10: {'client', 'username', 'domain', 'active_seconds', 'idle_seconds'},
    502: set(SESSION_KEYS),
}
INFO_LEVELS = tuple(sorted(_LEVEL_KEYS))
LEVEL_CHOICES = ('auto',) + tuple(str(level) for level in INFO_LEVELS)

# Richest first: what `level: auto` tries.
_AUTO_ORDER = (502, 2, 1, 10, 0)
# [MS-SRVS] 3.1.4.5: levels 1, 2 and 502 need ADMIN_INFO_GET, levels 0 and 10 only
# SESSION_USER_INFO_GET (SrvsvcSessionInfo security descriptor). A level refused for lack of a
# right is not worth retrying at another level that needs the same right.
_ADMIN_LEVELS = frozenset({1, 2, 502})

# Samba reports the age of a brand-new session as 0xFFFFFFFF (an unsigned underflow).
_UNDERFLOWED_SECONDS = 0xFFFFFFFF

# A computer name as a session reports it: a NetBIOS name (at most 15 characters, MS-NBTE 2.1 /
# "Naming conventions in Active Directory") or a DNS name (RFC 1035 2.3.4 and RFC 1123 2.1: at
# most 253 characters in labels of at most 63), in letters, digits and the few marks Windows
# allows. Non-ASCII names must be given in their IDNA (xn--) form.
_HOST_LABEL = re.compile(r'^[A-Za-z0-9_$][A-Za-z0-9_$-]{0,62}$')
_HOST_NAME_MAX = 253
_HOST_LABEL_MAX = 63
_HOST_ALLOWED = ("an IPv4 or IPv6 address (brackets optional) or a NetBIOS/DNS name of ASCII "
                 f"letters, digits, '-', '_' and '$', at most {_HOST_NAME_MAX} characters in "
                 f"dot-separated labels of at most {_HOST_LABEL_MAX}")


def levels_to_try(level: str | int, *, need_username: bool,
                  served: frozenset[int] | None = None) -> list[int]:
    """The info levels to request, in order: one for an explicit level, a fallback chain for auto.

    ``served`` are the levels the server is known to answer (None: unknown); auto skips the
    others, each of which would only cost a refused call.
    """
    if level == 'auto':
        chain = [lvl for lvl in _AUTO_ORDER if 'username' in _LEVEL_KEYS[lvl] or not need_username]
        known = [lvl for lvl in chain if served is None or lvl in served]
        return known or chain
    return [int(level)]


def needs_same_right(level_a: int, level_b: int) -> bool:
    """Whether the server checks the same access right for both levels."""
    return (level_a in _ADMIN_LEVELS) == (level_b in _ADMIN_LEVELS)


def level_has_username(level: int) -> bool:
    return 'username' in _LEVEL_KEYS[level]


def _seconds(value: int | None) -> int | None:
    if value is None:
        return None
    return 0 if value == _UNDERFLOWED_SECONDS else int(value)


def normalize_client(cname: str) -> str:
    """A client name as reported: no leading backslashes, no trailing NUL."""
    return cname.rstrip('\x00').lstrip('\\')


def make_record(level: int, info: Mapping[str, Any]) -> dict[str, Any]:
    """The collection's session record from one SESSION_INFO_<level> entry.

    ``info`` holds the MS-SRVS field names without their ``sesiN_`` prefix (cname, username,
    num_opens, time, idle_time, user_flags, cltype_name, transport). Every key of the record is
    present; the ones the level does not carry are None.
    """
    flags = info.get('user_flags')
    account = reported_account(info['username'] or '') if 'username' in info else None
    values = {
        'client': normalize_client(info.get('cname') or ''),
        'username': account.name if account else None,
        'domain': account.domain if account else None,
        'open_files': info.get('num_opens'),
        'active_seconds': _seconds(info.get('time')),
        'idle_seconds': _seconds(info.get('idle_time')),
        'guest': bool(flags & SESS_GUEST) if flags is not None else None,
        # [MS-SRVS] 2.2.2.3: SESS_NOENCRYPTION is "established the session without using
        # password encryption" (a plain-text password at logon), not SMB encryption.
        'password_encrypted': not flags & SESS_NOENCRYPTION if flags is not None else None,
        'client_type': (info['cltype_name'] or '').rstrip('\x00') if 'cltype_name' in info else None,
        'transport': (info['transport'] or '').rstrip('\x00') if 'transport' in info else None,
    }
    carried = _LEVEL_KEYS[level]
    return {key: (values[key] if key in carried else None) for key in SESSION_KEYS}


def _is_host_name(name: str) -> bool:
    labels = name[:-1].split('.') if name.endswith('.') else name.split('.')
    return len(name) <= _HOST_NAME_MAX and all(_HOST_LABEL.match(label) for label in labels)


def _split_host(option: str, value: str, allowed: str = _HOST_ALLOWED) -> str:
    """A host name or address, IPv6 brackets removed; OptionError if it is neither."""
    bracketed = value.startswith('[') and value.endswith(']')
    address = value[1:-1] if bracketed else value
    try:
        ipaddress.ip_address(address)
        return address
    except ValueError:
        if not bracketed and _is_host_name(value):
            return value
    raise OptionError(option, f"{value!r} is not an IP address or host name; allowed: {allowed}")


def check_client(option: str, value: str) -> str:
    """Validate a client filter; return it without the optional leading ``\\\\``.

    IPv6 brackets are kept as given: the filter is compared without them.
    """
    check_name_text(option, value, 'client')
    name = value[2:] if value.startswith('\\\\') else value
    _split_host(option, name if name and not name.startswith(('\\', '/')) else value,
                _HOST_ALLOWED + ', optionally with one leading \\\\')
    return name


def check_server(option: str, value: str) -> str:
    """Validate the server to connect to; return it with IPv6 brackets removed."""
    if not value or not value.strip():
        raise OptionError(option, f"must not be empty; allowed: {_HOST_ALLOWED}")
    check_name_text(option, value, 'server')
    return _split_host(option, value)


def check_host_name(option: str, value: str) -> str:
    """Validate a host's DNS name (for a Kerberos SPN): not blank, not an address."""
    if not value.strip():
        raise OptionError(option, "must not be empty; give the server's host name (for example "
                                  "fs1.example.com), or leave the option out")
    check_name_text(option, value, 'host')
    try:
        ipaddress.ip_address(value.strip('[]'))
    except ValueError:
        if _is_host_name(value):
            return value.rstrip('.')
        raise OptionError(option, f"{value!r} is not a host name; allowed: a DNS name of ASCII "
                                  f"letters, digits, '-', '_' and '$', at most {_HOST_NAME_MAX} "
                                  f"characters in dot-separated labels of at most {_HOST_LABEL_MAX}") from None
    raise OptionError(option, f"{value!r} is an IP address; give the server's host name as its "
                              "Kerberos service principal names it (for example fs1.example.com)")


def check_username(option: str, value: str) -> AccountName:
    """Validate a user name used as a filter: ``user``, ``DOMAIN\\user`` or ``user@dns.domain``."""
    return check_account(option, value)


def unc_client_name(client: str) -> str:
    """The ClientName argument of NetrSessionEnum / NetrSessionDel: ``\\\\`` + the name.

    [MS-SRVS] 3.1.4.6: Windows rejects a ClientName without the leading ``\\\\`` (87), while
    enumeration reports ``cname`` without it.
    """
    return '\\\\' + client


def _same_name(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def _client_key(client: str) -> str:
    return client.strip('[]').casefold()


def matches(record: Mapping[str, Any], *, client: str | None,
            username: AccountName | None) -> bool:
    """The client-side filter: Samba ignores the server-side ClientName/UserName filters."""
    if client is not None and _client_key(record['client']) != _client_key(client):
        return False
    if username is not None and not username.matches(record['username'], record['domain']):
        return False
    return True


class Pair(NamedTuple):
    """NetSessionDel closes every session of one (client, user name) pair at once.

    ``username`` is the name in the server's own form (``LAB\\alice`` on Samba AD, ``alice`` on
    Windows): a Samba AD server refuses NetSessionDel with the bare name.
    """

    client: str
    username: str

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> 'Pair':
        return cls(record['client'], AccountName(record['username'], record['domain']).server_form)


class OwnSession(NamedTuple):
    """How the server may report the module's own SMB session.

    ``clients`` holds every name the server could give the connection (its source address, and
    the NetBIOS name the client sent, which Samba reports on port 139); ``username`` is the
    plain logon name, or None when it is not known (a Kerberos ticket cache).
    """

    clients: frozenset[str]
    username: str | None

    @classmethod
    def of(cls, clients: Iterable[str], username: str | None) -> 'OwnSession':
        """``username`` as the connection logged on: ``user``, ``DOMAIN\\user`` or ``user@realm``."""
        account = username.rpartition('\\')[2].partition('@')[0] if username else None
        return cls(frozenset(_client_key(name) for name in clients if name), account or None)

    def has_user(self, username: str | None) -> bool:
        return self.username is None or username is None or _same_name(username, self.username)

    def could_be(self, record: Mapping[str, Any]) -> bool:
        return _client_key(record['client']) in self.clients and self.has_user(record['username'])


def hide_own_session(records: list[dict[str, Any]],
                     own: OwnSession | None) -> tuple[list[dict[str, Any]], bool]:
    """Drop the module's own connection from an enumeration; say whether it was found.

    A session carries no identifier at these levels: of the sessions that share the module's
    client name and user, the youngest is ours (it was opened moments ago).
    """
    if own is None:
        return records, True
    ours = [rec for rec in records if own.could_be(rec)]
    if not ours:
        return records, False
    youngest = min(ours, key=lambda rec: rec['active_seconds'] or 0)
    return [rec for rec in records if rec is not youngest], True


class Selection(NamedTuple):
    """What netsession_delete closes, and what it keeps although the filters matched it."""

    to_close: list[tuple[Pair, list[dict[str, Any]]]]
    kept_own: list[dict[str, Any]]
    kept_partial: list[dict[str, Any]]
    kept_unnamed: list[dict[str, Any]]


def select_pairs(records: Sequence[dict[str, Any]], *, client: str | None,
                 username: AccountName | None,
                 min_idle_seconds: int | None, exclude_usernames: Iterable[AccountName],
                 own: OwnSession | None, own_found: bool) -> Selection:
    """Choose the (client, user) pairs to close.

    A pair is closed only when every one of its sessions matches (NetSessionDel cannot close
    one session of a pair and leave the other). A pair that may hold the module's own session
    is never closed, since that would cut the module's own connection: the pair of its client
    name and user, or, when the enumeration did not show the module's session (the server sees
    the controller under a name it cannot know, e.g. behind NAT), every pair of its user.
    """
    excluded = list(exclude_usernames)
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        key = (_client_key(rec['client']), Pair.of(rec).username.casefold())
        pairs.setdefault(key, []).append(rec)

    def wanted(rec: Mapping[str, Any]) -> bool:
        if not matches(rec, client=client, username=username):
            return False
        if any(name.matches(rec['username'], rec['domain']) for name in excluded):
            return False
        return min_idle_seconds is None or (rec['idle_seconds'] or 0) >= min_idle_seconds

    to_close, kept_own, kept_partial, kept_unnamed = [], [], [], []
    for members in pairs.values():
        chosen = [rec for rec in members if wanted(rec)]
        if not chosen:
            continue
        pair = Pair.of(members[0])
        if not pair.client or not members[0]['username']:
            # An empty name in NetrSessionDel means "any": it would close other users' sessions.
            kept_unnamed.extend(chosen)
        elif own is not None and (own.could_be(members[0]) if own_found
                                  else own.has_user(members[0]['username'])):
            kept_own.extend(chosen)
        elif len(chosen) < len(members):
            kept_partial.extend(chosen)
        else:
            to_close.append((pair, members))
    return Selection(to_close, kept_own, kept_partial, kept_unnamed)


def whole_user(selection: Selection, *, client: str | None, username: AccountName | None,
               min_idle_seconds: int | None, own: OwnSession | None) -> str | None:
    """The user name for one NetSessionDel(NULL, user) that closes what ``selection`` closes.

    [MS-SRVS] 3.1.4.6: with no client name the server closes every session of the user. That
    is exactly the request when it names only a user, with no idle filter, the module's own
    connection logs on as someone else, and no session of the user is to be kept; then one
    call replaces one per client. Returns None when per-pair closing is needed (or just as
    cheap: a single pair). The name is sent as the server listed it.
    """
    if username is None or client is not None or min_idle_seconds is not None:
        return None
    if len(selection.to_close) < 2 or selection.kept_own or selection.kept_partial \
            or selection.kept_unnamed:
        return None
    if own is not None and own.has_user(username.name):
        return None
    names = {pair.username for pair, _members in selection.to_close}
    return names.pop() if len(names) == 1 else None
