"""Small shared kits used by several domains (images, CSV): no database, no framework."""
