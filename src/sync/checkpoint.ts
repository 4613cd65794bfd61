import c from 'compact-encoding'
import b4a from 'b4a'
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { MAX_TEXT_LENGTH } from '../limits.js'

/// Where a document keeps its checkpoint: one opaque, encrypted value.
/// Swarmpad stores it in a file of the storage root; tests may keep it in memory.
export interface CheckpointStore {
  load(): Promise<Uint8Array | null>
  save(bytes: Uint8Array): Promise<void>
}

/// A local cache of a document's Y.Doc, so reopening loads one compact state
/// instead of the newest snapshot plus up to SNAPSHOT_INTERVAL updates.
///
/// It is never shared and never trusted blindly: `updates` entries below
/// `signed` had been signed (they never change), and every entry from
/// `signed` to `length` is named in `tail` by identity (member:seq); on open
/// it is used only if every one of those is still in the view, and all view
/// entries from `signed` on are folded on top (Yjs ignores the repeats).
export interface Checkpoint {
  /// Entries of the `updates` view folded into `state`.
  length: number
  /// The view's signed length when it was taken (<= length).
  signed: number
  /// Identities of the entries [signed, length).
  tail: string[]
  /// Y.encodeStateAsUpdate of the Y.Doc (garbage-collected: compact).
  state: Uint8Array
  /// The text `state` holds: shown at once on open, before Yjs loads `state`.
  text: string
}

const CHECKPOINT_VERSION = 2
type State = ReturnType<typeof c.state>

const checkpointEncoding = {
  preencode(s: State, cp: Checkpoint) {
    c.uint.preencode(s, CHECKPOINT_VERSION)
    c.uint.preencode(s, cp.length)
    c.uint.preencode(s, cp.signed)
    c.uint.preencode(s, cp.tail.length)
    for (const id of cp.tail) c.string.preencode(s, id)
    c.buffer.preencode(s, cp.state)
    c.string.preencode(s, cp.text)
  },
  encode(s: State, cp: Checkpoint) {
    c.uint.encode(s, CHECKPOINT_VERSION)
    c.uint.encode(s, cp.length)
    c.uint.encode(s, cp.signed)
    c.uint.encode(s, cp.tail.length)
    for (const id of cp.tail) c.string.encode(s, id)
    c.buffer.encode(s, cp.state)
    c.string.encode(s, cp.text)
  },
  decode(s: State): Checkpoint {
    const version = c.uint.decode(s)
    if (version !== CHECKPOINT_VERSION) throw new Error(`unknown checkpoint version ${version}`)
    const length = c.uint.decode(s)
    const signed = c.uint.decode(s)
    const n = c.uint.decode(s)
    if (signed > length || n !== length - signed) throw new Error('inconsistent checkpoint')
    const tail: string[] = []
    for (let i = 0; i < n; i++) tail.push(c.string.decode(s))
    const state = c.buffer.decode(s) ?? b4a.alloc(0)
    const text = c.string.decode(s)
    return { length, signed, tail, state, text }
  }
}

/// A checkpoint never inflates past this (a text at its length cap, with
/// Yjs overhead): a damaged one cannot make the open allocate without bound.
const MAX_CHECKPOINT_BYTES = 8 * MAX_TEXT_LENGTH

const NONCE_BYTES = 12
const TAG_BYTES = 16

/// The key that seals checkpoints: derived from the document's encryption
/// key, so the checkpoint is as private as the document's cores.
function checkpointKey(encryptionKey: Uint8Array): Buffer {
  return createHmac('sha256', encryptionKey).update('swarmpad checkpoint v1').digest()
}

/// Encrypt a checkpoint (ChaCha20-Poly1305), bound to the document key: a
/// checkpoint of another document fails to open.
export function sealCheckpoint(cp: Checkpoint, encryptionKey: Uint8Array, documentKey: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('chacha20-poly1305', checkpointKey(encryptionKey), nonce, { authTagLength: TAG_BYTES })
  // Deflated: a text's Yjs state shrinks to about a third.
  const plain = deflateRawSync(c.encode(checkpointEncoding, cp))
  cipher.setAAD(documentKey, { plaintextLength: plain.length })
  const body = Buffer.concat([cipher.update(plain), cipher.final()])
  return Buffer.concat([nonce, body, cipher.getAuthTag()])
}

/// Decrypt and decode a checkpoint; null when it is damaged, foreign or of
/// an unknown version (the caller then rebuilds from the view).
export function openCheckpoint(bytes: Uint8Array, encryptionKey: Uint8Array, documentKey: Uint8Array): Checkpoint | null {
  try {
    if (bytes.length < NONCE_BYTES + TAG_BYTES) return null
    const nonce = bytes.subarray(0, NONCE_BYTES)
    const tag = bytes.subarray(bytes.length - TAG_BYTES)
    const decipher = createDecipheriv('chacha20-poly1305', checkpointKey(encryptionKey), nonce, { authTagLength: TAG_BYTES })
    const body = bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)
    decipher.setAAD(documentKey, { plaintextLength: body.length })
    decipher.setAuthTag(tag)
    const sealed = Buffer.concat([decipher.update(body), decipher.final()])
    return c.decode(checkpointEncoding, inflateRawSync(sealed, { maxOutputLength: MAX_CHECKPOINT_BYTES }))
  } catch {
    return null
  }
}
