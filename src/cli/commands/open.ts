import type { Command } from 'commander'
import { join } from 'node:path'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { lines, printJson, warn } from '../output.js'
import { writeLauncher } from '../browser-launch.js'
import type { DocumentSummary } from '../../daemon/api.js'

export function register(program: Command): void {
  program
    .command('open')
    .description("open the editor page in the browser (and print its address: it works once, within two minutes)")
    .argument('<name>', 'document name or key')
    .option('--no-browser', 'only print the address')
    .option('--json', 'print the address as JSON')
    .action(async (name: string, opts: { browser: boolean; json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const ctx = Context.of(cmd)
      const client = await ctx.daemon()
      const doc = await client.json<DocumentSummary>('GET', '/api/doc', { query: { doc: name } })
      const login = await client.json<{ url: string; expires: number }>('POST', '/api/login', { json: { doc: doc.name } })
      if (opts.json) await printJson({ name: doc.name, url: login.url, expires: login.expires })
      else await lines(login.url)
      if (!opts.browser) return
      try {
        // The browser gets a private file that redirects to the address, so
        // the ticket never shows in `ps`.
        const target = await writeLauncher(join(ctx.home, 'open'), login.url)
        const { default: openUrl } = await import('open')
        const child = await openUrl(target, { wait: false })
        child.on('error', () => warn('could not start a browser; open the address above yourself'))
        child.unref()
      } catch {
        warn('could not start a browser; open the address above yourself')
      }
    })
}
