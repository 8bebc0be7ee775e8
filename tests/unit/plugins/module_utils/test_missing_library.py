"""A backend whose library is missing on the controller fails cleanly, naming what to install."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import COLLECTIONS

# Runs in its own interpreter: the import of impacket / pywinrm must fail there, not here.
PROBE = r'''
import builtins, json, sys
sys.path.insert(0, sys.argv[1])
real_import = builtins.__import__
def no_transport_libraries(name, *args, **kwargs):
    if name.split('.')[0] in ('impacket', 'winrm'):
        raise ImportError(f'No module named {name!r}')
    return real_import(name, *args, **kwargs)
builtins.__import__ = no_transport_libraries
from ansible_collections.lanman.server.plugins.module_utils._options import INFO_ARGUMENT_SPEC
from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_info
params = {name: option.get('default') for name, option in INFO_ARGUMENT_SPEC.items()}
params.update(server='127.0.0.1', connection_username='x', connection_password='y', port=1)
print(json.dumps([execute(netsession_info, dict(params, backend=backend), check_mode=False, diff=False)
                  for backend in ('smb', 'winrm')]))
'''


def test_missing_transport_library_names_the_package():
    done = subprocess.run([sys.executable, '-c', PROBE, str(COLLECTIONS)], capture_output=True,
                          text=True, timeout=60, check=True)
    smb, winrm = json.loads(done.stdout)
    assert smb['failed'] and 'pip install impacket' in smb['msg'] and smb['option'] == 'backend'
    assert winrm['failed'] and 'pip install pywinrm' in winrm['msg']
