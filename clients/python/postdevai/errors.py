"""The exceptions a call to a node raises: one class per engine error.

Every failed call raises a subclass of :class:`MemoryError` (also reachable as
:class:`Error`, which does not shadow Python's built-in ``MemoryError``).
``str(e)`` is the node's message, ``e.code`` the engine's error code name
(``"not_found"``, ``"too_large"``, ...; the ``postdevai-error`` trailer when the
node sent one, else derived from the gRPC status) and ``e.grpc_code`` the
:class:`grpc.StatusCode` (``None`` for a mistake caught before any call).
"""

from __future__ import annotations

from typing import Dict, Optional, Type

import grpc

__all__ = [
    "Error",
    "NotFound",
    "InvalidArgument",
    "TooLarge",
    "NoSpace",
    "Closed",
    "Unavailable",
    "DeadlineExceeded",
    "Unauthenticated",
    "Corruption",
    "IoError",
    "Busy",
    "Unimplemented",
]

# The trailer in which the node names the engine's error code (memory.proto).
ERROR_TRAILER = "postdevai-error"


class MemoryError(Exception):  # noqa: A001 - the package's own name for its base error
    """A call to a dragon_node failed. Base class of every error of this package."""

    #: The engine's error code name this class stands for.
    default_code = "unknown"

    def __init__(self, message: str, code: Optional[str] = None,
                 grpc_code: Optional[grpc.StatusCode] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.grpc_code = grpc_code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        grpc_name = self.grpc_code.name if self.grpc_code is not None else None
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, grpc_code={grpc_name})"


#: Alias of :class:`MemoryError` that does not shadow the built-in name.
Error = MemoryError


class NotFound(MemoryError):
    """Unknown id, path, session or key."""
    default_code = "not_found"


class InvalidArgument(MemoryError, ValueError):
    """Empty key, wrong model or dimension, NaN or infinite values, bad limit or filter."""
    default_code = "invalid_argument"


class TooLarge(MemoryError):
    """A value over the node's limit, or a message over the gRPC size limit."""
    default_code = "too_large"


class NoSpace(MemoryError):
    """The node's disk is full."""
    default_code = "no_space"


class Closed(MemoryError):
    """The node refuses writes (read-only replica, closed store)."""
    default_code = "closed"


class Unavailable(MemoryError):
    """The node cannot be reached, is stopping, or its engine does not answer."""
    default_code = "unavailable"


class DeadlineExceeded(Unavailable):
    """The call took longer than its deadline (a kind of :class:`Unavailable`)."""
    default_code = "deadline_exceeded"


class Unauthenticated(MemoryError):
    """The node wants an access token and none or another one came."""
    default_code = "unauthenticated"


class Corruption(MemoryError):
    """Stored bytes failed a checksum."""
    default_code = "corruption"


class IoError(MemoryError):
    """The node failed to read or write its storage."""
    default_code = "io_error"


class Busy(MemoryError):
    """The node is too busy to take the call now; try again."""
    default_code = "busy"


class Unimplemented(MemoryError):
    """The node does not know this call (it is older than this client)."""
    default_code = "unimplemented"


# The engine's codes (the trailer's values) and their classes.
_BY_ENGINE_CODE: Dict[str, Type[MemoryError]] = {
    "not_found": NotFound,
    "corruption": Corruption,
    "invalid_argument": InvalidArgument,
    "io_error": IoError,
    "no_space": NoSpace,
    "too_large": TooLarge,
    "closed": Closed,
    "unavailable": Unavailable,
    "busy": Busy,
}

# Without a trailer (the error came from gRPC itself, or from a node that sent
# none): the class by gRPC status.
_BY_GRPC_CODE: Dict[grpc.StatusCode, Type[MemoryError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TooLarge,
    grpc.StatusCode.FAILED_PRECONDITION: Closed,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.CANCELLED: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.DATA_LOSS: Corruption,
    grpc.StatusCode.INTERNAL: IoError,
    grpc.StatusCode.ABORTED: Busy,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


def _trailer(error: grpc.RpcError) -> Optional[str]:
    trailing = getattr(error, "trailing_metadata", None)
    if trailing is None:
        return None
    try:
        metadata = trailing() or ()
    except Exception:  # pragma: no cover - a call object without metadata
        return None
    for key, value in metadata:
        if key == ERROR_TRAILER:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def from_rpc_error(error: grpc.RpcError, target: str, tls: bool = False) -> MemoryError:
    """The exception for a failed call to the node at ``target`` (over TLS or not)."""
    grpc_code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(error)
    engine_code = _trailer(error)
    if engine_code is not None:
        cls = _BY_ENGINE_CODE.get(engine_code, MemoryError)
        return cls(message, code=engine_code, grpc_code=grpc_code)

    # No trailer: gRPC itself (or the node's access check) answered. Say what
    # happened in the node's terms where gRPC's own words are cryptic.
    cls = _BY_GRPC_CODE.get(grpc_code, MemoryError)
    if grpc_code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in message:
        message = (f"the request is larger than the gRPC message limit of the node at {target} "
                   f"({message}); send less per call (see Memory.info().max_message_bytes) "
                   "or raise [grpc] max_message_mb on the node")
    elif grpc_code == grpc.StatusCode.UNAVAILABLE:
        message = f"the node at {target} is not reachable ({message})"
        if tls and ("Socket closed" in message or "andshake" in message):
            message += ("; over TLS this usually means the handshake failed: check that the node's [node] ca_file "
                        "signed this client's certificate, and the client's ca_file and server_name for the "
                        "node's certificate")
        elif not tls and "Socket closed" in message:
            message += "; if the node serves TLS ([node] certificate), connect with tls=TlsConfig(...)"
    elif grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"the node at {target} did not answer in time ({message})"
    elif grpc_code == grpc.StatusCode.CANCELLED:
        message = f"the call to the node at {target} was cancelled ({message})"
    elif grpc_code == grpc.StatusCode.UNIMPLEMENTED:
        message = f"the node at {target} does not serve this call; is it older than this client? ({message})"
    code = cls.default_code if cls is not MemoryError else grpc_code.name.lower()
    return cls(message, code=code, grpc_code=grpc_code)
