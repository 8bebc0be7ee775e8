# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Status codes of the session calls and the two exceptions of lanman.server.

Private to the lanman.server collection: not a public API.

Backends raise ``NetSessionError`` for anything the server (or the way to it) refused and
``OptionError`` for a request that was rejected before any network call; the modules and the
action plugins catch both once and turn them into ``failed``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

__all__ = [
    'NERR_SUCCESS', 'ERROR_ACCESS_DENIED', 'ERROR_NOT_ENOUGH_MEMORY', 'ERROR_BAD_NETPATH',
    'ERROR_NETNAME_DELETED', 'ERROR_NOT_SUPPORTED', 'ERROR_INVALID_PARAMETER', 'ERROR_SEM_TIMEOUT',
    'ERROR_INVALID_LEVEL', 'ERROR_MORE_DATA', 'ERROR_ACCESS_DISABLED_BY_POLICY', 'ERROR_LOGON_FAILURE',
    'RPC_S_SERVER_UNAVAILABLE', 'NERR_USER_NOT_FOUND',
    'NERR_CLIENT_NAME_NOT_FOUND', 'NERR_FILE_ID_NOT_FOUND', 'ERROR_FILE_NOT_FOUND', 'NERR_INVALID_COMPUTER', 'RPC_S_PROTOCOL_ERROR',
    'SEC_E_LOGON_DENIED', 'SEC_E_NO_CREDENTIALS', 'status_name', 'NetSessionError',
    'OptionError', 'missing_library', 'Failure', 'failures_as',
]

# [MS-ERREF] 2.2 Win32 Error Codes, as returned by NetrSessionEnum / NetrSessionDel
# ([MS-SRVS] 3.1.4.5, 3.1.4.6) and by netapi32's NetSessionEnum / NetSessionGetInfo /
# NetSessionDel (lmshare.h).
NERR_SUCCESS = 0
ERROR_FILE_NOT_FOUND = 2
"""NetFileClose of an id the server does not have: what the SDK documents and Samba answers."""
ERROR_ACCESS_DENIED = 5
ERROR_NOT_ENOUGH_MEMORY = 8
ERROR_BAD_NETPATH = 53
"""The server could not be reached (what a Win32 client reports for refused or unroutable)."""
ERROR_NETNAME_DELETED = 64
"""The connection to the server was lost in the middle of a call."""
ERROR_NOT_SUPPORTED = 50
"""The request is not supported (here: by the client library, for a reason it names)."""
ERROR_INVALID_PARAMETER = 87
ERROR_SEM_TIMEOUT = 121
"""The server did not answer in time (what a Win32 SMB client reports for a stalled peer)."""
ERROR_INVALID_LEVEL = 124
ERROR_MORE_DATA = 234
"""NetrSessionEnum: more entries are available; call again with the returned resume handle."""
ERROR_ACCESS_DISABLED_BY_POLICY = 1260
"""winerror.h: "This program is blocked by group policy" (AppLocker, App Control or a software
restriction policy; here also PowerShell held to Constrained Language Mode by one)."""
ERROR_LOGON_FAILURE = 1326
"""The server refused the credentials (what Windows reports for a failed logon)."""
RPC_S_SERVER_UNAVAILABLE = 1722
NERR_USER_NOT_FOUND = 2221
"""[MS-SRVS] 3.1.4.5: no session matches the UserName filter."""
NERR_CLIENT_NAME_NOT_FOUND = 2312
"""[MS-SRVS] 3.1.4.5 / 3.1.4.6: no session matches the ClientName filter."""
NERR_FILE_ID_NOT_FOUND = 2314
"""[MS-SRVS] 3.1.4.4: NetrFileClose of an id the server does not have."""
NERR_INVALID_COMPUTER = 2351
RPC_S_PROTOCOL_ERROR = 1728
"""[MS-ERREF] 2.2: the server's answer could not be decoded."""
SEC_E_NO_CREDENTIALS = 0x8009030E
"""[MS-ERREF] 2.1 HRESULT: no credentials are available in the security package (Kerberos with
no password and no usable ticket cache)."""
SEC_E_LOGON_DENIED = 0x8009030C
"""[MS-ERREF] 2.1 HRESULT: the logon attempt failed (a Kerberos exchange the KDC or the server
refused)."""

_WIN32_NAMES = {
    NERR_SUCCESS: 'NERR_Success',
    ERROR_FILE_NOT_FOUND: 'ERROR_FILE_NOT_FOUND',
    ERROR_ACCESS_DENIED: 'ERROR_ACCESS_DENIED',
    ERROR_NOT_ENOUGH_MEMORY: 'ERROR_NOT_ENOUGH_MEMORY',
    ERROR_BAD_NETPATH: 'ERROR_BAD_NETPATH',
    ERROR_NETNAME_DELETED: 'ERROR_NETNAME_DELETED',
    ERROR_NOT_SUPPORTED: 'ERROR_NOT_SUPPORTED',
    ERROR_INVALID_PARAMETER: 'ERROR_INVALID_PARAMETER',
    ERROR_SEM_TIMEOUT: 'ERROR_SEM_TIMEOUT',
    ERROR_INVALID_LEVEL: 'ERROR_INVALID_LEVEL',
    ERROR_MORE_DATA: 'ERROR_MORE_DATA',
    ERROR_ACCESS_DISABLED_BY_POLICY: 'ERROR_ACCESS_DISABLED_BY_POLICY',
    ERROR_LOGON_FAILURE: 'ERROR_LOGON_FAILURE',
    RPC_S_SERVER_UNAVAILABLE: 'RPC_S_SERVER_UNAVAILABLE',
    RPC_S_PROTOCOL_ERROR: 'RPC_S_PROTOCOL_ERROR',
    NERR_USER_NOT_FOUND: 'NERR_UserNotFound',
    NERR_CLIENT_NAME_NOT_FOUND: 'NERR_ClientNameNotFound',
    NERR_FILE_ID_NOT_FOUND: 'NERR_FileIdNotFound',
    NERR_INVALID_COMPUTER: 'NERR_InvalidComputer',
    SEC_E_NO_CREDENTIALS: 'SEC_E_NO_CREDENTIALS',
    SEC_E_LOGON_DENIED: 'SEC_E_LOGON_DENIED',
}


def status_name(code: int) -> str | None:
    """The symbolic name of a Win32 / NERR code this collection knows, else None."""
    return _WIN32_NAMES.get(code)


class OptionError(ValueError):
    """A task argument was rejected before anything was sent to a server."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option}: {problem}")
        self.option = option


class NetSessionError(Exception):
    """A server, or the way to it, refused or failed an operation.

    ``code`` is the Win32 / NERR code or the NT status the server returned (or the Win32 code a
    Windows client would report for a transport failure); ``name`` its symbolic name.
    """

    def __init__(self, code: int, name: str | None, *, operation: str, server: str,
                 detail: str | None = None) -> None:
        self.code = code
        self.name = name or status_name(code) or 'unknown status'
        self.operation = operation
        self.server = server
        self.detail = detail
        # Partial results of a multi-step operation (filled in by the caller that knows them).
        self.partial: dict = {}
        super().__init__(self.describe())

    def describe(self) -> str:
        code_text = f"0x{self.code:08X}" if self.code > 0xFFFF else str(self.code)
        text = f"{self.operation} on {self.server!r} failed: {self.name} ({code_text})"
        if self.detail:
            text += f": {self.detail}"
        return text


def missing_library(backend: str, package: str, error: Exception) -> OptionError:
    """The failure for a backend whose library is not installed on the controller."""
    return OptionError('backend', f"{backend} needs the Python library {package} on the "
                                  f"controller (pip install {package}): {error}")


class Failure(NamedTuple):
    """What a transport makes of its library's exception: the code, its name, what happened."""

    code: int
    name: str | None = None
    detail: str | None = None


@contextlib.contextmanager
def failures_as(translate: Callable[[Exception, int], Failure | None], operation: str, server: str,
                timeout: int) -> Iterator[None]:
    """Run the block; an exception that ``translate`` recognises becomes one NetSessionError.

    One it does not recognise is not the server's doing: it goes through unchanged, and
    ``_execute.execute`` reports it as a failure of the collection, with its traceback.
    """
    try:
        yield
    except NetSessionError:
        raise
    except Exception as error:
        failure = translate(error, timeout)
        if failure is None:
            raise
        raise NetSessionError(failure.code, failure.name, operation=operation, server=server,
                              detail=failure.detail) from None
