// Debian's Chromium driven by playwright-core (never `npx playwright install`).
// Each browser gets a fresh --user-data-dir; nothing leaves 127.0.0.1 (the
// flags below turn off Chromium's own background traffic).
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { onTestFinished } from 'vitest'
import { tmpDir } from './tmp.js'

export const CHROMIUM = '/usr/bin/chromium'

/// Why browser tests cannot run here, or null when they can.
export function browserUnavailable(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium; .ci/run does it)`
  return null
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--no-default-browser-check',
  '--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication'
]

/// A browser (its own process and fresh profile directory), closed after the test.
export async function launchBrowser(name = 'browser'): Promise<BrowserContext> {
  const dir = await tmpDir(`swarmpad-chromium-${name}-`)
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 700 },
    colorScheme: 'light'
  })
  onTestFinished(async () => {
    await context.close().catch(() => {})
  })
  return context
}

/// Save a screenshot of every page to test-results/ (call it when a test fails,
/// before the browser closes).
export async function saveScreenshots(pages: Array<{ name: string; page: Page }>, testName: string): Promise<void> {
  const dir = join(process.cwd(), 'test-results')
  await mkdir(dir, { recursive: true })
  const slug = testName.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)
  for (const { name, page } of pages) {
    const file = join(dir, `${slug}-${name}.png`)
    await page.screenshot({ path: file, fullPage: false }).catch(() => {})
    console.error(`screenshot: ${file}`)
  }
}

/// The page's text (through the page's test hooks; no token is involved).
export async function pageText(page: Page): Promise<string> {
  return page.evaluate(() => (window as unknown as { swarmpad: { text(): string } }).swarmpad.text())
}

/// Wait until the page is connected, has its document and sent everything.
export async function pageIdle(page: Page, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const s = (window as unknown as { swarmpad?: { ready(): boolean; unconfirmed(): number } }).swarmpad
      return s !== undefined && s.ready() && s.unconfirmed() === 0
    },
    undefined,
    { timeout, polling: 50 }
  )
}
