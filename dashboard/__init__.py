"""The Dash app: pages and thin callbacks over `geodata`, `loaders` and `layers`."""
