// The receipt's print button (a file, not inline script, so the page's CSP can forbid inline script).
document.getElementById("print")?.addEventListener("click", () => window.print());
