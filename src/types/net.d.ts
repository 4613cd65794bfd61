// Minimal declarations for the untyped networking modules src/net uses
// (hyperswarm, hyperdht, protomux). Only what the code calls is declared;
// widen here, never with `any` elsewhere. multicast-dns has @types.

declare module 'hyperdht' {
  import { EventEmitter } from 'node:events'

  export interface DhtNodeAddress {
    host: string
    port: number
  }

  export interface DhtKeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }

  export interface HyperDHTOptions {
    /// Bootstrap nodes; HyperDHT's public ones when unset, none with [].
    bootstrap?: DhtNodeAddress[]
    /// Extra nodes to seed the routing table with.
    nodes?: DhtNodeAddress[]
    port?: number
    anyPort?: boolean
    /// Address the UDP sockets bind to (default 0.0.0.0).
    host?: string
    ephemeral?: boolean
    firewalled?: boolean
    keyPair?: DhtKeyPair
  }

  export default class HyperDHT extends EventEmitter {
    constructor(opts?: HyperDHTOptions)
    static bootstrapper(port: number, host: string, opts?: HyperDHTOptions): HyperDHT
    static keyPair(seed?: Uint8Array): DhtKeyPair
    /// The public bootstrap nodes, as `ip@name:port` strings.
    static readonly BOOTSTRAP: readonly string[]
    readonly ephemeral: boolean
    readonly firewalled: boolean
    readonly destroyed: boolean
    readonly bootstrapped: boolean
    readonly online: boolean
    readonly id: Buffer | null
    readonly host: string | null
    readonly port: number
    fullyBootstrapped(): Promise<void>
    ready(): Promise<void>
    address(): { host: string; family: number; port: number } | null
    remoteAddress(): DhtNodeAddress | null
    addNode(node: DhtNodeAddress): void
    /// One DHT ping; rejects when the node does not answer.
    ping(node: DhtNodeAddress, opts?: { retry?: boolean }): Promise<unknown>
    toArray(opts?: { limit?: number }): DhtNodeAddress[]
    destroy(opts?: { force?: boolean }): Promise<void>
  }
}

declare module 'hyperdht/testnet' {
  import HyperDHT, { type DhtNodeAddress, type HyperDHTOptions } from 'hyperdht'

  export interface Testnet {
    nodes: HyperDHT[]
    bootstrap: DhtNodeAddress[]
    createNode(opts?: HyperDHTOptions): HyperDHT
    destroy(): Promise<void>
  }

  export default function createTestnet(size?: number, opts?: { host?: string; port?: number; bootstrap?: DhtNodeAddress[] }): Promise<Testnet>
}

declare module 'hyperswarm' {
  import { EventEmitter } from 'node:events'
  import { Duplex } from 'node:stream'
  import HyperDHT, { type DhtKeyPair, type DhtNodeAddress } from 'hyperdht'

  /// An encrypted connection (@hyperswarm/secret-stream NoiseSecretStream).
  export interface SwarmConnection extends Duplex {
    readonly publicKey: Buffer
    readonly remotePublicKey: Buffer
    readonly isInitiator: boolean
    readonly handshakeHash: Buffer
    readonly rawBytesRead: number
    readonly rawBytesWritten: number
    userData: unknown
    sendKeepAlive(): void
  }

  export interface PeerInfo {
    readonly publicKey: Buffer
    readonly topics: Buffer[]
    readonly client: boolean
    readonly banned: boolean
  }

  export interface PeerDiscovery {
    readonly topic: Buffer
    readonly destroyed: boolean
    refresh(): Promise<boolean>
    flushed(): Promise<boolean>
  }

  export interface PeerDiscoverySession {
    readonly topic: Buffer
    refresh(opts?: { server?: boolean; client?: boolean }): Promise<void>
    flushed(): Promise<boolean>
    destroy(): Promise<void>
  }

  export interface HyperswarmOptions {
    keyPair?: DhtKeyPair
    dht?: HyperDHT
    bootstrap?: DhtNodeAddress[]
    maxPeers?: number
    firewall?: (remotePublicKey: Buffer, payload: unknown) => boolean
  }

  export interface HyperDHTServer {
    refresh(): void
    readonly listening: boolean
  }

  export default class Hyperswarm extends EventEmitter {
    constructor(opts?: HyperswarmOptions)
    readonly keyPair: DhtKeyPair
    readonly dht: HyperDHT
    readonly server: HyperDHTServer
    readonly connections: Set<SwarmConnection>
    readonly peers: Map<string, PeerInfo>
    readonly destroyed: boolean
    readonly connecting: number
    join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean }): PeerDiscoverySession
    leave(topic: Uint8Array): Promise<void>
    status(topic: Uint8Array): PeerDiscovery | null
    topics(): IterableIterator<PeerDiscovery>
    listen(): Promise<void>
    flush(): Promise<boolean>
    destroy(opts?: { force?: boolean }): Promise<void>
    on(event: 'connection', listener: (conn: SwarmConnection, info: PeerInfo) => void): this
    on(event: 'update', listener: () => void): this
    on(event: string, listener: (...args: unknown[]) => void): this
  }
}

declare module 'protomux' {
  import { Duplex } from 'node:stream'

  export interface ProtomuxMessage<T> {
    send(message: T): boolean
  }

  export interface ProtomuxEncoding<T> {
    preencode(state: unknown, value: T): void
    encode(state: unknown, value: T): void
    decode(state: unknown): T
  }

  export interface ProtomuxChannel {
    readonly opened: boolean
    readonly closed: boolean
    userData: unknown
    open(handshake?: unknown): void
    close(): void
    addMessage<T>(opts: { encoding?: ProtomuxEncoding<T>; onmessage?: (message: T, channel: ProtomuxChannel) => void | Promise<void> }): ProtomuxMessage<T>
  }

  export default class Protomux {
    static from(stream: Duplex | Protomux): Protomux
    readonly stream: Duplex
    readonly isProtomux: true
    createChannel(opts: {
      protocol: string
      id?: Uint8Array | null
      unique?: boolean
      userData?: unknown
      handshake?: unknown
      onopen?: (handshake: unknown, channel: ProtomuxChannel) => void | Promise<void>
      onclose?: (isRemote: boolean, channel: ProtomuxChannel) => void | Promise<void>
      ondestroy?: (channel: ProtomuxChannel) => void | Promise<void>
    }): ProtomuxChannel | null
    opened(opts: { protocol: string; id?: Uint8Array | null }): boolean
  }
}
