"""Start the RWKV Simple GUI: ``python app.py [--host H] [--port P] [--share --auth user:pass] [--lang zh|en]``."""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import re
import secrets
import sys
from pathlib import Path

# pandas 3 keeps text columns in Arrow, whose own allocator held on to what every poll freed: 20 clients grew the app
# 10.1 MiB/min with it and 3.0 with glibc's, side by side (bench/RESULTS-issue22.md). Set before pandas is imported.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int) -> bool:
    """Let glibc's malloc share ``arenas`` arenas among all threads (unless the admin set $MALLOC_ARENA_MAX). By
    default each new thread gets an arena of its own, up to 8 per core, and each keeps what its threads freed:
    Gradio's worker threads held 24 -> 66 MiB free in 30 minutes of 20 clients, ~7 MiB with 2 arenas
    (bench/RESULTS-issue22.md). False where there is no glibc."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


limit_malloc_arenas(MALLOC_ARENAS)  # before any thread allocates

AUTH_ENV = "RWKV_SIMPLE_GUI_AUTH"
PROXY_ENV = "FORWARDED_ALLOW_IPS"  # uvicorn's: whose X-Forwarded-For names the client
SIZE_UNITS = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


def parse_size(text: str) -> int:
    """``500mb``, ``2gb``, ``64kb``, ``1024b`` -> bytes (1 kb = 1024 b, as Gradio counts)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?b)\s*", text.lower())
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write it like 500mb or 2gb")
    return int(m.group(1)) * SIZE_UNITS[m.group(2)]


def parse_proxy(text: str) -> str:
    """An address (``127.0.0.1``) or network (``10.0.0.0/8``) of a reverse proxy in front of the app."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or network, e.g. 127.0.0.1 or "
                                         "10.0.0.0/8") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs a password)")
    p.add_argument("--auth", metavar="USER:PASS",
                   help=f"require this user and password (other users of the machine see it in ps: "
                        f"prefer --auth-file or ${AUTH_ENV})")
    p.add_argument("--auth-file", metavar="FILE", help="read USER:PASS from the first line of FILE")
    p.add_argument("--allow-path", action="append", default=[], metavar="FOLDER",
                   help="also let the app read files under FOLDER (repeatable), e.g. models on another disk; "
                        "it writes only into the project folders")
    p.add_argument("--max-upload", type=parse_size, default="1gb", metavar="SIZE",
                   help="largest file a browser may upload, e.g. 500mb or 4gb (default 1gb)")
    p.add_argument("--trusted-proxy", type=parse_proxy, action="append", default=[], metavar="ADDR",
                   help="a reverse proxy in front of the app (e.g. 127.0.0.1 for nginx on this machine; repeatable): "
                        "its X-Forwarded-For header names the client for the sign-in brake. By default no address "
                        "is trusted, so each connection's own address is braked")
    p.add_argument("--lang", choices=["zh", "en"], help="interface language (default: the browser's)")
    p.add_argument("--no-browser", action="store_true", help="don't open a browser window")
    args = p.parse_args(argv)
    try:
        args.credentials = read_credentials(args)
    except ValueError as err:
        p.error(str(err))
    return args


def read_credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    """USER:PASS from --auth, else --auth-file, else $RWKV_SIMPLE_GUI_AUTH; None when none is given.
    An empty user or password is refused: nobody could sign in."""
    if args.auth is not None:
        text, source = args.auth, "--auth"
    elif args.auth_file:
        source = f"--auth-file {args.auth_file}"
        try:
            text = (Path(args.auth_file).read_text(encoding="utf-8").splitlines() or [""])[0]
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"{source}: cannot read it ({err})") from None
    elif os.environ.get(AUTH_ENV):
        text, source = os.environ[AUTH_ENV], f"${AUTH_ENV}"
    else:
        return None
    user, colon, password = text.partition(":")
    if not colon:
        raise ValueError(f"{source} takes USER:PASS, e.g. rwkv:s3cret")
    if not user.strip() or not password:
        raise ValueError(f"{source}: the {'user' if not user.strip() else 'password'} is empty, so nobody could "
                         "sign in; give USER:PASS, e.g. rwkv:s3cret")
    return user.strip(), password


def resolve_auth(args: argparse.Namespace) -> tuple[str, str] | None:
    """USER:PASS as a tuple; a public link without one gets a generated password, never none."""
    if args.credentials:
        return args.credentials
    exposed = args.share or args.host not in ("127.0.0.1", "localhost", "::1")
    if not exposed:
        return None
    password = secrets.token_urlsafe(12)
    print(f"* The app is reachable from other machines, so it is password-protected.\n"
          f"*   user: rwkv   password: {password}\n"
          f"* Choose your own with --auth-file FILE (or --auth USER:PASS).", flush=True)
    return "rwkv", password


def trust_proxies(proxies: list[str]) -> str:
    """Set which proxies' X-Forwarded-For uvicorn believes: ``--trusted-proxy``, else an admin's own
    $FORWARDED_ALLOW_IPS, else none (uvicorn's default, 127.0.0.1, lets any program on this machine, or
    anyone through an ssh tunnel, claim a new address with each wrong password)."""
    if proxies:
        os.environ[PROXY_ENV] = ",".join(proxies)
    os.environ.setdefault(PROXY_ENV, "")
    return os.environ[PROXY_ENV]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    auth = resolve_auth(args)
    from rwkv_simple_gui import paths
    from rwkv_simple_gui.demo import ensure_demo_model
    from rwkv_simple_gui.ui import common
    from rwkv_simple_gui.ui.app import build_app, launch_kwargs

    try:
        paths.confine(allow_read=args.allow_path)  # a browser may only reach the project folders
    except paths.PathRefused as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for left in paths.remove_leftovers():
        print(f"* removed {paths.display(left)}, left by a run that was killed")
    common.MAX_UPLOAD = args.max_upload
    trusted = trust_proxies(args.trusted_proxy)
    if trusted:
        print(f"* X-Forwarded-For is believed from {trusted} only (--trusted-proxy / ${PROXY_ENV})")
    made = ensure_demo_model()
    if made:
        print(f"* model/ was empty: generated a tiny demo base model {paths.display(made)} to try the app on a CPU.")
    demo = build_app()
    demo.launch(**launch_kwargs(lang=args.lang, auth=auth, share=args.share, host=args.host, port=args.port,
                                open_browser=not args.no_browser and not args.share), prevent_thread_lock=True)
    # our own start lines: Gradio's would advise share=True in launch(), where ours is a flag
    print(f"* Running on {demo.local_url}", flush=True)
    print(f"* Public link: {demo.share_url}" if demo.share_url else
          "* To open a public link as well, start it with: python app.py --share", flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
