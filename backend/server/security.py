"""What the server refuses and how it keeps clients out: the refusal every handler raises, CurveZMQ with
a client allow-list, and the folders the local-path shortcut may read."""

import os
from pathlib import Path

import zmq

from headfuse_wire import protocol as P


class Refused(Exception):
    """A request the server answers with ERROR `code` (a protocol error code) and one line."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class CurveGuard:
    """CurveZMQ on a server socket with the key pair in `keys` and the allow-list `keys/authorized_clients`
    (one-line errors for missing or bad keys). The allow-list is read again whenever its files change
    (`reload_if_changed`, from the server's timer): a key added is let in, a key removed is refused at
    once, on new connections by the handshake and on open ones by `allows`."""

    def __init__(self, keys: Path):
        self.keys = Path(keys)
        self.folder = self.keys / "authorized_clients"
        self.secret_file = self.keys / "server.key_secret"
        if not self.secret_file.is_file():
            raise FileNotFoundError(
                f"{self.secret_file} not found: make keys with `headfuse keys --out {self.keys.parent}`"
            )
        if not self.folder.is_dir() or not any(self.folder.glob("*.key")):
            raise FileNotFoundError(f"{self.folder} holds no client public keys (*.key): no client could connect")
        self.allowed: set[bytes] = set()
        self._signature = None
        self._auth = None

    def enable(self, ctx: zmq.Context, sock: zmq.Socket) -> None:
        """Turn CURVE on for `sock` (before it binds) and start the authenticator."""
        from zmq.auth import load_certificate
        from zmq.auth.thread import ThreadAuthenticator

        public, secret = load_certificate(str(self.secret_file))
        if secret is None:
            raise ValueError(f"{self.secret_file} holds no secret key")
        self._auth = ThreadAuthenticator(ctx)
        self._auth.start()
        self.reload_if_changed()
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True

    def _files(self) -> tuple:
        try:
            return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in self.folder.glob("*.key")))
        except OSError:
            return ()

    def reload_if_changed(self) -> bool:
        """Read the allow-list again if its files changed since the last read; True when it did."""
        from zmq.auth import load_certificates

        signature = self._files()
        if signature == self._signature:
            return False
        self._signature = signature
        self.allowed = set(load_certificates(str(self.folder))) if self.folder.is_dir() else set()
        self._auth.configure_curve(domain="*", location=str(self.folder))
        return True

    def allows(self, user_id: str | None) -> bool:
        """Whether the client whose CURVE public key (Z85, the message's `User-Id`) sent a message is
        still on the allow-list."""
        return user_id is not None and user_id.encode() in self.allowed

    def stop(self) -> None:
        """Stop the authenticator."""
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


def exposed(endpoint: str) -> bool:
    """Whether a bind endpoint can be reached from other machines (tcp on anything but loopback)."""
    return not P.is_loopback(endpoint)


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
