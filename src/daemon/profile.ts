import { readFile } from 'node:fs/promises'
import { SwarmpadError } from '../errors.js'
import { writeAtomically } from '../storage/library.js'
import { MAX_COLOR_LENGTH, MAX_NAME_LENGTH } from '../limits.js'

/// How this device shows itself to the members of its documents.
export interface Profile {
  name: string
  color: string
}

/// Refuse a display name others could not read; returns the reason or null.
export function checkProfileName(name: string): string | null {
  if (name.trim().length === 0) return 'a name cannot be empty'
  if (name.length > MAX_NAME_LENGTH) return `a name has at most ${MAX_NAME_LENGTH} characters`
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'a name cannot hold control characters'
  if (name.trim() !== name) return 'a name cannot start or end with spaces'
  return null
}

/// Colours are CSS hex colours: #rgb or #rrggbb.
export function checkProfileColor(color: string): string | null {
  if (color.length > MAX_COLOR_LENGTH || !/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(color)) return 'a colour is #rgb or #rrggbb, e.g. #3366cc'
  return null
}

/// A colour for a name, so members differ before they choose one.
export function defaultColor(seed: string): string {
  let h = 2166136261
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619)
  const hue = (h >>> 0) % 360
  // HSL(hue, 60%, 45%) to hex.
  const s = 0.6
  const l = 0.45
  const f = (n: number) => {
    const k = (n + hue / 30) % 12
    const c = l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(c * 255).toString(16).padStart(2, '0')
  }
  return `#${f(0)}${f(8)}${f(4)}`
}

/// `profile.json` in the storage root; null when not set yet.
export async function readProfile(path: string): Promise<Profile | null> {
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch {
    return null
  }
  try {
    const p = JSON.parse(raw) as Partial<Profile>
    if (typeof p.name === 'string' && typeof p.color === 'string' && checkProfileName(p.name) === null && checkProfileColor(p.color) === null) {
      return { name: p.name, color: p.color }
    }
  } catch {}
  return null
}

export async function writeProfile(path: string, profile: Profile): Promise<void> {
  for (const problem of [checkProfileName(profile.name), checkProfileColor(profile.color)]) {
    if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', problem)
  }
  await writeAtomically(path, JSON.stringify(profile, null, 2) + '\n')
}
