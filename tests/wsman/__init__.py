"""A loopback WS-Management (WinRM) endpoint for tests, reached by the real pywinrm client.

Import it from ``tests.wsman.endpoint`` (``WsmanEndpoint``, ``clixml_error``); this package file
imports nothing, so that collecting the tests without pywinrm/pyspnego installed skips them
instead of failing. See ``endpoint.py`` for what of Windows it models and what it does not.
"""
