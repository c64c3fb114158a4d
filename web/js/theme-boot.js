// The colour theme, put on <html data-theme="light|dark"> before the first paint: a classic
// script in <head> (not a module, which would run after the page is drawn), so a dark theme never
// flashes light. The choice (system, light or dark) is kept by js/theme.js in localStorage; with
// "system" the theme follows the device's setting as it changes.
(function applyTheme() {
  var KEY = 'clavox.theme';
  var systemDark = window.matchMedia('(prefers-color-scheme: dark)');

  function apply() {
    var chosen = null;
    try {
      chosen = localStorage.getItem(KEY);
    } catch (err) {
      // Storage can be blocked; the system's theme is used.
    }
    var theme = chosen === 'light' || chosen === 'dark' ? chosen : (systemDark.matches ? 'dark' : 'light');
    document.documentElement.setAttribute('data-theme', theme);
  }

  apply();
  systemDark.addEventListener('change', apply);
  // A choice made in another tab, and the one made here (js/theme.js sends this event too).
  window.addEventListener('storage', function onStorage(event) {
    if (event.key === KEY || event.key === null) apply();
  });
})();
