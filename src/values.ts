/// The rules for every value a user gives swarmpad (names, colours,
/// document names, durations), in one place: the command line, the daemon's
/// API, the page's protocol and the block codec all check through here, so a
/// value one layer accepts is never refused by another.
///
/// Each rule comes in two strengths. The *wire* rule is what `apply()`
/// accepts in a block from any peer; it is part of the document format and
/// changes only with it. The *local* rule is what this device lets its user
/// set: the wire rule plus stricter habits (no empty or padded names), so
/// whatever passes the local rule always encodes.

import { MAX_COLOR_LENGTH, MAX_NAME_LENGTH } from './limits.js'

/// A checked value, or the reason it is refused (a sentence fragment that
/// reads after "invalid X: ").
export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string }

const ok = <T>(value: T): Checked<T> => ({ ok: true, value })
const refuse = <T>(problem: string): Checked<T> => ({ ok: false, problem })

const CONTROL = /[\u0000-\u001f\u007f]/
/// A UTF-16 surrogate without its partner. UTF-8 cannot carry one: it would
/// be written as U+FFFD, so a block would not say what its author meant.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text)
}

// --- member names (profile blocks, presence, `whoami --name`) ---

/// Wire rule for a member's display name ('' = not set). The reasons are
/// written into the replicated view when a block is refused, so their words
/// are part of the format (format v2 replaces them with codes): keep them.
export function wireMemberNameProblem(name: string): string | null {
  if (name.length > MAX_NAME_LENGTH) return `name longer than ${MAX_NAME_LENGTH}`
  if (CONTROL.test(name)) return 'name holds control characters'
  if (LONE_SURROGATE.test(name)) return 'name is not valid UTF-16 (lone surrogate)'
  return null
}

/// Local rule: what a user may set as their name (the wire rule and more).
export function memberName(input: unknown): Checked<string> {
  if (typeof input !== 'string') return refuse('a name is text')
  if (input.trim().length === 0) return refuse('a name cannot be empty')
  if (input.length > MAX_NAME_LENGTH) return refuse(`a name has at most ${MAX_NAME_LENGTH} characters`)
  if (CONTROL.test(input)) return refuse('a name cannot hold control characters')
  if (LONE_SURROGATE.test(input)) return refuse('a name cannot hold a lone UTF-16 surrogate')
  if (input.trim() !== input) return refuse('a name cannot start or end with spaces')
  return ok(input)
}

// --- colours ---

const CANONICAL_COLOR = /^#[0-9a-f]{6}$/
const COLOR_INPUT = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/

/// Wire rule: a colour in a block is '' (not set) or lowercase #rrggbb.
export function wireColorProblem(color: string): string | null {
  if (color === '') return null
  return color.length <= MAX_COLOR_LENGTH && CANONICAL_COLOR.test(color) ? null : 'color must be #rrggbb'
}

/// Local rule: a CSS hex colour, #rgb or #rrggbb in any case, normalised to
/// the wire's lowercase #rrggbb (#ABC -> #aabbcc).
export function memberColor(input: unknown): Checked<string> {
  if (typeof input !== 'string' || input.length > MAX_COLOR_LENGTH || !COLOR_INPUT.test(input)) {
    return refuse('a colour is #rgb or #rrggbb, e.g. #3366cc')
  }
  const hex = input.slice(1).toLowerCase()
  return ok(hex.length === 3 ? `#${hex[0]}${hex[0]}${hex[1]}${hex[1]}${hex[2]}${hex[2]}` : `#${hex}`)
}

/// A colour for a member who never chose one, derived from a stable seed
/// (their writer key), so every view of the document shows them alike.
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

// --- durations ---

export interface DurationRange {
  /// What the value is, for messages ("--expires", "timeout").
  what: string
  min: number
  max: number
}

export const INVITE_EXPIRY: DurationRange = { what: '--expires', min: 60_000, max: 365 * 86_400_000 }
export const JOIN_TIMEOUT: DurationRange = { what: '--timeout', min: 1000, max: 86_400_000 }

const UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/// A duration typed by a user: a number and a unit (30s, 30m, 12h, 7d, 2w).
export function durationText(text: string, range: DurationRange): Checked<number> {
  const m = /^([0-9]{1,6})(s|m|h|d|w)$/.exec(text.trim())
  if (m === null) return refuse('expected a number and a unit, e.g. 30m, 12h, 7d, 2w')
  return durationMs(Number(m[1]) * UNITS[m[2] as keyof typeof UNITS], range)
}

/// A duration in milliseconds (the API's form), within `range`.
export function durationMs(ms: unknown, range: DurationRange): Checked<number> {
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms)) return refuse('expected a whole number of milliseconds')
  if (ms < range.min || ms > range.max) return refuse(`from ${describeDuration(range.min)} to ${describeDuration(range.max)}`)
  return ok(ms)
}

export function describeDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return `${ms / 1000}s`
}
