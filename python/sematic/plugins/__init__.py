"""Plug-ins: storage, external resources, publishing, metrics, building."""
