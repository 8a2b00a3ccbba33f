"""rgbt package."""
