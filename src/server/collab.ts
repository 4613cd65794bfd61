import { DocAuthority } from './authority.js'
import { Connection, rawToString } from './connection.js'
import type { WebSocket, RawData } from 'ws'
import type { OpenDocument, Swarmpad } from '../swarmpad.js'
import type { SwarmDocument } from '../sync/document.js'
import { SwarmpadError } from '../errors.js'
import { noPeers, type PeerSource } from './peers.js'
import {
  CLOSE_GOING_AWAY,
  type DocRole,
  type InviteInfo,
  type InviteKind,
  type RemoveInfo,
  type ServerMessage
} from './protocol.js'

/// What the page's share dialog needs (made from src/pairing's Invites by
/// invitesFrom()); without it the page shows "not available".
export interface InviteProvider {
  create(doc: SwarmDocument, kind: InviteKind): Promise<InviteInfo & { code: string }>
  list(doc: SwarmDocument): Promise<InviteInfo[]>
  cancel(doc: SwarmDocument, id: string): Promise<void>
}

/// What the page uses beyond the document, as typed capabilities; the daemon
/// builds them from src/net and src/pairing (src/daemon/page-services.ts).
export interface CollabHubOptions {
  /// Presence and sync status; none: offline.
  peers?: PeerSource
  /// The share dialog; none: the page says invites are not available.
  invites?: InviteProvider | null
  /// Removing members; none: removal without re-key, on the document itself.
  remover?: MemberRemover
}

/// What the page's members dialog needs to remove someone, with or without a re-key.
export interface MemberRemover {
  remove(doc: SwarmDocument, key: Uint8Array, rekey: boolean): Promise<RemoveInfo>
}

/// Removal without re-key, straight on the document.
export const directRemover: MemberRemover = {
  async remove(doc, key, rekey) {
    if (rekey) throw new SwarmpadError('BAD_ARGUMENT', 're-keying is not available here: remove the member with `swarmpad remove NAME MEMBER --rekey`')
    await doc.removeMember(key)
    return { rekey: null }
  }
}

/// One side of a page connection: a WebSocket, or a test's in-memory pipe.
export interface Transport {
  send(data: string): void
  close(code: number, reason: string): void
  readonly bufferedAmount: number
  pause?(): void
  resume?(): void
}

/// The page's WebSocket endpoint: one authority per open document, many tabs.
///
/// The daemon registers `server.socket('/ws', (ws, url) => hub.handleSocket(ws, url))`.
/// PROTOCOL.md beside this file describes every message.
export class CollabHub {
  readonly swarmpad: Swarmpad
  readonly peers: PeerSource
  readonly invites: InviteProvider | null
  readonly remover: MemberRemover
  private readonly authorities = new Map<string, DocAuthority>()
  private readonly connections = new Set<Connection>()
  /// One authority per open document, made when it opened, ended when it closed.
  private readonly detachService: () => void
  closed = false

  constructor(swarmpad: Swarmpad, options: CollabHubOptions = {}) {
    this.swarmpad = swarmpad
    this.peers = options.peers ?? noPeers
    this.invites = options.invites ?? null
    this.remover = options.remover ?? directRemover
    this.detachService = swarmpad.attach({ opened: (open) => void this.attach(open), closed: (open) => this.detach(open.entry.key) })
  }

  /// Serve one WebSocket of the page (already authenticated by LocalServer).
  handleSocket(ws: WebSocket, _url: URL): void {
    const conn = this.connect({
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
      get bufferedAmount() {
        return ws.bufferedAmount
      },
      pause: () => ws.pause(),
      resume: () => ws.resume()
    })
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return conn.receive(null)
      conn.receive(rawToString(data))
    })
    ws.on('close', () => conn.close())
    ws.on('error', () => conn.close())
  }

  /// A connection over any transport; feed it frames with receive().
  connect(transport: Transport): Connection {
    const conn = new Connection(this, transport)
    if (this.closed) {
      transport.close(CLOSE_GOING_AWAY, 'swarmpad is stopping')
      return conn
    }
    this.connections.add(conn)
    return conn
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.detachService()
    for (const c of [...this.connections]) c.close(CLOSE_GOING_AWAY, 'swarmpad is stopping')
    for (const a of this.authorities.values()) a.close()
    this.authorities.clear()
  }

  /// The authority of an open document (created when it opened).
  authority(open: OpenDocument): DocAuthority {
    return this.attach(open)
  }

  /// The authority of a document by key, if it is open.
  authorityOf(key: string): DocAuthority | undefined {
    return this.authorities.get(key)
  }

  forget(conn: Connection): void {
    this.connections.delete(conn)
  }

  broadcastDocuments(): void {
    const msg: ServerMessage = { type: 'documents', documents: this.documentList() }
    for (const c of this.connections) c.send(msg)
  }

  documentList(): Array<{ name: string; key: string; role: DocRole; open: boolean }> {
    const open = new Set(this.swarmpad.documents.map((d) => d.entry.key))
    return this.swarmpad.library
      .list()
      .map((e) => ({ name: e.name, key: e.key, role: e.role, open: open.has(e.key) }))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  private attach(open: OpenDocument): DocAuthority {
    let a = this.authorities.get(open.entry.key)
    if (a !== undefined && a.doc === open.doc && !a.closed) return a
    a?.close()
    a = new DocAuthority(this, open)
    this.authorities.set(open.entry.key, a)
    this.broadcastDocuments()
    return a
  }

  private detach(key: string): void {
    const a = this.authorities.get(key)
    if (a === undefined) return
    this.authorities.delete(key)
    a.close()
    this.broadcastDocuments()
  }
}

/// How the page shows a member: the rules of src/doc/member-view.ts.
export { shownColor as colorOf, shownName as displayName } from '../doc/member-view.js'

export { DocAuthority } from './authority.js'
export { Connection, Tab } from './connection.js'
