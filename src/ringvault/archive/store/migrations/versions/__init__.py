"""Archive schema revisions, oldest first."""
