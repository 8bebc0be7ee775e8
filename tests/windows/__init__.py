"""One model of Windows' SMB session rules, and ways to serve it to the collection's real code.

* ``tests.windows.model``      -- ``WindowsSessionModel``: NetrSessionEnum / NetSessionGetInfo /
  NetrSessionDel as Windows answers them, pure Python, every rule with its citation;
* ``tests.windows.smb_server`` -- ``ModelSmbServer``: the model behind ``\\pipe\\srvsvc`` of an
  impacket SMB server on loopback, reached by the collection's real SMB backend;
* ``tests.windows.shim_model`` -- the WinRM shim's answers from the model, for the loopback
  WS-Management endpoint (tests/wsman) reached by the collection's real WinRM backend.

Samba cannot show Windows' behaviour (levels 2/10/502, server-side filters, paging, rights), so
these are what the collection is checked against for it; see docs/dev/protocol.md.
"""
