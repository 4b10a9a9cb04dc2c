"""End-to-end, property and crash tests of offline-first sync against the real server."""
