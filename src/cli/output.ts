// Printing for people and for scripts. Results go to stdout; warnings,
// progress and errors to stderr, one line each.

/// Write to stdout and resolve once it is handed to the OS (so exiting
/// right after loses nothing, even for a large `cat` into a pipe).
export function out(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (text.length === 0) return resolve()
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()))
  })
}

/// Print lines (each ended by a newline).
export function lines(...rows: string[]): Promise<void> {
  return out(rows.map((r) => r + '\n').join(''))
}

/// Stable JSON for --json: two-space indent, one trailing newline.
export function printJson(value: unknown): Promise<void> {
  return out(JSON.stringify(value, null, 2) + '\n')
}

export function warn(message: string): void {
  process.stderr.write(`swarmpad: ${message}\n`)
}

/// Columns padded to their widest cell; the last column is not padded.
export function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
}

/// A local date and time, e.g. 2026-03-01 14:05:09.
export function formatTime(ms: number): string {
  const d = new Date(ms)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

/// The first characters of a z32 key: enough to tell members apart.
export function shortKey(key: string): string {
  return key.slice(0, 8)
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`
}
