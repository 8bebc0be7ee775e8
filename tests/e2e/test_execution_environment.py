"""AWX / Automation Platform: the execution environment definition and a job run the way AWX runs it.

No container engine runs here, so the image itself is never built: ``ansible-builder create``
writes the build context, and the step the image build would run on the collection
(``ansible-builder introspect``) runs on an installed copy of the built collection.
The job runs through ``ansible-runner``, which is what AWX uses, with the Machine credential
fed the way AWX feeds it: ``-u USER --ask-pass`` on the command line and the password answered
at the prompt.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import ansible_runner
import yaml

from tests.e2e.conftest import ADMIN, BIN, REPO, mine

EE_DOCS = REPO / 'docs' / 'execution-environment'


def _build_and_install(tmp_path: Path) -> tuple[Path, Path]:
    """The collection's tarball and the ansible_collections tree it installs into."""
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'none'))
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'build', '--output-path',
                    str(tmp_path), str(REPO)], check=True, capture_output=True, env=env, timeout=120)
    [tarball] = tmp_path.glob('lanman-server-*.tar.gz')
    installed = tmp_path / 'collections'
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'install', '--no-deps', '-p',
                    str(installed), str(tarball)], check=True, capture_output=True, env=env, timeout=120)
    return tarball, installed


def test_builder_creates_the_context_and_finds_the_collections_requirements(tmp_path):
    tarball, installed = _build_and_install(tmp_path)

    # The documented definition, with the collection taken from the tarball instead of Galaxy.
    definition = yaml.safe_load((EE_DOCS / 'execution-environment.yml').read_text())
    assert yaml.safe_load((EE_DOCS / 'requirements.yml').read_text())['collections'][0]['name'] == 'lanman.server'
    definition['dependencies']['galaxy'] = {'collections': [{'name': str(tarball), 'type': 'file'}]}
    (tmp_path / 'ee.yml').write_text(yaml.safe_dump(definition))
    context = tmp_path / 'context'
    done = subprocess.run([str(BIN / 'ansible-builder'), 'create', '-f', str(tmp_path / 'ee.yml'),
                           '--context', str(context), '--output-filename', 'Containerfile'],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / 'Containerfile').read_text()
    assert 'quay.io/fedora/fedora:42' in containerfile
    assert 'ansible-galaxy collection install' in containerfile
    assert str(tarball) in (context / '_build' / 'requirements.yml').read_text()
    assert (context / '_build' / 'scripts' / 'introspect.py').exists()

    # What the image build asks of every installed collection: its Python and system packages.
    done = subprocess.run([str(BIN / 'ansible-builder'), 'introspect', '--sanitize', str(installed)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    found = yaml.safe_load(done.stdout)
    python = found['python']
    assert any(line.startswith('impacket>=') for line in python), python
    assert any(line.startswith('pywinrm[kerberos]>=') for line in python), python
    assert not any(line.startswith('ansible-core') for line in python)  # the image brings its own
    assert {'krb5-workstation [platform:rpm]', 'krb5-devel [compile platform:rpm]'} <= {
        line.split('  #')[0] for line in found['system']}


def test_bindep_picks_the_packages_of_this_platform():
    """bindep parses the file and selects Debian's names here (rpm names are for EE images)."""
    wanted = {}
    for profile in ('default', 'compile'):
        done = subprocess.run([str(BIN / 'bindep'), '--file', str(REPO / 'bindep.txt'), '--brief',
                               '--list_all', 'newline', profile],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        wanted[profile] = set(done.stdout.split())
    assert wanted['default'] == {'libkrb5-3', 'krb5-user'}
    assert wanted['compile'] == {'gcc', 'python3-dev', 'libkrb5-dev', 'libkrb5-3', 'krb5-user'}


def test_job_through_ansible_runner_with_a_machine_credential(servers, clients, tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', f"{BIN}{os.pathsep}{os.environ['PATH']}")  # runner looks ansible-playbook up there
    fs1, fs2 = servers
    held = clients.hold(fs1, [(1, 'alice', 1), (2, 'bob', 0)]) + clients.hold(fs2, [(3, 'alice', 0)])
    data = tmp_path / 'job'
    (data / 'project').mkdir(parents=True)
    (data / 'project' / 'sessions.yml').write_text('''
- name: Report and close sessions
  hosts: fileservers
  gather_facts: false
  tasks:
    - name: List the sessions
      lanman.server.netsession_info:
      register: listed
    - name: Close the sessions of the user named in the extra vars
      lanman.server.netsession_delete:
        username: "{{ close_user }}"
''')
    # An AWX inventory of file servers: addresses only, no secret in it.
    inventory = {'all': {'children': {'fileservers': {'hosts': {
        fs1.name: {'ansible_host': fs1.address}, fs2.name: {'ansible_host': fs2.address}}}}}}
    runner = ansible_runner.run(
        private_data_dir=str(data), playbook='sessions.yml', inventory=inventory,
        extravars={'close_user': 'alice'},
        # The Machine credential: AWX passes the user with -u and answers the password prompt.
        cmdline=f'-u {ADMIN[0]} --ask-pass',
        passwords={r'^SSH [pP]assword:\s*?$': ADMIN[1]},
        envvars={'ANSIBLE_COLLECTIONS_PATH': str(REPO / 'build' / 'collections'),
                 'ANSIBLE_HOST_KEY_CHECKING': 'False'},
        quiet=True, timeout=180)
    assert (runner.status, runner.rc) == ('successful', 0), runner.stdout.read()

    events = list(runner.events)
    listed = {e['event_data']['host']: e['event_data']['res'] for e in events
              if e['event'] == 'runner_on_ok' and e['event_data']['task'] == 'List the sessions'}
    assert mine(listed['fs1']['sessions'] + listed['fs2']['sessions'], clients) == sorted(held)
    closed = {e['event_data']['host']: e['event_data']['res'] for e in events
              if e['event'] == 'runner_on_ok'
              and e['event_data']['task'] == 'Close the sessions of the user named in the extra vars'}
    assert closed['fs1']['changed'] and closed['fs2']['changed']
    assert [(c['client'], c['username']) for c in closed['fs1']['closed']] == [(clients.address(1), 'alice')]
    assert [(c['client'], c['username']) for c in closed['fs2']['closed']] == [(clients.address(3), 'alice')]
    [stats] = [e['event_data'] for e in events if e['event'] == 'playbook_on_stats']
    assert stats['failures'] == {} and stats['dark'] == {}
    assert stats['changed'] == {'fs1': 1, 'fs2': 1}

    # The password reaches the modules, but no event, artifact or output carries it.
    artifacts = ''.join(path.read_text(errors='replace')
                        for path in (data / 'artifacts').rglob('*') if path.is_file())
    assert ADMIN[1] not in json.dumps(events) + artifacts
