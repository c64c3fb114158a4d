// DOM building without markup strings: every string child becomes a text node, so names and
// message contents from other people can never turn into HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  append(el, children);
  // Attributes after children, so a <select>'s value can pick one of its options.
  setAttributes(el, attrs);
  return el;
}

function setAttributes(el, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Makes `container`'s children exactly `nodes`, moving only what is out of place, so
// unchanged elements keep their focus, images and scroll-affecting layout.
export function patch(container, nodes) {
  const wanted = new Set(nodes);
  for (const child of [...container.children]) if (!wanted.has(child)) child.remove();
  nodes.forEach((node, i) => {
    const current = container.children[i];
    if (current !== node) container.insertBefore(node, current || null);
  });
}

// Coalesces bursts of store events into one render per microtask.
export function batched(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      fn();
    });
  };
}

export function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', busy ? 'true' : 'false');
}

export const isDesktop = () => window.matchMedia('(min-width: 768px)').matches;
