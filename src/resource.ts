import { EventEmitter } from 'node:events'

/// Node's event map types (`{ name: [argument, ...] }`; the default: untyped).
type EventMap<T> = Record<keyof T, unknown[]> | DefaultEventMap
type DefaultEventMap = [never]

/// Something that holds a file, socket, timer or listener.
///
/// `ready()` and `close()` are memoised: call them as often as you like, from
/// anywhere. A failed open closes whatever was opened so far and rejects
/// `ready()` with the original error. `close()` waits for an open in flight.
/// Children registered with `own()` are closed after `_close()`, in reverse
/// order of registration, each awaited.
///
/// `E` types its events (`{ name: [argument, ...] }`, Node's EventEmitter
/// map): `on`, `off` and `emit` of an unknown name or with the wrong
/// arguments do not compile. Without it the events are untyped.
export abstract class Resource<E extends EventMap<E> = DefaultEventMap> extends EventEmitter<E> {
  opening: Promise<void> | null = null
  closing: Promise<void> | null = null
  opened = false
  closed = false
  private children: Array<{ close(): Promise<void> | void }> = []

  /// Open the resource. Resolves once, for every caller.
  ready(): Promise<void> {
    if (this.opening === null) this.opening = this.openOnce()
    return this.opening
  }

  /// Close the resource and its children. Safe to call before, during or after open.
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.closeOnce()
    return this.closing
  }

  /// True once close() has been called: long-running work should stop.
  get closingOrClosed(): boolean {
    return this.closing !== null
  }

  /// Register a child that is closed when this resource closes (last in, first out).
  protected own<T extends { close(): Promise<void> | void }>(child: T): T {
    this.children.push(child)
    return child
  }

  /// Every resource emits `ready` and `close`, whatever its own events are.
  private untyped(): EventEmitter {
    return this as unknown as EventEmitter
  }

  protected abstract _open(): Promise<void>
  protected async _close(): Promise<void> {}

  private async openOnce(): Promise<void> {
    try {
      await this._open()
      if (this.closing !== null) throw new Error(`${this.constructor.name} was closed while opening`)
      this.opened = true
      this.untyped().emit('ready')
    } catch (err) {
      // If close() was already called it is waiting for this open to settle and
      // will do the cleanup; otherwise clean up here without waiting for ourselves.
      if (this.closing === null) {
        this.closing = this.closeOnce(false)
        await this.closing.catch(() => {})
      }
      throw err
    }
  }

  private async closeOnce(waitForOpen = true): Promise<void> {
    if (waitForOpen && this.opening !== null) await this.opening.catch(() => {})
    let firstError: unknown = null
    try {
      await this._close()
    } catch (err) {
      firstError = err
    }
    while (this.children.length > 0) {
      const child = this.children.pop()!
      try {
        await child.close()
      } catch (err) {
        if (firstError === null) firstError = err
      }
    }
    this.closed = true
    this.untyped().emit('close')
    if (firstError !== null) throw firstError
  }
}
