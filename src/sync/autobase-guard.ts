// A guard around one step of Autobase (7.28.1) that can throw out of a
// background task and end the process.
//
// An Autobase peer assembles the indexers' view signatures into a signed
// length (ApplyState._assembleMultisig). It reads, for every view it wants
// signed, that view's signature in each indexer's latest checkpoint; a
// checkpoint without a signature for such a view makes it throw a TypeError
// ("Cannot destructure property 'length' of 'signatures.user[(i - 2)]'").
// The call runs from a checkpoint core's background update, whose catch
// (safety-catch) rethrows TypeErrors, so the error is uncaught: a daemon
// would exit.
//
// It happens when this peer's views differ from the indexer's at the same
// system length. In partition-chaos (2 CI runs of 9) that was a bug of ours:
// apply() refused updates on one peer only (its writer clocks followed an
// old view, see WriterClocks in view.ts), so that peer had a `rejections`
// view the indexer had not. That is fixed; the guard stays so that a peer
// whose views differ for any other reason keeps running (and keeps
// replicating, so the difference can be seen and repaired) instead of exiting.
//
// The step it interrupts has no effect before the throw (it builds local
// objects only), so the guard ends that one round instead: the views stay
// signed at their previous length, and the next checkpoint from the indexer
// starts a new round. Only this error is caught; anything else propagates.
import ApplyState from 'autobase/lib/apply-state.js'

const GUARDED = Symbol.for('swarmpad.autobase-guard')

/// Whether `err` is the missing-view-signature TypeError described above.
export function isMissingViewSignature(err: unknown): boolean {
  if (!(err instanceof TypeError)) return false
  return (err.stack ?? '').includes('addCheckpointSignatures') || err.message.includes("'signatures.user[")
}

/// Install the guard (once per loaded Autobase module; calling it again does nothing).
export function guardAutobase(): void {
  const proto = ApplyState.prototype as typeof ApplyState.prototype & { [GUARDED]?: true }
  if (proto[GUARDED]) return
  const assemble = proto._assembleMultisig
  proto._assembleMultisig = async function guardedAssembleMultisig(this: ApplyState, ...args: unknown[]): Promise<void> {
    try {
      await assemble.apply(this, args)
    } catch (err) {
      if (!isMissingViewSignature(err)) throw err
    }
  }
  proto[GUARDED] = true
}
