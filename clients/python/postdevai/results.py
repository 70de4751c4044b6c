"""What the calls of :class:`postdevai.Memory` return: small, plain dataclasses.

Content and metadata values are ``bytes`` (stored byte for byte); ``.text``
decodes them as UTF-8. Every write's result carries its log sequence number
(``lsn``): the write is durable and visible to every read after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

__all__ = [
    "Info",
    "Stored",
    "Write",
    "RefusedFile",
    "IngestResult",
    "Chunk",
    "CodeFile",
    "Appended",
    "SessionContext",
    "MetadataValue",
    "SearchHit",
    "PartitionStats",
    "SyncStats",
    "LatencyHistogram",
    "Stats",
    "StoreKindStats",
    "Eviction",
    "SyncResult",
    "CompactResult",
    "BackupResult",
    "Finding",
]


@dataclass(frozen=True)
class Info:
    """The node's vector model and dimension and its limits."""
    vector_model: str
    vector_dimension: int
    max_value_bytes: int
    max_message_bytes: int
    version: str

    @classmethod
    def _from_pb(cls, m) -> "Info":
        return cls(m.vector_model, m.vector_dimension, m.max_value_bytes, m.max_message_bytes, m.version)


@dataclass(frozen=True)
class Stored:
    """A stored code file: its id (stable, derived from the path) and the write's LSN."""
    id: str
    lsn: int


@dataclass(frozen=True)
class Write:
    """An acknowledged write (delete, context, metadata): its LSN."""
    lsn: int


@dataclass(frozen=True)
class RefusedFile:
    """A file an ingest did not store, and why (too large, wrong dimension...)."""
    path: str
    reason: str


@dataclass(frozen=True)
class IngestResult:
    """What an ingest stored; ``refused`` lists the files the node would not store."""
    files: int
    bytes: int
    batches: int
    last_lsn: int
    refused: List[RefusedFile] = field(default_factory=list)

    @classmethod
    def _from_pb(cls, m) -> "IngestResult":
        return cls(m.files, m.bytes, m.batches, m.last_lsn, [RefusedFile(r.path, r.reason) for r in m.refused])


@dataclass(frozen=True)
class Chunk:
    """One chunk of content as the node splits it: what to embed, one vector per chunk."""
    text: bytes
    first_line: int  # 1-based
    last_line: int


@dataclass(frozen=True)
class CodeFile:
    """A stored code file."""
    id: str
    path: str
    language: str
    content: bytes
    lsn: int
    served_from_ram: bool

    @property
    def text(self) -> str:
        """The content decoded as UTF-8."""
        return self.content.decode("utf-8")

    @classmethod
    def _from_pb(cls, m) -> "CodeFile":
        return cls(m.id, m.path, m.language, m.content, m.lsn, m.served_from_ram)


@dataclass(frozen=True)
class Appended:
    """An appended message: the write's LSN and how many messages the session holds now."""
    lsn: int
    messages: int


@dataclass(frozen=True)
class SessionContext:
    """A session's messages, oldest first."""
    session: str
    messages: List[str]
    lsn: int
    served_from_ram: bool

    @classmethod
    def _from_pb(cls, m) -> "SessionContext":
        return cls(m.session, list(m.messages), m.lsn, m.served_from_ram)


@dataclass(frozen=True)
class MetadataValue:
    """A metadata value."""
    value: bytes
    lsn: int
    served_from_ram: bool

    @property
    def text(self) -> str:
        """The value decoded as UTF-8."""
        return self.value.decode("utf-8")

    @classmethod
    def _from_pb(cls, m) -> "MetadataValue":
        return cls(m.value, m.lsn, m.served_from_ram)


@dataclass(frozen=True)
class SearchHit:
    """A code file (``owner == "code"``; its best chunk) or a message of a
    session (``owner == "session"``) that matches the query. ``score``:
    higher is better (vector mode: cosine similarity; lexical: BM25; hybrid:
    the fused rank score); ``vector_score`` and ``lexical_score`` are each
    part's own (0: that part did not find it); ``first_line`` and
    ``last_line`` the best chunk's lines (1-based, inclusive; 0: unknown)."""
    owner: str
    id: str
    path: str
    chunk: int  # the chunk of the file, or the message of the session
    language: str
    session: str
    score: float
    first_line: int = 0
    last_line: int = 0
    vector_score: float = 0.0
    lexical_score: float = 0.0

    @classmethod
    def _from_pb(cls, m) -> "SearchHit":
        owner = "session" if m.owner == m.SESSION_MESSAGE else "code"
        return cls(owner, m.id, m.path, m.chunk, m.language, m.session, m.score,
                   m.first_line, m.last_line, m.vector_score, m.lexical_score)


@dataclass(frozen=True)
class PartitionStats:
    """One RAM-Lake partition (``kind``: vectors, code, history, metadata)."""
    kind: str
    entries: int
    bytes: int
    budget_bytes: int
    hits: int
    misses: int
    evictions: int
    dirty_entries: int
    persisted_lsn: int
    restarts: int
    max_record_bytes: int
    uncached_writes: int
    promotions: int
    ready: bool
    eviction_policy: str
    file: str

    @classmethod
    def _from_pb(cls, m) -> "PartitionStats":
        return cls(m.kind, m.entries, m.bytes, m.budget_bytes, m.hits, m.misses, m.evictions,
                   m.dirty_entries, m.persisted_lsn, m.restarts, m.max_record_bytes,
                   m.uncached_writes, m.promotions, m.ready, m.eviction_policy, m.file)


@dataclass(frozen=True)
class SyncStats:
    """The write-ahead log and the checkpoints."""
    durable_lsn: int
    applied_lsn: int
    checkpoint_lsn: int
    seconds_since_checkpoint: float
    wal_segments: int
    wal_bytes: int
    wal_syncs: int
    wal_records: int
    wal_live_bytes: int
    checkpoints: int
    store_disk_bytes: int
    store_raw_bytes: int
    store_encoded_bytes: int
    #: Relaxed durability: kind names whose writes are acknowledged before
    #: they are synced, the window they are synced within, and per kind name
    #: the bytes not yet durable and the age in seconds of the oldest of them.
    relaxed_kinds: Tuple[str, ...]
    relaxed_sync_ms: int
    unsynced_bytes: Dict[str, int]
    unsynced_seconds: Dict[str, float]
    lost_relaxed_writes: int

    @classmethod
    def _from_pb(cls, m) -> "SyncStats":
        names = ("vectors", "code", "history", "metadata")  # DataKind order
        return cls(m.durable_lsn, m.applied_lsn, m.checkpoint_lsn, m.seconds_since_checkpoint,
                   m.wal_segments, m.wal_bytes, m.wal_syncs, m.wal_records, m.wal_live_bytes,
                   m.checkpoints, m.store_disk_bytes, m.store_raw_bytes, m.store_encoded_bytes,
                   tuple(n for k, n in enumerate(names) if m.relaxed_kinds >> k & 1), m.relaxed_sync_ms,
                   {names[k]: b for k, b in enumerate(m.unsynced_bytes) if k < len(names)},
                   {names[k]: us / 1e6 for k, us in enumerate(m.unsynced_micros) if k < len(names)},
                   m.lost_relaxed_writes)


@dataclass(frozen=True)
class LatencyHistogram:
    """Cumulative counts: ``buckets[i]`` requests took at most ``bounds_micros[i]``;
    the last bucket counts the longer ones."""
    bounds_micros: List[int]
    buckets: List[int]
    sum_seconds: float
    count: int

    @classmethod
    def _from_pb(cls, m) -> "LatencyHistogram":
        return cls(list(m.bounds_micros), list(m.buckets), m.sum_seconds, m.count)


@dataclass(frozen=True)
class Stats:
    """The node's partitions, sync state and counters."""
    partitions: List[PartitionStats]
    sync: SyncStats
    reads: int
    writes: int
    ram_hits: int
    disk_reads: int
    promotions: int
    prefetches: int
    prefetch_hits: int
    prefetch_enabled: bool
    read_latency: LatencyHistogram
    write_latency: LatencyHistogram
    errors: int

    def partition(self, kind: str) -> Optional[PartitionStats]:
        """The partition of ``kind`` ("vectors", "code", "history", "metadata"), or None."""
        return next((p for p in self.partitions if p.kind == kind), None)

    @classmethod
    def _from_pb(cls, m) -> "Stats":
        return cls([PartitionStats._from_pb(p) for p in m.partitions], SyncStats._from_pb(m.sync),
                   m.reads, m.writes, m.ram_hits, m.disk_reads, m.promotions, m.prefetches,
                   m.prefetch_hits, m.prefetch_enabled, LatencyHistogram._from_pb(m.read_latency),
                   LatencyHistogram._from_pb(m.write_latency), m.errors)


@dataclass(frozen=True)
class StoreKindStats:
    """The persistent store's share of one kind of data."""
    kind: str
    entries: int
    raw_bytes: int
    stored_bytes: int
    disk_bytes: int
    dictionary_id: int

    @classmethod
    def _from_pb(cls, m) -> "StoreKindStats":
        return cls(m.kind, m.entries, m.raw_bytes, m.stored_bytes, m.disk_bytes, m.dictionary_id)


@dataclass(frozen=True)
class Eviction:
    """What an eviction took (or, in a dry run, would take) out of one partition."""
    kind: str
    entries: int
    bytes: int


@dataclass(frozen=True)
class SyncResult:
    """A checkpoint: the LSN up to which the persistent store is durable."""
    checkpoint_lsn: int


@dataclass(frozen=True)
class CompactResult:
    """A compaction: the persistent store's bytes on disk afterwards."""
    disk_bytes: int


@dataclass(frozen=True)
class BackupResult:
    """A backup the node made: its directory, the LSN it holds every write up
    to, its files and bytes, how long it took, and what was pruned after it
    (older backups beyond [backup] keep, archived WAL segments no kept backup
    needs). Restore with `dragon_node --restore PATH`."""
    path: str
    store: str
    lsn: int
    files: int
    bytes: int
    seconds: float
    pruned_backups: int
    pruned_segments: int


@dataclass(frozen=True)
class Finding:
    """One health check: its status ("ok", "unknown", "warning", "critical"),
    what was seen and what to do about it (empty when nothing)."""
    check: str
    status: str
    finding: str
    action: str
