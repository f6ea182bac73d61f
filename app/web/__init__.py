"""The web pages and apps served beside the API."""
