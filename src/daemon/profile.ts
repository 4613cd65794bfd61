import { readFile } from 'node:fs/promises'
import { SwarmpadError } from '../errors.js'
import { writeAtomically } from '../storage/library.js'
import { memberColor, memberName } from '../values.js'

/// How this device shows itself to the members of its documents.
export interface Profile {
  name: string
  color: string
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
    const name = memberName(p.name)
    const color = memberColor(p.color)
    if (name.ok && color.ok) return { name: name.value, color: color.value }
  } catch {}
  return null
}

/// Check both values (normalising the colour), then write: nothing reaches
/// the disk unless every check passed. Returns what was written.
export async function writeProfile(path: string, profile: Profile): Promise<Profile> {
  const name = memberName(profile.name)
  if (!name.ok) throw SwarmpadError.usage(`invalid name "${profile.name}": ${name.problem}`)
  const color = memberColor(profile.color)
  if (!color.ok) throw SwarmpadError.usage(`invalid colour "${profile.color}": ${color.problem}`)
  const checked = { name: name.value, color: color.value }
  await writeAtomically(path, JSON.stringify(checked, null, 2) + '\n')
  return checked
}
