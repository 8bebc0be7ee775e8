# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session record and the info levels: what a SESSION_INFO entry becomes.

Private to the lanman.server collection: not a public API. Pure functions, no network: both
transports hand their answers here, so Windows and Samba give the same records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._accounts import AccountName, reported_account

__all__ = [
    'SESSION_KEYS', 'INFO_LEVELS', 'LEVEL_CHOICES', 'levels_to_try', 'needs_same_right',
    'level_has_username', 'make_record', 'normalize_client', 'client_key', 'unc_client_name',
    'matches',
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
# Levels 1, 2 and 502 need ADMIN_INFO_GET, levels 0 and 10 only SESSION_USER_INFO_GET, in the
# SrvsvcSessionInfo security descriptor (docs/dev/protocol.md, "Who may call what"). A level refused for lack of a
# right is not worth retrying at another level that needs the same right.
_ADMIN_LEVELS = frozenset({1, 2, 502})

# Samba reports the age of a brand-new session as 0xFFFFFFFF (an unsigned underflow).
_UNDERFLOWED_SECONDS = 0xFFFFFFFF


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


def unc_client_name(client: str) -> str:
    """The ClientName argument of NetrSessionEnum / NetrSessionDel: ``\\\\`` + the name.

    [MS-SRVS] 3.1.4.5 and 3.1.4.6: a ClientName without the leading ``\\\\`` is refused
    (NERR_InvalidComputer when listing, NERR_ClientNameNotFound when closing). Windows reports
    ``cname`` with the ``\\\\`` and Samba without; records carry neither (normalize_client).
    """
    return '\\\\' + client


def client_key(client: str) -> str:
    """A client name as compared: without IPv6 brackets, without regard to case."""
    return client.strip('[]').casefold()


def matches(record: Mapping[str, Any], *, client: str | None,
            username: AccountName | None) -> bool:
    """The client-side filter: Samba ignores the server-side ClientName/UserName filters."""
    if client is not None and client_key(record['client']) != client_key(client):
        return False
    if username is not None and not username.matches(record['username'], record['domain']):
        return False
    return True
