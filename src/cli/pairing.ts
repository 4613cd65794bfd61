// The seam for invites and re-keying (src/pairing, issue 4). Until that
// module is built, the commands parse their arguments and then say so.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { SwarmpadError } from '../errors.js'

/// Durations for --expires: 30m, 12h, 7d, 2w (at most 90 days).
export function parseDuration(text: string, flag = '--expires'): number {
  const m = /^([0-9]{1,6})(m|h|d|w)$/.exec(text.trim())
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }
  if (m === null) throw SwarmpadError.usage(`invalid ${flag} "${text}": expected a number and a unit, e.g. 30m, 12h, 7d, 2w`)
  const ms = Number(m[1]) * unit[m[2] as keyof typeof unit]
  if (ms <= 0 || ms > 90 * 86_400_000) throw SwarmpadError.usage(`invalid ${flag} "${text}": from 1m to 90d`)
  return ms
}

/// Whether the pairing module is built into this swarmpad.
export async function pairingAvailable(): Promise<boolean> {
  return existsSync(fileURLToPath(new URL('../pairing/index.js', import.meta.url)))
}

export function notAvailable(what: string): SwarmpadError {
  return new SwarmpadError('INTERNAL', `${what} is not available in this build of swarmpad yet (it arrives with invites and pairing)`)
}
