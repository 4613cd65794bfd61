// Make a document edit whose outcome an EditLedger records: `ok` once its
// block is durable, `failed` when it is refused, at once or later, and
// `unknown` when the document closed while its block was being appended
// (SAVE_UNCERTAIN: it may be in the log).
import { isSwarmpadError } from '../../src/errors.js'
import type { EditLedger, LedgerOp } from './ledger.js'

/// Runs `edit()` for `op`; `onFailed` counts refusals. Returns what `edit()`
/// returned, or null when it was refused at once (nothing changed). Errors
/// that are not SwarmpadErrors are bugs and are thrown.
export function recordEdit<R extends { durable: Promise<unknown> }>(ledger: EditLedger, op: LedgerOp, edit: () => R, onFailed: () => void = () => {}): R | null {
  try {
    const r = edit()
    r.durable.then(
      () => ledger.ok(op),
      (err: unknown) => {
        onFailed()
        if (isSwarmpadError(err, 'SAVE_UNCERTAIN')) ledger.unknown(op, err.message)
        else ledger.fail(op, String(err))
      }
    )
    return r
  } catch (err) {
    if (!isSwarmpadError(err)) throw err
    onFailed()
    ledger.fail(op, err.message)
    return null
  }
}
