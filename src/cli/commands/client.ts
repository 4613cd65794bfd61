import type { Command } from 'commander'
import { Context } from '../context.js'
import type { DaemonClient } from '../client.js'
import type { RelaySocket } from '../../editor/relay.js'

export function register(program: Command): void {
  program
    .command('client')
    .description("Teamtype's editor protocol on stdin/stdout, for editor plugins (started by the plugin; see `swarmpad link`)")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd)
      const { runRelay } = await import('../../editor/relay.js')
      const { WebSocket } = await import('ws')
      const { EDITOR_SOCKET_PATH } = await import('../../editor/hub.js')
      const open = (client: DaemonClient) =>
        new Promise<RelaySocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${client.info.port}${EDITOR_SOCKET_PATH}`, {
            headers: { Authorization: `Bearer ${client.info.token}` },
            perMessageDeflate: false,
            maxPayload: 256 * 1024 * 1024
          })
          const closed: Array<() => void> = []
          ws.once('open', () => {
            ws.off('error', reject)
            ws.on('error', () => {})
            resolve({
              send: (text) => ws.send(text),
              close: () => ws.close(1000, 'the editor closed'),
              onMessage: (handler) => ws.on('message', (data: Buffer, isBinary: boolean) => !isBinary && handler(data.toString('utf8'))),
              onClose: (handler) => closed.push(handler)
            })
          })
          ws.once('error', reject)
          ws.on('close', () => {
            for (const h of closed) h()
          })
        })
      const code = await runRelay({
        input: process.stdin,
        output: process.stdout,
        root: process.cwd(),
        log: (line) => process.stderr.write(line + '\n'),
        connect: async (start) => {
          const client = start ? await ctx.daemon() : await ctx.runningDaemon()
          return client === null ? null : open(client)
        }
      })
      process.exitCode = code
    })
}
