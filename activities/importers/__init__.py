"""Import web-server access logs as user activity events."""
