// `swarmpad recover`: bring back every document of a storage root that was
// copied to another computer or restored from a backup, without ever
// appending to or replicating its logs (see src/storage/recover.ts for why).
//
//   1. the old root is renamed aside (`<home>.moved-<time>`), unchanged;
//   2. a new root is made at <home>: new device keys, an empty library;
//   3. the old Corestore is copied into a throwaway folder of the new root
//      and each document is opened there, with no network: its text is read,
//      this device's own blocks included (they are in its local log and
//      view, whether or not a peer ever got them);
//   4. a document only this device wrote (no other member) becomes a new
//      document of the same name and text, editable at once; so does a
//      shared one of which this device was the only owner (nobody else
//      can add a device to it: the others are invited to the new one);
//   5. a shared document cannot take this device's writes under a new key
//      until an owner adds it: its text goes to a read-only file, and its
//      Yjs state (sealed) waits in recovered.json for the next
//      `swarmpad join CODE` of that document, after which the edits no peer
//      had are written into it as one ordinary edit (recovered-carry.ts);
//   6. the throwaway copy is deleted.
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import b4a from 'b4a'
import type Corestore from 'corestore'
import { SwarmpadError, errorMessage } from '../errors.js'
import { Swarmpad } from '../swarmpad.js'
import { SwarmDocument } from '../sync/document.js'
import { openCheckpoint } from '../sync/checkpoint.js'
import { rootPaths } from '../storage/paths.js'
import { Library, type LibraryEntry } from '../storage/library.js'
import { fromHex, toHex } from '../storage/keys.js'
import { restrictUmask } from '../storage/perms.js'
import { processAlive, readPid } from '../storage/lock.js'
import {
  asidePath,
  moveAside,
  movedReason,
  openThrowawayCopy,
  readRecovered,
  sealState,
  statePath,
  textPath,
  writeRecovered,
  writeRecoveredText,
  type RecoveredRecord
} from '../storage/recover.js'
import { readProfile, type Profile } from './profile.js'

/// How long one document may take to open from the throwaway copy (a view
/// left sparse would wait for peers, and there is no network here).
const OPEN_TIMEOUT_MS = 20_000

/// Files of the old root copied as they are: your name and colour, the port.
const KEPT_FILES = ['profile.json', 'session.json']

export type RecoveredStatus = 'recovered' | 'needs-invite' | 'failed'

export interface RecoveredDocument {
  name: string
  /// The old document key (hex).
  oldKey: string
  status: RecoveredStatus
  /// Characters of the text recovered.
  characters: number
  /// recovered: the new document's key (hex).
  newKey?: string
  /// needs-invite: the read-only copy of its text.
  file?: string
  /// needs-invite: members other than this device.
  others?: number
  /// recovered, but it was shared and this device was its only owner (no
  /// member can add this device back): the members to invite to the new one.
  sharedWith?: number
  /// failed: why (its data stays in the old root).
  error?: string
  /// The text came from the checkpoint, not the logs (the logs did not open).
  fromCheckpoint?: boolean
}

export interface RecoverResult {
  home: string
  /// Where the old root is now (null when nothing needed recovering).
  aside: string | null
  /// Why the root needed it (the device file's words).
  reason: string | null
  documents: RecoveredDocument[]
  /// Files the old root kept in sync with a document (`swarmpad sync` them again).
  mirrors: Array<{ name: string; path: string }>
  /// Shared documents recovered earlier and still waiting for a join.
  pending: RecoveredRecord[]
}

/// Recover the root at `home` if it was moved; otherwise report what earlier
/// recoveries left waiting. `progress` gets one line per step.
export async function recoverRoot(home: string, progress: (line: string) => void = () => {}): Promise<RecoverResult> {
  const paths = rootPaths(home)
  const reason = await movedReason(paths.cores)
  if (reason === null) return { home, aside: null, reason: null, documents: [], mirrors: [], pending: await readRecovered(home) }
  const holder = await readPid(paths.lock)
  if (holder !== null && holder !== process.pid && processAlive(holder)) {
    throw new SwarmpadError('STORAGE_LOCKED', `${home} is in use by pid ${holder}; stop it first (\`swarmpad stop\`)`)
  }
  // Read before anything moves: a damaged library stops here, changing nothing.
  const oldLibrary = new Library(paths.library)
  await oldLibrary.load()
  const entries = oldLibrary.list()
  const mirrorPaths = await oldMirrors(join(home, 'mirrors.json'), entries)

  restrictUmask()
  const aside = asidePath(home)
  await moveAside(home, aside)
  progress(`kept the old root aside, unchanged: ${aside}`)
  const old = rootPaths(aside)

  const swarmpad = new Swarmpad({ home })
  await swarmpad.ready()
  progress(`made a new storage root at ${home} (new device keys)`)
  const documents: RecoveredDocument[] = []
  const throwaway = join(home, 'recovering')
  let store: Corestore | null = null
  const records: RecoveredRecord[] = []
  let profile: Profile | null = null
  const recoverDocument = async (entry: LibraryEntry): Promise<void> => {
    if (store === null) return
    const read = await readDocument(store, entry, old.checkpoints)
    if ('error' in read) {
      documents.push({ name: entry.name, oldKey: entry.key, status: 'failed', characters: 0, error: read.error })
      progress(`  ${entry.name}: could not be read (${read.error}); it stays in ${aside}`)
      return
    }
    const characters = read.text.length
    // Only this device wrote it, or nobody else can add this device back
    // (it was the only owner): a new document of the same name and text.
    if ((read.others === 0 && read.writable) || (read.owner && read.otherOwners === 0) || read.fromCheckpoint) {
      const open = await swarmpad.create(entry.name, characters > 0 ? { text: read.text } : {})
      if (profile !== null) await open.doc.setProfile(profile).catch(() => {})
      const shared = read.others > 0 ? { sharedWith: read.others } : {}
      documents.push({ name: entry.name, oldKey: entry.key, status: 'recovered', characters, newKey: toHex(open.doc.key), ...shared, ...(read.fromCheckpoint ? { fromCheckpoint: true } : {}) })
      progress(`  ${entry.name}: back, ${characters} characters, editable${read.fromCheckpoint ? ' (from its last checkpoint: the logs did not open)' : ''}`)
      return
    }
    const file = textPath(home, entry.name, entry.key)
    await writeRecoveredText(file, read.text)
    if (read.state !== null) await writeFile(statePath(home, entry.key), sealState(read.state, fromHex(entry.encryptionKey), fromHex(entry.key)), { mode: 0o600 })
    records.push({ name: entry.name, key: entry.key, oldWriter: read.oldWriter, characters, file, aside, recovered: Date.now() })
    documents.push({ name: entry.name, oldKey: entry.key, status: 'needs-invite', characters, file, others: read.others })
    progress(`  ${entry.name}: shared; its text is in ${file} until a member invites this device again`)
  }
  try {
    for (const file of KEPT_FILES) await copyFile(join(aside, file), join(home, file)).catch(() => {})
    profile = await readProfile(join(home, 'profile.json'))
    store = await openThrowawayCopy(old.cores, throwaway)
    for (const entry of entries) {
      progress(`reading ${entry.name}...`)
      try {
        await recoverDocument(entry)
      } catch (err) {
        documents.push({ name: entry.name, oldKey: entry.key, status: 'failed', characters: 0, error: errorMessage(err) })
        progress(`  ${entry.name}: could not be recovered (${errorMessage(err)}); it stays in ${aside}`)
      }
    }
    await writeRecovered(home, records)
  } finally {
    await store?.close().catch(() => {})
    await rm(throwaway, { recursive: true, force: true })
    await swarmpad.close()
  }
  return { home, aside, reason, documents, mirrors: mirrorPaths, pending: await readRecovered(home) }
}

type DocumentRead =
  | { text: string; state: Uint8Array | null; others: number; otherOwners: number; owner: boolean; writable: boolean; oldWriter: string | null; fromCheckpoint: boolean }
  | { error: string }

/// One document's text, Yjs state and members, from the throwaway store.
async function readDocument(store: Corestore, entry: LibraryEntry, checkpoints: string): Promise<DocumentRead> {
  const key = fromHex(entry.key)
  const encryptionKey = fromHex(entry.encryptionKey)
  const checkpointFile = join(checkpoints, entry.namespace)
  const doc = new SwarmDocument(store.namespace(entry.namespace), {
    key,
    encryptionKey,
    // Read from the old root, never written back to it.
    checkpoint: { load: () => readFile(checkpointFile).catch(() => null), save: async () => {} }
  })
  doc.on('error', () => {})
  doc.on('warning', () => {})
  let timer: NodeJS.Timeout | null = null
  try {
    await Promise.race([
      doc.ready(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`it did not open within ${OPEN_TIMEOUT_MS / 1000} s (its view needs blocks from peers)`)), OPEN_TIMEOUT_MS)
      })
    ])
    const members = await doc.members()
    const self = await doc.self()
    const others = members.filter((m) => !m.removed && !b4a.equals(m.key, doc.writerKey))
    const seed = doc.seedPoint()
    return {
      text: doc.text.toString(),
      state: seed.state,
      others: others.length,
      otherOwners: others.filter((m) => m.role === 'owner').length,
      owner: self !== null && !self.removed && self.role === 'owner',
      writable: doc.writable,
      oldWriter: self !== null ? toHex(doc.writerKey) : null,
      fromCheckpoint: false
    }
  } catch (err) {
    // The logs did not open: the checkpoint's text is better than nothing.
    const bytes = await readFile(checkpointFile).catch(() => null)
    const cp = bytes === null ? null : openCheckpoint(bytes, encryptionKey, key)
    if (cp !== null) return { text: cp.text, state: null, others: 0, otherOwners: 0, owner: true, writable: true, oldWriter: null, fromCheckpoint: true }
    return { error: errorMessage(err) }
  } finally {
    if (timer !== null) clearTimeout(timer)
    await doc.close().catch(() => {})
  }
}

/// The files the old root synced with its documents (mirrors.json), by document name.
async function oldMirrors(path: string, entries: readonly LibraryEntry[]): Promise<Array<{ name: string; path: string }>> {
  try {
    const data = JSON.parse(await readFile(path, 'utf8')) as { mirrors?: unknown; records?: unknown }
    const list = Array.isArray(data.mirrors) ? data.mirrors : Array.isArray(data.records) ? data.records : []
    const out: Array<{ name: string; path: string }> = []
    for (const r of list as Array<{ doc?: unknown; path?: unknown }>) {
      const entry = entries.find((e) => e.key === r.doc)
      if (entry && typeof r.path === 'string') out.push({ name: entry.name, path: r.path })
    }
    return out
  } catch {
    return []
  }
}
