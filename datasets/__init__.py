"""Event-camera data: readers, rectification, windows, representations, caches, a simulator."""
