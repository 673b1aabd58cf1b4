"""Reference application of the ideation platform: an API and a Celery worker for ideas."""
