import { randomBytes } from 'node:crypto'
import { pageInvites, pagePeers, pageRemover } from './page-services.js'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Resource } from '../resource.js'
import { Swarmpad, type OpenDocument } from '../swarmpad.js'
import { SwarmpadError, errorMessage, isSwarmpadError } from '../errors.js'
import { LocalServer } from '../server/http.js'
import { rootPaths } from '../storage/paths.js'
import { parseKey } from '../storage/keys.js'
import { SWARMPAD_VERSION, readDaemonSession, removeDaemonInfo, writeDaemonInfo, writeDaemonSession, type DaemonInfo } from './info.js'
import { Mirrors } from './mirrors.js'
import { readProfile, type Profile } from './profile.js'
import { registerApi } from './api.js'
import { Network } from '../net/network.js'
import { parseBootstrap } from '../net/bootstrap.js'
import { Invites, Members, SwarmPresence, type PresenceSource } from '../pairing/index.js'
import { toHex } from '../storage/keys.js'
import { restrictUmask } from '../storage/perms.js'
import b4a from 'b4a'
import { CollabHub } from '../server/collab.js'
import { EDITOR_SOCKET_PATH, EditorHub } from '../editor/hub.js'
import { linkedName } from '../editor/marker.js'
import { carryRecoveredEdits } from './recovered-carry.js'

export interface DaemonOptions {
  /// The storage root (see resolveHome()).
  home: string
  /// Port of the local server on 127.0.0.1; 0 (the default) picks a free one.
  port?: number
  /// `--bootstrap` / SWARMPAD_BOOTSTRAP as given (host:port[,host:port]); null: the public DHT.
  bootstrap?: string | null
  /// LAN discovery (`--no-lan` / SWARMPAD_LAN=0 turn it off).
  lan?: boolean
  /// The bundled page; defaults to dist/web next to this build.
  staticDir?: string
  /// Where log lines go (the foreground daemon: stderr; a started one: daemon.log).
  log?: (line: string) => void
}

/// A document the daemon could not open, and why.
export interface FailedDocument {
  name: string
  key: string
  error: string
}

/// The swarmpad daemon: one per storage root. Owns the Swarmpad (storage,
/// library, open documents), the network, the file mirrors and the local
/// HTTP + WebSocket server every client talks to; records how to reach it
/// in `daemon.json` (mode 0600) while it runs.
///
/// Closing stops in this order: the server (no new requests, sockets
/// closed), the page hub, the file mirrors (edit sessions saved), the
/// network, and last the documents, which write pending edits to their logs.
export class Daemon extends Resource {
  readonly options: DaemonOptions
  readonly paths: ReturnType<typeof rootPaths> & { mirrors: string; profile: string; session: string }
  /// The command's secret (daemon.json); new at every start.
  token = ''
  readonly started = Date.now()
  swarmpad!: Swarmpad
  server!: LocalServer
  network!: Network
  invites!: Invites
  members!: Members
  hub!: CollabHub
  mirrors!: Mirrors
  /// Live editors (`swarmpad client`, Teamtype's plugins): src/editor.
  editors!: EditorHub
  profile: Profile | null = null
  info: DaemonInfo | null = null
  /// Library documents that failed to open at start (shown by `swarmpad status`).
  readonly failed: FailedDocument[] = []
  private readonly logLine: (line: string) => void
  private stopRequested = false

  constructor(options: DaemonOptions) {
    super()
    this.options = options
    const paths = rootPaths(options.home)
    this.paths = { ...paths, mirrors: join(paths.home, 'mirrors.json'), profile: join(paths.home, 'profile.json'), session: join(paths.home, 'session.json') }
    this.logLine = options.log ?? ((line) => process.stderr.write(line + '\n'))
  }

  log(line: string): void {
    this.logLine(`${new Date().toISOString()} ${line}`)
  }

  get port(): number {
    return this.server?.port ?? 0
  }

  /// An open document by local name or key; errors name the document.
  async document(nameOrKey: string): Promise<OpenDocument> {
    return this.swarmpad.open(resolveName(this.swarmpad, nameOrKey))
  }

  protected override async _open(): Promise<void> {
    const phases: string[] = [`imports ${Math.round(performance.now())}`]
    let mark = performance.now()
    const phase = (name: string) => {
      const now = performance.now()
      phases.push(`${name} ${Math.round(now - mark)}`)
      mark = now
    }
    const bootstrapText = this.options.bootstrap ?? null
    // Parse before touching storage, so a bad value changes nothing.
    const bootstrap = bootstrapText !== null ? parseBootstrap(bootstrapText) : undefined

    // Everything the daemon creates from here on (RocksDB's files, the JSON
    // files, the logs) is private to this user (src/storage/perms.ts).
    restrictUmask()
    this.swarmpad = this.own(new Swarmpad({ home: this.options.home }))
    this.swarmpad.on('document-error', (_doc: unknown, err: unknown) => this.log(`document error: ${errorMessage(err)}`))
    await this.swarmpad.ready()
    this.own(carryRecoveredEdits(this.swarmpad, this.options.home, (line) => this.log(line)))
    phase('storage')

    const network = new Network(this.swarmpad, {
      ...(bootstrap !== undefined ? { bootstrap } : {}),
      // A DHT on 0.0.0.0 advertises an address loopback peers drop: a
      // loopback-only bootstrap (a test network) means a loopback DHT.
      ...(bootstrap !== undefined && bootstrap.length > 0 && bootstrap.every((b) => b.host.startsWith('127.')) ? { host: '127.0.0.1' } : {}),
      lan: this.options.lan !== false
    })
    network.on('warning', (err: unknown) => this.log(`network: ${errorMessage(err)}`))
    this.network = this.own(network)
    await network.ready()
    phase('network')

    const invites = new Invites(this.swarmpad, network.swarm)
    invites.on('follow-error', (err: unknown) => this.log(`invites: ${errorMessage(err)}`))
    invites.on('joined', (entry: { name: string }) => {
      void this.swarmpad.open(entry.name).catch((err) => this.log(`cannot open ${entry.name}: ${errorMessage(err)}`))
    })
    invites.on('moved', (e: { name: string; from: string; to: string }) => void this.onMoved(e))
    invites.on('rekeyed', (r: { name: string; previous: string; key: string }) => void this.onMoved({ name: r.name, from: r.previous, to: r.key }))
    this.invites = this.own(invites)
    await invites.ready()
    const swarmPresence = new SwarmPresence(network.swarm)
    this.own({ close: () => swarmPresence.close() })
    this.members = new Members(this.swarmpad, { presence: this.presenceSource(swarmPresence), invites, deviceKey: network.publicKey })
    phase('invites')

    await this.openLibrary()
    phase('documents')
    this.profile = await readProfile(this.paths.profile)

    this.mirrors = this.own(new Mirrors(this.paths.mirrors, (line) => this.log(line)))
    await this.mirrors.load((key) => this.swarmpad.documents.find((d) => d.entry.key === key))

    const staticDir = this.options.staticDir ?? fileURLToPath(new URL('../web/', import.meta.url))
    // Unless --port says otherwise, the same port as the last run, so a
    // page's origin (and the credential it keeps there) stays the same. The
    // command's token is new at every start (the page has its own
    // credential, also new at every start: see server/http.ts).
    const session = await readDaemonSession(this.paths.session)
    this.token = randomBytes(32).toString('base64url')
    const hub = new CollabHub(this.swarmpad, { peers: pagePeers(this.network), invites: pageInvites(this.invites), remover: pageRemover(this.members) })
    this.hub = this.own(hub)
    const editors = new EditorHub({
      peers: pagePeers(this.network),
      openLinked: (link) => this.swarmpad.open(linkedName(this.swarmpad.library.list(), link)),
      hold: (path, held) => this.mirrors.hold(path, held),
      log: (line) => this.log(line)
    })
    const makeServer = (port: number) => {
      const server = new LocalServer({ port, token: this.token, staticDir })
      server.on('internal-error', (err: unknown) => this.log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`))
      server.socket('/ws', (ws, url) => hub.handleSocket(ws, url))
      server.socket(EDITOR_SOCKET_PATH, (ws, _url, req) => editors.handleSocket(ws, req, (t) => server.tokenMatches(t)))
      registerApi(this, server)
      return server
    }
    let server = makeServer(this.options.port ?? session.port ?? 0)
    try {
      await server.ready()
    } catch (err) {
      // The remembered port is taken now: any free one will do.
      if (this.options.port !== undefined || session.port === null || !isSwarmpadError(err, 'PORT_IN_USE')) throw err
      server = makeServer(0)
      await server.ready()
    }
    this.server = this.own(server)
    // Closed before the server: every editor's socket ends after the last answer.
    this.editors = this.own(editors)
    // Unchanged since the last run (the usual restart): no write.
    const sessionSaved = writeDaemonSession(this.paths.session, { port: server.port })

    this.info = {
      format: 1,
      pid: process.pid,
      port: server.port,
      token: this.token,
      version: SWARMPAD_VERSION,
      home: this.options.home,
      started: this.started,
      network: { bootstrap: bootstrapText, lan: this.options.lan !== false }
    }
    await Promise.all([sessionSaved, writeDaemonInfo(this.paths.daemon, this.info)])
    phase('server')
    this.log(`listening on http://127.0.0.1:${server.port} (pid ${process.pid}, ${this.swarmpad.documents.length} documents open; ready ${Math.round(performance.now())} ms after the process started: ${phases.join(', ')} ms)`)
  }

  protected override async _close(): Promise<void> {
    // First, so no client tries to reach a daemon that is going away.
    await removeDaemonInfo(this.paths.daemon, process.pid)
  }

  /// Close, as `swarmpad stop` asks: after the reply has been sent.
  requestStop(): void {
    if (this.stopRequested) return
    this.stopRequested = true
    setImmediate(() => void this.close().catch((err) => this.log(`error while stopping: ${errorMessage(err)}`)))
  }

  /// Online from the network's presence channel (bound to the connection and
  /// checked against membership), the same devices the page and the cursors
  /// count; last seen from it too, else from the swarm's connections.
  private presenceSource(connections: SwarmPresence): PresenceSource {
    const presenceOf = (docKey: Uint8Array) => {
      const open = this.swarmpad.documents.find((d) => b4a.equals(d.doc.key, docKey))
      try {
        return open ? this.network.presence(open.doc) : null
      } catch {
        return null // not joined on the network
      }
    }
    return {
      onlineDevices: (docKey) => presenceOf(docKey)?.onlineDevices() ?? new Set(),
      lastSeen: (docKey, deviceHex) => presenceOf(docKey)?.lastSeen(deviceHex) ?? connections.lastSeen(docKey, deviceHex)
    }
  }

  /// A document moved to a successor after a re-key: its file mirrors follow.
  private async onMoved(e: { name: string; from: string; to: string }): Promise<void> {
    try {
      const from = keyHex(e.from)
      const open = await this.swarmpad.open(e.name)
      if (from !== null && this.mirrors) await this.mirrors.moved(from, open)
      this.log(`${e.name} moved to ${e.to}`)
    } catch (err) {
      this.log(`${e.name} moved, but: ${errorMessage(err)}`)
    }
  }

  /// Open every library document, so it keeps syncing while no editor is open.
  /// Open every library document, a few at a time. The daemon waits for
  /// them at most LIBRARY_OPEN_WAIT_MS: a document whose open needs blocks
  /// only absent peers have (a view left sparse) keeps opening in the
  /// background and joins the network when it is open, instead of holding up
  /// the daemon and every other document.
  private async openLibrary(): Promise<void> {
    const queue = this.swarmpad.library.list()
    const worker = async () => {
      for (let entry = queue.shift(); entry !== undefined; entry = queue.shift()) {
        try {
          await this.swarmpad.open(entry.key)
        } catch (err) {
          if (this.closingOrClosed) return
          const error = errorMessage(err)
          this.failed.push({ name: entry.name, key: entry.key, error })
          this.log(`cannot open ${entry.name}: ${error}`)
        }
      }
    }
    const all = Promise.all(Array.from({ length: LIBRARY_OPEN_CONCURRENCY }, worker)).then(() => true)
    const late = !(await Promise.race([all, new Promise<false>((resolve) => setTimeout(() => resolve(false), LIBRARY_OPEN_WAIT_MS).unref())]))
    if (!late) return
    const pending = this.swarmpad.library.list().length - this.swarmpad.documents.length - this.failed.length
    this.log(`still opening ${pending} document(s) after ${LIBRARY_OPEN_WAIT_MS / 1000} s (waiting for peers that have their blocks); starting without them`)
    void all.then(() => {
      if (!this.closingOrClosed) this.log('every library document is open now')
    })
  }
}

/// Library documents opened at once when the daemon starts.
const LIBRARY_OPEN_CONCURRENCY = 4
/// How long the daemon's start waits for its library documents to open.
const LIBRARY_OPEN_WAIT_MS = 10_000

function keyHex(key: string): string | null {
  const parsed = parseKey(key)
  return parsed === null ? null : toHex(parsed)
}

/// The library name of `nameOrKey`, telling a mistyped key from an unknown name.
export function resolveName(swarmpad: Swarmpad, nameOrKey: string): string {
  const entry = swarmpad.library.find(nameOrKey)
  if (entry) return entry.name
  if (/^[0-9a-zA-Z]{40,}$/.test(nameOrKey) && parseKey(nameOrKey) === null) {
    throw new SwarmpadError(
      'INVALID_KEY',
      `invalid document key: "${nameOrKey}" is neither a document name nor a key (a key is 52 z-base-32 characters or 64 hex digits; this has ${nameOrKey.length} characters)`
    )
  }
  return swarmpad.library.resolve(nameOrKey).name
}
