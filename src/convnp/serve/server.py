"""``serve``: what ``convnp serve`` runs: load the models, listen, answer until Ctrl-C."""
import ipaddress
import socket
import sys

from .guard import LOOPBACK_NAMES
from .models import ModelStore


def serve(models=(), host="127.0.0.1", port=8000, runs=None, *, out=None, err=None):
    """Serve the page and the API for ``models`` (files) and the runs folder; returns 0 when stopped.

    Args:
        models: model files; only these (and those under ``runs``) can be used.
        host: the address to listen on; anything but a loopback address prints a warning
            (the page has no login: everyone who can reach the address can use it).
        port: 0 picks a free port (the address printed says which).
        runs: a folder searched for <run>/model.npz; default "runs" when ``models`` is empty.
            The page's train button writes new runs there.
        out, err: where the address and warnings are printed (default stdout and stderr).
    Raises: ValueError for a bad port or a model file that cannot be served; OSError when the
        address cannot be listened on.
    """
    try:
        import uvicorn
    except ImportError:
        raise ImportError("convnp serve needs starlette, uvicorn and Pillow: pip install 'convnp[serve]'") from None
    from .app import create_app

    out, err = out or sys.stdout, err or sys.stderr
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"serve: port must be 0..65535, got {port!r}")
    store = ModelStore(models, "runs" if runs is None and not models else runs)
    local = is_loopback(host)
    if not local:
        print(f"convnp serve: warning: listening on {host}: anyone who can reach this address can use the page"
              " and its train button (no login); the default --host 127.0.0.1 keeps it to this machine", file=err)
    sock = listen(host, port)
    app = create_app(store, allowed_hosts=(*LOOPBACK_NAMES, host) if local else None)
    usable = sum(e.error is None for e in store.entries())
    where = f" (and any found under {store.runs}/)" if store.runs is not None else ""
    print(f"convnp serve: {usable} model(s){where}; open {url(sock)}  (Ctrl-C stops)", file=out, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:     # uvicorn stops on Ctrl-C, then raises it again: the normal way to stop
        pass
    finally:
        sock.close()
    print("convnp serve: stopped", file=out, flush=True)
    return 0


def is_loopback(host):
    """True for localhost and addresses such as 127.0.0.1 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host, port):
    """A TCP socket listening on (host, port), for uvicorn to serve; OSError naming the address."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise OSError(f"serve: cannot listen on {host}:{port}: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)         # connections wait in the queue from now on, before uvicorn runs
    except OSError as e:
        sock.close()
        raise OSError(f"serve: cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def url(sock):
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
