"""`moodlake serve [--port N] [--open [--user NAME]]` and `moodlake serve token --user NAME`.

Light at import: the web stack and delta-rs are imported when the command runs.
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    serve = sub.add_parser(
        "serve", help="a page and a JSON API for each listener, over Gold, on 127.0.0.1"
    )
    serve.add_argument(
        "action", nargs="?", choices=["token"], help="token: make an access token for --user"
    )
    serve.add_argument("--port", type=int, help="default: MOODLAKE_SERVE_PORT (8765)")
    serve.add_argument(
        "--open",
        action="store_true",
        help="serve one listener (the only one, or --user) without tokens: for your own machine",
    )
    serve.add_argument("--user", help="account name or pseudonym")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from moodlake_dagster.reports import ReportError, resolve_user
    from moodlake_dagster.serve import tokens
    from moodlake_dagster.serve.data import Gold
    from moodlake_dagster.settings import load_settings

    settings = load_settings()
    gold = Gold(settings.lake_root)
    known = gold.known
    if args.action == "token":
        if not args.user:
            print("moodlake serve token: name the listener with --user NAME", file=sys.stderr)
            return 2
        try:
            user_id = resolve_user(args.user, known, settings.resolved_pseudonym_key())
        except ReportError:
            listed = ", ".join(known) or "none yet: run `moodlake build`"
            print(f"moodlake serve token: no listener {args.user!r}; listeners: {listed}")
            return 1
        token = tokens.create(settings.home, user_id)
        print(f"Access token for {user_id} (shown once; stored hashed in ", end="")
        print(f"{tokens.tokens_path(settings.home)}):")
        print(token)
        return 0
    open_user = None
    if args.open:
        try:
            open_user = resolve_user(args.user, known, settings.resolved_pseudonym_key())
        except ReportError as err:
            print(f"moodlake serve --open: {err}", file=sys.stderr)
            return 1
    elif args.user:
        print("moodlake serve: --user goes with --open or with `token`", file=sys.stderr)
        return 2
    import uvicorn

    from moodlake_dagster.serve.app import create_app

    port = args.port or settings.serve_port
    app = create_app(gold, settings.home, open_user=open_user)
    print(f"MoodLake serve: http://127.0.0.1:{port}/  ({len(known)} listener(s) in the lake)")
    if open_user:
        print(
            f"OPEN MODE: no tokens; everyone who can reach 127.0.0.1:{port} sees {open_user}'s data"
        )
    else:
        print(
            f"Each listener opens http://127.0.0.1:{port}/#token=<their token> "
            "(`moodlake serve token --user NAME` makes one)"
        )
    sys.stdout.flush()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
    return 0
