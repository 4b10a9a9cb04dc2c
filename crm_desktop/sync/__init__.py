"""Client side of sync: clock, change capture, protocol, transport and engine (no Qt but the worker)."""
