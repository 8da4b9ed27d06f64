"""vpbx — a self-hostable, multi-tenant virtual PBX."""

__version__ = "0.1.0"
