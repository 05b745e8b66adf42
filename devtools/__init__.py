"""Local development: embedded PostgreSQL, emulated AWS, the dev server and loaders."""
