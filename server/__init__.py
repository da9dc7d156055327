"""The running service: settings, app factory, auth, storage wiring and the `loyalty` CLI."""
