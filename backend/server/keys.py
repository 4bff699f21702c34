"""CurveZMQ key folders (`headfuse keys`).

```
OUT/server/server.key, server.key_secret     the server's pair  -> headfuse serve --curve-keys OUT/server
OUT/server/authorized_clients/NAME.key       the allow-list: public keys of clients the server accepts
OUT/NAME/client.key, client.key_secret       a client's pair    -> Client(..., curve_keys=OUT/NAME)
OUT/NAME/server.key                          the server's public key, so the client can verify it
```

Secret files are created readable by their owner only.
"""

import os
import re
import shutil
from pathlib import Path

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A client name: a folder directly inside the key folder (so never `.`, `..` or a hidden name)."""


def _pair(folder: Path, name: str) -> tuple[Path, Path]:
    import zmq.auth

    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def make_server_keys(out: Path) -> Path:
    """Create `out/server` with the server's key pair and an empty allow-list; refuses to overwrite."""
    server_dir = Path(out) / "server"
    if (server_dir / "server.key_secret").exists():
        raise FileExistsError(f"{server_dir} already holds server keys; add clients with --add-client NAME")
    _pair(server_dir, "server")
    (server_dir / "authorized_clients").mkdir(exist_ok=True)
    return server_dir


def check_client_name(name: str) -> str:
    """`name` if it can name a client's key folder; ValueError (one line) otherwise."""
    if not _NAME.fullmatch(name) or name == "server":
        raise ValueError(f"client name {name!r}: expected 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit (not 'server')")
    return name


def add_client(out: Path, name: str) -> Path:
    """Create the key folder `out/NAME` of a new client and put its public key on the server's allow-list."""
    check_client_name(name)
    out = Path(out)
    server_dir = out / "server"
    if not (server_dir / "server.key").is_file():
        raise FileNotFoundError(f"{server_dir}/server.key not found: run `headfuse keys --out {out}` first")
    client_dir = out / name
    if (client_dir / "client.key_secret").exists():
        raise FileExistsError(f"{client_dir} already holds client keys")
    public, _ = _pair(client_dir, "client")
    shutil.copyfile(server_dir / "server.key", client_dir / "server.key")
    shutil.copyfile(public, server_dir / "authorized_clients" / f"{name}.key")
    return client_dir
