"""Tasks: each owns a protocol (which frames train, what is measured) and yields records."""
