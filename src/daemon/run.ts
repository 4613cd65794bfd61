import { SwarmpadError, errorMessage } from '../errors.js'
import { Daemon } from './daemon.js'

export interface RunOptions {
  home: string
  /// Undefined: the last run's port when it is free, else any.
  port: number | undefined
  bootstrap: string | null
  lan: boolean
  /// Started by another command: report readiness (or the error) over IPC and detach.
  background: boolean
}

type Report = { type: 'ready'; info: unknown } | { type: 'error'; code: string; message: string }

function report(message: Report): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })
}

/// Run a daemon until it is stopped (`swarmpad stop`, SIGINT, SIGTERM,
/// SIGHUP). Resolves once everything is closed and every edit saved.
export async function runDaemon(options: RunOptions): Promise<void> {
  const daemon = new Daemon({
    home: options.home,
    port: options.port,
    bootstrap: options.bootstrap,
    lan: options.lan,
    log: (line) => process.stderr.write(line + '\n')
  })
  const closed = new Promise<void>((resolve) => daemon.once('close', () => resolve()))
  const stop = (why: string) => {
    if (daemon.closingOrClosed) return
    daemon.log(`${why}: stopping`)
    void daemon.close().catch((err) => daemon.log(`error while stopping: ${errorMessage(err)}`))
  }
  const onSignal = (signal: NodeJS.Signals) => stop(signal)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
  process.on('uncaughtException', (err) => {
    daemon.log(`uncaught exception: ${err.stack ?? err.message}`)
    stop('uncaught exception')
    process.exitCode = 1
  })
  process.on('unhandledRejection', (err) => {
    daemon.log(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  })

  try {
    await daemon.ready()
  } catch (err) {
    if (options.background) {
      // Foreground: the command prints the error itself; background: stderr is daemon.log.
      daemon.log(`cannot start: ${errorMessage(err)}`)
      const code = err instanceof SwarmpadError ? err.code : 'INTERNAL'
      await report({ type: 'error', code, message: errorMessage(err) })
    }
    throw err
  }
  if (options.background) {
    await report({ type: 'ready', info: daemon.info })
    if (process.connected) process.disconnect()
  } else {
    process.stderr.write(`swarmpad daemon running at http://127.0.0.1:${daemon.port} (pid ${process.pid}, home ${options.home}); Ctrl-C stops it\n`)
  }
  await closed
  daemon.log('stopped')
  if (!options.background) process.stderr.write('swarmpad daemon stopped; every edit is saved\n')
}
