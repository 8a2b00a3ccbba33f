"""pytracking package."""
