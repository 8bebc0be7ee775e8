# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What netsession_info and netsession_delete do, given their validated arguments.

Private to the lanman.server collection: not a public API. Each operation checks its options,
opens a transport (the factory below: the transport's library is imported only for the backend
that was chosen), runs the operations and shapes the module's result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import missing_library

from ._open_files import check_closable, close_files, list_files
from ._operations import close_pairs, list_sessions
from ._options import (
    check_connection, check_delete_options, check_file_close_options, check_file_info_options,
    check_info_options,
)
from ._selection import Selection, one_call_username, select_pairs
from ._transport import SessionTransport

if TYPE_CHECKING:  # the transports import their libraries: only the chosen one is imported
    from ._smb import SmbTransport
    from ._winrm import WinrmTransport

__all__ = ['open_transport', 'netsession_info', 'netsession_delete', 'netfile_info', 'netfile_close']


def open_transport(params: Mapping[str, Any]) -> SessionTransport:
    """The factory: resolve ``backend`` and return a connected transport.

    The transport's library is imported only here, for the backend that was chosen.
    """
    chosen: Any
    transport: type[SmbTransport] | type[WinrmTransport]
    if params['backend'] == 'winrm':
        from . import _winrm as chosen
        transport = chosen.WinrmTransport
    else:
        # 'auto' reaching a module means SMB: the action plugins resolve it by the host's
        # connection before (see plugin_utils/_controller.py).
        from . import _smb as chosen
        transport = chosen.SmbTransport
    if chosen.LIBRARY_IMPORT_ERROR is not None:
        raise missing_library(transport.backend, chosen.LIBRARY, chosen.LIBRARY_IMPORT_ERROR)
    return transport.connect(params)


def _result_base(transport: SessionTransport, level: int | None = None) -> dict[str, Any]:
    base = {'changed': False, 'backend': transport.backend, 'server': transport.server}
    return base if level is None else dict(base, level=level)


def netsession_info(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """List the sessions on one server (NetSessionEnum / NetSessionGetInfo)."""
    params = check_connection(params)
    options = check_info_options(params)
    with open_transport(params) as transport:
        found = list_sessions(transport, level=options.level, client=options.client,
                              username=options.username)
        return dict(_result_base(transport, found.level), sessions=found.sessions)


def netsession_delete(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """Close the sessions that match (NetSessionDel per (client, user) pair, or once per user)."""
    params = check_connection(params)
    options = check_delete_options(params)
    with open_transport(params) as transport:
        found = list_sessions(transport, level='auto', client=options.client,
                              username=options.username, need_username=True)
        selection = select_pairs(found.sessions, client=options.client, username=options.username,
                                 min_idle_seconds=options.min_idle_seconds,
                                 exclude_usernames=options.exclude_usernames,
                                 own=transport.own_session, own_unseen=found.own_unseen)
        username = one_call_username(selection, client=options.client, username=options.username,
                                     min_idle_seconds=options.min_idle_seconds,
                                     own=transport.own_session)
        report = close_pairs(transport, selection, level=found.level, check_mode=check_mode,
                             one_call_username=username)
        result = _result_base(transport, found.level)

    warnings = _warnings(selection, own_unseen=found.own_unseen)
    closed_ids = {id(rec) for rec in report.closed + report.already_gone}
    result.update(changed=bool(report.closed), closed=report.closed,
                  already_gone=report.already_gone)
    if warnings:
        result['warnings'] = warnings
    if diff:
        result['diff'] = {
            'before': {'sessions': found.sessions},
            'after': {'sessions': [rec for rec in found.sessions if id(rec) not in closed_ids]},
        }
    return result


def _warnings(selection: Selection, *, own_unseen: bool) -> list[str]:
    """Why matching sessions were left open."""
    warnings = []
    if selection.kept_own and not own_unseen:
        warnings.append(f"{len(selection.kept_own)} matching session(s) were left open because "
                        "they share the client address and user of this module's own "
                        "connection, and closing them would cut it")
    elif selection.kept_own:
        warnings.append(f"{len(selection.kept_own)} matching session(s) of the connection's own "
                        "user were left open: the server did not list the module's own session "
                        "under a client name it can recognise (NAT, a proxy), so any of them "
                        "could be it; connect as another account to close them")
    if selection.kept_partial:
        warnings.append(f"{len(selection.kept_partial)} matching session(s) were left open "
                        "because other sessions of the same client and user do not match "
                        "(NetSessionDel closes a client and user's sessions all at once)")
    if selection.kept_unnamed:
        warnings.append(f"{len(selection.kept_unnamed)} matching session(s) were left open "
                        "because the server reports no client or user name for them, and "
                        "NetSessionDel would take an empty name to mean every client or user")
    return warnings


def netfile_info(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """List the open files on one server (NetFileEnum at level 3)."""
    params = check_connection(params)
    filters = check_file_info_options(params)
    with open_transport(params) as transport:
        listing = list_files(transport, filters)
        result = dict(_result_base(transport), files=listing.files)
    if listing.warnings:
        result['warnings'] = listing.warnings
    return result


def netfile_close(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """Close the open files that match (NetFileClose per file), never more than max_files."""
    params = check_connection(params)
    options = check_file_close_options(params)
    with open_transport(params) as transport:
        listing = list_files(transport, options.filters)
        check_closable(listing, max_files=options.max_files, option=options.selector)
        report = close_files(transport, listing.files, options.filters, check_mode=check_mode)
        result = _result_base(transport)
    result.update(changed=bool(report.closed), closed=report.closed,
                  already_gone=report.already_gone, not_closed=report.not_closed)
    warnings = listing.warnings + report.warnings
    if warnings:
        result['warnings'] = warnings
    if diff:
        done = {id(rec) for rec in report.closed + report.already_gone}
        result['diff'] = {'before': {'files': listing.files},
                          'after': {'files': [rec for rec in listing.files if id(rec) not in done]}}
    return result
