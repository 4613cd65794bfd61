// Invite codes: one printable string (z-base-32) that carries a format
// version, the kind of invite, its secret, its expiry and a checksum, so a
// mistyped or truncated code is refused before any network traffic.
//
// Bytes (74 in all, 119 z32 characters):
//   0      format version (1)
//   1      kind: 1 writer, 2 owner device, 3 read-only
//   2..33  writer/owner: the invite seed (blind-pairing key pair seed)
//          read-only:    the document key
//   34..65 writer/owner: the document's discovery key
//          read-only:    the document's encryption key
//   66..69 expiry, seconds since the epoch, big-endian uint32
//   70..73 checksum: the first 4 bytes of SHA-256("swarmpad invite\0" || bytes 0..69)
import z32 from 'z32'
import b4a from 'b4a'
import { createHash } from 'node:crypto'
import { SwarmpadError } from '../errors.js'

/// The invite format this build writes and reads.
export const INVITE_FORMAT = 1

/// What joining with the invite makes of the device.
/// `writer`: a collaborator (non-indexer writer); `owner`: one of the owner's
/// own devices (an owner and indexer); `reader`: reads, never writes.
export type InviteRole = 'writer' | 'owner' | 'reader'

const KIND_TAG: Record<InviteRole, number> = { writer: 1, owner: 2, reader: 3 }
const BODY_BYTES = 70
/// Bytes of an invite code (before z32).
export const CODE_BYTES = BODY_BYTES + 4
/// z32 length of CODE_BYTES bytes.
export const INVITE_CODE_LENGTH = Math.ceil((CODE_BYTES * 8) / 5)

const Z32_ALPHABET = /^[ybndrfg8ejkmcpqxot1uwisza345h769]*$/

export type ParsedInvite =
  | { role: 'writer' | 'owner'; seed: Uint8Array; discoveryKey: Uint8Array; expires: number }
  | { role: 'reader'; key: Uint8Array; encryptionKey: Uint8Array; expires: number }

function checksum(body: Uint8Array): Buffer {
  return createHash('sha256').update('swarmpad invite\0').update(body).digest().subarray(0, 4)
}

function check32(name: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array) || value.length !== 32) throw new RangeError(`${name} must be 32 bytes`)
}

/// Encode an invite. `expires` is in ms since the epoch (stored to the second, rounded down).
export function encodeInvite(invite: ParsedInvite): string {
  const secs = Math.floor(invite.expires / 1000)
  if (!Number.isInteger(secs) || secs <= 0 || secs > 0xffffffff) throw new RangeError('expires is out of range')
  const out = Buffer.alloc(CODE_BYTES)
  out[0] = INVITE_FORMAT
  out[1] = KIND_TAG[invite.role]
  if (invite.role === 'reader') {
    check32('key', invite.key)
    check32('encryptionKey', invite.encryptionKey)
    out.set(invite.key, 2)
    out.set(invite.encryptionKey, 34)
  } else {
    check32('seed', invite.seed)
    check32('discoveryKey', invite.discoveryKey)
    out.set(invite.seed, 2)
    out.set(invite.discoveryKey, 34)
  }
  out.writeUInt32BE(secs, 66)
  out.set(checksum(out.subarray(0, BODY_BYTES)), BODY_BYTES)
  return z32.encode(out)
}

function invalid(reason: string): SwarmpadError {
  return new SwarmpadError('INVALID_INVITE', `invalid invite: ${reason}`)
}

/// Decode an invite code. Total: any input either decodes or throws
/// SwarmpadError('INVALID_INVITE') with the reason in words. Spaces, line
/// breaks and dashes (from copying a wrapped code) are ignored; letters may
/// be in either case. Does not look at the expiry (see isExpired()).
export function decodeInvite(code: string): ParsedInvite {
  if (typeof code !== 'string') throw invalid('not a string')
  if (code.length > 4 * INVITE_CODE_LENGTH) throw invalid(`${code.length} characters is far longer than an invite (${INVITE_CODE_LENGTH})`)
  const text = code.replace(/[\s-]+/g, '').toLowerCase()
  if (text.length === 0) throw invalid('the code is empty')
  if (!Z32_ALPHABET.test(text)) {
    const bad = [...text].find((ch) => !/[ybndrfg8ejkmcpqxot1uwisza345h769]/.test(ch))
    throw invalid(`"${bad}" is not a character of invite codes; copy the whole code again`)
  }
  if (text.length !== INVITE_CODE_LENGTH) {
    const what = text.length < INVITE_CODE_LENGTH ? 'too short (cut off?)' : 'too long'
    throw invalid(`the code has ${text.length} characters, an invite has ${INVITE_CODE_LENGTH}: ${what}`)
  }
  let bytes: Buffer
  try {
    bytes = Buffer.from(z32.decode(text))
  } catch {
    throw invalid('the code does not decode')
  }
  if (bytes.length !== CODE_BYTES || z32.encode(bytes) !== text) throw invalid('the checksum does not match (a typo?)')
  if (!b4a.equals(checksum(bytes.subarray(0, BODY_BYTES)), bytes.subarray(BODY_BYTES))) {
    throw invalid('the checksum does not match (a typo?); copy the whole code again')
  }
  const version = bytes[0]!
  if (version > INVITE_FORMAT) throw invalid(`it was made by a newer swarmpad (invite format ${version}); upgrade swarmpad`)
  if (version !== INVITE_FORMAT) throw invalid(`unknown invite format ${version}`)
  const expires = bytes.readUInt32BE(66) * 1000
  const a = Buffer.from(bytes.subarray(2, 34))
  const b = Buffer.from(bytes.subarray(34, 66))
  switch (bytes[1]) {
    case KIND_TAG.writer:
      return { role: 'writer', seed: a, discoveryKey: b, expires }
    case KIND_TAG.owner:
      return { role: 'owner', seed: a, discoveryKey: b, expires }
    case KIND_TAG.reader:
      return { role: 'reader', key: a, encryptionKey: b, expires }
    default:
      throw invalid(`unknown kind of invite (${bytes[1]})`)
  }
}

/// True when an invite's expiry has passed at `now` (ms).
export function isExpired(invite: { expires: number }, now: number): boolean {
  return now >= invite.expires
}

/// Whether a string looks like it was meant to be an invite code rather than
/// a document key (for commands that take either).
export function looksLikeInvite(text: string): boolean {
  return typeof text === 'string' && text.replace(/[\s-]+/g, '').length > 60
}
