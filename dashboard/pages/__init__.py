"""Pages of the dashboard: each module builds its layout from plain data and registers its own callbacks."""
