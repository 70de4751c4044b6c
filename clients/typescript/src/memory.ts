// A small typed client of a dragon_node's gRPC API (postdevai.memory.v1) on
// @grpc/grpc-js. No generated code: @grpc/proto-loader reads memory.proto at
// run time (see findProto).
//
// Conventions:
//   - bytes fields (file content, metadata values) are Buffers; a string given
//     where bytes go is stored as UTF-8.
//   - uint64 fields (LSNs, counts, byte sizes) are bigint. proto-loader is
//     asked for `longs: String`, which is lossless, and the wrapper turns each
//     into a bigint; `longs: Number` would silently round values above 2^53.
//   - every failure rejects with a MemoryError: `code` is the engine's error
//     code from the `postdevai-error` trailer ("not_found", "too_large",
//     "no_space", ...) or, when the node sent none (an error of gRPC itself),
//     the gRPC status name in lower case ("unavailable", "deadline_exceeded",
//     "unauthenticated"); `message` is the node's message.

import * as fs from "node:fs";
import * as path from "node:path";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** Where a dragon_node serves its gRPC API unless its config says otherwise. */
export const DEFAULT_TARGET = "127.0.0.1:4710";

/** The trailer in which the node names the engine's error code (memory.proto). */
export const ERROR_TRAILER = "postdevai-error";

const PROTO_IN_REPO = path.join("proto", "postdevai", "memory", "v1", "memory.proto");

// The options the brief of this client fixes; bytes stay Buffers (the default).
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** A file path (string) or the PEM bytes themselves (Buffer). */
export type Pem = string | Buffer;

export interface MemoryOptions {
  /** The access token of a node with `[node] token_file` (sent as `authorization: Bearer TOKEN`). */
  token?: string;
  /** The CA that signed the node's certificate: TLS towards the node (a node with `[node] certificate`). */
  ca?: Pem;
  /** This client's certificate and key, for a node that requires mutual TLS (`[node] ca_file`). */
  cert?: Pem;
  key?: Pem;
  /** TLS with the system's roots even without `ca`. */
  tls?: boolean;
  /** The name to check the node's certificate against when it differs from the target's host. */
  serverName?: string;
  /** The deadline of each call in milliseconds (default 30000; 0: none). */
  timeoutMs?: number;
  /** memory.proto; default $POSTDEVAI_PROTO, else found by walking up from this file to the repo's proto/. */
  protoPath?: string;
}

// --- results ---

export interface Info {
  vectorModel: string;
  vectorDimension: number;
  maxValueBytes: bigint;
  maxMessageBytes: bigint;
  version: string;
}

export interface Write {
  lsn: bigint;
}

export interface Stored extends Write {
  /** The file's id (stable: derived from the path). */
  id: string;
}

export interface Appended extends Write {
  /** How many messages the session holds now. */
  messages: bigint;
}

export interface CodeFile {
  id: string;
  path: string;
  language: string;
  content: Buffer;
  lsn: bigint;
  servedFromRam: boolean;
}

export interface SessionContext {
  session: string;
  messages: string[];
  lsn: bigint;
  servedFromRam: boolean;
}

export interface MetadataValue {
  value: Buffer;
  lsn: bigint;
  servedFromRam: boolean;
}

export interface SearchHit {
  owner: "code" | "session";
  /** code: the file's id. */
  id: string;
  path: string;
  /** The chunk of the file, or the message of the session. */
  chunk: number;
  language: string;
  session: string;
  /** Cosine similarity: higher is closer. */
  score: number;
}

export interface SearchOptions {
  /** 1..10000; default 10. */
  limit?: number;
  owner?: "any" | "code" | "sessions";
  pathPrefix?: string;
  language?: string;
  session?: string;
  /** Score every vector at full precision (slower). */
  exact?: boolean;
}

export interface StoreCodeOptions {
  language?: string;
  /** Index the content with the node's built-in embedder (nodes whose model is "lexical-v1"). */
  embed?: boolean;
  /** Your own vectors instead: one per chunk of the content as the node splits it (ChunkCode), in order. */
  embeddings?: number[][];
  /** The model that made `embeddings`; a node storing another model's vectors refuses them. */
  model?: string;
}

export interface StoreContextOptions {
  embed?: boolean;
  /** One vector per message. */
  embeddings?: number[][];
  model?: string;
}

export interface PartitionStats {
  kind: string;
  entries: bigint;
  bytes: bigint;
  budgetBytes: bigint;
  hits: bigint;
  misses: bigint;
  evictions: bigint;
  dirtyEntries: bigint;
  persistedLsn: bigint;
  ready: boolean;
  evictionPolicy: string;
  file: string;
}

export interface SyncStats {
  durableLsn: bigint;
  appliedLsn: bigint;
  checkpointLsn: bigint;
  secondsSinceCheckpoint: number;
  walSegments: bigint;
  walBytes: bigint;
  walRecords: bigint;
  checkpoints: bigint;
  storeDiskBytes: bigint;
}

export interface Stats {
  partitions: PartitionStats[];
  sync: SyncStats;
  reads: bigint;
  writes: bigint;
  ramHits: bigint;
  diskReads: bigint;
  promotions: bigint;
  errors: bigint;
  /** The reply as proto-loader decoded it (snake_case, uint64 as strings): every field, histograms included. */
  raw: Record<string, unknown>;
}

// --- errors ---

/** A call to a dragon_node failed. */
export class MemoryError extends Error {
  /** The engine's error code ("not_found", ...) or the gRPC status name in lower case. */
  readonly code: string;
  /** The gRPC status code (grpc.status.NOT_FOUND, ...); undefined for a mistake caught before any call. */
  readonly grpcCode?: grpc.status;

  constructor(message: string, code: string, grpcCode?: grpc.status) {
    super(message);
    this.name = "MemoryError";
    this.code = code;
    this.grpcCode = grpcCode;
  }
}

function isServiceError(e: unknown): e is grpc.ServiceError {
  return typeof e === "object" && e !== null && "code" in e && "metadata" in e;
}

function fromServiceError(e: grpc.ServiceError, target: string): MemoryError {
  const trailer = e.metadata?.get(ERROR_TRAILER)[0];
  let message = e.details || e.message;
  if (trailer !== undefined) {
    return new MemoryError(message, trailer.toString(), e.code);
  }
  // gRPC itself (or the node's access check) answered: say so in the node's terms.
  const statusName = grpc.status[e.code] ?? "UNKNOWN";
  if (e.code === grpc.status.UNAVAILABLE) {
    message = `the node at ${target} is not reachable (${message})`;
  } else if (e.code === grpc.status.DEADLINE_EXCEEDED) {
    message = `the node at ${target} did not answer in time (${message})`;
  } else if (e.code === grpc.status.UNIMPLEMENTED) {
    message = `the node at ${target} does not serve this call; is it older than this client? (${message})`;
  }
  return new MemoryError(message, statusName.toLowerCase(), e.code);
}

function invalid(message: string): MemoryError {
  return new MemoryError(message, "invalid_argument");
}

// --- loading memory.proto ---

/** memory.proto: $POSTDEVAI_PROTO, else the repo's proto/ found by walking up from this file. */
export function findProto(): string {
  const fromEnv = process.env.POSTDEVAI_PROTO;
  if (fromEnv) return path.resolve(fromEnv);
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, PROTO_IN_REPO);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw invalid(`cannot find ${PROTO_IN_REPO} above ${__dirname}: set POSTDEVAI_PROTO or the protoPath option`);
}

const clients = new Map<string, grpc.ServiceClientConstructor>();

function serviceConstructor(protoPath: string): grpc.ServiceClientConstructor {
  let ctor = clients.get(protoPath);
  if (ctor === undefined) {
    const definition = protoLoader.loadSync(protoPath, LOADER_OPTIONS);
    const v1 = (grpc.loadPackageDefinition(definition) as any).postdevai.memory.v1;
    ctor = v1.Memory as grpc.ServiceClientConstructor;
    clients.set(protoPath, ctor);
  }
  return ctor;
}

// --- conversions ---

// Decoded messages are loosely typed: proto-loader has no schema at compile time.
type Decoded = Record<string, any>;

const u64 = (value: unknown): bigint => BigInt((value as string | number | undefined) ?? 0);

function toBuffer(value: Buffer | Uint8Array | string, what: string): Buffer {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalid(`${what} must be a Buffer or a string`);
}

function readPem(pem: Pem | undefined, what: string): Buffer | null {
  if (pem === undefined) return null;
  if (Buffer.isBuffer(pem)) return pem;
  try {
    return fs.readFileSync(pem);
  } catch (e) {
    throw invalid(`cannot read the ${what} ${pem}: ${(e as Error).message}`);
  }
}

function indexing(embed: boolean | undefined, embeddings: number[][] | undefined, what: string) {
  if (embed && embeddings !== undefined) {
    throw invalid(`${what}: give embeddings or embed: true (the node's built-in embedder), not both`);
  }
  if (embeddings !== undefined) {
    return { indexing: "CALLER_EMBEDDINGS", embeddings: embeddings.map((values) => ({ values })) };
  }
  return { indexing: embed ? "BUILTIN_EMBEDDER" : "NOT_INDEXED", embeddings: [] };
}

const OWNERS = { any: "ANY", code: "CODE", sessions: "SESSIONS" } as const;

function searchRequest(options: SearchOptions): Decoded {
  const owner = OWNERS[options.owner ?? "any"];
  if (owner === undefined) throw invalid(`search: owner is "any", "code" or "sessions", not ${options.owner}`);
  return {
    limit: options.limit ?? 0,
    owner,
    path_prefix: options.pathPrefix ?? "",
    language: options.language ?? "",
    session: options.session ?? "",
    exact: options.exact ?? false,
  };
}

function searchHits(reply: Decoded): SearchHit[] {
  return (reply.hits as Decoded[]).map((h) => ({
    owner: h.owner === "SESSION_MESSAGE" ? "session" : "code",
    id: h.id,
    path: h.path,
    chunk: h.chunk,
    language: h.language,
    session: h.session,
    score: h.score,
  }));
}

// --- the client ---

/**
 * A connection to a dragon_node. Connecting is lazy: the first call connects,
 * and a node that cannot be reached rejects with code "unavailable". Call
 * close() when done (it cancels calls in flight).
 */
export class Memory {
  readonly target: string;
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(target: string = DEFAULT_TARGET, options: MemoryOptions = {}) {
    this.target = target;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.metadata = new grpc.Metadata();
    if (options.token !== undefined) {
      const token = options.token.trim();
      if (!/^[\x21-\x7e]+$/.test(token)) throw invalid("the access token must be non-empty printable ASCII");
      this.metadata.set("authorization", `Bearer ${token}`);
    }
    if ((options.cert === undefined) !== (options.key === undefined)) {
      throw invalid("TLS: a client certificate needs its key and a key its certificate");
    }
    const useTls = options.tls || options.ca !== undefined || options.cert !== undefined;
    const credentials = useTls
      ? grpc.credentials.createSsl(
          readPem(options.ca, "CA file"),
          readPem(options.key, "key"),
          readPem(options.cert, "certificate"),
        )
      : grpc.credentials.createInsecure();
    // The node enforces its message limits (info().maxMessageBytes); the client none.
    const channelOptions: grpc.ChannelOptions = {
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
    };
    if (useTls && options.serverName) channelOptions["grpc.ssl_target_name_override"] = options.serverName;
    const Client = serviceConstructor(options.protoPath ?? findProto());
    this.client = new Client(target, credentials, channelOptions);
  }

  /** Closes the connection; calls in flight are cancelled. */
  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.client.close();
    }
  }

  private call(method: string, request: Decoded): Promise<Decoded> {
    if (this.closed) {
      return Promise.reject(new MemoryError(`this connection to ${this.target} is closed`, "unavailable"));
    }
    const callOptions: grpc.CallOptions = {};
    if (this.timeoutMs > 0) callOptions.deadline = Date.now() + this.timeoutMs;
    return new Promise((resolve, reject) => {
      (this.client as any)[method](request, this.metadata, callOptions, (error: unknown, reply: Decoded) => {
        if (error) reject(isServiceError(error) ? fromServiceError(error, this.target) : error);
        else resolve(reply);
      });
    });
  }

  // --- code files ---

  /** Stores (or replaces) one file, byte for byte; not indexed unless `embed` or `embeddings`. */
  async storeCode(filePath: string, content: Buffer | string, options: StoreCodeOptions = {}): Promise<Stored> {
    const reply = await this.call("StoreCode", {
      path: filePath,
      content: toBuffer(content, `the content of ${filePath}`),
      language: options.language ?? "",
      ...indexing(options.embed, options.embeddings, `storeCode ${filePath}`),
      model: options.model ?? "",
    });
    return { id: reply.id, lsn: u64(reply.lsn) };
  }

  /** A stored file by its id or its path; rejects with code "not_found" if none. */
  async getCode(key: { id: string } | { path: string }): Promise<CodeFile> {
    const hasId = "id" in key && key.id !== undefined;
    const hasPath = "path" in key && key.path !== undefined;
    if (hasId === hasPath) throw invalid("getCode needs an id or a path (exactly one)");
    const reply = await this.call("GetCode", hasId ? { id: (key as { id: string }).id } : { path: (key as { path: string }).path });
    return {
      id: reply.id,
      path: reply.path,
      language: reply.language,
      content: reply.content,
      lsn: u64(reply.lsn),
      servedFromRam: reply.served_from_ram,
    };
  }

  /** Deletes a file and its vectors. */
  async deleteCode(filePath: string): Promise<Write> {
    return { lsn: u64((await this.call("DeleteCode", { path: filePath })).lsn) };
  }

  // --- sessions ---

  /** Replaces a session's messages; indexes them with `embed` or `embeddings` (one per message). */
  async storeContext(session: string, messages: string[], options: StoreContextOptions = {}): Promise<Write> {
    const reply = await this.call("StoreContext", {
      session,
      messages,
      ...indexing(options.embed, options.embeddings, `storeContext ${session}`),
      model: options.model ?? "",
    });
    return { lsn: u64(reply.lsn) };
  }

  /** Appends one message to a session (concurrent appends are never lost). */
  async appendContext(session: string, message: string): Promise<Appended> {
    const reply = await this.call("AppendContext", { session, message });
    return { lsn: u64(reply.lsn), messages: u64(reply.messages) };
  }

  /** A session's messages; rejects with code "not_found" for an unknown session. */
  async getContext(session: string): Promise<SessionContext> {
    const reply = await this.call("GetContext", { session });
    return {
      session: reply.session,
      messages: reply.messages,
      lsn: u64(reply.lsn),
      servedFromRam: reply.served_from_ram,
    };
  }

  // --- metadata ---

  /** Stores a small value under `key` (a string value is stored as UTF-8). */
  async putMetadata(key: string, value: Buffer | string): Promise<Write> {
    const reply = await this.call("PutMetadata", { key, value: toBuffer(value, `the value of ${key}`) });
    return { lsn: u64(reply.lsn) };
  }

  /** The value under `key`; rejects with code "not_found" for an unknown key. */
  async getMetadata(key: string): Promise<MetadataValue> {
    const reply = await this.call("GetMetadata", { key });
    return { value: reply.value, lsn: u64(reply.lsn), servedFromRam: reply.served_from_ram };
  }

  async deleteMetadata(key: string): Promise<Write> {
    return { lsn: u64((await this.call("DeleteMetadata", { key })).lsn) };
  }

  // --- search ---

  /** The stored chunks and messages nearest to a text the node embeds with its built-in embedder. */
  async searchText(text: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    return searchHits(await this.call("Search", { ...searchRequest(options), text }));
  }

  /** The stored chunks and messages nearest to a vector of the node's model and dimension. */
  async searchSimilar(vector: number[], options: SearchOptions & { model?: string } = {}): Promise<SearchHit[]> {
    const request = { ...searchRequest(options), vector: { values: vector }, model: options.model ?? "" };
    return searchHits(await this.call("Search", request));
  }

  // --- operations ---

  /** The node's vector model and dimension, its limits and version. */
  async info(): Promise<Info> {
    const reply = await this.call("Info", {});
    return {
      vectorModel: reply.vector_model,
      vectorDimension: reply.vector_dimension,
      maxValueBytes: u64(reply.max_value_bytes),
      maxMessageBytes: u64(reply.max_message_bytes),
      version: reply.version,
    };
  }

  /** Partitions, sync state and counters (`raw` holds every field of the reply). */
  async stats(): Promise<Stats> {
    const reply = await this.call("Stats", {});
    const sync: Decoded = reply.sync ?? {};
    return {
      partitions: (reply.partitions as Decoded[]).map((p) => ({
        kind: p.kind,
        entries: u64(p.entries),
        bytes: u64(p.bytes),
        budgetBytes: u64(p.budget_bytes),
        hits: u64(p.hits),
        misses: u64(p.misses),
        evictions: u64(p.evictions),
        dirtyEntries: u64(p.dirty_entries),
        persistedLsn: u64(p.persisted_lsn),
        ready: p.ready,
        evictionPolicy: p.eviction_policy,
        file: p.file,
      })),
      sync: {
        durableLsn: u64(sync.durable_lsn),
        appliedLsn: u64(sync.applied_lsn),
        checkpointLsn: u64(sync.checkpoint_lsn),
        secondsSinceCheckpoint: sync.seconds_since_checkpoint ?? 0,
        walSegments: u64(sync.wal_segments),
        walBytes: u64(sync.wal_bytes),
        walRecords: u64(sync.wal_records),
        checkpoints: u64(sync.checkpoints),
        storeDiskBytes: u64(sync.store_disk_bytes),
      },
      reads: u64(reply.reads),
      writes: u64(reply.writes),
      ramHits: u64(reply.ram_hits),
      diskReads: u64(reply.disk_reads),
      promotions: u64(reply.promotions),
      errors: u64(reply.errors),
      raw: reply,
    };
  }
}
