import { Option, type Command } from 'commander'
import { Context } from '../context.js'
import { parsePort } from '../input.js'

export function register(program: Command): void {
  program
    .command('daemon')
    .description('run the daemon in the foreground (for a service manager, or an always-on machine that keeps documents available); Ctrl-C stops it')
    .option('--port <port>', 'port of the local server on 127.0.0.1 (default: the last run\'s, else any free port)')
    .addOption(new Option('--background', 'started by another command: report readiness over IPC').hideHelp())
    .action(async (opts: { port?: string; background?: boolean }, cmd: Command) => {
      const ctx = Context.of(cmd)
      // Without --port: the port of the last run when it is free (the page's origin stays), else any.
      const port = opts.port === undefined ? undefined : parsePort(opts.port)
      const { runDaemon } = await import('../../daemon/run.js')
      await runDaemon({ home: ctx.home, port, bootstrap: ctx.bootstrap, lan: ctx.lan, background: opts.background === true })
    })
}
