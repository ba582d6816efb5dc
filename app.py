"""Start the RWKV Simple GUI: ``python app.py [--host H] [--port P] [--share --auth user:pass] [--lang zh|en]``."""

from __future__ import annotations

import argparse
import secrets
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs a password)")
    p.add_argument("--auth", metavar="USER:PASS", help="require this user and password")
    p.add_argument("--lang", choices=["zh", "en"], help="interface language (default: the browser's)")
    p.add_argument("--no-browser", action="store_true", help="don't open a browser window")
    args = p.parse_args(argv)
    if args.auth is not None and ":" not in args.auth:
        p.error("--auth takes USER:PASS, e.g. --auth rwkv:s3cret")
    return args


def resolve_auth(args: argparse.Namespace) -> tuple[str, str] | None:
    """USER:PASS as a tuple; a public link without one gets a generated password, never none."""
    if args.auth:
        user, password = args.auth.split(":", 1)
        return user, password
    exposed = args.share or args.host not in ("127.0.0.1", "localhost", "::1")
    if not exposed:
        return None
    password = secrets.token_urlsafe(12)
    print(f"* The app is reachable from other machines, so it is password-protected.\n"
          f"*   user: rwkv   password: {password}\n"
          f"* Choose your own with --auth USER:PASS.", flush=True)
    return "rwkv", password


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    auth = resolve_auth(args)
    from rwkv_simple_gui import paths
    from rwkv_simple_gui.demo import ensure_demo_model
    from rwkv_simple_gui.ui.app import build_app, launch_kwargs

    made = ensure_demo_model()
    if made:
        print(f"* model/ was empty: generated a tiny demo base model {paths.display(made)} to try the app on a CPU.")
    demo = build_app()
    demo.launch(**launch_kwargs(lang=args.lang, auth=auth, share=args.share, host=args.host, port=args.port,
                                open_browser=not args.no_browser and not args.share))
    return 0


if __name__ == "__main__":
    sys.exit(main())
