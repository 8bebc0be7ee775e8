# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module's own SMB session: how the server may list it, and leaving it out.

Private to the lanman.server collection: not a public API. The SMB transport is itself a session
on the server it queries; it must never be reported as a user's session, nor closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ._records import client_key

__all__ = ['OwnSession', 'hide_own_session']


def _same_name(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


class OwnSession(NamedTuple):
    """How the server may report the module's own SMB session.

    ``clients`` holds every name the server could give the connection (its source address, and
    the NetBIOS name the client sent, which Samba reports on port 139); ``username`` is the
    plain logon name, or None when it is not known (a Kerberos ticket cache).
    """

    clients: frozenset[str]
    username: str | None

    @classmethod
    def of(cls, clients: Iterable[str], username: str | None) -> OwnSession:
        """``username`` as the connection logged on: ``user``, ``DOMAIN\\user`` or ``user@realm``."""
        account = username.rpartition('\\')[2].partition('@')[0] if username else None
        return cls(frozenset(client_key(name) for name in clients if name), account or None)

    def has_user(self, username: str | None) -> bool:
        return self.username is None or username is None or _same_name(username, self.username)

    def could_be(self, record: Mapping[str, Any]) -> bool:
        return client_key(record['client']) in self.clients and self.has_user(record['username'])


def hide_own_session(records: list[dict[str, Any]],
                     own: OwnSession | None) -> tuple[list[dict[str, Any]], bool]:
    """Drop the module's own connection from an enumeration; say whether it went unseen.

    Returns the records without ours, and True when the module has a session of its own that
    the enumeration did not show under a name it can recognise (NAT, a proxy): any session of
    its user could then be it. A session carries no identifier at these levels: of the
    sessions that share the module's client name and user, the youngest is ours (it was opened
    moments ago).
    """
    if own is None:
        return records, False
    ours = [rec for rec in records if own.could_be(rec)]
    if not ours:
        return records, True
    youngest = min(ours, key=lambda rec: rec['active_seconds'] or 0)
    return [rec for rec in records if rec is not youngest], False
