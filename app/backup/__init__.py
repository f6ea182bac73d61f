"""Backups of the whole service (database and media) in one archive, and their restore."""
