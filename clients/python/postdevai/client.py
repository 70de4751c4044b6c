"""The client of a dragon_node's gRPC API (postdevai.memory.v1)."""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

try:
    from postdevai.memory.v1 import memory_pb2 as pb
    from postdevai.memory.v1 import memory_pb2_grpc as pb_grpc
except ImportError as missing:  # pragma: no cover - a source checkout without the build step
    raise ImportError(
        "postdevai's generated gRPC code (postdevai/memory/v1/memory_pb2.py) is missing: build it with "
        "`cmake --build build --target postdevai_python_client` and use the package in build/python "
        f"({missing})") from missing

from postdevai import errors
from postdevai.errors import InvalidArgument, Unavailable
from postdevai.results import (Appended, BackupResult, Chunk, CodeFile, CompactResult, Eviction, Finding, IngestResult, Info,
                               MetadataValue, SearchHit, SessionContext, Stats, Stored, StoreKindStats, SyncResult,
                               Write)

__all__ = ["Memory", "TlsConfig", "DEFAULT_TARGET"]

#: Where a dragon_node serves its gRPC API unless its config says otherwise.
DEFAULT_TARGET = "127.0.0.1:4710"

Bytes = Union[bytes, bytearray, memoryview, str]
Vector = Sequence[float]


@dataclass(frozen=True)
class TlsConfig:
    """TLS towards the node.

    ``ca_file``: PEM file of the CA that signed the node's certificate (None: the
    system's roots). ``certificate`` and ``key``: PEM files of this client's
    certificate and private key, for a node that requires mutual TLS
    (``[node] ca_file`` set). ``server_name``: the name to check the node's
    certificate against when it differs from the host in the target.
    """
    ca_file: Optional[str] = None
    certificate: Optional[str] = None
    key: Optional[str] = None
    server_name: Optional[str] = None

    def _credentials(self) -> grpc.ChannelCredentials:
        if (self.certificate is None) != (self.key is None):
            raise InvalidArgument("TLS: a client certificate needs its key and a key its certificate "
                                  f"(certificate={self.certificate!r}, key={self.key!r})")
        return grpc.ssl_channel_credentials(
            root_certificates=_read_file(self.ca_file, "CA file"),
            private_key=_read_file(self.key, "key"),
            certificate_chain=_read_file(self.certificate, "certificate"))


def _read_file(path: Optional[str], what: str) -> Optional[bytes]:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InvalidArgument(f"cannot read the {what} {path}: {e.strerror}") from None


def _bytes(value: Bytes, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidArgument(f"{what} must be bytes or str, not {type(value).__name__}")


def _search_mode(request, mode: str) -> int:
    modes = {"hybrid": request.HYBRID, "lexical": request.LEXICAL, "vector": request.VECTOR}
    if mode not in modes:
        raise InvalidArgument(f"unknown search mode {mode!r}: hybrid, lexical or vector")
    return modes[mode]


def _text(value: Union[str, bytes], what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidArgument(f"{what} must be UTF-8 text: {e}") from None
    raise InvalidArgument(f"{what} must be str, not {type(value).__name__}")


def _vector(values: Any) -> "pb.Vector":
    if hasattr(values, "tolist"):  # numpy arrays and the like
        values = values.tolist()
    try:
        return pb.Vector(values=values)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"a vector must be a sequence of floats: {e}") from None


def _indexing(embeddings: Optional[Iterable[Vector]], embed: bool, what: str) -> Tuple[int, List["pb.Vector"]]:
    if embeddings is not None and embed:
        raise InvalidArgument(f"{what}: give embeddings or embed=True (the node's built-in embedder), not both")
    if embeddings is not None:
        return pb.CALLER_EMBEDDINGS, [_vector(v) for v in embeddings]
    return (pb.BUILTIN_EMBEDDER if embed else pb.NOT_INDEXED), []


_OWNERS = {
    None: pb.SearchRequest.ANY,
    "any": pb.SearchRequest.ANY,
    "code": pb.SearchRequest.CODE,
    "session": pb.SearchRequest.SESSIONS,
    "sessions": pb.SearchRequest.SESSIONS,
}


class Memory:
    """A connection to a dragon_node.

    ``target``: the node's gRPC address, "HOST:PORT". ``token`` (or
    ``token_file``, whose first line is read): the access token of a node with
    ``[node] token_file``. ``tls``: a :class:`TlsConfig` for a node with
    ``[node] certificate`` (``True``: TLS with the system's roots; None:
    plaintext, which the node allows on loopback only). ``timeout``: the
    deadline of each call in seconds (None: none); every method takes
    ``timeout=`` to override it for one call. ``options``: more gRPC channel
    arguments.

    Connecting is lazy: the first call connects, and a node that cannot be
    reached raises :class:`postdevai.Unavailable`. Use it as a context manager,
    or call :meth:`close`. One instance may be shared by threads.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, token: Optional[str] = None,
                 token_file: Optional[str] = None, tls: Union[TlsConfig, bool, None] = None,
                 timeout: Optional[float] = 30.0,
                 options: Optional[Sequence[Tuple[str, Any]]] = None) -> None:
        if token is not None and token_file is not None:
            raise InvalidArgument("give token or token_file, not both")
        if token_file is not None:
            raw = _read_file(token_file, "token file") or b""
            token = raw.decode("utf-8", "replace").split("\n", 1)[0].strip()
            if not token:
                raise InvalidArgument(f"the token file {token_file} is empty")
        if token is not None:
            token = token.strip()
            if not token or not token.isprintable() or not token.isascii():
                raise InvalidArgument("the access token must be non-empty printable ASCII")
        self.target = target
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        # Replies may be as large as the node's largest value, requests as large
        # as the node accepts: the node enforces its limits, the client none.
        channel_options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        if tls is True:
            tls = TlsConfig()
        if tls and tls.server_name:
            channel_options.append(("grpc.ssl_target_name_override", tls.server_name))
        channel_options += list(options or ())
        if tls:
            self._channel = grpc.secure_channel(target, tls._credentials(), options=channel_options)
        else:
            self._channel = grpc.insecure_channel(target, options=channel_options)
        self._tls = bool(tls)
        self._stub = pb_grpc.MemoryStub(self._channel)
        self._closed = False

    # --- connection ---

    def close(self) -> None:
        """Closes the connection; calls in flight are cancelled."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Memory({self.target!r}{', closed' if self._closed else ''})"

    def _deadline(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else timeout

    def _call(self, rpc: Any, request: Any, timeout: Optional[float]) -> Any:
        if self._closed:
            raise Unavailable(f"this connection to {self.target} is closed")
        try:
            return rpc(request, timeout=self._deadline(timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, self.target, self._tls) from None
        except ValueError as e:
            if "closed channel" not in str(e):
                raise
            raise Unavailable(f"this connection to {self.target} is closed") from None

    # --- code files ---

    def store_code(self, path: str, content: Bytes, language: str = "",
                   embeddings: Optional[Iterable[Vector]] = None, embed: bool = False, *,
                   model: Optional[str] = None, timeout: Optional[float] = None) -> Stored:
        """Stores (or replaces) one file, byte for byte.

        Not indexed unless ``embed=True`` (the node's built-in embedder) or
        ``embeddings`` is given: one vector of the node's model and dimension
        per chunk of :meth:`chunks` (content), in order. Vectors the path had
        are replaced, or removed when the new content is not indexed.
        ``model`` names the model of ``embeddings``: a node storing another
        model's vectors refuses them (InvalidArgument naming both).
        """
        request = self._code_request(path, content, language, embeddings, embed)
        if model:
            request.model = model
        reply = self._call(self._stub.StoreCode, request, timeout)
        return Stored(reply.id, reply.lsn)

    def ingest(self, files: Iterable[Any], *, embed: bool = False,
               timeout: Optional[float] = None) -> IngestResult:
        """Stores many files in one stream; the node writes them in batches.

        Each item is ``(path, content)``, ``(path, content, language)`` or a
        dict with ``path``, ``content`` and optionally ``language``,
        ``embeddings`` and ``embed``; ``embed`` is the default of items that
        do not say (items with their own ``embeddings`` are not embedded).
        ``files`` is consumed lazily (a generator reading a tree works).
        Files the node refuses (too large, wrong dimension) are listed in the
        result's ``refused`` and the rest is stored; any other error ends the
        stream and raises (batches written before it stay).
        ``timeout`` bounds the whole stream; by default it has none.
        """
        if self._closed:
            raise Unavailable(f"this connection to {self.target} is closed")
        failure: List[BaseException] = []
        started = threading.Event()
        holder: List[Any] = []

        def requests() -> Iterable[Any]:
            started.wait()
            items = iter(files)
            while True:
                try:
                    item = next(items)
                except StopIteration:
                    return
                try:
                    request = self._ingest_request(item, embed)
                except BaseException as e:  # a bad item, or the iterable failed: end without storing more
                    failure.append(e)
                    holder[0].cancel()
                    return
                yield request

        future = self._stub.IngestCode.future(requests(), timeout=timeout, metadata=self._metadata)
        holder.append(future)
        started.set()
        try:
            reply = future.result()
        except grpc.FutureCancelledError:
            if failure:
                raise failure[0]
            raise Unavailable(f"the ingest to {self.target} was cancelled") from None
        except grpc.RpcError as e:
            if failure:
                raise failure[0]
            raise errors.from_rpc_error(e, self.target, self._tls) from None
        except BaseException:  # KeyboardInterrupt and the like: stop the stream
            future.cancel()
            raise
        return IngestResult._from_pb(reply)

    def chunks(self, content: Bytes, *, timeout: Optional[float] = None) -> List[Chunk]:
        """How the node splits ``content`` into chunks: embed each, in order,
        for :meth:`store_code` with ``embeddings``."""
        reply = self._call(self._stub.ChunkCode, pb.ChunkCodeRequest(content=_bytes(content, "content")), timeout)
        return [Chunk(c.text, c.first_line, c.last_line) for c in reply.chunks]

    def get_code(self, id: Optional[str] = None, path: Optional[str] = None, *,  # noqa: A002 - the API's name
                 timeout: Optional[float] = None) -> CodeFile:
        """A stored file by its id or by its path (exactly one); :class:`postdevai.NotFound` if none."""
        if (id is None) == (path is None):
            raise InvalidArgument("get_code needs an id or a path (exactly one)")
        request = pb.GetCodeRequest(id=id) if id is not None else pb.GetCodeRequest(path=path)
        return CodeFile._from_pb(self._call(self._stub.GetCode, request, timeout))

    def delete_code(self, path: str, *, timeout: Optional[float] = None) -> Write:
        """Deletes a file and its vectors."""
        return Write(self._call(self._stub.DeleteCode, pb.DeleteCodeRequest(path=path), timeout).lsn)

    # --- sessions ---

    def store_context(self, session: str, messages: Iterable[Union[str, bytes]],
                      embeddings: Optional[Iterable[Vector]] = None, embed: bool = False, *,
                      model: Optional[str] = None, timeout: Optional[float] = None) -> Write:
        """Replaces a session's messages; indexes them with ``embed=True`` (the
        built-in embedder) or ``embeddings`` (one vector per message, of
        ``model`` when given)."""
        indexing, vectors = _indexing(embeddings, embed, f"store_context {session}")
        request = pb.StoreContextRequest(session=session, messages=[_text(m, "a message") for m in messages],
                                         indexing=indexing, embeddings=vectors, model=model or "")
        return Write(self._call(self._stub.StoreContext, request, timeout).lsn)

    def append_context(self, session: str, message: Union[str, bytes], *,
                       timeout: Optional[float] = None) -> Appended:
        """Appends one message to a session (concurrent appends are never lost)."""
        request = pb.AppendContextRequest(session=session, message=_text(message, "the message"))
        reply = self._call(self._stub.AppendContext, request, timeout)
        return Appended(reply.lsn, reply.messages)

    def get_context(self, session: str, *, timeout: Optional[float] = None) -> SessionContext:
        """A session's messages; :class:`postdevai.NotFound` for an unknown session."""
        reply = self._call(self._stub.GetContext, pb.GetContextRequest(session=session), timeout)
        return SessionContext._from_pb(reply)

    # --- metadata ---

    def put_metadata(self, key: str, value: Bytes, *, timeout: Optional[float] = None) -> Write:
        """Stores a small value under ``key`` (str values are stored as UTF-8)."""
        request = pb.PutMetadataRequest(key=key, value=_bytes(value, "the value"))
        return Write(self._call(self._stub.PutMetadata, request, timeout).lsn)

    def get_metadata(self, key: str, *, timeout: Optional[float] = None) -> MetadataValue:
        """The value under ``key`` (bytes; ``.text`` decodes it); :class:`postdevai.NotFound` if none."""
        return MetadataValue._from_pb(self._call(self._stub.GetMetadata, pb.GetMetadataRequest(key=key), timeout))

    def delete_metadata(self, key: str, *, timeout: Optional[float] = None) -> Write:
        """Deletes the value under ``key``."""
        return Write(self._call(self._stub.DeleteMetadata, pb.DeleteMetadataRequest(key=key), timeout).lsn)

    # --- search ---

    def search_similar(self, vector: Vector, limit: int = 10, owner: Optional[str] = None,
                       path_prefix: Optional[str] = None, language: Optional[str] = None,
                       session: Optional[str] = None, exact: bool = False, *,
                       model: Optional[str] = None, keywords: Optional[str] = None,
                       timeout: Optional[float] = None) -> List[SearchHit]:
        """The stored chunks and messages nearest to ``vector`` (of the node's
        model and dimension; ``model`` names it, checked by the node), best
        first. ``owner``: None (both), "code" or "sessions"; ``path_prefix``,
        ``language`` and ``session`` filter; ``exact`` scores every vector at
        full precision (slower). With ``keywords`` (the query's text), a
        hybrid search: the node's keyword ranking of files fused with this
        vector's ranking, one hit per file."""
        request = self._search_request(limit, owner, path_prefix, language, session, exact)
        request.vector.CopyFrom(_vector(vector))
        if keywords:
            request.keywords = _text(keywords, "the keywords")
        else:
            request.mode = request.VECTOR
        if model:
            request.model = model
        return [SearchHit._from_pb(h) for h in self._call(self._stub.Search, request, timeout).hits]

    def search_text(self, text: str, limit: int = 10, owner: Optional[str] = None,
                    path_prefix: Optional[str] = None, language: Optional[str] = None,
                    session: Optional[str] = None, exact: bool = False, *, mode: str = "hybrid",
                    timeout: Optional[float] = None) -> List[SearchHit]:
        """The stored files (or chunks) that best match ``text``, best first.
        ``mode``: "hybrid" (default) fuses the node's keyword (BM25) ranking
        of files with the vector ranking of the text embedded by the built-in
        embedder, one hit per file with its best chunk's lines; "lexical"
        ranks by keywords only; "vector" by the embedding only (chunks; nodes
        whose model is "lexical-v1"). A text of only common words finds
        nothing (an empty list)."""
        request = self._search_request(limit, owner, path_prefix, language, session, exact)
        request.text = _text(text, "the text")
        request.mode = _search_mode(request, mode)
        return [SearchHit._from_pb(h) for h in self._call(self._stub.Search, request, timeout).hits]

    # --- operations ---

    def info(self, *, timeout: Optional[float] = None) -> Info:
        """The node's vector model and dimension, its limits and version."""
        return Info._from_pb(self._call(self._stub.Info, pb.InfoRequest(), timeout))

    def stats(self, *, timeout: Optional[float] = None) -> Stats:
        """Partitions, sync state, counters and latencies."""
        return Stats._from_pb(self._call(self._stub.Stats, pb.StatsRequest(), timeout))

    def breakdown(self, *, timeout: Optional[float] = None) -> List[StoreKindStats]:
        """The persistent store per kind of data."""
        reply = self._call(self._stub.Breakdown, pb.BreakdownRequest(), timeout)
        return [StoreKindStats._from_pb(k) for k in reply.kinds]

    def evict(self, older_than_seconds: Union[float, datetime.timedelta], dry_run: bool = False, *,
              timeout: Optional[float] = None) -> List[Eviction]:
        """Evicts clean RAM entries unused for ``older_than_seconds`` (seconds or a
        timedelta); they stay on disk. ``dry_run`` says what would go."""
        if isinstance(older_than_seconds, datetime.timedelta):
            older_than_seconds = older_than_seconds.total_seconds()
        if older_than_seconds < 0:
            raise InvalidArgument(f"evict: older_than_seconds must be >= 0, got {older_than_seconds}")
        request = pb.EvictRequest(older_than_seconds=int(older_than_seconds), dry_run=dry_run)
        reply = self._call(self._stub.Evict, request, timeout)
        return [Eviction(e.kind, e.entries, e.bytes) for e in reply.partitions]

    def sync(self, *, timeout: Optional[float] = None) -> SyncResult:
        """Checkpoints now."""
        return SyncResult(self._call(self._stub.Sync, pb.SyncRequest(), timeout).checkpoint_lsn)

    def compact(self, *, timeout: Optional[float] = None) -> CompactResult:
        """Compacts the persistent store."""
        return CompactResult(self._call(self._stub.Compact, pb.CompactRequest(), timeout).disk_bytes)

    def backup(self, *, timeout: Optional[float] = None) -> BackupResult:
        """A consistent backup into the node's backup location while writes go on."""
        r = self._call(self._stub.Backup, pb.BackupRequest(), timeout)
        return BackupResult(r.path, r.store, r.lsn, r.files, r.bytes, r.seconds, r.pruned_backups, r.pruned_segments)

    def diagnose(self, *, timeout: Optional[float] = None) -> List[Finding]:
        """Health findings, each with what to do about it."""
        reply = self._call(self._stub.Diagnose, pb.DiagnoseRequest(), timeout)
        return [Finding(f.check, f.status, f.finding, f.action) for f in reply.findings]

    # --- requests ---

    @staticmethod
    def _code_request(path: str, content: Bytes, language: str, embeddings: Optional[Iterable[Vector]],
                      embed: bool) -> "pb.StoreCodeRequest":
        indexing, vectors = _indexing(embeddings, embed, f"store_code {path}")
        return pb.StoreCodeRequest(path=_text(path, "the path"), content=_bytes(content, f"the content of {path}"),
                                   language=_text(language or "", "the language"), indexing=indexing,
                                   embeddings=vectors)

    def _ingest_request(self, item: Any, embed: bool) -> "pb.StoreCodeRequest":
        if isinstance(item, Mapping):
            unknown = set(item) - {"path", "content", "language", "embeddings", "embed"}
            if unknown or "path" not in item or "content" not in item:
                raise InvalidArgument("ingest: a file is a dict with path and content (and optionally language, "
                                      f"embeddings, embed); got the keys {sorted(item)}")
            embeddings = item.get("embeddings")
            # A file with its own embeddings is not also given to the built-in embedder.
            item_embed = item.get("embed", embed and embeddings is None)
            return self._code_request(item["path"], item["content"], item.get("language", ""), embeddings,
                                      item_embed)
        if isinstance(item, (tuple, list)) and len(item) in (2, 3):
            return self._code_request(item[0], item[1], item[2] if len(item) == 3 else "", None, embed)
        raise InvalidArgument("ingest: a file is (path, content), (path, content, language) or a dict, not "
                              f"{type(item).__name__}")

    @staticmethod
    def _search_request(limit: int, owner: Optional[str], path_prefix: Optional[str], language: Optional[str],
                        session: Optional[str], exact: bool) -> "pb.SearchRequest":
        if owner not in _OWNERS:
            raise InvalidArgument(f"search: owner is None, \"code\" or \"sessions\", not {owner!r}")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 0xFFFFFFFF:
            raise InvalidArgument(f"search: limit must be an integer in 1..10000, got {limit!r}")
        return pb.SearchRequest(limit=limit, owner=_OWNERS[owner], path_prefix=path_prefix or "",
                                language=language or "", session=session or "", exact=exact)
