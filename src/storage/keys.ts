import z32 from 'z32'
import b4a from 'b4a'

/// Parse a 32-byte key written as 64 hex digits or 52 z-base-32 characters.
/// Returns null for anything else.
export function parseKey(text: string): Uint8Array | null {
  if (typeof text !== 'string') return null
  if (/^[0-9a-fA-F]{64}$/.test(text)) return b4a.from(text.toLowerCase(), 'hex')
  if (/^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/.test(text)) {
    try {
      const key = z32.decode(text)
      return key.length === 32 && z32.encode(key) === text ? key : null
    } catch {
      return null
    }
  }
  return null
}

/// A key as people see it: z-base-32 (52 characters, no ambiguous letters).
export function formatKey(key: Uint8Array): string {
  return z32.encode(key)
}

export function toHex(key: Uint8Array): string {
  return b4a.toString(key, 'hex')
}

export function fromHex(hex: string): Uint8Array {
  return b4a.from(hex, 'hex')
}
