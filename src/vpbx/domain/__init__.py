"""Domain model: entities, fields, validation rules and pure functions (no I/O, no database).

What reads or writes the database around it (the entity service, accounts, sign-in, the audit
log, the YAML import/export) is in `vpbx.services`; `.importlinter` keeps it that way.
"""
