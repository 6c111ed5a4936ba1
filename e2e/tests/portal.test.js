// The customer portal in a real browser (issue 7), as the customer on a 390 px phone screen:
// open the sign-in link from the outbox, see the request's progress steps, reply with a file,
// see the step change after an agent acts (the agent works through the API with a token made
// on the console's token page), and rate the solved request from the survey link in the mail;
// the used survey link is refused afterwards. Then the customer edits their own details (time
// zone: the portal's times follow it), and a colleague @mentioned in an internal note sees the
// unread notification in the console's navigation and marks it read.
//
// The steps share pages and run in order; each takes a screenshot (also when it fails) into
// e2e/screenshots/portal-NN-*.png.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { start } from '../lib/harness.js';

const TIMEOUT = { timeout: 60_000 };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

// The readable body of a single-part mail file (quoted-printable or base64 decoded).
function mailText(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, split);
  let body = raw.slice(split).trim();
  const enc = (head.match(/^Content-Transfer-Encoding:\s*(\S+)/im) ?? [])[1]?.toLowerCase();
  if (enc === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    body = Buffer.from(
      body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  }
  return `${head}\n\n${body}`;
}

describe('portal: a customer follows and rates a request', () => {
  let h;
  let agent; // console page of the administrator
  let phone; // the customer's page
  let token; // the agent's API token
  let caseId;
  let customerId;
  let surveyLink;

  before(async () => {
    h = await start();
    agent = await h.newPage();
    phone = await h.newPage(PHONE);
    phone.on('dialog', (d) => { throw new Error(`unexpected dialog: ${d.message()}`); });
  }, { timeout: 90_000 });

  after(async () => {
    await h?.teardown();
  });

  async function step(name, fn) {
    try {
      await fn();
    } catch (e) {
      h?.assertServerAlive();
      throw e;
    } finally {
      if (phone) await h.screenshot(phone, `portal-${name}`);
    }
  }

  async function api(method, p, body) {
    const r = await fetch(`${h.baseURL}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  const outboxDir = () => path.join(h.dataDir, 'outbox');
  function mails() {
    if (!existsSync(outboxDir())) return [];
    return readdirSync(outboxDir())
      .filter((f) => f.endsWith('.eml'))
      .map((f) => mailText(readFileSync(path.join(outboxDir(), f), 'utf8')));
  }
  async function waitForLink(marker, not = []) {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      for (const m of mails()) {
        const found = m.match(new RegExp(`https?://[^\\s]+${marker}[A-Za-z0-9_-]+`, 'g')) ?? [];
        const fresh = found.find((l) => !not.includes(l));
        if (fresh) return fresh;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no ${marker} link in the outbox:\n${mails().join('\n-----\n')}`);
  }

  async function noSideScroll(page) {
    // Against the phone's own width: on a mobile viewport the browser widens (zooms out) the
    // layout to fit content that is too wide, so window.innerWidth would grow with it.
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
    const width = page.viewportSize().width;
    assert.ok(scroll <= width + 1, `the page scrolls sideways on a phone: ${scroll} > ${width}`);
  }

  it('the agent makes an API token and opens a case for the customer', TIMEOUT, () => step('01-setup', async () => {
    await h.signIn(agent);
    await agent.goto('/settings/tokens');
    await agent.fill('form#token-create input[name=name]', 'portal e2e');
    await Promise.all([agent.waitForLoadState('load'), agent.click('form#token-create button[type=submit]')]);
    token = (await agent.locator('[data-testid=new-token]').innerText()).trim();
    assert.match(token, /^cnc_/);
    const c = await api('POST', '/api/v1/cases', {
      subject: 'My kettle leaks',
      body: 'Water comes out of the bottom.',
      channel: 'portal',
      customer: { email: 'minji@example.com', name: 'Kim Minji' },
    });
    caseId = c.id;
    customerId = c.customer_id;
    await api('POST', `/api/v1/customers/${customerId}/portal-link`);
  }));

  it('the customer signs in with the link from the outbox and sees the progress', TIMEOUT, () => step('02-sign-in', async () => {
    const link = await waitForLink('/portal/auth/');
    await phone.goto(link);
    await Promise.all([
      phone.waitForURL((u) => u.pathname === '/portal'),
      phone.click('form#portal-sign-in button[type=submit]'),
    ]);
    const list = await phone.locator('[data-testid=portal-cases]').innerText();
    assert.ok(list.includes('My kettle leaks'), list);
    await noSideScroll(phone);
    await Promise.all([
      phone.waitForURL((u) => u.pathname === `/portal/cases/${caseId}`),
      phone.click(`[data-testid=portal-cases] a[href="/portal/cases/${caseId}"]`),
    ]);
    const steps = await phone.locator('[data-testid=case-steps] li').allInnerTexts();
    assert.ok(steps[0].includes('Received'), steps.join(' | '));
    assert.ok((await phone.locator('[data-testid=case-status]').innerText()).includes('Received'));
    await noSideScroll(phone);
  }));

  it('the customer replies with a photo', TIMEOUT, () => step('03-reply', async () => {
    await phone.fill('form#portal-reply textarea[name=body]', 'Here is a photo of the puddle.');
    await phone.setInputFiles('form#portal-reply input[type=file]', {
      name: 'puddle.png', mimeType: 'image/png', buffer: Buffer.from('not really a png'),
    });
    await Promise.all([
      phone.waitForURL((u) => u.pathname === `/portal/cases/${caseId}`),
      phone.click('form#portal-reply button[type=submit]'),
    ]);
    const thread = await phone.locator('[data-testid=case-thread]').innerText();
    assert.ok(thread.includes('Here is a photo of the puddle.') && thread.includes('puddle.png'), thread);
  }));

  it('the step changes after the agent acts', TIMEOUT, () => step('04-agent-acts', async () => {
    const me = await api('GET', '/api/v1/me');
    await api('PATCH', `/api/v1/cases/${caseId}`, { owner_id: me.id });
    await api('POST', `/api/v1/cases/${caseId}/messages`, { body: 'Which model is it?', status: 'pending' });
    // An internal note never reaches the customer.
    await api('POST', `/api/v1/cases/${caseId}/messages`, { body: 'INTERNAL-ONLY suspect misuse', internal: true });
    await phone.reload();
    const steps = await phone.locator('[data-testid=case-steps] li').allInnerTexts();
    assert.ok(steps.some((s) => s.includes('Assigned to')), steps.join(' | '));
    assert.ok(steps.some((s) => s.includes('Waiting for you')), steps.join(' | '));
    assert.ok((await phone.locator('[data-testid=case-next]').innerText()).includes('waiting for your reply'));
    const body = await phone.content();
    assert.ok(!body.includes('INTERNAL-ONLY'), 'internal note shown to the customer');
    await noSideScroll(phone);
  }));

  it('the agent solves it and the customer rates it from the survey link', TIMEOUT, () => step('05-survey', async () => {
    await api('POST', `/api/v1/cases/${caseId}/messages`, { body: 'Model K2: a new seal is on its way.', status: 'solved' });
    surveyLink = await waitForLink('/survey/');
    for (const m of mails()) assert.ok(!m.includes('INTERNAL-ONLY'), 'internal note in a mail');
    const anon = await h.newPage(PHONE);
    await anon.goto(surveyLink);
    assert.ok((await anon.locator('[data-testid=survey-case]').innerText()).includes('My kettle leaks'));
    await anon.check('form#survey input[name=score][value="5"]');
    await anon.fill('form#survey textarea[name=comment]', '<b>Fast</b> and kind');
    await Promise.all([anon.waitForLoadState('load'), anon.click('form#survey button[type=submit]')]);
    await anon.locator('[data-testid=survey-thanks]').waitFor();
    await h.screenshot(anon, 'portal-05b-thanks');
    // The link works once.
    const again = await anon.goto(surveyLink);
    assert.equal(again.status(), 404);
    // The portal shows the solved step and the rating, the comment as text.
    await phone.reload();
    const steps = await phone.locator('[data-testid=case-steps] li').allInnerTexts();
    assert.ok(steps.some((s) => s.includes('Solved')), steps.join(' | '));
    assert.ok((await phone.locator('[data-testid=case-rated]').innerText()).includes('5/5'));
    assert.ok((await phone.content()).includes('&lt;b&gt;Fast&lt;/b&gt;'));
    assert.deepEqual(h.consoleErrors(phone), []);
  }));

  it('the customer edits their own details; times follow their time zone', TIMEOUT, () => step('06-details', async () => {
    await phone.goto('/portal/profile');
    await noSideScroll(phone);
    await phone.locator('[data-testid=own-preferences]').waitFor();
    await phone.fill('form#portal-profile input[name=time_zone]', 'Asia/Seoul');
    await Promise.all([
      phone.waitForURL((u) => u.pathname === '/portal/profile' && u.search.includes('saved')),
      phone.click('form#portal-profile button[type=submit]'),
    ]);
    assert.equal(await phone.locator('form#portal-profile input[name=time_zone]').inputValue(), 'Asia/Seoul');
    await phone.goto(`/portal/cases/${caseId}`);
    assert.ok((await phone.locator('[data-testid=case-steps]').innerText()).includes('KST'));
    assert.deepEqual(h.consoleErrors(phone), []);
  }));

  it('a colleague mentioned in an internal note sees it in the console', TIMEOUT, () => step('07-mention', async () => {
    await api('POST', '/api/v1/users', {
      email: 'dana@example.com', role: 'agent', display_name: 'Dana', password: 'dana-password-1',
    });
    await api('POST', `/api/v1/cases/${caseId}/messages`, { body: '@dana please check the seal order', internal: true });
    const dana = await h.newPage();
    await h.signIn(dana, 'dana@example.com', 'dana-password-1');
    await dana.locator('[data-testid=unread-count]').waitFor();
    assert.equal((await dana.locator('[data-testid=unread-count]').innerText()).trim(), '1');
    await dana.click('[data-testid=nav-notifications]');
    await dana.waitForURL((u) => u.pathname === '/notifications');
    const item = await dana.locator('[data-testid=notification]').first().innerText();
    assert.ok(item.includes('seal order'), item);
    await Promise.all([dana.waitForLoadState('load'), dana.click('form#read-all button[type=submit]')]);
    assert.ok((await dana.locator('[data-testid=unread]').innerText()).includes('0'));
    assert.equal(await dana.locator('[data-testid=unread-count]').count(), 0);
    await h.screenshot(dana, 'portal-07b-notifications');
    assert.deepEqual(h.consoleErrors(dana), []);
  }));
});
