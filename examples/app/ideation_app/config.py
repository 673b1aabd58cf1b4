"""Settings from environment variables only (see examples/README.md for the contract)."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

BROKEN_MODES = ("", "never-ready", "exit")
# HS256 keys shorter than the hash (32 bytes) are guessable offline from one token (RFC 7518 3.2).
JWT_SECRET_MIN = 32
API_KEY_MIN = 20
# A presigned URL dies with the credentials that signed it. botocore refreshes an instance role's
# temporary credentials when they have less than 10 minutes left, so 600 s always lives out.
ATTACHMENT_URL_EXPIRY_MAX = 600


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    database_host: str = "127.0.0.1"
    database_port: int = 6432
    database_name: str = "ideation_db"
    database_user: str = "ideation_user"
    database_password: str = ""
    database_url: str = ""
    database_schema: str = "ideation"
    database_sslmode: str = "prefer"
    database_connect_timeout: int = 3
    # Read-only queries (listing, searching): PgBouncer's read-only entry (the read replica, or
    # the primary where there is none); "" reads from DATABASE_NAME. Past DATABASE_READ_MAX_LAG
    # seconds of replica lag, or with the replica unreachable, reads go to the primary; the lag
    # is checked at most every DATABASE_READ_CHECK_INTERVAL seconds.
    database_read_name: str = ""
    database_read_max_lag: int = 30
    database_read_check_interval: int = 5
    # Seconds the replica has to answer (PgBouncer would keep a query for an unreachable server
    # waiting up to its query_wait_timeout); past it the read goes to the primary.
    database_read_timeout: int = 5
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: str = ""
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    aws_region: str = ""
    jwt_secret: str = ""
    api_key: str = ""
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_url_expiry: int = 300
    task_queue: str = "ideation"
    task_time_limit: int = 300
    sweep_interval: int = 60
    sweep_after: int = 300
    version: str = "dev"
    broken: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check the settings; raise ConfigError naming the bad variable."""
        env = os.environ if env is None else env
        broken = env.get("IDEATION_BROKEN", "")
        if broken not in BROKEN_MODES:
            raise ConfigError(f"IDEATION_BROKEN must be one of {BROKEN_MODES}, got {broken!r}")
        redis_url = env.get("REDIS_URL", "") or cls.redis_url
        if urllib.parse.urlsplit(redis_url).scheme not in ("redis", "rediss"):
            raise ConfigError(f"REDIS_URL must be a redis:// or rediss:// URL, got {redis_url!r}")
        schema = env.get("DATABASE_SCHEMA", "") or cls.database_schema
        if not schema.replace("_", "").isalnum():
            raise ConfigError(f"DATABASE_SCHEMA must be a plain identifier, got {schema!r}")
        jwt_secret = env.get("JWT_SECRET", "")
        if jwt_secret and len(jwt_secret) < JWT_SECRET_MIN:
            raise ConfigError(f"JWT_SECRET must be at least {JWT_SECRET_MIN} characters long")
        api_key = env.get("API_KEY", "")
        if api_key and len(api_key) < API_KEY_MIN:
            raise ConfigError(f"API_KEY must be at least {API_KEY_MIN} characters long")
        expiry = _int(env, "ATTACHMENT_URL_EXPIRY", cls.attachment_url_expiry, 1)
        if expiry > ATTACHMENT_URL_EXPIRY_MAX:
            raise ConfigError(f"ATTACHMENT_URL_EXPIRY must be at most {ATTACHMENT_URL_EXPIRY_MAX},"
                              f" got {expiry}")
        return cls(
            database_host=env.get("DATABASE_HOST", "") or cls.database_host,
            database_port=_int(env, "DATABASE_PORT", cls.database_port, 1),
            database_name=env.get("DATABASE_NAME", "") or cls.database_name,
            database_user=env.get("DATABASE_USER", "") or cls.database_user,
            database_password=env.get("DATABASE_PASSWORD", ""),
            database_url=env.get("DATABASE_URL", ""),
            database_schema=schema,
            database_sslmode=env.get("DATABASE_SSLMODE", "") or cls.database_sslmode,
            database_connect_timeout=_int(
                env, "DATABASE_CONNECT_TIMEOUT", cls.database_connect_timeout, 1
            ),
            database_read_name=env.get("DATABASE_READ_NAME", ""),
            database_read_max_lag=_int(env, "DATABASE_READ_MAX_LAG", cls.database_read_max_lag, 1),
            database_read_check_interval=_int(
                env, "DATABASE_READ_CHECK_INTERVAL", cls.database_read_check_interval, 1
            ),
            database_read_timeout=_int(env, "DATABASE_READ_TIMEOUT", cls.database_read_timeout, 1),
            redis_url=redis_url,
            redis_password=env.get("REDIS_PASSWORD", ""),
            s3_bucket=env.get("S3_BUCKET", ""),
            s3_endpoint_url=env.get("S3_ENDPOINT_URL", ""),
            aws_region=env.get("AWS_DEFAULT_REGION", "") or env.get("AWS_REGION", ""),
            jwt_secret=jwt_secret,
            api_key=api_key,
            attachment_max_bytes=_int(env, "ATTACHMENT_MAX_BYTES", cls.attachment_max_bytes, 1),
            attachment_url_expiry=expiry,
            task_queue=env.get("CELERY_TASK_QUEUE", "") or cls.task_queue,
            task_time_limit=_int(env, "CELERY_TASK_TIME_LIMIT", cls.task_time_limit, 31),
            sweep_interval=_int(env, "CELERY_SWEEP_INTERVAL", cls.sweep_interval, 1),
            sweep_after=_int(env, "CELERY_SWEEP_AFTER", cls.sweep_after, 1),
            version=env.get("IDEATION_APP_VERSION", "") or cls.version,
            broken=broken,
        )

    def database_dsn(self, dbname: str = "") -> dict[str, object]:
        """Keyword arguments for psycopg2.connect (DATABASE_URL wins over the parts); `dbname`
        names another database on the same server (PgBouncer's read-only entry)."""
        common = {"connect_timeout": self.database_connect_timeout,
                  "application_name": "ideation-app"}
        if self.database_url:
            # psycopg2 lets a keyword override the same field of the DSN.
            return {"dsn": self.database_url, **({"dbname": dbname} if dbname else {}), **common}
        return {
            "host": self.database_host,
            "port": self.database_port,
            "dbname": dbname or self.database_name,
            "user": self.database_user,
            "password": self.database_password,
            "sslmode": self.database_sslmode,
            **common,
        }

    def broker_url(self) -> str:
        """REDIS_URL with REDIS_PASSWORD put in, when one is given."""
        if not self.redis_password:
            return self.redis_url
        parts = urllib.parse.urlsplit(self.redis_url)
        host = parts.netloc.rpartition("@")[2]
        password = urllib.parse.quote(self.redis_password, safe="")
        return urllib.parse.urlunsplit(parts._replace(netloc=f":{password}@{host}"))

    def __repr__(self) -> str:  # never print a secret by accident
        return (f"Settings(database={self.database_host}:{self.database_port},"
                f" version={self.version})")
