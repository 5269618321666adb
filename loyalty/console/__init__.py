"""The CRM console above every app: the admin site, the dashboard, its KPIs and rollups,
and privacy (export and erasure across apps)."""
