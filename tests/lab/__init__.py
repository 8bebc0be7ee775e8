"""The Samba test lab: throwaway smbd servers and real SMB client sessions, on loopback only.

* ``tests.lab.samba``  -- ``SambaServer`` (one smbd with its own config, users by role) and
  ``allocate_server_address()``;
* ``tests.lab.holder`` -- ``SessionHolder`` / ``SessionSpec``: live sessions from 127.0.1.x;
* ``python -m tests.lab up|down`` -- a multi-server lab with an Ansible inventory (demo).

Needs root and Samba; docs/dev/labs.md has the facts it is built on.
"""
