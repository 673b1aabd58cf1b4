"""Settings come from the environment only, with clear errors for bad values."""

import pytest
from ideation_app.config import ConfigError, Settings


def test_defaults_point_at_the_hosts_pgbouncer_and_redis():
    settings = Settings.from_env({})
    assert settings.database_dsn()["host"] == "127.0.0.1"
    assert settings.database_dsn()["port"] == 6432
    assert settings.database_dsn()["dbname"] == "ideation_db"
    assert settings.database_dsn()["user"] == "ideation_user"
    assert settings.database_schema == "ideation"
    assert settings.broker_url() == "redis://127.0.0.1:6379/0"
    assert settings.s3_bucket == ""


def test_every_part_is_read_from_its_variable():
    settings = Settings.from_env({
        "DATABASE_HOST": "db.internal", "DATABASE_PORT": "5432", "DATABASE_NAME": "n",
        "DATABASE_USER": "u", "DATABASE_PASSWORD": "p", "DATABASE_SSLMODE": "require",
        "REDIS_URL": "rediss://cache:6380/1", "S3_BUCKET": "docs", "AWS_REGION": "eu-west-1",
        "CELERY_TASK_QUEUE": "q", "CELERY_TASK_TIME_LIMIT": "120", "IDEATION_APP_VERSION": "1.2",
    })
    assert settings.database_dsn() == {
        "host": "db.internal", "port": 5432, "dbname": "n", "user": "u", "password": "p",
        "sslmode": "require", "connect_timeout": 3, "application_name": "ideation-app",
    }
    assert (settings.redis_url, settings.s3_bucket, settings.aws_region) == (
        "rediss://cache:6380/1", "docs", "eu-west-1")
    assert (settings.task_queue, settings.task_time_limit, settings.version) == ("q", 120, "1.2")


def test_database_url_replaces_the_parts():
    dsn = Settings.from_env({"DATABASE_URL": "postgresql://a@b/c", "DATABASE_HOST": "x"})
    assert dsn.database_dsn() == {"dsn": "postgresql://a@b/c", "connect_timeout": 3,
                                  "application_name": "ideation-app"}


def test_redis_password_is_quoted_into_the_broker_url():
    settings = Settings.from_env({"REDIS_URL": "rediss://user@cache:6380/0",
                                  "REDIS_PASSWORD": "p@ss/w:rd"})
    assert settings.broker_url() == "rediss://:p%40ss%2Fw%3Ard@cache:6380/0"


@pytest.mark.parametrize(("env", "message"), [
    ({"DATABASE_PORT": "six"}, "DATABASE_PORT must be an integer"),
    ({"DATABASE_PORT": "0"}, "DATABASE_PORT must be at least 1"),
    ({"REDIS_URL": "http://cache"}, "REDIS_URL must be a redis:// or rediss:// URL"),
    ({"DATABASE_SCHEMA": "x; DROP"}, "DATABASE_SCHEMA must be a plain identifier"),
    ({"CELERY_TASK_TIME_LIMIT": "10"}, "CELERY_TASK_TIME_LIMIT must be at least 31"),
    ({"IDEATION_BROKEN": "sometimes"}, "IDEATION_BROKEN must be one of"),
])
def test_bad_values_are_refused_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_repr_never_shows_a_secret():
    settings = Settings.from_env({"DATABASE_PASSWORD": "hunter2", "REDIS_PASSWORD": "tok3n"})
    assert "hunter2" not in repr(settings)
    assert "tok3n" not in repr(settings)


def test_a_short_jwt_secret_is_refused_without_echoing_it():
    with pytest.raises(ConfigError, match="JWT_SECRET must be at least 32") as error:
        Settings.from_env({"JWT_SECRET": "hunter2"})
    assert "hunter2" not in str(error.value)
    assert Settings.from_env({"JWT_SECRET": "x" * 32}).jwt_secret == "x" * 32
    assert "x" * 32 not in repr(Settings.from_env({"JWT_SECRET": "x" * 32}))


def test_attachment_limits_are_read_and_the_url_lifetime_is_capped():
    settings = Settings.from_env({"ATTACHMENT_MAX_BYTES": "1000", "ATTACHMENT_URL_EXPIRY": "60"})
    assert (settings.attachment_max_bytes, settings.attachment_url_expiry) == (1000, 60)
    assert Settings.from_env({"ATTACHMENT_URL_EXPIRY": "600"}).attachment_url_expiry == 600
    with pytest.raises(ConfigError, match="ATTACHMENT_URL_EXPIRY must be at most 600, got 601"):
        Settings.from_env({"ATTACHMENT_URL_EXPIRY": "601"})


def test_a_short_api_key_is_refused_without_echoing_it():
    with pytest.raises(ConfigError, match="API_KEY must be at least 20") as error:
        Settings.from_env({"API_KEY": "letmein"})
    assert "letmein" not in str(error.value)
