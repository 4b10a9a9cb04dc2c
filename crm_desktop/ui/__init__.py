"""Qt user interface. The only package (with sync.worker) allowed to import PySide6."""
