"""The web pages: the CPIE's workbench, the teachers' classes, a resident's own records and the
town's public dashboard, server-rendered in French on the same services as the API."""
