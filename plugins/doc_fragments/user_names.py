# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The username filter of every lanman.server module: how names are given and matched (module_utils/_accounts.py)."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r'''
options:
  username:
    description:
      - Only the sessions of this user - V(user), V(DOMAIN\\user) or V(user@dns.domain),
        matched and checked as the notes on user names say.
    type: str
notes:
  - User names (the C(username) and C(exclude_usernames) filters) are given as V(user),
    V(DOMAIN\\user) or V(user@dns.domain) and compared without regard to case, by one rule for
    every server. Windows reports a session's user as the bare account name, a Samba AD domain
    controller as V(DOMAIN\\user). A bare name matches that account in any domain; a qualified
    one only in its own domain (by its NetBIOS name, or by the first label of its DNS name,
    which Active Directory takes as the NetBIOS name by default), or on a server that does not
    report the domain.
  - A user name is refused, naming the option, when it is empty or blank, has white space
    around it, control, NUL or invisible characters, consists of periods only, has both a C(\\)
    and an C(@) part or an empty part (V(\\user), V(user@)), is longer than 256 characters
    (C(UNLEN), lmcons.h), or contains a character that a Windows user name cannot contain,
    C("/[]:;|=,+*?<>) (so no wildcards).
'''
