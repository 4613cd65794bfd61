// Minimal declarations for the untyped Holepunch modules swarmpad uses.
// Only what the code calls is declared; widen here, never with `any` elsewhere.

declare module 'hypercore' {
  import { EventEmitter } from 'node:events'
  import { Duplex } from 'node:stream'

  export interface HypercoreGetOptions {
    wait?: boolean
    timeout?: number
    valueEncoding?: unknown
  }

  export default class Hypercore extends EventEmitter {
    /// The storage of a directory (hypercore-storage on RocksDB) with options.
    static defaultStorage(directory: string, opts?: Record<string, unknown>): unknown
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly length: number
    readonly signedLength: number
    readonly contiguousLength: number
    readonly byteLength: number
    readonly writable: boolean
    readonly opened: boolean
    readonly closed: boolean
    readonly peers: Array<{ remotePublicKey: Buffer }>
    readonly keyPair: { publicKey: Buffer; secretKey: Buffer | null } | null
    ready(): Promise<void>
    close(): Promise<void>
    get(index: number, opts?: HypercoreGetOptions): Promise<Buffer | null>
    has(index: number): Promise<boolean>
    has(start: number, end: number): Promise<boolean>
    append(block: Uint8Array | Uint8Array[]): Promise<{ length: number; byteLength: number }>
    truncate(length: number): Promise<void>
    clear(start: number, end?: number): Promise<unknown>
    download(range?: { start?: number; end?: number; linear?: boolean }): { done(): Promise<void>; destroy(): void }
    update(opts?: { wait?: boolean }): Promise<boolean>
    info(opts?: { storage?: boolean }): Promise<{ length: number; byteLength: number; storage?: unknown }>
    replicate(isInitiator: boolean | Duplex, opts?: Record<string, unknown>): Duplex
  }
}

declare module 'corestore' {
  import { EventEmitter } from 'node:events'
  import { Duplex } from 'node:stream'
  import Hypercore from 'hypercore'

  export interface CorestoreGetOptions {
    name?: string
    key?: Uint8Array
    keyPair?: { publicKey: Uint8Array; secretKey: Uint8Array }
    valueEncoding?: unknown
    encryption?: unknown
    exclusive?: boolean
    active?: boolean
  }

  export default class Corestore extends EventEmitter {
    constructor(storage: string, opts?: { primaryKey?: Uint8Array; unsafe?: boolean; readOnly?: boolean })
    readonly primaryKey: Buffer
    readonly opened: boolean
    readonly closed: boolean
    ready(): Promise<void>
    close(): Promise<void>
    get(opts: CorestoreGetOptions | Uint8Array): Hypercore
    namespace(name: string | Uint8Array): Corestore
    session(opts?: Record<string, unknown>): Corestore
    replicate(isInitiator: boolean | Duplex, opts?: Record<string, unknown>): Duplex
    createKeyPair(name: string): Promise<{ publicKey: Buffer; secretKey: Buffer }>
    list(discoveryKey?: Uint8Array): AsyncIterable<Buffer>
  }
}

declare module 'autobase' {
  import { EventEmitter } from 'node:events'
  import { Duplex } from 'node:stream'
  import Corestore from 'corestore'
  import Hypercore from 'hypercore'

  export interface AutobaseNode {
    /// The writer that signed the node.
    from: { key: Buffer }
    /// The writer's core length at this node (its sequence number + 1).
    length: number
    value: Buffer | null
    heads: Array<{ key: Buffer; length: number }>
  }

  export interface ViewStore {
    get(name: string | { name: string; valueEncoding?: unknown }): Hypercore
  }

  export interface HostCalls {
    addWriter(key: Uint8Array, opts?: { indexer?: boolean }): Promise<void>
    removeWriter(key: Uint8Array): Promise<void>
    ackWriter(key: Uint8Array): Promise<void>
    interrupt(reason?: unknown): void
    removeable(key: Uint8Array): boolean
  }

  export interface ViewChange {
    from: number
    to: number
    /// The length of the view that was kept when it was truncated (== from otherwise).
    shared: number
  }

  export interface UpdateChanges {
    get(name: string): ViewChange | undefined
  }

  export interface AutobaseHandlers<V> {
    open(store: ViewStore, host: HostCalls): V
    apply(nodes: AutobaseNode[], view: V, host: HostCalls): Promise<void>
    update?(view: V, changes: UpdateChanges): Promise<void>
    close?(view: V): Promise<void>
    valueEncoding?: unknown
    encryptionKey?: Uint8Array | Promise<Uint8Array> | null
    encrypt?: boolean
    encrypted?: boolean
    ackInterval?: number
    fastForward?: boolean | { key: Uint8Array }
    bigBatches?: boolean
  }

  export default class Autobase<V = unknown> extends EventEmitter {
    constructor(store: Corestore, bootstrap: Uint8Array | null, handlers: AutobaseHandlers<V>)
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly local: Hypercore
    readonly view: V
    readonly writable: boolean
    readonly isIndexer: boolean
    readonly length: number
    readonly signedLength: number
    readonly opened: boolean
    readonly closed: boolean
    readonly encryptionKey: Buffer | null
    readonly system: { members: number; indexers: Array<{ key: Buffer }> }
    ready(): Promise<void>
    close(): Promise<void>
    append(value: Uint8Array | Uint8Array[] | null): Promise<unknown>
    update(): Promise<void>
    ack(bg?: boolean): Promise<void>
    heads(): Array<{ key: Buffer; length: number }>
    replicate(isInitiator: boolean | Duplex, opts?: Record<string, unknown>): Duplex
    /// Tells peers on a replication stream which writers have new blocks.
    readonly wakeupProtocol: { addStream(stream: Duplex): void }
    static getLocalCore(store: Corestore, handlers?: Record<string, unknown>, encryptionKey?: Uint8Array | null): Hypercore
  }
}

declare module 'z32' {
  const z32: {
    encode(data: Uint8Array | string): string
    decode(s: string, out?: Uint8Array): Uint8Array
  }
  export default z32
}

/// Autobase's internal apply state: only the one method src/sync/autobase-guard.ts wraps.
declare module 'autobase/lib/apply-state.js' {
  export default class ApplyState {
    _assembleMultisig(...args: unknown[]): Promise<void>
  }
}
