"""The kernel below every app: errors, configuration, the outbox, webhook emission, SQL
helpers, security, widgets, CSV export and outbound checks. It imports no app."""
