"""Domain model: entities, validation rules, services and pure functions (no I/O)."""
