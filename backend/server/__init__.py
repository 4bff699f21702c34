"""The inference server: ZeroMQ protocol (`headfuse_wire.protocol`), jobs, a job store that survives
crashes, local worker processes and CurveZMQ security. `headfuse serve` runs it."""

from backend.server.config import ServerConfig
from backend.server.server import Server

__all__ = ["Server", "ServerConfig"]
