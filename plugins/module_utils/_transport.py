# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport interface: what the SMB and the WinRM transports both do.

Private to the lanman.server collection: not a public API. A transport only moves
NetrSessionEnum / NetrSessionDel calls and their answers; everything else (levels, filters, the
module's own session, selection, error handling) is written once, in the other module_utils.

Both calls take a whole list of work, so that a transport whose every call is expensive (WinRM
starts a PowerShell process per call) can do it all in one call: an enumeration takes a
fallback plan (which level to try next after which refusal, decided by ``_operations``), a
close takes every selected pair. A transport with cheap calls walks the list one call at a
time (``walk_plan``; ``delete`` as a generator).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from ._errors import (
    ERROR_FILE_NOT_FOUND, NERR_CLIENT_NAME_NOT_FOUND, NERR_FILE_ID_NOT_FOUND, NERR_SUCCESS,
    NERR_USER_NOT_FOUND, NetSessionError,
)
from ._own_session import OwnSession

__all__ = ['SessionTransport', 'Step', 'Attempt', 'walk_plan', 'DELETE_GOES_ON_AFTER',
           'FILE_CLOSE_GOES_ON_AFTER']

# A close of several pairs goes on after a pair that was closed or was already gone
# ([MS-SRVS] 3.1.4.6: NERR_ClientNameNotFound / NERR_UserNotFound), and stops after any other
# status, so that a refusal leaves every later pair untouched.
DELETE_GOES_ON_AFTER = frozenset({NERR_SUCCESS, NERR_CLIENT_NAME_NOT_FOUND, NERR_USER_NOT_FOUND})
# The same for closing open files: closed, or not there any more ([MS-SRVS] 3.1.4.4
# NERR_FileIdNotFound; the SDK's and Samba's ERROR_FILE_NOT_FOUND).
FILE_CLOSE_GOES_ON_AFTER = frozenset({NERR_SUCCESS, NERR_FILE_ID_NOT_FOUND, ERROR_FILE_NOT_FOUND})


class Step(NamedTuple):
    """One NetrSessionEnum (NetSessionGetInfo with both names) of a fallback plan."""

    level: int
    unc_client: str | None
    username: str | None
    fallback: Mapping[int, int]
    """A refusal's status -> the index of the step to try next (always a later one); a status
    not listed ends the walk."""


class Attempt(NamedTuple):
    """What one step of a plan got: the entries, or the server's refusal."""

    step: int
    entries: list[dict[str, Any]]
    refusal: NetSessionError | None


def walk_plan(plan: Sequence[Step],
              enumerate_one: Callable[[Step], list[dict[str, Any]]]) -> list[Attempt]:
    """Walk a plan one step at a time; ``enumerate_one`` raises NetSessionError on a refusal."""
    attempts: list[Attempt] = []
    index: int | None = 0
    while index is not None and index < len(plan):  # bounded: every next step is a later one
        step = plan[index]
        try:
            attempts.append(Attempt(index, enumerate_one(step), None))
            break
        except NetSessionError as refusal:
            attempts.append(Attempt(index, [], refusal))
            following = step.fallback.get(refusal.code)
            index = following if following is not None and following > index else None
    return attempts


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
    def enumerate(self, plan: Sequence[Step]) -> list[Attempt]:
        """Walk the plan as ``walk_plan`` does: the attempts in order, the last one the answer.

        Each step is NetrSessionEnum, every page (NetSessionGetInfo when both names are given
        and the level is not 502); entries are dicts of MS-SRVS field names without the
        ``sesiN_`` prefix. Raises NetSessionError for a failure that is not a server's status.
        """

    @abc.abstractmethod
    def delete(self, pairs: Sequence[tuple[str | None, str]]) -> Iterator[NetSessionError | None]:
        """NetrSessionDel for each (UNC client name or None, user name), in order.

        Yields, per pair, None once it is closed or the server's refusal, and stops after the
        first refusal whose status is not in DELETE_GOES_ON_AFTER. A pair without a client
        closes every session of the user; a user name is always given (Samba would close every
        session on the server). Raises NetSessionError for a failure that is not a status.
        """

    @abc.abstractmethod
    def enumerate_files(self, base_path: str | None, username: str | None) -> list[dict[str, Any]]:
        """NetrFileEnum at level 3, every page: dicts of FILE_INFO_3 field names without the
        ``fi3_`` prefix (id, permissions, num_locks, pathname, username). Raises NetSessionError
        with the server's status otherwise."""

    @abc.abstractmethod
    def close_files(self, file_ids: Sequence[int]) -> Iterator[NetSessionError | None]:
        """NetrFileClose for each id, in order, answered as ``delete`` answers pairs; stops after
        the first refusal whose status is not in FILE_CLOSE_GOES_ON_AFTER."""

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
