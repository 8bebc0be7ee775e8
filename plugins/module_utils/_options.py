# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of both modules; the connection options are defined once, here.

Private to the lanman.server collection: not a public API. The documentation of the connection
options is the doc fragment ``lanman.server.connection``: keep the two in step.
"""

from __future__ import annotations

from ._backend import BACKEND_CHOICES
from ._sessions import LEVEL_CHOICES

__all__ = ['CONNECTION_ARGUMENT_SPEC', 'INFO_ARGUMENT_SPEC', 'DELETE_ARGUMENT_SPEC',
           'SECRET_OPTIONS']

SECRET_OPTIONS = ('connection_password', 'connection_nt_hash')

CONNECTION_ARGUMENT_SPEC = {
    'server': {'type': 'str', 'required': True},
    'port': {'type': 'int', 'default': 445},
    'backend': {'type': 'str', 'default': 'auto', 'choices': list(BACKEND_CHOICES)},
    'connection_username': {'type': 'str'},
    'connection_password': {'type': 'str', 'no_log': True},
    'connection_domain': {'type': 'str'},
    'connection_nt_hash': {'type': 'str', 'no_log': True},
    'auth': {'type': 'str', 'default': 'ntlm', 'choices': ['ntlm', 'kerberos']},
    'kdc_host': {'type': 'str'},
    'kerberos_hostname': {'type': 'str'},
    'connect_timeout': {'type': 'int', 'default': 10},
    'smb_encrypt': {'type': 'bool', 'default': False},
    'winrm_transport': {'type': 'str', 'default': 'ntlm',
                        'choices': ['ntlm', 'kerberos', 'credssp', 'basic', 'certificate']},
    'winrm_scheme': {'type': 'str', 'default': 'https', 'choices': ['https', 'http']},
    'winrm_port': {'type': 'int'},
    'winrm_server_cert_validation': {'type': 'str', 'default': 'validate',
                                     'choices': ['validate', 'ignore']},
    'winrm_ca_trust_path': {'type': 'path'},
    'winrm_cert_pem': {'type': 'path'},
    'winrm_cert_key_pem': {'type': 'path', 'no_log': False},
    'winrm_message_encryption': {'type': 'str', 'default': 'auto',
                                 'choices': ['auto', 'always', 'never']},
    'winrm_operation_timeout': {'type': 'int', 'default': 20},
    'winrm_read_timeout': {'type': 'int', 'default': 30},
}

INFO_ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    level={'type': 'str', 'default': 'auto', 'choices': list(LEVEL_CHOICES)},
    client={'type': 'str'},
    username={'type': 'str'},
)

DELETE_ARGUMENT_SPEC = dict(
    CONNECTION_ARGUMENT_SPEC,
    client={'type': 'str'},
    username={'type': 'str'},
    min_idle_seconds={'type': 'int'},
    exclude_usernames={'type': 'list', 'elements': 'str', 'default': []},
    all_sessions={'type': 'bool', 'default': False},
)
