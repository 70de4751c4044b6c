#!/usr/bin/python3
"""Quickstart: store code, search it, keep a session's context and a fact.

    PYTHONPATH=build/python /usr/bin/python3 clients/python/examples/quickstart.py [HOST:PORT]

Options through the environment: POSTDEVAI_TOKEN (a node with [node] token_file),
POSTDEVAI_CA, POSTDEVAI_CERT, POSTDEVAI_KEY (a node with TLS / mutual TLS).
"""

import os
import sys

import postdevai
from postdevai import Memory, NotFound, TlsConfig


def main() -> int:
    target = sys.argv[1] if len(sys.argv) > 1 else postdevai.DEFAULT_TARGET
    tls = None
    if os.environ.get("POSTDEVAI_CA") or os.environ.get("POSTDEVAI_CERT"):
        tls = TlsConfig(ca_file=os.environ.get("POSTDEVAI_CA"), certificate=os.environ.get("POSTDEVAI_CERT"),
                        key=os.environ.get("POSTDEVAI_KEY"))
    try:
        with Memory(target, token=os.environ.get("POSTDEVAI_TOKEN"), tls=tls, timeout=10) as m:
            info = m.info()
            print(f"node {target}: dragon_node {info.version}, vectors {info.vector_model} x {info.vector_dimension}")

            # Code: stored byte for byte, indexed by the node's built-in embedder.
            source = "def load_settings(path):\n    with open(path) as f:\n        return parse_toml(f.read())\n"
            stored = m.store_code("quickstart/settings.py", source, "python", embed=True)
            print(f"stored quickstart/settings.py as {stored.id} (LSN {stored.lsn})")
            assert m.get_code(path="quickstart/settings.py").text == source

            for hit in m.search_text("where are the settings loaded", limit=3):
                print(f"  hit {hit.score:.3f} {hit.path} chunk {hit.chunk}")

            # Your own embeddings instead: one vector per chunk, of the node's dimension.
            chunks = m.chunks(source)
            vectors = [[1.0 if i == n else 0.0 for i in range(info.vector_dimension)] for n in range(len(chunks))]
            m.store_code("quickstart/own_vectors.py", source, "python", embeddings=vectors)
            best = m.search_similar(vectors[0], limit=1, path_prefix="quickstart/own_vectors")[0]
            print(f"  nearest to chunk 0's vector: {best.path} chunk {best.chunk} ({best.score:.3f})")

            # A session's context, and a fact.
            m.store_context("quickstart-session", ["user: where are settings loaded?"])
            m.append_context("quickstart-session", "assistant: quickstart/settings.py, load_settings()")
            print("session:", m.get_context("quickstart-session").messages)
            m.put_metadata("quickstart/last-run", "ok")
            print("metadata:", m.get_metadata("quickstart/last-run").text)

            m.delete_code("quickstart/own_vectors.py")
            try:
                m.get_code(path="quickstart/own_vectors.py")
            except NotFound as e:
                print(f"deleted: {e}")

            stats = m.stats()
            print(f"writes {stats.writes}, reads {stats.reads}, durable LSN {stats.sync.durable_lsn}")
    except postdevai.Error as e:
        print(f"quickstart: {e} [{e.code}]", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
