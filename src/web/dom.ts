// Tiny DOM helpers (no framework: the page stays small and offline).

type Attrs = Record<string, string | boolean | number | ((ev: Event) => void) | undefined>

/// Create an element: el('button', { class: 'x', onclick: fn }, 'text', child)
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Node | string | null | undefined | false>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue
    if (typeof v === 'function') e.addEventListener(k.replace(/^on/, ''), v as EventListener)
    else if (k === 'class') e.className = String(v)
    else if (v === true) e.setAttribute(k, '')
    else e.setAttribute(k, String(v))
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    e.append(c)
  }
  return e
}

export function clear(node: Element): void {
  while (node.firstChild) node.removeChild(node.firstChild)
}

/// Show a short message at the bottom of the page for a few seconds.
export function notice(text: string, ms = 5000): void {
  let box = document.querySelector('.sp-notices')
  if (!box) {
    box = el('div', { class: 'sp-notices', role: 'status', 'aria-live': 'polite' })
    document.body.append(box)
  }
  const n = el('div', { class: 'sp-notice' }, text)
  box.append(n)
  setTimeout(() => n.remove(), ms)
}

/// A modal dialog with a title and a close button; returns the dialog and its body.
export function dialog(title: string, id: string): { dialog: HTMLDialogElement; body: HTMLElement } {
  const body = el('div')
  const d = el('dialog', { id, 'aria-label': title }, el('button', { class: 'sp-close', onclick: () => d.close(), 'aria-label': 'close' }, '✕'), el('h2', {}, title), body)
  document.body.append(d)
  return { dialog: d, body }
}

export function initials(name: string): string {
  const parts = name.replace(/\(.*\)/, '').trim().split(/\s+/)
  return ((parts[0]?.[0] ?? '?') + (parts[1]?.[0] ?? '')).toUpperCase()
}

export function timeAgo(ms: number): string {
  const d = new Date(ms)
  return d.toLocaleString()
}
