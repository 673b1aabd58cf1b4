"""The dev twin's stand-ins for what EC2 does by itself (docs/dev-environment.md)."""
