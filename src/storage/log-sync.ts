// Makes what the Corestore wrote durable against a power cut: the storage
// (hypercore-storage on RocksDB) writes without syncing, so an append that
// returned may still be only in the page cache. fdatasync of RocksDB's
// current write-ahead log makes every write before it durable (an older log
// was flushed to synced table files by RocksDB when it rotated).
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type Corestore from 'corestore'

/// The RocksDB handle under a Corestore (see src/types/holepunch.d.ts).
interface Rocks {
  readonly path: string
  currentWalFile(): Promise<{ path: string }>
}

function rocksOf(store: Corestore): Rocks | null {
  const rocks = (store as unknown as { storage?: { rocks?: Rocks } }).storage?.rocks
  return rocks && typeof rocks.currentWalFile === 'function' && typeof rocks.path === 'string' ? rocks : null
}

/// fdatasync of a Corestore's write-ahead log, coalesced: a call made while
/// one runs waits for the next one (which covers its writes), so many
/// appends share one sync.
export class LogSync {
  private running: Promise<void> | null = null
  private next: Promise<void> | null = null
  /// Syncs done (for tests and stats).
  syncs = 0

  constructor(private readonly store: Corestore) {}

  /// Resolves once everything written before the call is durable.
  sync(): Promise<void> {
    if (this.running === null) {
      this.running = this.run().finally(() => (this.running = null))
      return this.running
    }
    if (this.next === null) {
      this.next = this.running.catch(() => {}).then(() => {
        this.next = null
        return this.sync()
      })
    }
    return this.next
  }

  private async run(): Promise<void> {
    const rocks = rocksOf(this.store)
    if (rocks === null) return
    const wal = await rocks.currentWalFile()
    const fh = await open(join(rocks.path, wal.path), 'r')
    try {
      await fh.datasync()
      this.syncs++
    } finally {
      await fh.close()
    }
  }
}

/// fdatasync a file that a library wrote without syncing (the Corestore's
/// device file, CORESTORE): a power cut right after the first open would
/// otherwise leave it empty, and the root would look copied.
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.datasync()
  } finally {
    await fh.close()
  }
}
