"""Services with I/O around the domain: mailer, callback scheduler, CRM client, webhooks."""
