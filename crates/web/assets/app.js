// Progressive enhancement for the console. Everything works without this file.
document.addEventListener('change', (e) => {
  const el = e.target;
  if (el instanceof HTMLSelectElement && el.hasAttribute('data-autosubmit') && el.form) {
    el.form.requestSubmit();
  }
});

// ---- Cases (issue 4) ----------------------------------------------------------------------

// Whether the user is typing somewhere: shortcuts must not fire then.
function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  return ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

// Queue page: j/k move the selection over the rows, Enter opens the selected case.
function queueRows() {
  return Array.from(document.querySelectorAll('[data-queue] tr[data-case-row]'));
}

function selectRow(rows, index) {
  rows.forEach((r) => r.classList.remove('selected'));
  const row = rows[index];
  if (!row) return;
  row.classList.add('selected');
  row.setAttribute('aria-selected', 'true');
  row.scrollIntoView({ block: 'nearest' });
}

function selectedIndex(rows) {
  return rows.findIndex((r) => r.classList.contains('selected'));
}

// The composer: public reply or internal note.
function composer() {
  return document.getElementById('reply');
}

function setComposerMode(mode) {
  const form = composer();
  if (!form) return;
  const radio = form.querySelector(`input[name=mode][value=${mode}]`);
  if (radio) radio.checked = true;
  form.classList.toggle('composing-note', mode === 'note');
}

function focusComposer() {
  const body = document.getElementById('reply-body');
  if (body) {
    body.focus();
    body.scrollIntoView({ block: 'center' });
  }
}

// '/' goes to search: the console has no search page of its own, so it is the queue's box.
function goToSearch() {
  const box = document.getElementById('case-q');
  if (box) {
    box.focus();
    box.select();
  } else {
    window.location.assign('/cases#search');
  }
}

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
  const onQueue = document.querySelector('[data-queue]') !== null;
  const onCase = document.querySelector('[data-case-page]') !== null;
  if (!onQueue && !onCase) return;
  if (e.key === '/') {
    e.preventDefault();
    goToSearch();
    return;
  }
  if (onQueue) {
    const rows = queueRows();
    if (rows.length === 0) return;
    const i = selectedIndex(rows);
    if (e.key === 'j') {
      e.preventDefault();
      selectRow(rows, Math.min(i + 1, rows.length - 1));
    } else if (e.key === 'k') {
      e.preventDefault();
      selectRow(rows, Math.max(i - 1, 0));
    } else if (e.key === 'Enter' && i >= 0) {
      const href = rows[i].getAttribute('data-href');
      if (href) {
        e.preventDefault();
        window.location.assign(href);
      }
    }
  } else if (onCase) {
    if (e.key === 'r') {
      e.preventDefault();
      setComposerMode('reply');
      focusComposer();
    } else if (e.key === 'n') {
      e.preventDefault();
      setComposerMode('note');
      focusComposer();
    }
  }
});

// Arriving at /cases#search (the '/' key on a page without the box) focuses the box.
document.addEventListener('DOMContentLoaded', () => {
  if (window.location.hash === '#search') {
    const box = document.getElementById('case-q');
    if (box) box.focus();
  }
});

// The composer: the mode switch restyles it; a template fills the message for this customer.
document.addEventListener('change', (e) => {
  const el = e.target;
  if (el instanceof HTMLInputElement && el.name === 'mode' && el.form && el.form.id === 'reply') {
    setComposerMode(el.value);
  }
  if (el instanceof HTMLSelectElement && el.id === 'template-picker') {
    const body = document.getElementById('reply-body');
    const option = el.selectedOptions[0];
    if (!body || !option) return;
    const text = option.getAttribute('data-body') || '';
    // Replace the message only when it is empty or still the previous template's text.
    if (body.value.trim() === '' || body.value === body.dataset.fromTemplate) {
      body.value = text;
      body.dataset.fromTemplate = text;
    }
  }
});

// Presence: tell the server every 10 s that we are here (and whether we are writing), and
// show who else is. Labels come from data attributes; names are inserted as text.
function renderPresence(el, others) {
  const viewing = el.getAttribute('data-label-viewing') || 'viewing';
  const replying = el.getAttribute('data-label-replying') || 'replying';
  el.replaceChildren();
  for (const o of others) {
    const badge = document.createElement('span');
    badge.className = `badge presence-${o.mode === 'replying' ? 'replying' : 'viewing'}`;
    badge.textContent = `${o.mode === 'replying' ? replying : viewing}: ${o.name}`;
    el.append(badge, ' ');
  }
}

function startPresence() {
  const el = document.getElementById('presence');
  const url = el && el.getAttribute('data-presence-url');
  if (!url) return;
  const poll = async () => {
    const body = document.getElementById('reply-body');
    const writing = body && (document.activeElement === body || body.value.trim() !== '');
    try {
      const res = await fetch(`${url}?mode=${writing ? 'replying' : 'viewing'}`, {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
      if (!res.ok) return;
      const data = await res.json();
      if (Array.isArray(data.others)) renderPresence(el, data.others);
    } catch (_) {
      // Offline for a moment: try again at the next tick.
    }
  };
  window.setInterval(poll, 10_000);
  const body = document.getElementById('reply-body');
  if (body) body.addEventListener('focus', poll, { once: true });
}

document.addEventListener('DOMContentLoaded', startPresence);
