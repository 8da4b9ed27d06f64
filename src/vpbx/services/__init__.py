"""Services with I/O around the domain: the entity service and the rest of the configuration
(accounts, sign-in, audit, YAML import/export), call records, reports, the mailer, the CRM client,
the shared state. Used by the API, the switch (handed in by `vpbx.app`) and the command line."""
