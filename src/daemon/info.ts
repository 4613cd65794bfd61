import { readFileSync } from 'node:fs'
import { readFile, unlink } from 'node:fs/promises'
import { writeAtomically } from '../storage/library.js'

/// The version of this swarmpad build (package.json).
export const SWARMPAD_VERSION: string = readVersion()

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
  } catch {
    return '0.0.0'
  }
}

/// How a running daemon can be reached: `daemon.json` in the storage root,
/// mode 0600 (the token is the key to every document on this device).
export interface DaemonInfo {
  /// Format of this file.
  format: 1
  pid: number
  port: number
  token: string
  /// The swarmpad version the daemon runs.
  version: string
  home: string
  /// ms since the epoch.
  started: number
  /// The network settings it was started with (null: no network layer).
  network: { bootstrap: string | null; lan: boolean } | null
}

export async function writeDaemonInfo(path: string, info: DaemonInfo): Promise<void> {
  await writeAtomically(path, JSON.stringify(info, null, 2) + '\n', 0o600)
}

/// The daemon file, or null when it is missing or does not parse (a daemon
/// that crashed while writing it, or a file from another version).
export async function readDaemonInfo(path: string): Promise<DaemonInfo | null> {
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch {
    return null
  }
  try {
    const x = JSON.parse(raw) as Partial<DaemonInfo>
    if (
      x.format !== 1 ||
      !Number.isInteger(x.pid) || (x.pid as number) <= 0 ||
      !Number.isInteger(x.port) || (x.port as number) <= 0 || (x.port as number) > 65535 ||
      typeof x.token !== 'string' || x.token.length < 16 ||
      typeof x.version !== 'string'
    ) {
      return null
    }
    return x as DaemonInfo
  } catch {
    return null
  }
}

/// Remove the daemon file if it still names `pid` (a newer daemon may have replaced it).
export async function removeDaemonInfo(path: string, pid: number): Promise<void> {
  const info = await readDaemonInfo(path)
  if (info !== null && info.pid !== pid) return
  await unlink(path).catch(() => {})
}

/// What a daemon keeps across restarts: the port, so the page's origin (and
/// the credential it keeps there) stays the same. `session.json`, mode 0600.
/// (Older versions also kept their token there; it is ignored.)
export interface DaemonSession {
  port: number | null
}

/// The last run's session (port null when there is none, or it is damaged).
export async function readDaemonSession(path: string): Promise<DaemonSession> {
  try {
    const x = JSON.parse(await readFile(path, 'utf8')) as Partial<DaemonSession>
    if (Number.isInteger(x.port) && (x.port as number) > 0 && (x.port as number) <= 65535) return { port: x.port as number }
  } catch {
    // none yet, or damaged
  }
  return { port: null }
}

export async function writeDaemonSession(path: string, session: DaemonSession): Promise<void> {
  await writeAtomically(path, JSON.stringify(session) + '\n', 0o600)
}
