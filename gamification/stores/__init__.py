"""Stores and the devices registered in them.
Import the modules, not this package (it imports nothing, so that no cycle runs through it):

- `models`: `Channel`, `Store`, `Device`
- `registry`: `create_store`, `get_store`, `register_device`, `revoke_device`, `ActiveDevice`,
  `active_device`
- `device_cache`: the active devices remembered per process, and their revocations on Redis
"""
