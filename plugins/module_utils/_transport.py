# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport interface: what the SMB and the WinRM transports both do.

Private to the lanman.server collection: not a public API. A transport only moves
NetrSessionEnum / NetrSessionDel calls and their answers; everything else (levels, filters, the
module's own session, selection, error handling) is written once, in the other module_utils.
"""

from __future__ import annotations

import abc
from typing import Any

from ._own_session import OwnSession

__all__ = ['SessionTransport']


class SessionTransport(abc.ABC):
    """Moves session calls to one server. Raises NetSessionError, never a library's exception."""

    backend: str
    served_levels: frozenset[int] | None = None
    """The info levels the server is known to answer, when it identified itself; else None."""

    def __init__(self, server: str, timeout: int) -> None:
        self.server = server
        """The server as the task named it (for results and messages)."""
        self._timeout = timeout
        """Seconds to wait for an answer, for failures to say how long was waited."""

    @abc.abstractmethod
    def enumerate(self, level: int, unc_client: str | None,
                  username: str | None) -> list[dict[str, Any]]:
        """NetrSessionEnum (NetSessionGetInfo when both filters are given), every page.

        Returns the SESSION_INFO entries as dicts of MS-SRVS field names without the
        ``sesiN_`` prefix. Raises NetSessionError with the server's status otherwise.
        """

    @abc.abstractmethod
    def delete(self, unc_client: str | None, username: str) -> None:
        """NetrSessionDel for one (client, user) pair, or with no client every session of the user.

        Never called without a user name (Samba would close every session on the server).
        """

    @property
    @abc.abstractmethod
    def own_session(self) -> OwnSession | None:
        """How the server may report this transport's own SMB session; None if it has none."""

    def close(self) -> None:  # noqa: B027 - a default that transports without a connection keep
        """Release the connection; must not raise."""

    def __enter__(self) -> SessionTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
