"""Grid Map's model: schema, store, reconciliation and indicators (no Dash, no file parsing)."""
