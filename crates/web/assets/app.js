// Progressive enhancement for the console. Everything works without this file.
document.addEventListener('change', (e) => {
  const el = e.target;
  if (el instanceof HTMLSelectElement && el.hasAttribute('data-autosubmit') && el.form) {
    el.form.requestSubmit();
  }
});
