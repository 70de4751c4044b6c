"""The Python client (clients/python) against real dragon_node processes.

Run: PYTHONPATH=build/python POSTDEVAI_DRAGON_NODE=build/bin/dragon_node \
         /usr/bin/python3 -m unittest -v test_client        (in tests/python)
 or:  PYTHONPATH=build/python /usr/bin/python3 tests/python/test_client.py --node build/bin/dragon_node
(ctest runs it as `python_client`.)
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import tempfile
import shutil
import time
import unittest
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_process import NodeFailed, NodeProcess  # noqa: E402

import postdevai  # noqa: E402
from postdevai import (InvalidArgument, Memory, MemoryError, NotFound, TlsConfig, TooLarge,  # noqa: E402
                       Unauthenticated, Unavailable)

MiB = 1 << 20


def unit_vector(rng: random.Random, dimension: int) -> list:
    v = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


class DataTest(unittest.TestCase):
    """Every call of the client against one node on the default limits."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.node = NodeProcess(name="data")
        cls.addClassCleanup(cls.node.cleanup)
        cls.node.start()
        cls.memory = Memory(cls.node.target, timeout=60)
        cls.addClassCleanup(cls.memory.close)
        cls.info = cls.memory.info()

    def test_info_names_the_model_and_limits(self) -> None:
        info = self.info
        self.assertEqual(info.vector_model, "lexical-v1")
        self.assertEqual(info.vector_dimension, 384)
        self.assertEqual(info.max_value_bytes, 64 * MiB)
        self.assertGreater(info.max_message_bytes, info.max_value_bytes)
        self.assertTrue(info.version)

    def test_code_reads_back_byte_for_byte_by_id_and_by_path(self) -> None:
        m = self.memory
        text = "def grüße():\n    return '\u2603'\n"
        stored = m.store_code("roundtrip/text.py", text, "python")
        self.assertTrue(stored.id)
        self.assertGreater(stored.lsn, 0)
        by_path = m.get_code(path="roundtrip/text.py")
        self.assertEqual(by_path.content, text.encode("utf-8"))
        self.assertEqual(by_path.text, text)
        self.assertEqual((by_path.id, by_path.path, by_path.language, by_path.lsn),
                         (stored.id, "roundtrip/text.py", "python", stored.lsn))

        # Binary content: every byte value, NULs, invalid UTF-8.
        binary = bytes(range(256)) * 64 + b"\x00\xff\xfe\x80" * 1000
        stored_bin = m.store_code("roundtrip/blob.bin", binary)
        self.assertEqual(m.get_code(id=stored_bin.id).content, binary)
        self.assertEqual(m.get_code(path="roundtrip/blob.bin").content, binary)
        self.assertEqual(m.get_code(path="roundtrip/blob.bin").language, "")

        # Replacing keeps the id (derived from the path) and takes a later LSN.
        again = m.store_code("roundtrip/blob.bin", bytearray(b"replaced"))
        self.assertEqual(again.id, stored_bin.id)
        self.assertGreater(again.lsn, stored_bin.lsn)
        self.assertEqual(m.get_code(id=again.id).content, b"replaced")

        with self.assertRaises(InvalidArgument):
            m.get_code()
        with self.assertRaises(InvalidArgument):
            m.get_code(id=stored.id, path="roundtrip/text.py")

    def test_builtin_embedder_indexes_for_search_text(self) -> None:
        m = self.memory
        m.store_code("search/builtin/quux_parser.rs",
                     "fn parse_quux_frobnicator(input: &str) -> Frobnicator {\n    Frobnicator::from(input)\n}\n",
                     "rust", embed=True)
        m.store_code("search/builtin/other.rs", "fn unrelated_helper() -> u32 { 42 }\n", "rust", embed=True)
        hits = m.search_text("parse quux frobnicator", limit=5)
        self.assertTrue(hits, "the built-in embedder's file is found")
        self.assertEqual(hits[0].path, "search/builtin/quux_parser.rs")
        self.assertEqual(hits[0].owner, "code")
        self.assertEqual(hits[0].language, "rust")
        self.assertEqual(hits[0].id, m.get_code(path="search/builtin/quux_parser.rs").id)
        # Filters.
        filtered = m.search_text("parse quux frobnicator", owner="code", path_prefix="search/builtin/", language="rust")
        self.assertEqual(filtered[0].path, "search/builtin/quux_parser.rs")
        self.assertFalse([h for h in m.search_text("parse quux frobnicator", language="python")
                          if h.path.startswith("search/builtin/")])
        self.assertFalse(m.search_text("parse quux frobnicator", owner="sessions", path_prefix="search/builtin/"))
        # Not indexed: replacing without embed removes the file's vectors.
        m.store_code("search/builtin/quux_parser.rs", "nothing to see\n", "rust")
        self.assertFalse([h for h in m.search_text("parse quux frobnicator", exact=True, mode="vector")
                          if h.path == "search/builtin/quux_parser.rs"])

    def test_hybrid_and_lexical_search(self) -> None:
        m = self.memory
        body = "".join(f"let filler_{i} = {i};\n" for i in range(300))
        body += "fn rebalance_splay_tree(root: &mut Node) { rotate_left(root); }\n"
        m.store_code("search/hybrid/splay.rs", body, "rust", embed=True)
        m.store_code("search/hybrid/plain.rs", "fn count_widgets() -> usize { 7 }\n", "rust")  # no vectors
        hits = m.search_text("rebalance the splay tree", limit=3)
        self.assertTrue(hits)
        top = hits[0]
        self.assertEqual(top.path, "search/hybrid/splay.rs")
        self.assertGreater(top.lexical_score, 0)
        self.assertGreater(top.vector_score, 0)
        self.assertLessEqual(top.first_line, 301)
        self.assertGreaterEqual(top.last_line, 301)
        self.assertEqual(len({h.path for h in hits}), len(hits))  # one hit per file
        # Found by its words though stored without vectors.
        plain = m.search_text("count widgets", limit=1, mode="lexical")
        self.assertEqual([h.path for h in plain], ["search/hybrid/plain.rs"])
        self.assertEqual(m.search_text("the of and", mode="lexical"), [])
        with self.assertRaises(InvalidArgument):
            m.search_text("x", mode="fuzzy")
        # A caller's own vector plus its text: hybrid.
        vector = [0.0] * self.info.vector_dimension
        vector[0] = 1.0
        fused = m.search_similar(vector, keywords="rebalance splay tree", path_prefix="search/hybrid/")
        self.assertEqual(fused[0].path, "search/hybrid/splay.rs")
        self.assertGreater(fused[0].lexical_score, 0)

    def test_caller_embeddings_one_per_chunk_then_search_similar(self) -> None:
        m = self.memory
        dimension = self.info.vector_dimension
        content = "".join(f"def function_{i}(x):\n    return x * {i}\n\n" for i in range(400))
        chunks = m.chunks(content)
        self.assertGreater(len(chunks), 1)
        self.assertEqual(b"".join(c.text for c in chunks), content.encode())
        self.assertEqual(chunks[0].first_line, 1)
        self.assertEqual(chunks[-1].last_line, content.count("\n"))
        rng = random.Random(7)
        vectors = [unit_vector(rng, dimension) for _ in chunks]
        stored = m.store_code("search/caller/functions.py", content, "python", embeddings=vectors)
        for exact in (True, False):
            hits = m.search_similar(vectors[1], limit=3, exact=exact, path_prefix="search/caller/")
            self.assertEqual((hits[0].path, hits[0].chunk, hits[0].id), ("search/caller/functions.py", 1, stored.id))
            self.assertAlmostEqual(hits[0].score, 1.0, places=2)
        with self.assertRaises(InvalidArgument):  # both ways of indexing: refused before calling
            m.store_code("search/caller/both.py", content, embeddings=vectors, embed=True)
        # One vector per chunk, or the node refuses, naming both counts.
        with self.assertRaises(InvalidArgument) as caught:
            m.store_code("search/caller/short.py", content, embeddings=vectors[:1])
        self.assertIn(f"1 embeddings for {len(chunks)} chunks", str(caught.exception))
        # Vectors that name their model are checked against the node's.
        m.store_code("search/caller/named.py", content, embeddings=vectors, model=self.info.vector_model)
        with self.assertRaises(InvalidArgument) as caught:
            m.store_code("search/caller/other.py", content, embeddings=vectors, model="text-embedding-3-small")
        self.assertIn("'text-embedding-3-small'", str(caught.exception))
        self.assertIn(f"'{self.info.vector_model}'", str(caught.exception))
        with self.assertRaises(InvalidArgument):
            m.search_similar(vectors[1], model="text-embedding-3-small")
        self.assertTrue(m.search_similar(vectors[1], model=self.info.vector_model))

    def test_delete_then_not_found(self) -> None:
        m = self.memory
        stored = m.store_code("deleted/gone.py", "def vanishing_zyzzyva(): pass\n", "python", embed=True)
        self.assertTrue(m.search_text("vanishing zyzzyva", path_prefix="deleted/"))
        deleted = m.delete_code("deleted/gone.py")
        self.assertGreater(deleted.lsn, stored.lsn)
        with self.assertRaises(NotFound) as caught:
            m.get_code(path="deleted/gone.py")
        e = caught.exception
        self.assertIn("deleted/gone.py", str(e))
        self.assertEqual(e.code, "not_found")
        self.assertEqual(e.grpc_code, grpc.StatusCode.NOT_FOUND)
        self.assertIsInstance(e, MemoryError)
        self.assertIsInstance(e, postdevai.Error)
        with self.assertRaises(NotFound):
            m.get_code(id=stored.id)
        self.assertFalse(m.search_text("vanishing zyzzyva", path_prefix="deleted/", exact=True))

    def test_context_store_append_get(self) -> None:
        m = self.memory
        w = m.store_context("session-py-1", ["user: where is the config parsed?", b"assistant: in config/"])
        self.assertGreater(w.lsn, 0)
        appended = m.append_context("session-py-1", "user: thanks")
        self.assertEqual(appended.messages, 3)
        self.assertGreater(appended.lsn, w.lsn)
        ctx = m.get_context("session-py-1")
        self.assertEqual(ctx.session, "session-py-1")
        self.assertEqual(ctx.messages, ["user: where is the config parsed?", "assistant: in config/", "user: thanks"])
        self.assertEqual(ctx.lsn, appended.lsn)
        with self.assertRaises(NotFound):
            m.get_context("session-py-unknown")
        # Indexed sessions are searchable, by session.
        m.store_context("session-py-2", ["the flux capacitor needs 1.21 gigawatts"], embed=True)
        hits = m.search_text("flux capacitor gigawatts", owner="sessions", session="session-py-2")
        self.assertTrue(hits)
        self.assertEqual((hits[0].owner, hits[0].session, hits[0].chunk), ("session", "session-py-2", 0))

    def test_metadata_put_get_delete(self) -> None:
        m = self.memory
        w = m.put_metadata("py/owner", "zoë")
        got = m.get_metadata("py/owner")
        self.assertEqual(got.value, "zoë".encode())
        self.assertEqual(got.text, "zoë")
        self.assertEqual(got.lsn, w.lsn)
        binary = bytes(range(256))
        m.put_metadata("py/blob", binary)
        self.assertEqual(m.get_metadata("py/blob").value, binary)
        d = m.delete_metadata("py/owner")
        self.assertGreater(d.lsn, w.lsn)
        with self.assertRaises(NotFound):
            m.get_metadata("py/owner")

    def test_operations(self) -> None:
        m = self.memory
        lsn = m.put_metadata("py/ops", "x").lsn
        stats = m.stats()
        self.assertEqual({p.kind for p in stats.partitions}, {"vectors", "code", "history", "metadata"})
        self.assertGreaterEqual(stats.sync.durable_lsn, lsn)
        self.assertEqual(stats.sync.relaxed_kinds, ())  # every kind durable by default
        self.assertEqual(set(stats.sync.unsynced_bytes), {"vectors", "code", "history", "metadata"})
        self.assertEqual(sum(stats.sync.unsynced_bytes.values()), 0)
        self.assertGreater(stats.writes, 0)
        self.assertIsNotNone(stats.partition("metadata"))
        self.assertGreater(stats.partition("metadata").entries, 0)
        self.assertGreater(stats.write_latency.count, 0)
        kinds = m.breakdown()
        self.assertEqual({k.kind for k in kinds}, {"vectors", "code", "history", "metadata"})
        sync = m.sync()
        self.assertGreaterEqual(sync.checkpoint_lsn, lsn)
        dry = m.evict(0, dry_run=True)
        self.assertTrue(all(isinstance(e, postdevai.Eviction) for e in dry))
        self.assertEqual(m.get_metadata("py/ops").value, b"x")
        evicted = m.evict(0)
        self.assertGreater(sum(e.entries for e in evicted), 0)
        got = m.get_metadata("py/ops")  # still there, from the persistent store
        self.assertEqual(got.value, b"x")
        self.assertFalse(got.served_from_ram)
        self.assertGreater(m.compact().disk_bytes, 0)
        made = m.backup()
        self.assertTrue(os.path.isfile(os.path.join(made.path, "BACKUP")))
        self.assertGreaterEqual(made.lsn, 1)
        self.assertGreater(made.files, 0)

    def test_diagnose_returns_the_nodes_findings(self) -> None:
        findings = self.memory.diagnose()
        checks = {f.check for f in findings}
        for check in ("ram_disk", "wal_storage", "budget", "sync_lag", "wal_backlog", "partition_health", "disk_space"):
            self.assertIn(check, checks)
        for f in findings:
            self.assertIn(f.status, ("ok", "unknown", "warning", "critical"))
            if f.status in ("warning", "critical"):
                self.assertTrue(f.action)

    def test_ingest_many_files_refuses_only_the_oversized_ones(self) -> None:
        m = self.memory
        dimension = self.info.vector_dimension
        oversized = self.info.max_value_bytes + 1
        wrong_dimension = [[0.5] * (dimension - 1)]

        def files():  # lazily, as a tree walk would
            for i in range(300):
                if i == 150:
                    yield ("ingest/huge.bin", b"\x00" * oversized)
                if i == 200:
                    yield {"path": "ingest/wrong_dim.py", "content": "x = 1\n", "embeddings": wrong_dimension}
                yield (f"ingest/dir{i % 7}/file{i}.py", f"def ingest_function_{i}():\n    return {i}\n", "python")

        result = m.ingest(files(), embed=True)
        self.assertEqual(result.files, 300)
        self.assertEqual(result.bytes, sum(len(f"def ingest_function_{i}():\n    return {i}\n") for i in range(300)))
        self.assertGreaterEqual(result.batches, 1)
        self.assertGreater(result.last_lsn, 0)
        refused = {r.path: r.reason for r in result.refused}
        self.assertEqual(set(refused), {"ingest/huge.bin", "ingest/wrong_dim.py"})
        self.assertIn(str(self.info.max_value_bytes), refused["ingest/huge.bin"])
        self.assertIn(str(dimension - 1), refused["ingest/wrong_dim.py"])
        self.assertIn(str(dimension), refused["ingest/wrong_dim.py"])
        self.assertEqual(m.get_code(path="ingest/dir3/file17.py").text, "def ingest_function_17():\n    return 17\n")
        with self.assertRaises(NotFound):
            m.get_code(path="ingest/huge.bin")
        hits = m.search_text("ingest_function_123", path_prefix="ingest/", limit=3)
        self.assertEqual(hits[0].path, "ingest/dir4/file123.py")

    def test_ingest_item_shapes_and_a_bad_item(self) -> None:
        m = self.memory
        result = m.ingest([("shapes/a.py", "a"), ["shapes/b.c", b"b", "c"],
                           {"path": "shapes/c.go", "content": "c", "language": "go"}])
        self.assertEqual((result.files, result.refused), (3, []))
        self.assertEqual(m.get_code(path="shapes/b.c").language, "c")
        self.assertEqual(m.get_code(path="shapes/c.go").language, "go")
        with self.assertRaises(InvalidArgument):
            m.ingest([("shapes/d.py", "d"), 42])
        with self.assertRaises(InvalidArgument):
            m.ingest([{"path": "shapes/e.py"}])
        self.assertEqual(m.ingest([]).files, 0)

    def test_errors_carry_the_nodes_message(self) -> None:
        m = self.memory
        dimension = self.info.vector_dimension
        with self.assertRaises(NotFound) as caught:
            m.get_metadata("py/never-stored")
        self.assertIn("py/never-stored", str(caught.exception))

        with self.assertRaises(InvalidArgument) as caught:
            m.search_similar([0.25] * 3)
        e = caught.exception
        self.assertEqual((e.code, e.grpc_code), ("invalid_argument", grpc.StatusCode.INVALID_ARGUMENT))
        self.assertIn("3", str(e))
        self.assertIn(str(dimension), str(e))
        self.assertIsInstance(e, ValueError)

        with self.assertRaises(InvalidArgument) as caught:
            m.store_code("errors/wrong_dim.py", "x = 1\n", embeddings=[[1.0] * (dimension + 1)])
        self.assertIn(str(dimension + 1), str(caught.exception))
        self.assertIn(str(dimension), str(caught.exception))

        nan = [0.1] * dimension
        nan[5] = float("nan")
        with self.assertRaises(InvalidArgument) as caught:
            m.search_similar(nan)
        self.assertIn("NaN", str(caught.exception))
        infinite = [0.1] * dimension
        infinite[0] = float("inf")
        with self.assertRaises(InvalidArgument):
            m.store_code("errors/inf.py", "x = 1\n", embeddings=[infinite])

        with self.assertRaises(InvalidArgument) as caught:
            m.put_metadata("", b"value")
        self.assertIn("empty key", str(caught.exception))
        with self.assertRaises(InvalidArgument):
            m.search_text("anything", owner="everyone")  # caught before calling
        with self.assertRaises(InvalidArgument):
            m.search_text("anything", limit=20000)  # the node's range is 1..10000

    def test_unreachable_node_and_closed_connection(self) -> None:
        start = time.monotonic()
        with Memory("127.0.0.1:1", timeout=10) as nowhere:
            with self.assertRaises(Unavailable) as caught:
                nowhere.info()
        self.assertIn("127.0.0.1:1", str(caught.exception))
        self.assertLess(time.monotonic() - start, 10)
        closed = Memory(self.node.target)
        closed.close()
        with self.assertRaises(Unavailable):
            closed.info()


class TokenAndLimitsTest(unittest.TestCase):
    """A node with an access token (node.token_file) and 1 MiB messages."""

    TOKEN = "s3cr3t-token-for-the-python-client"

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = Path(tempfile.mkdtemp(prefix="postdevai-py-token-"))
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.token_file = cls.dir / "token"
        fd = os.open(cls.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (cls.TOKEN + "\n").encode())
        os.close(fd)
        cls.node = NodeProcess(node_section=f"token_file = \"{cls.token_file}\"",
                               extra_toml="[grpc]\nmax_message_mb = 1\n", name="token")
        cls.addClassCleanup(cls.node.cleanup)
        cls.node.start()

    def test_without_or_with_another_token_refused(self) -> None:
        for token in (None, "not-the-token"):
            with self.subTest(token=token), Memory(self.node.target, token=token) as m:
                with self.assertRaises(Unauthenticated) as caught:
                    m.info()
                e = caught.exception
                self.assertEqual((e.code, e.grpc_code), ("unauthenticated", grpc.StatusCode.UNAUTHENTICATED))
                self.assertIn("token", str(e))
                with self.assertRaises(Unauthenticated):
                    m.ingest([("token/refused.py", "x")])
                with self.assertRaises(Unauthenticated):
                    m.put_metadata("token/refused", "x")

    def test_with_the_token_served(self) -> None:
        with Memory(self.node.target, token=self.TOKEN) as m:
            self.assertEqual(m.info().max_message_bytes, 1 * MiB)
            m.put_metadata("token/ok", "yes")
            self.assertEqual(m.get_metadata("token/ok").text, "yes")
            self.assertEqual(m.ingest([("token/a.py", "a"), ("token/b.py", "b")]).files, 2)
        with Memory(self.node.target, token_file=str(self.token_file)) as m:
            self.assertEqual(m.get_code(path="token/a.py").content, b"a")

    def test_message_over_the_size_limit_is_too_large(self) -> None:
        with Memory(self.node.target, token=self.TOKEN) as m:
            with self.assertRaises(TooLarge) as caught:
                m.store_code("limits/two_mib.bin", b"\x01" * (2 * MiB))
            e = caught.exception
            self.assertEqual((e.code, e.grpc_code), ("too_large", grpc.StatusCode.RESOURCE_EXHAUSTED))
            self.assertIn("larger than", str(e))
            self.assertIn("max_message_mb", str(e))
            self.assertIn(str(1 * MiB), str(e))
            with self.assertRaises(TooLarge):  # one message of a stream too
                m.ingest([("limits/small.py", "x"), ("limits/two_mib.bin", b"\x01" * (2 * MiB))])
            # The connection and the node go on.
            self.assertEqual(m.store_code("limits/small.py", b"small").lsn > 0, True)
            with self.assertRaises(NotFound):
                m.get_code(path="limits/two_mib.bin")


class TokenFileModeTest(unittest.TestCase):
    def test_token_file_readable_by_others_stops_the_node(self) -> None:
        with tempfile.TemporaryDirectory(prefix="postdevai-py-mode-") as d:
            token_file = Path(d) / "token"
            token_file.write_text("open-secret\n")
            os.chmod(token_file, 0o644)
            node = NodeProcess(node_section=f"token_file = \"{token_file}\"", name="mode")
            try:
                with self.assertRaises(NodeFailed) as caught:
                    node.start()
                self.assertNotEqual(caught.exception.returncode, 0)
                self.assertIn(str(token_file), caught.exception.log)
                self.assertIn("0644", caught.exception.log)
            finally:
                node.cleanup()
            self.assertFalse(node.ram.exists())

    def test_token_that_cannot_travel_as_a_header_stops_the_node(self) -> None:
        with tempfile.TemporaryDirectory(prefix="postdevai-py-bytes-") as d:
            token_file = Path(d) / "token"
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, "s\u00e9cret\n".encode())  # é: not an HTTP/2 header byte
            os.close(fd)
            node = NodeProcess(node_section=f"token_file = \"{token_file}\"", name="bytes")
            try:
                with self.assertRaises(NodeFailed) as caught:
                    node.start()
                self.assertIn(str(token_file), caught.exception.log)
                self.assertIn("not printable ASCII", caught.exception.log)
            finally:
                node.cleanup()


def openssl(directory: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stdout.decode(errors='replace')}")


def make_ca(directory: Path, ca: str) -> None:
    openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-sha256", "-days", "2", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-subj", f"/CN={ca}")


def make_leaf(directory: Path, ca: str, name: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(extensions + "\n")
    openssl(directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-sha256",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    openssl(directory, "x509", "-req", "-sha256", "-days", "2", "-in", f"{name}.csr", "-CA", f"{ca}.crt",
            "-CAkey", f"{ca}.key", "-CAcreateserial", "-out", f"{name}.crt", "-extfile", f"{name}.ext")


class MutualTlsTest(unittest.TestCase):
    """A node that requires client certificates from its CA (throwaway PKI made with openssl)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.pki = Path(tempfile.mkdtemp(prefix="postdevai-py-pki-"))
        cls.addClassCleanup(shutil.rmtree, cls.pki, True)
        make_ca(cls.pki, "ca")
        make_leaf(cls.pki, "ca", "server", "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                                           "extendedKeyUsage = serverAuth")
        make_leaf(cls.pki, "ca", "client", "extendedKeyUsage = clientAuth")
        make_ca(cls.pki, "other-ca")
        make_leaf(cls.pki, "other-ca", "stranger", "extendedKeyUsage = clientAuth")
        p = cls.pki
        cls.node = NodeProcess(node_section=f"certificate = \"{p / 'server.crt'}\"\nkey = \"{p / 'server.key'}\"\n"
                                            f"ca_file = \"{p / 'ca.crt'}\"", name="tls")
        cls.addClassCleanup(cls.node.cleanup)
        cls.node.start()

    def tls(self, leaf=None, ca="ca", **kwargs) -> TlsConfig:
        p = self.pki
        return TlsConfig(ca_file=str(p / f"{ca}.crt"),
                         certificate=str(p / f"{leaf}.crt") if leaf else None,
                         key=str(p / f"{leaf}.key") if leaf else None, **kwargs)

    def test_node_logs_mutual_tls(self) -> None:
        self.assertRegex(self.node.log(),
                         r"serving the gRPC API postdevai\.memory\.v1 at 127\.0\.0\.1:\d+ \(mutual TLS")

    def test_client_with_a_certificate_of_the_ca_is_served(self) -> None:
        with Memory(self.node.target, tls=self.tls("client")) as m:
            stored = m.store_code("tls/hello.py", "print('over TLS')\n", "python")
            self.assertEqual(m.get_code(id=stored.id).content, b"print('over TLS')\n")
        with Memory(f"localhost:{self.node.port}", tls=self.tls("client")) as m:
            self.assertEqual(m.info().vector_dimension, 384)
        with Memory(self.node.target, tls=self.tls("client", server_name="localhost")) as m:
            self.assertEqual(m.info().vector_dimension, 384)

    def test_refused_clients_get_unavailable(self) -> None:
        cases = {
            "no client certificate": self.tls(None),
            "a certificate from another CA": self.tls("stranger"),
            "a node certificate the client does not trust": self.tls("client", ca="other-ca"),
            "plaintext": None,
        }
        for what, tls in cases.items():
            with self.subTest(what):
                start = time.monotonic()
                with Memory(self.node.target, tls=tls, timeout=10) as m:
                    with self.assertRaises(Unavailable) as caught:
                        m.info()
                self.assertIn(self.node.target, str(caught.exception))
                self.assertLess(time.monotonic() - start, 10)
        # The node goes on serving.
        with Memory(self.node.target, tls=self.tls("client")) as m:
            self.assertEqual(m.info().vector_model, "lexical-v1")

    def test_certificate_without_key_is_refused_before_calling(self) -> None:
        with self.assertRaises(InvalidArgument):
            Memory(self.node.target, tls=TlsConfig(ca_file=str(self.pki / "ca.crt"),
                                                   certificate=str(self.pki / "client.crt")))
        with self.assertRaises(InvalidArgument):
            Memory(self.node.target, tls=TlsConfig(ca_file=str(self.pki / "missing.crt")))


if __name__ == "__main__":
    # `test_client.py --node PATH [unittest args]`: the dragon_node under test.
    if len(sys.argv) > 2 and sys.argv[1] == "--node":
        os.environ["POSTDEVAI_DRAGON_NODE"] = sys.argv[2]
        del sys.argv[1:3]
    unittest.main()
