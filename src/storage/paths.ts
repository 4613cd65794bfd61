import { homedir } from 'node:os'
import { realpath } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'

/// The storage root: `--home`, else $SWARMPAD_HOME, else
/// $XDG_DATA_HOME/swarmpad, else ~/.local/share/swarmpad.
export function resolveHome(explicit?: string | null, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return resolve(explicit)
  if (env.SWARMPAD_HOME) return resolve(env.SWARMPAD_HOME)
  if (env.XDG_DATA_HOME) return resolve(env.XDG_DATA_HOME, 'swarmpad')
  return join(homedir(), '.local', 'share', 'swarmpad')
}

/// Files inside a storage root.
export function rootPaths(home: string) {
  return {
    home,
    cores: join(home, 'cores'),
    checkpoints: join(home, 'checkpoints'),
    library: join(home, 'library.json'),
    lock: join(home, 'swarmpad.pid'),
    daemon: join(home, 'daemon.json'),
    log: join(home, 'daemon.log')
  }
}

/// An absolute `path` with symbolic links resolved; when the file does not
/// exist (yet), its folder's links are resolved. Null when the folder does
/// not exist either.
export async function resolveLinks(path: string): Promise<string | null> {
  try {
    return await realpath(path)
  } catch {}
  try {
    return join(await realpath(dirname(path)), basename(path))
  } catch {
    return null
  }
}
