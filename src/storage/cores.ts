import Corestore from 'corestore'
import Hypercore from 'hypercore'
import { SwarmpadError } from '../errors.js'

/// RocksDB's write-ahead-log recovery mode for the storage root: a torn last
/// record (a crash in the middle of a write) is dropped, but a damaged
/// record before the end makes the open fail. RocksDB's default ("point in
/// time") silently drops the damaged record AND everything after it: one
/// flipped bit in the log opened a document without edits that had been
/// confirmed as saved (test/integration/storage-damage.test.ts).
const TOLERATE_CORRUPTED_TAIL_RECORDS = 0

/// The Corestore of a storage root, its storage made by Hypercore (the same
/// package Corestore uses: a direct dependency of the same range, deduplicated
/// by npm) with the recovery mode above.
export function openCorestore(dir: string): Corestore {
  const storage = Hypercore.defaultStorage(dir, { walRecoveryMode: TOLERATE_CORRUPTED_TAIL_RECORDS })
  return new Corestore(storage as string)
}

/// Words of RocksDB's and the storage layer's errors about damaged or
/// missing files (as opposed to errors of the document itself).
const STORAGE_TROUBLE = /corrupt|checksum|column family|\bcrc\b|magic number|\bblob\b|\bsst\b|manifest|no such file|io error|while (open|stat|read)/i

/// An error met while reading a document from the storage root at `cores`,
/// as the user should see it: damaged storage names the path and the next
/// step; anything else is passed on unchanged.
export function documentStorageError(err: unknown, cores: string, name: string): unknown {
  if (err instanceof SwarmpadError) return err
  const message = err instanceof Error ? err.message : String(err)
  if (!STORAGE_TROUBLE.test(message)) return err
  return new SwarmpadError(
    'STORAGE_CORRUPT',
    `cannot read "${name}" from ${cores}: ${message}; restore the storage root from a backup or join the document again from a peer`,
    { cause: err }
  )
}
