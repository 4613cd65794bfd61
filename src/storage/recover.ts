// A storage root that was copied to another place (a new computer, a backup
// put back): how it is recognised, where the old root is kept aside, the
// private throwaway copy its documents are read from, and the record of the
// shared documents whose unsynced edits wait for the next join.
//
// Why a copy must never write: every log of the root is signed with this
// device's keys. A copy that appends to a log whose original (or a later
// state of it, already replicated) also goes on would give peers two
// different blocks at the same position: a fork, which breaks the document
// for everyone. hypercore-storage guards against it with device-file (the
// CORESTORE file records the inode it was made on, the platform and an
// extended attribute): a copied root does not open. `swarmpad recover`
// reads the old root's documents from a throwaway copy that is never
// replicated and is deleted afterwards, and starts a new root with new keys.
import { cp, mkdir, rename, rm, stat } from 'node:fs/promises'
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import DeviceFile from 'device-file'
import Corestore from 'corestore'
import Hypercore from 'hypercore'
import { SwarmpadError } from '../errors.js'
import { storageError } from './lock.js'
import { readJsonFile, writeJsonFile } from './json-file.js'
import { writeAtomically } from './files.js'

/// The one command that brings a moved root back.
export const RECOVER_COMMAND = 'swarmpad recover'

/// Why the Corestore of `cores` must not be opened here: the device file
/// says it was made elsewhere ("was modified", "was moved unsafely", "was
/// made on different platform"). Null when it opens normally, or when there
/// is no device file yet (a new root). Reads only: nothing is written.
export async function movedReason(cores: string): Promise<string | null> {
  const file = new DeviceFile(join(cores, 'CORESTORE'), { create: false, wait: false, lock: false, data: { id: null } })
  try {
    await file.ready()
    return null
  } catch (err) {
    const e = err as { code?: unknown; fatal?: unknown; message?: unknown }
    if (e.code !== 'DEVICE_FILE' || e.fatal !== true) return null
    return typeof e.message === 'string' ? e.message.replace(/^Invalid device file, /i, '') : 'moved'
  } finally {
    await file.close().catch(() => {})
  }
}

/// The error every command shows for a moved root: one sentence, one command.
export function movedRootError(home: string, reason: string): SwarmpadError {
  return new SwarmpadError(
    'STORAGE_MOVED',
    `${home} was copied or restored from a backup (its device file ${reason}), so swarmpad will not write to its logs from here: run \`${RECOVER_COMMAND}\` to get every document back under new keys (the old root is kept aside, unchanged)`
  )
}

/// Throw movedRootError() when the root at `home` (with its Corestore in
/// `cores`) was copied from elsewhere. Runs before the Corestore opens, so a
/// moved root never gets an append.
export async function assertNotMoved(home: string, cores: string): Promise<void> {
  const reason = await movedReason(cores)
  if (reason !== null) throw movedRootError(home, reason)
}

/// Where the old root goes: beside it, `<home>.moved-<UTC time>`.
export function asidePath(home: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  return join(dirname(home), `${basename(home)}.moved-${stamp}`)
}

/// Rename the root at `home` to `aside` (same folder, so one atomic rename:
/// every file stays byte for byte as it was).
export async function moveAside(home: string, aside: string): Promise<void> {
  try {
    await stat(aside).then(
      () => {
        throw new SwarmpadError('STORAGE_ACCESS', `cannot keep the old root at ${aside}: something is there already; try again in a second`)
      },
      () => {}
    )
    await rename(home, aside)
  } catch (err) {
    throw err instanceof SwarmpadError ? err : storageError(home, err)
  }
}

/// Copy the old root's Corestore into `into` (a folder of the new root that
/// is deleted once read) and open that copy. The copy is opened without the
/// device-file guard (it is a copy on purpose): it may be written by the
/// open, but it is never replicated and never kept, so no block of it ever
/// reaches anyone. The old root itself is only read, by the copy.
export async function openThrowawayCopy(oldCores: string, into: string): Promise<Corestore> {
  await rm(into, { recursive: true, force: true })
  await mkdir(dirname(into), { recursive: true, mode: 0o700 })
  try {
    await cp(oldCores, into, { recursive: true, errorOnExist: true, force: false })
  } catch (err) {
    throw storageError(oldCores, err)
  }
  const storage = Hypercore.defaultStorage(into, { allowBackup: true, walRecoveryMode: 0 })
  const store = new Corestore(storage as string)
  await store.ready()
  return store
}

// --- shared documents waiting for a join -------------------------------------

/// A shared document read from a moved root: this device cannot write into
/// it under its new keys until a member invites it again. Until then its text
/// is in `file` (read-only); at the next join its Yjs state (sealed, in
/// `recovered/<key>.state`) is merged with the document and the difference,
/// this device's edits that no peer had, is written as one ordinary edit.
export interface RecoveredRecord {
  /// The local name it had.
  name: string
  /// The document key (hex).
  key: string
  /// The writer key the old device wrote with (hex); null for a reader.
  oldWriter: string | null
  /// Characters of the recovered text.
  characters: number
  /// The read-only copy of the text.
  file: string
  /// The old root, kept aside.
  aside: string
  /// ms since the epoch.
  recovered: number
}

const RECOVERED_FILE = { version: 1, field: 'documents' }

export function recoveredPaths(home: string): { list: string; dir: string } {
  return { list: join(home, 'recovered.json'), dir: join(home, 'recovered') }
}

/// The sealed Yjs state of a recovered document.
export function statePath(home: string, keyHex: string): string {
  return join(recoveredPaths(home).dir, `${keyHex}.state`)
}

/// The read-only text file of a recovered document: its name, unless that is
/// not a usable file name.
export function textPath(home: string, name: string, keyHex: string): string {
  const file = name === '.' || name === '..' || name.startsWith('.') ? `doc-${keyHex.slice(0, 8)}.txt` : name
  return join(recoveredPaths(home).dir, file)
}

/// Records of shared documents still waiting for a join (none when the file is missing or damaged).
export async function readRecovered(home: string): Promise<RecoveredRecord[]> {
  const read = await readJsonFile(recoveredPaths(home).list, RECOVERED_FILE).catch(() => ({ state: 'missing' as const }))
  if (read.state !== 'ok') return []
  return read.records.filter((r): r is RecoveredRecord => {
    const x = r as Partial<RecoveredRecord>
    return typeof x === 'object' && x !== null && typeof x.name === 'string' && typeof x.key === 'string' && /^[0-9a-f]{64}$/.test(x.key) && typeof x.file === 'string'
  })
}

export async function writeRecovered(home: string, records: readonly RecoveredRecord[]): Promise<void> {
  await writeJsonFile(recoveredPaths(home).list, RECOVERED_FILE, records)
}

/// Write a recovered document's text (mode 0400: a copy to read, not to edit).
export async function writeRecoveredText(path: string, text: string): Promise<void> {
  await writeAtomically(path, text, 0o400)
}

// Sealing: ChaCha20-Poly1305 under a key derived from the document's
// encryption key, bound to the document key, as the checkpoints are.
const NONCE_BYTES = 12
const TAG_BYTES = 16

function stateKey(encryptionKey: Uint8Array): Buffer {
  return createHmac('sha256', encryptionKey).update('swarmpad recovered state v1').digest()
}

export function sealState(state: Uint8Array, encryptionKey: Uint8Array, documentKey: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('chacha20-poly1305', stateKey(encryptionKey), nonce, { authTagLength: TAG_BYTES })
  cipher.setAAD(documentKey, { plaintextLength: state.length })
  const body = Buffer.concat([cipher.update(state), cipher.final()])
  return Buffer.concat([nonce, body, cipher.getAuthTag()])
}

/// The state sealed by sealState(); null when damaged or of another document.
export function openState(bytes: Uint8Array, encryptionKey: Uint8Array, documentKey: Uint8Array): Uint8Array | null {
  try {
    if (bytes.length < NONCE_BYTES + TAG_BYTES) return null
    const nonce = bytes.subarray(0, NONCE_BYTES)
    const body = bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)
    const decipher = createDecipheriv('chacha20-poly1305', stateKey(encryptionKey), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(documentKey, { plaintextLength: body.length })
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    return Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    return null
  }
}
