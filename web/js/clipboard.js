// Copying text: the Clipboard API where there is one (secure pages), else a selected hidden text
// box and the copy command, which plain-http LAN installs still allow. Resolves to whether it
// worked.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.className = 'sr-only';
    area.readOnly = true;
    area.setAttribute('aria-hidden', 'true');
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand('copy');
    area.remove();
    return done;
  }
}
