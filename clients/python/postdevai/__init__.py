"""PostDevAI Hybrid Memory: the Python client of a dragon_node (gRPC API postdevai.memory.v1).

    from postdevai import Memory, NotFound

    with Memory("127.0.0.1:4710") as m:
        stored = m.store_code("src/main.py", "print('hello')\n", "python", embed=True)
        print(m.get_code(path="src/main.py").text)
        for hit in m.search_text("hello"):
            print(hit.path, hit.score)

Every failed call raises a subclass of postdevai.MemoryError (alias postdevai.Error):
NotFound, InvalidArgument, TooLarge, NoSpace, Closed, Unavailable (DeadlineExceeded),
Unauthenticated, Corruption, IoError, Busy, Unimplemented. str(e) is the node's message,
e.code the engine's error code name ("not_found", ...), e.grpc_code the gRPC status.
"""

from postdevai.client import DEFAULT_TARGET, Memory, TlsConfig
from postdevai.errors import (Busy, Closed, Corruption, DeadlineExceeded, Error, InvalidArgument, IoError,
                              MemoryError, NoSpace, NotFound, TooLarge, Unauthenticated, Unavailable, Unimplemented)
from postdevai.results import (Appended, BackupResult, Chunk, CodeFile, CompactResult, Eviction, Finding, IngestResult, Info,
                               LatencyHistogram, MetadataValue, PartitionStats, RefusedFile, SearchHit,
                               SessionContext, Stats, Stored, StoreKindStats, SyncResult, SyncStats, Write)

__version__ = "0.1.0"

# MemoryError is importable by name but left out of `import *`, which would
# shadow Python's built-in MemoryError; Error is the same class.
__all__ = [
    "DEFAULT_TARGET", "Memory", "TlsConfig",
    "Error", "NotFound", "InvalidArgument", "TooLarge", "NoSpace", "Closed", "Unavailable", "DeadlineExceeded",
    "Unauthenticated", "Corruption", "IoError", "Busy", "Unimplemented",
    "Appended", "BackupResult", "Chunk", "CodeFile", "CompactResult", "Eviction", "Finding", "IngestResult", "Info",
    "LatencyHistogram", "MetadataValue", "PartitionStats", "RefusedFile", "SearchHit", "SessionContext", "Stats",
    "Stored", "StoreKindStats", "SyncResult", "SyncStats", "Write",
]
