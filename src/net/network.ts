import Hyperswarm, { type PeerDiscoverySession, type SwarmConnection } from 'hyperswarm'
import HyperDHT, { type DhtKeyPair } from 'hyperdht'
import b4a from 'b4a'
import { Resource } from '../resource.js'
import { SwarmpadError } from '../errors.js'
import type { DocumentService, OpenDocument, OpeningDocument, Swarmpad } from '../swarmpad.js'
import type { SwarmDocument } from '../sync/document.js'
import { formatBootstrap, type NodeAddress } from './bootstrap.js'
import { LanDiscovery, type LanStatus } from './lan.js'
import { probeBootstrap, publicBootstrapNodes } from './reach.js'
import {
  decodePresence,
  DocumentPresence,
  emptyPresenceStats,
  encodePresence,
  PRESENCE_HEARTBEAT_MS,
  PRESENCE_MIN_INTERVAL_MS,
  PresenceConnection,
  type PresenceDropReason,
  type PresenceStats
} from './presence.js'
import { documentPeers, documentStatus, sameStatus, type DocumentSyncStatus } from './status.js'

export interface NetworkOptions {
  /// DHT bootstrap nodes. Unset: HyperDHT's public bootstrap nodes. An empty
  /// list: none at all (an island network: only LAN discovery finds peers).
  bootstrap?: NodeAddress[]
  /// Discover peers on the local network by multicast DNS (default true).
  lan?: boolean
  /// IPv4 addresses of the interfaces LAN discovery uses (default: all non-internal).
  lanInterfaces?: string[]
  /// The device key pair; default `store.createKeyPair('swarmpad/device')`.
  keyPair?: DhtKeyPair
  /// Address the swarm's DHT sockets bind to (default all interfaces).
  /// Tests on one machine use 127.0.0.1.
  host?: string
  /// UDP port of the swarm's DHT (default: HyperDHT's, or any free one).
  port?: number
  /// Publish this device's key in its member record of every writable open
  /// document (`setProfile({ device })`), which presence needs. Default true.
  publishDevice?: boolean
}

/// What `swarmpad status` shows about the network.
export interface NetworkStatus {
  /// This device's public key (hex): what peers see as the connection's key.
  device: string
  /// `public` (HyperDHT's bootstrap nodes), `none`, or the configured host:port list.
  bootstrap: string
  /// False when LAN discovery is on and no bootstrap node answered at start
  /// (the device then finds peers on the local network only).
  bootstrapReachable: boolean
  lan: LanStatus | { enabled: false }
  /// Devices connected now.
  peers: number
  documents: DocumentSyncStatus[]
  presence: PresenceStats
}

/// The sync status is recomputed on the events that change it, never on a
/// timer: a connection opening or closing, this device's log appending, a
/// peer of its log or of the system core coming or going, the view updating,
/// and a remote saying it holds more of this device's log. Hypercore tells
/// the last only when it raises the most any peer ever held
/// (`remote-contiguous-length`); a second peer catching up later says so in
/// a range message that has no event, one round trip after this device
/// uploaded the block. So an upload is followed by one recheck this much
/// later (once per burst of uploads): it runs only after an upload.
const UPLOAD_RECHECK_MS = 50

/// A second lookup of a topic this long after joining it: two devices that
/// join at the same moment may each look up before the other announced, and
/// Hyperswarm's own next refresh is ten minutes away.
const RELOOKUP_MS = 3000

/// How long to wait after a LAN node appears before refreshing every topic's
/// announcement, so several nodes found together cause one refresh.
const LAN_REFRESH_DELAY_MS = 100

/// Autobase tells peers which writers have new blocks over its own "wakeup"
/// Protomux protocol; without it a remote append is only noticed at the next
/// update(). `base.replicate()` would register the stream, but every
/// connection replicates the whole Corestore once, so each open document's
/// wakeup protocol is given the connection here instead.
function addWakeupStream(doc: SwarmDocument, conn: SwarmConnection): void {
  const base = doc.autobase as unknown as { wakeupProtocol?: { addStream(stream: SwarmConnection): void } }
  try {
    base.wakeupProtocol?.addStream(conn)
  } catch {
    // The document is closing.
  }
}

/// What a Network emits.
export interface NetworkEvents {
  /// A device connected (its key, hex).
  connection: [remote: string]
  /// The last connection to a device closed.
  disconnection: [remote: string]
  'connection-error': [err: Error, remote: string]
  /// A document's sync status changed (also when it left the network: offline).
  status: [status: DocumentSyncStatus]
  /// LAN discovery found a DHT node.
  'lan-node': [node: NodeAddress]
  'presence-dropped': [drop: { reason: PresenceDropReason; from: string }]
  warning: [err: unknown]
}

interface Joined {
  open: OpenDocument
  doc: SwarmDocument
  topic: string
  session: PeerDiscoverySession
  presence: DocumentPresence
  status: DocumentSyncStatus | undefined
  lastSent: number
  sendTimer: NodeJS.Timeout | null
  relookup: NodeJS.Timeout | null
  uploadRecheck: NodeJS.Timeout | null
  publishing: boolean
  /// Removes the listeners join() added.
  unlisten: Array<() => void>
}

/// The parts of an event emitter join() listens on (a Hypercore, the Autobase, the document).
interface Listenable {
  on(event: string, fn: () => void): unknown
  off(event: string, fn: () => void): unknown
}

/// The swarm of one device: one Hyperswarm on the HyperDHT, joined to the
/// discovery key of every open document of a Swarmpad.
///
/// Every connection replicates the whole Corestore (so every open document,
/// each in its own namespace) and carries the presence channel. Hyperswarm
/// keeps at most one connection per remote device key, whatever number of
/// topics the two devices share. A peer that connects knowing only a
/// discovery key (every DHT node sees it) gets no core: Hypercore opens a
/// core's replication only after the remote proves it holds the core's key
/// (a capability bound to the Noise handshake), and the blocks themselves are
/// encrypted with the document's encryption key, so a peer without both learns
/// nothing but that this device serves the topic.
///
/// Events: NetworkEvents.
export class Network extends Resource<NetworkEvents> {
  readonly swarmpad: Swarmpad
  private readonly options: NetworkOptions
  swarm!: Hyperswarm
  lan: LanDiscovery | null = null
  keyPair!: DhtKeyPair
  private readonly joined = new Map<string, Joined>()
  /// Topics of documents being opened: joined before the open completes.
  private readonly early = new Map<string, PeerDiscoverySession>()
  private readonly channels = new Map<SwarmConnection, PresenceConnection>()
  private readonly connected = new Set<string>()
  readonly presenceStats: PresenceStats = emptyPresenceStats()
  private heartbeat: NodeJS.Timeout | null = null
  private lanRefresh: NodeJS.Timeout | null = null
  /// True when LAN discovery is on and no bootstrap node answered at start:
  /// the device then runs on the LAN alone until the daemon restarts.
  bootstrapUnreachable = false
  /// The document's topic: joined as soon as it starts opening (it may need
  /// peers to finish), left once it closed.
  private readonly service: DocumentService = {
    opening: (opening: OpeningDocument) => this.joinEarly(opening.discoveryKey),
    openFailed: (opening: OpeningDocument) => void this.leaveEarly(opening.discoveryKey),
    opened: (open: OpenDocument) => this.join(open),
    closed: (open: OpenDocument) => void this.leave(open.doc)
  }
  private detach: (() => void) | null = null

  constructor(swarmpad: Swarmpad, options: NetworkOptions = {}) {
    super()
    this.swarmpad = swarmpad
    this.options = options
  }

  /// This device's public key: the remote key its peers see.
  get publicKey(): Buffer {
    return this.keyPair.publicKey
  }

  /// Remote device keys (hex) connected now.
  get peers(): string[] {
    return [...this.connected]
  }

  protected override async _open(): Promise<void> {
    const { lan = true, host, port, lanInterfaces } = this.options
    let bootstrap = this.options.bootstrap
    await this.swarmpad.ready()
    this.keyPair = this.options.keyPair ?? (await this.swarmpad.store.createKeyPair('swarmpad/device'))
    // With LAN discovery on, a bootstrap that cannot be reached (no route
    // out: an island LAN) or never answers must not hold the LAN peers up:
    // ask it first, and start on the LAN alone when nobody answers.
    if (lan && (bootstrap === undefined || bootstrap.length > 0)) {
      const probe = await probeBootstrap(bootstrap ?? publicBootstrapNodes(), host !== undefined ? { host } : {})
      if (!probe.reachable) {
        this.bootstrapUnreachable = true
        bootstrap = []
      }
    }
    // An island network (no bootstrap at all, LAN discovery on) has only
    // peers on the local network, which reach this device's address
    // directly: saying so lets them connect at once instead of attempting
    // a hole punch between two hosts that are not behind any NAT.
    const island = lan && bootstrap !== undefined && bootstrap.length === 0
    // On loopback (private test networks, one machine) there is no NAT either:
    // a DHT node that thinks it is firewalled waits for hole punching first
    // (measured: a first pairing between two daemons took 15-37 s instead of ~3 s).
    const loopback = host !== undefined && /^127\./.test(host)
    const dht = new HyperDHT({
      keyPair: this.keyPair,
      ...(island || loopback ? { firewalled: false } : {}),
      ...(bootstrap !== undefined ? { bootstrap } : {}),
      ...(host !== undefined ? { host } : {}),
      ...(port !== undefined ? { port } : {})
    })
    this.swarm = new Hyperswarm({ dht, keyPair: this.keyPair })
    this.own({ close: () => this.swarm.destroy() })
    this.swarm.on('connection', (conn: SwarmConnection) => this.onConnection(conn))

    if (lan) {
      this.lan = new LanDiscovery({
        ...(lanInterfaces !== undefined ? { interfaces: lanInterfaces } : {}),
        onNode: (node) => {
          dht.addNode(node)
          this.emit('lan-node', node)
          this.scheduleLanRefresh()
        }
      })
      this.lan.on('warning', (err: unknown) => this.emit('warning', err))
      this.own(this.lan)
      await this.lan.ready()
      for (const node of this.lan.nodes) dht.addNode(node)
    }

    this.heartbeat = setInterval(() => this.beat(), PRESENCE_HEARTBEAT_MS)
    this.heartbeat.unref()

    this.detach = this.swarmpad.attach(this.service)
  }

  protected override async _close(): Promise<void> {
    this.detach?.()
    if (this.heartbeat) clearInterval(this.heartbeat)
    if (this.lanRefresh) clearTimeout(this.lanRefresh)
    for (const j of [...this.joined.values()]) await this.leave(j.doc)
    for (const key of [...this.early.keys()]) await this.leaveEarly(b4a.from(key, 'hex'))
    for (const ch of this.channels.values()) ch.close()
    this.channels.clear()
    // The swarm (and its DHT) and LAN discovery are closed as owned children.
  }

  /// Resolves when every topic has been announced and looked up once and the
  /// connections found so far are open.
  async flush(): Promise<void> {
    await this.swarm.flush()
  }

  // --- documents ---

  private join(open: OpenDocument): void {
    if (this.closingOrClosed) return
    const doc = open.doc
    if (!doc.opened || doc.closingOrClosed) return
    const topic = b4a.toString(doc.discoveryKey, 'hex')
    if (this.joined.has(topic)) return
    const session = this.early.get(topic) ?? this.swarm.join(doc.discoveryKey, { server: true, client: true })
    this.early.delete(topic)
    for (const conn of this.channels.keys()) addWakeupStream(doc, conn)
    const presence = new DocumentPresence(doc)
    const j: Joined = { open, doc, topic, session, presence, status: undefined, lastSent: 0, sendTimer: null, relookup: null, uploadRecheck: null, publishing: false, unlisten: [] }
    this.joined.set(topic, j)
    const on = (target: Listenable | null | undefined, event: string, fn: () => void) => {
      if (target === null || target === undefined) return
      target.on(event, fn)
      j.unlisten.push(() => target.off(event, fn))
    }
    const listen = (event: string, fn: () => void) => on(doc, event, fn)
    // The events that change the status (see UPLOAD_RECHECK_MS).
    const recheck = () => this.updateStatus(j)
    const local = doc.autobase.local as unknown as Listenable
    for (const e of ['append', 'truncate', 'peer-add', 'peer-remove', 'remote-contiguous-length']) on(local, e, recheck)
    on(local, 'upload', () => {
      recheck()
      if (j.uploadRecheck !== null) return
      j.uploadRecheck = setTimeout(() => {
        j.uploadRecheck = null
        recheck()
      }, UPLOAD_RECHECK_MS)
      j.uploadRecheck.unref()
    })
    const system = (doc.autobase as unknown as { core?: Listenable }).core
    if (system !== (local as unknown)) for (const e of ['peer-add', 'peer-remove']) on(system, e, recheck)
    on(doc.autobase as unknown as Listenable, 'update', recheck)
    listen('members', () => {
      void presence.refreshMembers().then(() => this.sendPresence(j))
      void this.publishDevice(j)
    })
    listen('writable', () => void this.publishDevice(j))
    void presence.refreshMembers().then(() => this.sendPresence(j))
    void this.publishDevice(j)
    this.updateStatus(j)
    j.relookup = setTimeout(() => {
      j.relookup = null
      if (!this.closingOrClosed && !this.swarm.destroyed) this.swarm.status(doc.discoveryKey)?.refresh().catch(() => {})
    }, RELOOKUP_MS)
    j.relookup.unref()
  }

  /// Look for the peers of a document that is still opening: its open may
  /// wait for blocks only they have. Every connection replicates the whole
  /// Corestore, so finding them is all it takes.
  private joinEarly(discoveryKey: Uint8Array): void {
    if (this.closingOrClosed || this.swarm.destroyed) return
    const topic = b4a.toString(discoveryKey, 'hex')
    if (this.joined.has(topic) || this.early.has(topic)) return
    this.early.set(topic, this.swarm.join(discoveryKey, { server: true, client: true }))
  }

  private async leaveEarly(discoveryKey: Uint8Array): Promise<void> {
    const topic = b4a.toString(discoveryKey, 'hex')
    const session = this.early.get(topic)
    if (!session) return
    this.early.delete(topic)
    if (!this.swarm.destroyed) await session.destroy().catch(() => {})
  }

  private async leave(doc: SwarmDocument): Promise<void> {
    const topic = b4a.toString(doc.discoveryKey, 'hex')
    const j = this.joined.get(topic)
    if (!j) return
    this.joined.delete(topic)
    for (const off of j.unlisten) off()
    if (j.sendTimer) clearTimeout(j.sendTimer)
    if (j.uploadRecheck) clearTimeout(j.uploadRecheck)
    if (j.relookup) clearTimeout(j.relookup)
    // Tell the peers at once rather than letting them time out.
    this.broadcast(j, false)
    j.presence.close()
    const offline: DocumentSyncStatus = { ...(j.status ?? documentStatus(doc, this.connected)), state: 'offline', label: 'offline', peers: 0, syncedPeers: 0 }
    this.emit('status', offline)
    // End only this document's session: swarm.leave(topic) would also end
    // other sessions on the same topic (pairing's).
    if (!this.swarm.destroyed) await j.session.destroy().catch(() => {})
  }

  private joinedOf(doc: SwarmDocument): Joined {
    const j = this.joined.get(b4a.toString(doc.discoveryKey, 'hex'))
    if (!j) throw new SwarmpadError('DOC_NOT_FOUND', 'this document is not open on the network')
    return j
  }

  /// Make this device's member record carry the device key, so peers accept
  /// its presence. Appends one `profile` block the first time only.
  private async publishDevice(j: Joined): Promise<void> {
    if (this.options.publishDevice === false || j.publishing || this.closingOrClosed) return
    const doc = j.doc
    if (!doc.writable) return
    j.publishing = true
    try {
      const self = await doc.self()
      if (self === null || (self.device !== null && b4a.equals(self.device, this.keyPair.publicKey))) return
      await doc.setProfile({ device: this.keyPair.publicKey })
    } catch (err) {
      if (doc.closingOrClosed || this.closingOrClosed) return
      // Another profile block (a `whoami` at the same moment) landed after
      // ours and carries the device key too: nothing is wrong.
      const self = await doc.self().catch(() => null)
      if (self?.device && b4a.equals(self.device, this.keyPair.publicKey)) return
      this.emit('warning', err)
    } finally {
      j.publishing = false
    }
  }

  // --- presence ---

  /// The presence of an open document: `peers()`, `online()`, `update` events.
  presence(doc: SwarmDocument): DocumentPresence {
    return this.joinedOf(doc).presence
  }

  /// Set this device's cursor (and selection) in a document, as UTF-16
  /// offsets of the current text; null clears it. Sent to peers at once.
  setCursor(doc: SwarmDocument, cursor: { anchor: number; head: number } | null): void {
    const j = this.joinedOf(doc)
    j.presence.cursor = cursor === null ? null : { anchor: doc.relativePosition(cursor.anchor), head: doc.relativePosition(cursor.head) }
    this.sendPresence(j)
  }

  /// The presence channels of the live connections (tests send hostile bytes through them).
  presenceChannels(): PresenceConnection[] {
    return [...this.channels.values()]
  }

  /// Send this device's presence for `j` now, or soon if one was just sent.
  private sendPresence(j: Joined): void {
    if (this.closingOrClosed || j.presence.closed) return
    const wait = j.lastSent + PRESENCE_MIN_INTERVAL_MS - Date.now()
    if (wait > 0) {
      if (j.sendTimer === null) {
        j.sendTimer = setTimeout(() => {
          j.sendTimer = null
          this.sendPresence(j)
        }, wait)
        j.sendTimer.unref()
      }
      return
    }
    this.broadcast(j, true)
  }

  private broadcast(j: Joined, alive: boolean): void {
    j.lastSent = Date.now()
    if (this.channels.size === 0) return
    const self = j.presence.self()
    let bytes: Uint8Array
    try {
      bytes = encodePresence({
        discoveryKey: j.presence.discoveryKey,
        writerKey: j.presence.writerKey,
        name: self?.name ?? '',
        color: self?.color ?? '',
        alive,
        cursor: alive ? j.presence.cursor : null
      })
    } catch (err) {
      this.emit('warning', err)
      return
    }
    const eligible = this.presenceAudience(j)
    for (const ch of this.channels.values()) {
      if (!eligible.has(ch.remoteKey)) continue
      if (ch.sendRaw(bytes)) this.presenceStats.sent++
    }
  }

  /// Devices that may see our presence in a document: those replicating it
  /// (they proved they hold its key) and the declared devices of its members.
  private presenceAudience(j: Joined): Set<string> {
    const out = documentPeers(j.doc)
    for (const d of j.presence.memberDevices) out.add(d)
    return out
  }

  private beat(): void {
    const now = Date.now()
    for (const j of this.joined.values()) {
      j.presence.expire(now)
      this.sendPresence(j)
    }
  }

  private onPresence(bytes: Uint8Array, from: PresenceConnection): void {
    const now = Date.now()
    this.presenceStats.received++
    if (!from.take(now)) return this.drop('rate', from)
    const decoded = decodePresence(bytes)
    if (!decoded.ok) return this.drop(decoded.reason, from)
    const m = decoded.message
    const j = this.joined.get(b4a.toString(m.discoveryKey, 'hex'))
    if (j === undefined) return this.drop('unknown-document', from)
    if (!j.presence.accepts(m.writerKey, from.remotePublicKey)) return this.drop('identity', from)
    this.presenceStats.accepted++
    j.presence.receive(m, from, now)
  }

  private drop(reason: PresenceDropReason, from: PresenceConnection): void {
    this.presenceStats.dropped[reason]++
    this.emit('presence-dropped', { reason, from: from.remoteKey })
  }

  // --- connections ---

  private onConnection(conn: SwarmConnection): void {
    const remote = b4a.toString(conn.remotePublicKey, 'hex')
    conn.on('error', (err: Error) => this.emit('connection-error', err, remote))
    if (this.closingOrClosed) {
      conn.destroy()
      return
    }
    this.swarmpad.store.replicate(conn)
    for (const j of this.joined.values()) addWakeupStream(j.doc, conn)
    const channel = new PresenceConnection(conn, {
      onmessage: (bytes, from) => this.onPresence(bytes, from),
      onopen: () => {
        for (const j of this.joined.values()) this.broadcast(j, true)
      },
      onclose: (from) => {
        for (const j of this.joined.values()) j.presence.dropConnection(from)
      }
    })
    this.channels.set(conn, channel)
    this.connected.add(remote)
    this.emit('connection', remote)
    conn.once('close', () => {
      this.channels.delete(conn)
      for (const j of this.joined.values()) j.presence.dropConnection(channel)
      // Hyperswarm may have replaced this connection with a newer one to the
      // same device: the device is gone only when no connection is left.
      if (![...this.channels.values()].some((c) => c.remoteKey === remote)) {
        this.connected.delete(remote)
        this.emit('disconnection', remote)
      }
      this.updateStatuses()
    })
    this.updateStatuses()
  }

  private scheduleLanRefresh(): void {
    if (this.lanRefresh !== null || this.closingOrClosed) return
    this.lanRefresh = setTimeout(() => {
      this.lanRefresh = null
      if (this.closingOrClosed || this.swarm.destroyed) return
      // New DHT nodes: announce the device and every topic on them now
      // instead of at Hyperswarm's next refresh (minutes away).
      this.swarm.server.refresh()
      for (const d of this.swarm.topics()) d.refresh().catch(() => {})
    }, LAN_REFRESH_DELAY_MS)
    this.lanRefresh.unref()
  }

  // --- status ---

  /// The sync status of one open document.
  documentStatus(doc: SwarmDocument): DocumentSyncStatus {
    const j = this.joinedOf(doc)
    this.updateStatus(j)
    return j.status!
  }

  /// Everything `swarmpad status` shows about the network.
  status(): NetworkStatus {
    this.updateStatuses()
    const { bootstrap } = this.options
    return {
      device: b4a.toString(this.keyPair.publicKey, 'hex'),
      bootstrap: bootstrap === undefined ? 'public' : bootstrap.length === 0 ? 'none' : formatBootstrap(bootstrap),
      bootstrapReachable: !this.bootstrapUnreachable,
      lan: this.lan !== null ? this.lan.status() : { enabled: false },
      peers: this.connected.size,
      documents: [...this.joined.values()].map((j) => j.status!),
      presence: { ...this.presenceStats, dropped: { ...this.presenceStats.dropped } }
    }
  }

  private updateStatuses(): void {
    for (const j of this.joined.values()) this.updateStatus(j)
  }

  private updateStatus(j: Joined): void {
    if (j.doc.closingOrClosed) return
    const next = documentStatus(j.doc, this.connected)
    if (sameStatus(j.status, next)) return
    j.status = next
    this.emit('status', next)
  }
}
