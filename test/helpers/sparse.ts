// Make a closed storage root's document look as a fast-forward leaves it:
// its `updates` view holds none of its blocks, and no checkpoint is there to
// open from. Opening it then needs a peer that has the blocks.
import Corestore from 'corestore'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'

/// `home`: a storage root no process has open; `updatesKey`: the key of the
/// document's `updates` view (doc.autobase.view.updates.key while it was open).
export async function emptyUpdatesView(home: string, updatesKey: Uint8Array): Promise<void> {
  await rm(join(home, 'checkpoints'), { recursive: true, force: true })
  const raw = new Corestore(join(home, 'cores'))
  try {
    const core = raw.get({ key: updatesKey })
    await core.ready()
    await core.clear(0, core.length)
    if (core.length > 0 && (await core.has(0))) throw new Error('the view still holds its first block')
  } finally {
    await raw.close()
  }
}
