"""The collection builds, installs, and ansible-doc shows both modules from the installed copy."""

from __future__ import annotations

import os
import subprocess

from tests.e2e.conftest import BIN, REPO


def test_build_install_and_document(tmp_path):
    installed = tmp_path / 'collections'
    # Only the fresh install may be visible, not the repository's development link.
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', PAGER='cat', ANSIBLE_COLLECTIONS_PATH=str(installed))
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'build', '--output-path',
                    str(tmp_path), str(REPO)], check=True, capture_output=True, env=env, timeout=120)
    [tarball] = tmp_path.glob('lanman-server-*.tar.gz')
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'install', '-p', str(installed),
                    str(tarball)], check=True, capture_output=True, env=env, timeout=120)
    members = subprocess.run(['tar', 'tzf', str(tarball)], check=True, capture_output=True,
                             text=True).stdout.split()
    assert 'plugins/modules/netsession_delete.py' in members
    assert not [name for name in members if name.startswith(('tests', '.venv', 'build', '.ci'))]
    # What ansible-builder reads from an installed collection; Molecule scenarios stay behind.
    assert {'meta/execution-environment.yml', 'requirements.txt', 'bindep.txt'} <= set(members)
    assert not [name for name in members if '/molecule/' in name]

    for module, fragment in (('netsession_info', 'NetSessionEnum'),
                             ('netsession_delete', 'NetSessionDel')):
        doc = subprocess.run([str(BIN / 'ansible-doc'), f'lanman.server.{module}'], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
        assert str(installed) in doc
        assert fragment in doc and 'connection_password' in doc and 'EXAMPLES' in doc
