"""Command line for the roles and for operators:

    python3 -m ideation_app migrate              apply pending database migrations
    python3 -m ideation_app check                exit 0 when PostgreSQL and Redis answer
    python3 -m ideation_app submit TITLE [-d D]  store an idea (and queue it unless --no-queue)
    python3 -m ideation_app show ID              print an idea as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

from .config import ConfigError, Settings
from .db import Database, PostgresIdeaStore, SchemaMissingError
from .ideas import InvalidIdeaError, NewIdea


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ideation_app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending migrations")
    commands.add_parser("check", help="check PostgreSQL and Redis")
    submit = commands.add_parser("submit", help="store an idea")
    submit.add_argument("title")
    submit.add_argument("-d", "--description", default="")
    submit.add_argument("--no-queue", action="store_true", help="leave it for the beat sweep")
    show = commands.add_parser("show", help="print an idea")
    show.add_argument("id", type=uuid.UUID)
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    database = Database(settings)
    store = PostgresIdeaStore(database)

    if args.command == "migrate":
        try:
            applied = database.migrate()
        except SchemaMissingError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        # The api role reads this line to report changed/ok.
        print(f"migrations applied: {applied}" if applied else "migrations: up to date")
        return 0
    if args.command == "check":
        database.ping()
        import redis

        redis.Redis.from_url(settings.broker_url(), socket_connect_timeout=2).ping()
        print("database: ok\nredis: ok")
        return 0
    if args.command == "submit":
        try:
            idea = store.create(NewIdea.from_json({"title": args.title,
                                                   "description": args.description}))
        except InvalidIdeaError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if not args.no_queue:
            from .tasks import enqueue

            enqueue(idea.id)
        print(json.dumps(idea.to_json()))
        return 0
    idea = store.get(args.id)
    if idea is None:
        print("no such idea", file=sys.stderr)
        return 1
    print(json.dumps(idea.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
