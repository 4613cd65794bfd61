import type { Command } from 'commander'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IncomingMessage } from 'node:http'
import { SwarmpadError, errorMessage } from '../../errors.js'
import { Context } from '../context.js'
import { replyError, type DaemonClient } from '../client.js'
import { checkDocArg, readInput } from '../input.js'
import { lines, warn } from '../output.js'
import type { DocumentSummary } from '../../daemon/api.js'

type SessionEvent =
  | { type: 'ready'; session: string; version: number }
  | { type: 'saved'; version: number }
  | { type: 'remote'; version: number }
  | { type: 'problem'; message: string }

export function register(program: Command): void {
  program
    .command('edit')
    .description("edit a document in $VISUAL or $EDITOR (else vi); every save is merged in as a minimal diff over what others typed meanwhile, which the file shows the next time you edit")
    .argument('<name>', 'document name or key')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      checkDocArg(name)
      const ctx = Context.of(cmd)
      const client = await ctx.daemon()
      const doc = await client.json<DocumentSummary>('GET', '/api/doc', { query: { doc: name } })
      if (!doc.writable) throw new SwarmpadError('NOT_WRITABLE', `"${doc.name}" is read-only on this device; use \`swarmpad cat ${doc.name}\` to read it`)
      const dir = await mkdtemp(join(tmpdir(), 'swarmpad-edit-'))
      const file = join(dir, doc.name.replace(/[^A-Za-z0-9._-]/g, '_') || 'document.txt')
      // A last save the document could not take stays on disk for its owner.
      const outcome = { keepFile: false }
      try {
        await writeFile(file, '', { mode: 0o600 })
        await editSession(ctx, client, doc, file, outcome)
      } finally {
        if (!outcome.keepFile) await rm(dir, { recursive: true, force: true })
      }
    })
}

/// Run the editor on `file` while the daemon mirrors it.
async function editSession(ctx: Context, client: DaemonClient, doc: DocumentSummary, file: string, outcome: { keepFile: boolean }): Promise<void> {
  const res = await client.send('POST', '/api/edit', { query: { doc: doc.name, path: file } })
  if (res.statusCode !== 200) {
    const chunks: Buffer[] = []
    for await (const c of res) chunks.push(c as Buffer)
    throw replyError(res.statusCode ?? 0, Buffer.concat(chunks))
  }
  const events = readEvents(res)
  const first = await events.next()
  if (first.done || first.value.type !== 'ready') throw new SwarmpadError('DAEMON_UNAVAILABLE', `the daemon did not open an edit session; see ${ctx.paths.log}`)
  const session = first.value.session
  let saves = 0
  let broken = false
  const problems: string[] = []
  const pump = (async () => {
    try {
      for (;;) {
        const e = await events.next()
        if (e.done) break
        if (e.value.type === 'saved') saves++
        if (e.value.type === 'problem') problems.push(e.value.message)
      }
    } catch {}
    broken = true
  })()

  const status = await runEditor(file)
  let result: { version: number; saves: number; problem: string | null; othersEdited?: boolean } | null = null
  if (!broken) {
    try {
      result = await client.json('POST', '/api/edit/finish', { json: { session } })
    } catch (err) {
      if (!(err instanceof SwarmpadError) || err.code !== 'DAEMON_UNAVAILABLE') throw err
    }
  }
  res.destroy()
  await pump
  if (result === null) {
    // The daemon went away during the session: store the file as a whole.
    warn('the swarmpad daemon stopped during the edit; saving the file as one change')
    const text = await readInput(file)
    const again = await ctx.daemon()
    await again.json('POST', '/api/write', { query: { doc: doc.name }, text })
    result = { version: 0, saves: 1, problem: null }
  }
  if (result.problem !== null) {
    outcome.keepFile = true
    throw new SwarmpadError('BAD_ARGUMENT', `your last save was not stored: ${result.problem}; the file is kept at ${file}`)
  }
  if (status !== 0) {
    const how = status === 127 ? `could not be started (set $VISUAL or $EDITOR)` : `exited with status ${status}`
    throw new SwarmpadError('INTERNAL', `the editor "${editorCommand()}" ${how}; what it saved is in "${doc.name}"`)
  }
  if (problems.length > 0) warn(problems[problems.length - 1]!)
  const said = saves > 0 || result.saves > 0 ? `${doc.name}: saved` : `${doc.name}: unchanged`
  await lines(result.othersEdited === true ? `${said}; others edited it meanwhile and their edits are kept (\`swarmpad cat ${doc.name}\`)` : said)
}

async function* readEvents(res: IncomingMessage): AsyncGenerator<SessionEvent> {
  let buffer = ''
  for await (const chunk of res) {
    buffer += (chunk as Buffer).toString('utf8')
    let nl: number
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (line.trim() === '') continue
      try {
        yield JSON.parse(line) as SessionEvent
      } catch {}
    }
  }
}

function editorCommand(): string {
  return process.env.VISUAL || process.env.EDITOR || 'vi'
}

/// Run the editor with the terminal; Ctrl-C belongs to the editor meanwhile.
async function runEditor(file: string): Promise<number> {
  const editor = editorCommand()
  const ignore = () => {}
  process.on('SIGINT', ignore)
  process.on('SIGQUIT', ignore)
  try {
    return await new Promise<number>((resolve, reject) => {
      // Through the shell, as git does, so EDITOR may carry arguments ("code --wait").
      const child = spawn('/bin/sh', ['-c', `${editor} "$@"`, editor, file], { stdio: 'inherit' })
      child.on('error', (err) => reject(new SwarmpadError('INTERNAL', `cannot start the editor: ${errorMessage(err)}`)))
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
    })
  } finally {
    process.off('SIGINT', ignore)
    process.off('SIGQUIT', ignore)
  }
}
