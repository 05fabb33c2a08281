"""From files to desired objects: reading, schema validation, secret sources."""
