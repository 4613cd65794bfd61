import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

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
