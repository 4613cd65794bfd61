// LSP base framing (`Content-Length: N\r\n\r\n` + N bytes of UTF-8 JSON), as
// Teamtype's editor plugins speak it over the stdio of `swarmpad client`.
// Pure: bytes in, messages or problems out.

/// Largest message body accepted (a 100 KB paste is about 100 KB; the
/// daemon's socket takes at most 8 MiB per message).
export const MAX_FRAME_BYTES = 8 * 1024 * 1024 - 4096
/// Largest header block before its blank line.
const MAX_HEADER_BYTES = 4096

export type Frame = { type: 'message'; body: string } | { type: 'problem'; reason: string }

const SEPARATOR = Buffer.from('\r\n\r\n')
const HEADER = Buffer.from('content-length:')
/// (Without `stream`, every decode() starts afresh: one decoder serves all.)
const UTF8 = new TextDecoder('utf-8', { fatal: true })

/// Splits a byte stream into message bodies. A malformed header or an
/// oversized body is reported as a problem and skipped: the decoder looks
/// for the next `Content-Length` header and goes on from there.
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0)
  /// Bytes of an oversized body still to skip.
  private skip = 0

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = []
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buffer.length)
        this.buffer = this.buffer.subarray(n)
        this.skip -= n
        if (this.skip > 0) return out
      }
      if (this.buffer.length === 0) return out
      const end = this.buffer.indexOf(SEPARATOR)
      if (end === -1) {
        if (this.buffer.length > MAX_HEADER_BYTES) {
          out.push({ type: 'problem', reason: `a header of more than ${MAX_HEADER_BYTES} bytes without its blank line` })
          this.resync(1)
          continue
        }
        return out
      }
      const header = parseHeader(this.buffer.subarray(0, end).toString('latin1'))
      if (typeof header === 'string') {
        out.push({ type: 'problem', reason: header })
        this.resync(1)
        continue
      }
      const start = end + SEPARATOR.length
      if (header > MAX_FRAME_BYTES) {
        out.push({ type: 'problem', reason: `a message of ${header} bytes (at most ${MAX_FRAME_BYTES})` })
        this.buffer = this.buffer.subarray(start)
        this.skip = header
        continue
      }
      if (this.buffer.length < start + header) return out
      const body = this.buffer.subarray(start, start + header)
      this.buffer = this.buffer.subarray(start + header)
      try {
        out.push({ type: 'message', body: UTF8.decode(body) })
      } catch {
        out.push({ type: 'problem', reason: 'a message body that is not UTF-8' })
      }
    }
  }

  /// Bytes waiting for the rest of their message.
  get pending(): number {
    return this.buffer.length
  }

  /// Drop bytes up to the next Content-Length header at or after `from`
  /// (at least `from` bytes go; the last few stay when they may begin a
  /// header that the next chunk completes).
  private resync(from: number): void {
    const lower = Buffer.from(this.buffer.toString('latin1').toLowerCase(), 'latin1')
    const next = lower.indexOf(HEADER, from)
    const cut = next !== -1 ? next : Math.max(from, this.buffer.length - (HEADER.length - 1))
    this.buffer = this.buffer.subarray(Math.min(cut, this.buffer.length))
  }
}

/// The body length a header block names, or why it is malformed.
function parseHeader(block: string): number | string {
  let length: number | null = null
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) return `a header line without a name: ${JSON.stringify(line.slice(0, 80))}`
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'content-length') {
      if (!/^\d{1,12}$/.test(value)) return `Content-Length ${JSON.stringify(value.slice(0, 40))} is not a number`
      length = Number(value)
    }
    // Content-Type and anything else: ignored.
  }
  if (length === null) return 'a header without Content-Length'
  return length
}

/// One message framed for the wire.
export function encodeFrame(body: string): Buffer {
  const length = Buffer.byteLength(body, 'utf8')
  const header = `Content-Length: ${length}\r\n\r\n`
  const frame = Buffer.allocUnsafe(header.length + length)
  frame.write(header, 0, 'latin1')
  frame.write(body, header.length, 'utf8')
  return frame
}
