"""Small shared helpers every domain uses the same way (one version of each idea)."""
