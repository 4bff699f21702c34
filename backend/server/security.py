"""What the server refuses and how it keeps clients out: the refusal every handler raises, CurveZMQ with
a client allow-list, and the folders the local-path shortcut may read."""

import os
from pathlib import Path

import zmq


class Refused(Exception):
    """A request the server answers with ERROR `code` (a protocol error code) and one line."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def enable_curve(ctx: zmq.Context, sock: zmq.Socket, keys: Path):
    """CurveZMQ on `sock` with the server key pair in `keys` and its allow-list `keys/authorized_clients`;
    returns the running authenticator (stop it on close). One-line errors for missing or bad keys."""
    from zmq.auth import load_certificate
    from zmq.auth.thread import ThreadAuthenticator

    secret_file, allowed = keys / "server.key_secret", keys / "authorized_clients"
    if not secret_file.is_file():
        raise FileNotFoundError(f"{secret_file} not found: make keys with `headfuse keys --out {keys.parent}`")
    if not allowed.is_dir() or not any(allowed.glob("*.key")):
        raise FileNotFoundError(f"{allowed} holds no client public keys (*.key): no client could connect")
    public, secret = load_certificate(str(secret_file))
    if secret is None:
        raise ValueError(f"{secret_file} holds no secret key")
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=str(allowed))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    return auth


def local_input_path(allowed: list[Path], name: str, path: str) -> str:
    """The real path of an input a client names instead of uploading it, if it lies inside one of the
    `allowed` folders and exists; else `Refused` naming the input and why."""
    if not allowed:
        raise Refused(
            "path_not_allowed",
            f"{name}: this server takes no local paths (start it with --allow-local-paths DIR); upload the file",
        )
    real = Path(os.path.realpath(path))
    if not any(real == a or real.is_relative_to(a) for a in allowed):
        raise Refused(
            "path_not_allowed",
            f"{name}: {path} is outside the folders this server may read ({', '.join(map(str, allowed))})",
        )
    if not real.exists():
        raise Refused("bad_video" if name == "video" else "bad_reference", f"{name}: {path} does not exist")
    return str(real)
