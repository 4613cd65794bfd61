import type { Command } from 'commander'
import { networkInterfaces } from 'node:os'
import { once } from 'node:events'
import { lines, printJson } from '../output.js'
import { parsePort } from '../input.js'
import { SwarmpadError } from '../../errors.js'

export function register(program: Command): void {
  program
    .command('bootstrap')
    .description('run a DHT bootstrap node for a private network or an island LAN, and print the address to give the others; Ctrl-C stops it')
    .option('--host <ipv4>', "the address others reach this node at (default: this machine's first non-loopback IPv4 address)")
    .option('--port <port>', 'UDP port (default: a free one; give a fixed one, e.g. 49737, so the address stays the same)')
    .option('--json', 'print the address as JSON')
    .action(async (opts: { host?: string; port?: string; json?: boolean }) => {
      const port = opts.port === undefined ? 0 : parsePort(opts.port)
      const host = opts.host ?? defaultHost()
      const { runBootstrapNode } = await import('../../net/bootstrap.js')
      let node: Awaited<ReturnType<typeof runBootstrapNode>>
      try {
        node = await runBootstrapNode({ host, port })
      } catch (err) {
        if (err instanceof SwarmpadError && err.code === 'PORT_IN_USE') {
          throw new SwarmpadError('PORT_IN_USE', `${err.message}; choose another with --port, or --port 0 for any free one`)
        }
        throw err
      }
      const address = node.addressText
      if (opts.json) await printJson({ address })
      else await lines(`bootstrap node listening on ${address}`, `the others use it with: swarmpad --bootstrap ${address} ... (or SWARMPAD_BOOTSTRAP=${address})`)
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')])
      await node.close()
    })
}

function defaultHost(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}
