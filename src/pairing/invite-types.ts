// The types and defaults of invites, joining and re-keying (src/pairing/invites.ts).
import type { LibraryEntry } from '../storage/library.js'
import type { SwarmDocument } from '../sync/document.js'
import type { InviteRole } from './code.js'

/// Invites expire after this long unless told otherwise.
export const DEFAULT_INVITE_EXPIRY = 7 * 24 * 3600 * 1000
/// The longest expiry an invite may have.
export const MAX_INVITE_EXPIRY = 365 * 24 * 3600 * 1000
/// How long the invites a re-key seals to the remaining members stay valid.
export const DEFAULT_REKEY_EXPIRY = 30 * 24 * 3600 * 1000
/// How long join() waits for the device that created the invite, by default.
export const DEFAULT_JOIN_TIMEOUT = 120_000
/// After pairing, how long join() waits at least for the document to become writable.
export const MIN_WRITABLE_WAIT = 15_000
/// How often join() reports that it is still waiting.
export const PROGRESS_INTERVAL = 5000
/// The longest delay setTimeout takes.
export const MAX_TIMER = 2 ** 31 - 1
/// How often expired invites are forgotten and pairing topics left.
export const HOUSEKEEPING_INTERVAL = 60_000

/// blind-pairing's reply statuses: 1 rejected, 2 used, 3 expired. swarmpad
/// adds 4 for a cancelled invite (blind-pairing-core reports an unknown status
/// as a rejection and keeps the decrypted status in `request.response`).
export const STATUS_REJECTED = 1
export const STATUS_USED = 2
export const STATUS_EXPIRED = 3
export const STATUS_CANCELLED = 4

/// The parts of a Hyperswarm Invites uses (the network layer's swarm fits).
/// blind-pairing also uses `dht`, `connections`, `on`/`removeListener`.
export interface PairingSwarm {
  readonly keyPair: { publicKey: Uint8Array }
  readonly dht: object
  join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean }): { destroy(): Promise<void> }
  /// Hyperswarm's topic status: used to notice that someone called
  /// `swarm.leave(topic)`, which ends every session of the topic (ours too).
  status?(topic: Uint8Array): { readonly destroyed: boolean } | null
}

/// An invite as listed to people.
export interface InviteInfo {
  /// Short id: give it to cancel().
  id: string
  code: string
  role: 'writer' | 'owner'
  /// The document key (z32) and its local name (null when no longer in the library).
  doc: string
  name: string | null
  created: number
  expires: number
  state: 'pending' | 'used' | 'cancelled' | 'expired'
  /// Writer key (z32) of the device that used it.
  usedBy: string | null
  usedAt: number | null
  /// `rekey`: made by a re-key for one remaining member (sealed in the `moved` block).
  purpose: 'invite' | 'rekey'
}

export interface CreatedInvite {
  id: string
  code: string
  role: InviteRole
  /// ms since the epoch.
  expires: number
  /// The document key (z32).
  doc: string
}

export type JoinStage = 'checking' | 'waiting-for-owner' | 'accepted' | 'syncing' | 'done'

export interface JoinProgress {
  stage: JoinStage
  message: string
  elapsedMs: number
}

export interface JoinOptions {
  /// Local name for the document; default `shared-<6 characters of its id>`.
  name?: string
  /// This device's name and colour in the document (a profile block).
  profile?: { name: string; color?: string }
  onProgress?: (progress: JoinProgress) => void
  signal?: AbortSignal
  /// How long to wait for the device that created the invite (ms).
  timeoutMs?: number
}

/// What an owner device is asked before it lets a device in (see InvitesOptions.approve).
export interface PairingRequest {
  /// The document key (z32) and local name.
  doc: string
  name: string
  role: 'writer' | 'owner'
  /// The joining device's writer key (z32) and the invite's short id.
  writerKey: string
  invite: string
}

export interface InvitesOptions {
  /// Asked for every valid request before it is accepted; false rejects it
  /// (the invite stays usable). Default: accept. Not asked for re-key invites.
  approve?: (request: PairingRequest) => boolean | Promise<boolean>
  /// The clock (ms); tests move it.
  now?: () => number
  /// blind-pairing's DHT poll interval (ms); its default (about 7 minutes) when unset.
  poll?: number
  /// Expiry of the invites a re-key makes (ms).
  rekeyExpiresMs?: number
}

export interface RekeyResult {
  /// The local name, now pointing at the successor.
  name: string
  /// The successor's key and the old document's key (z32).
  key: string
  previous: string
  /// The removed member's writer key (z32); null for an upgrade (nobody removed).
  removed: string | null
  /// Remaining members the successor was sealed to (z32 writer keys).
  sealed: string[]
  /// Remaining members it could not be sealed to: their devices never wrote a
  /// block this device received, so their public key is unknown. They need a new invite.
  unreachable: string[]
}

export interface MovedEvent {
  name: string
  from: string
  to: string
  /// Once followed: of this device's edits the seed lacked, how many Yjs
  /// updates went over exactly (format v2) and whether some were placed as text.
  /// `unknown`: which of its edits the seed lacked could not be told (then
  /// only what it typed after noticing the move went over, as text).
  carried?: { exact: number; asText: boolean; unknown?: boolean }
  /// How long pairing with the successor took, and then until it took this device's writes.
  waited?: { pairingMs: number; writableMs: number }
}

export interface Retired {
  doc: SwarmDocument
  discovery: { destroy(): Promise<void> }
}

/// The events of Invites (typed).
export interface InvitesEvents {
  'invite-used': [invite: InviteInfo]
  joined: [entry: LibraryEntry]
  rekeyed: [result: RekeyResult]
  following: [event: MovedEvent]
  /// Followed: the library entry now points at the successor.
  moved: [event: MovedEvent]
  /// The document moved without this device (it was removed, or is a reader).
  'moved-away': [event: MovedEvent]
  'follow-error': [err: unknown]
  close: []
}
