// The theme choice of the settings screen: "system" (follow the device), "light" or "dark",
// remembered in localStorage. js/theme-boot.js applies it, before the first paint and on change.
const KEY = 'clavox.theme';
export const THEMES = ['system', 'light', 'dark'];

export function chosen() {
  try {
    const value = localStorage.getItem(KEY);
    return THEMES.includes(value) ? value : 'system';
  } catch {
    return 'system';
  }
}

export function choose(theme) {
  if (!THEMES.includes(theme)) return;
  try {
    if (theme === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, theme);
  } catch {
    // Without storage the choice lasts for this page only.
  }
  // The boot script re-reads the choice on a storage event; one from this tab is sent by hand.
  window.dispatchEvent(new StorageEvent('storage', { key: KEY }));
  if (theme !== 'system') document.documentElement.dataset.theme = theme;
}
