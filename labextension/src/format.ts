// Small DOM and number helpers shared by the panel's sections.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: { [key: string]: string } = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') {
      node.className = value;
    } else {
      node.setAttribute(key, value);
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child);
    }
  }
  return node;
}

export function button(
  label: string,
  title: string,
  onClick: () => void,
  cls = ''
): HTMLButtonElement {
  const b = el('button', {
    class: `jp-Button wb-button ${cls}`.trim(),
    title,
    type: 'button'
  });
  b.textContent = label;
  b.addEventListener('click', ev => {
    ev.stopPropagation();
    onClick();
  });
  return b;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) {
    return '-';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function count(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : n.toLocaleString('en-US');
}

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined) {
    return '-';
  }
  if (s < 60) {
    return `${s.toFixed(1)}s`;
  }
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${Math.round(s % 60)}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function when(ts: number | null | undefined): string {
  if (!ts) {
    return '-';
  }
  const d = new Date(ts * 1000);
  return d.toLocaleString();
}

/** A Python string literal for a name or id (double quotes, escaped). */
export function pyString(text: string): string {
  return JSON.stringify(text);
}
