// Where the daemon plugs in work that lands separately: the page's
// WebSocket hub (src/server/collab.ts). It is loaded when its built module
// exists, so the daemon runs (without the page) before it lands. Replace the
// loader with a static import once the module is in the tree.
import { fileURLToPath } from 'node:url'
import type { WebSocket } from 'ws'
import type { Swarmpad } from '../swarmpad.js'
import type { Network } from '../net/network.js'
import { errorMessage } from '../errors.js'

/// What the daemon needs from the page's WebSocket hub (issue 6).
export interface CollabHubLike {
  handleSocket(ws: WebSocket, url: URL): void
  close(): Promise<void> | void
}

export interface CollabModule {
  CollabHub: new (swarmpad: Swarmpad, network: Network | null) => CollabHubLike
}

/// Import `spec` (relative to this file) if it was built; null when it does not exist.
async function importIfBuilt(spec: string): Promise<Record<string, unknown> | null> {
  const url = new URL(spec, import.meta.url)
  try {
    return (await import(url.href)) as Record<string, unknown>
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // Only the module itself missing means "not built yet"; a missing
    // dependency inside it is a real error.
    if (code === 'ERR_MODULE_NOT_FOUND' && errorMessage(err).includes(fileURLToPath(url))) return null
    throw err
  }
}

export async function loadCollabModule(): Promise<CollabModule | null> {
  const mod = await importIfBuilt('../server/collab.js')
  if (mod !== null && typeof mod.CollabHub === 'function') return mod as unknown as CollabModule
  return null
}

