"""Small reusable pieces of the pages (Dash components built from plain data and a translator)."""
