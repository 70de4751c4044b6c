// The example: store a file, search it, keep a session's context and a fact,
// show an error, print the stats. Exits 1 if anything read back differs.
//
//   node dist/example.js [HOST:PORT]
//
// Options through the environment: POSTDEVAI_TOKEN (a node with [node]
// token_file), POSTDEVAI_CA, POSTDEVAI_CERT, POSTDEVAI_KEY (file paths, a node
// with TLS / mutual TLS), POSTDEVAI_PROTO (memory.proto outside this repo).

import { DEFAULT_TARGET, Memory, MemoryError } from "./memory";

class Mismatch extends Error {}

function expectEqual<T>(what: string, got: T, want: T): void {
  const same = Buffer.isBuffer(got) && Buffer.isBuffer(want) ? got.equals(want) : got === want;
  if (!same) throw new Mismatch(`${what}: got ${String(got)}, want ${String(want)}`);
}

async function main(): Promise<number> {
  const target = process.argv[2] ?? DEFAULT_TARGET;
  const env = process.env;
  const m = new Memory(target, {
    token: env.POSTDEVAI_TOKEN || undefined,
    ca: env.POSTDEVAI_CA || undefined,
    cert: env.POSTDEVAI_CERT || undefined,
    key: env.POSTDEVAI_KEY || undefined,
    timeoutMs: 10_000,
  });
  // A run id keeps repeated runs against one node apart.
  const run = `${process.pid}-${Date.now()}`;
  try {
    const info = await m.info();
    console.log(`node ${target}: dragon_node ${info.version}, vectors ${info.vectorModel} x ${info.vectorDimension}`);

    // Code: stored byte for byte, indexed by the node's built-in embedder.
    const filePath = `example-ts/${run}/settings.ts`;
    const source =
      "export function loadSettings(path: string): Settings {\n" +
      "  return parseToml(readFileSync(path, 'utf8'));\n" +
      "}\n";
    const stored = await m.storeCode(filePath, source, { language: "typescript", embed: true });
    console.log(`stored ${filePath} as ${stored.id} (LSN ${stored.lsn})`);
    const byPath = await m.getCode({ path: filePath });
    expectEqual("content by path", byPath.content, Buffer.from(source));
    expectEqual("language", byPath.language, "typescript");
    const byId = await m.getCode({ id: stored.id });
    expectEqual("path by id", byId.path, filePath);
    expectEqual("LSN of the file", byId.lsn, stored.lsn);

    const hits = await m.searchText("where are the settings loaded", { limit: 3, pathPrefix: `example-ts/${run}/` });
    for (const hit of hits) console.log(`  hit ${hit.score.toFixed(3)} ${hit.path} chunk ${hit.chunk}`);
    expectEqual("best hit", hits[0]?.path, filePath);
    expectEqual("best hit's owner", hits[0]?.owner, "code");
    expectEqual("best hit's id", hits[0]?.id, stored.id);

    // A session's context.
    const session = `example-ts-${run}`;
    await m.appendContext(session, "user: where are settings loaded?");
    const appended = await m.appendContext(session, "assistant: settings.ts, loadSettings()");
    expectEqual("messages after two appends", appended.messages, 2n);
    const context = await m.getContext(session);
    console.log("session:", context.messages);
    expectEqual("session", JSON.stringify(context.messages),
      JSON.stringify(["user: where are settings loaded?", "assistant: settings.ts, loadSettings()"]));

    // A fact, bytes in and out.
    const key = `example-ts/${run}/last-run`;
    const value = Buffer.from([0x6f, 0x6b, 0x00, 0xff]);
    const put = await m.putMetadata(key, value);
    const got = await m.getMetadata(key);
    console.log(`metadata ${key}: ${got.value.toString("hex")} (LSN ${got.lsn})`);
    expectEqual("metadata value", got.value, value);
    expectEqual("metadata LSN", got.lsn, put.lsn);

    // Errors: a deleted file is gone, with the engine's code.
    await m.deleteCode(filePath);
    try {
      await m.getCode({ path: filePath });
      throw new Mismatch(`${filePath} is still there after deleteCode`);
    } catch (e) {
      if (!(e instanceof MemoryError)) throw e;
      console.log(`deleted: ${e.message} [${e.code}]`);
      expectEqual("error code", e.code, "not_found");
    }
    await m.deleteMetadata(key);

    const stats = await m.stats();
    console.log(`writes ${stats.writes}, reads ${stats.reads}, durable LSN ${stats.sync.durableLsn}`);
    for (const p of stats.partitions) console.log(`  ${p.kind}: ${p.entries} entries, ${p.bytes} bytes`);
    if (stats.writes < 5n) throw new Mismatch(`stats: ${stats.writes} writes, want at least 5`);
    console.log("example: OK");
    return 0;
  } catch (e) {
    if (e instanceof Mismatch) {
      console.error(`example: read back differs: ${e.message}`);
    } else if (e instanceof MemoryError) {
      console.error(`example: ${e.message} [${e.code}]`);
    } else {
      console.error("example:", e);
    }
    return 1;
  } finally {
    m.close();
  }
}

main().then((code) => {
  process.exitCode = code;
});
