// The browser-test harness: the real `concierge` binary on a fresh data directory, and the
// system's Chromium driven by playwright-core.
//
//   const h = await start();            // user add + serve + Chromium
//   const page = await h.newPage();     // own browser context (own cookies), baseURL set
//   await page.goto('/sign-in');
//   await h.screenshot(page, 'sign-in'); // e2e/screenshots/sign-in.png
//   await h.teardown();                 // close Chromium, stop the server, remove the data dir
//
// Environment:
//   CONCIERGE_BIN            the binary (default: ../target/debug/concierge, from e2e/)
//   CONCIERGE_DATABASE_URL   given to the binary as --database-url (browser tests on PostgreSQL);
//                            unset: SQLite in the temporary data directory
//   CHROMIUM                 the browser (default: /usr/bin/chromium); never downloaded
//   CONCIERGE_E2E_KEEP=1     keep the temporary data directory (its path is printed)
//   CONCIERGE_E2E_HEADFUL=1  show the browser window (needs a display)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SCREENSHOT_DIR = path.join(E2E_DIR, 'screenshots');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const START_TIMEOUT_MS = Number(process.env.CONCIERGE_E2E_START_TIMEOUT_MS ?? 30_000);
const LOG_LIMIT = 64 * 1024;

/** The concierge binary: $CONCIERGE_BIN, else target/debug/concierge next to e2e/. */
export function binaryPath() {
  if (process.env.CONCIERGE_BIN) return path.resolve(process.env.CONCIERGE_BIN);
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(process.env.CARGO_TARGET_DIR)
    : path.join(E2E_DIR, '..', 'target');
  return path.join(target, 'debug', 'concierge');
}

export function chromiumPath() {
  return process.env.CHROMIUM || '/usr/bin/chromium';
}

// Keeps the tail of a stream so that error messages can show what the process said.
class Tail {
  constructor() { this.text = ''; }
  push(chunk) {
    this.text += chunk;
    if (this.text.length > LOG_LIMIT) this.text = this.text.slice(-LOG_LIMIT);
  }
  toString() { return this.text; }
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

/** `--database-url URL` when CONCIERGE_DATABASE_URL is set (the binary does not read it itself). */
function databaseArgs() {
  const url = process.env.CONCIERGE_DATABASE_URL;
  return url ? ['--database-url', url] : [];
}

/** Runs the binary to completion; rejects with its output if it exits non-zero. */
export function runCli(args, { input, env, cwd } = {}) {
  const bin = binaryPath();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', (e) => reject(new Error(`could not run ${bin}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(
        `\`concierge ${args.join(' ')}\` failed (${signal ?? `exit ${code}`})\n` +
        `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    });
    child.stdin.on('error', () => {}); // the process may exit before reading stdin
    child.stdin.end(input ?? '');
  });
}

/**
 * Starts a server on a fresh data directory with one administrator, and Chromium.
 * Options: { email, password, role } for the first user; { prepare: [[...args], ...] }
 * commands run on the data directory (and database) before the server starts, e.g.
 * [['gen', '--customers', '300'], ['analytics', 'run']].
 */
export async function start(options = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`concierge binary not found at ${bin}: build it (cargo build) or set CONCIERGE_BIN`);
  }
  const browserPath = chromiumPath();
  if (!existsSync(browserPath)) {
    throw new Error(`Chromium not found at ${browserPath}: apt-get install chromium (never download one)`);
  }

  const dataDir = mkdtempSync(path.join(tmpdir(), 'concierge-e2e-'));
  // A shared PostgreSQL database outlives the run: give each run its own administrator.
  const onPostgres = Boolean(process.env.CONCIERGE_DATABASE_URL);
  const runId = randomBytes(4).toString('hex');
  const email = options.email ?? (onPostgres ? `admin-${runId}@example.com` : 'admin@example.com');
  const password = options.password ?? `e2e-${runId}-Correct-Horse-9`;
  const role = options.role ?? 'admin';

  const h = new Harness({ bin, dataDir, email, password });
  try {
    // cwd is the data directory so that a concierge.toml lying around is never picked up.
    await runCli(['user', 'add', '--data-dir', dataDir, ...databaseArgs(),
      '--email', email, '--role', role, '--password-stdin'], { input: `${password}\n`, cwd: dataDir });
    for (const args of options.prepare ?? []) {
      await runCli([...args, '--data-dir', dataDir, ...databaseArgs()], { cwd: dataDir });
    }
    await h._startServer();
    h.browser = await chromium.launch({
      executablePath: browserPath,
      // Playwright gives every launch a fresh temporary --user-data-dir and removes it on close.
      headless: process.env.CONCIERGE_E2E_HEADFUL !== '1',
      args: CHROMIUM_ARGS,
    });
  } catch (e) {
    await h.teardown().catch(() => {});
    throw e;
  }
  return h;
}

export class Harness {
  constructor({ bin, dataDir, email, password }) {
    this.bin = bin;
    this.dataDir = dataDir;
    /** The administrator created by start(). */
    this.email = email;
    this.password = password;
    this.baseURL = null;
    this.browser = null;
    this.server = null;
    this.serverExit = null; // { code, signal } once the server has exited
    this.stdout = new Tail();
    this.stderr = new Tail();
    this.contexts = [];
    this.lastPage = null;
    this.pageErrors = new WeakMap();
    this.tearingDown = false;
  }

  _startServer() {
    const args = ['serve', '--data-dir', this.dataDir, ...databaseArgs(), '--listen', '127.0.0.1:0'];
    const child = spawn(this.bin, args, { cwd: this.dataDir, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.server = child;
    child.stderr.setEncoding('utf8').on('data', (d) => this.stderr.push(d));
    return new Promise((resolve, reject) => {
      let pending = '';
      let settled = false;
      const fail = (why) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new Error(`${why}\n${this.serverOutput()}`));
      };
      const timer = setTimeout(
        () => fail(`the server did not print "listening on http://" within ${START_TIMEOUT_MS} ms`),
        START_TIMEOUT_MS);
      child.stdout.setEncoding('utf8').on('data', (d) => {
        this.stdout.push(d); // keep draining stdout after start-up so the pipe never fills
        if (settled) return;
        pending += d;
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = stripAnsi(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          const m = line.match(/listening on (http:\/\/[^\s"']+)/);
          if (m) {
            settled = true;
            clearTimeout(timer);
            this.baseURL = m[1].replace(/\/+$/, '');
            resolve();
            return;
          }
        }
      });
      child.on('error', (e) => fail(`could not start ${this.bin}: ${e.message}`));
      child.on('exit', (code, signal) => { this.serverExit = { code, signal }; });
      // 'close' comes after the output pipes are drained, so the message has all of stderr.
      child.on('close', (code, signal) => {
        this.serverExit ??= { code, signal };
        const how = signal ?? `exit ${code}`;
        if (settled && !this.tearingDown) {
          // A test that is mid-flight would see only "connection refused": say why here.
          process.stderr.write(`e2e: the server exited unexpectedly (${how})\n${this.serverOutput()}\n`);
        }
        fail(`the server exited before listening (${how})`);
      });
    });
  }

  /** The server's recent stdout and stderr, for error messages. */
  serverOutput() {
    return `--- server stdout (tail) ---\n${this.stdout}\n--- server stderr (tail) ---\n${this.stderr}`;
  }

  /** Throws (with the server's output) if the server is no longer running. */
  assertServerAlive() {
    if (this.serverExit) {
      const { code, signal } = this.serverExit;
      throw new Error(`the server has exited (${signal ?? `exit ${code}`})\n${this.serverOutput()}`);
    }
  }

  /** A page in its own browser context (own cookies), English, with baseURL set. */
  async newPage(contextOptions = {}) {
    this.assertServerAlive();
    const context = await this.browser.newContext({
      baseURL: this.baseURL,
      locale: 'en-US',
      viewport: { width: 1280, height: 800 },
      ...contextOptions,
    });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(20_000);
    this.contexts.push(context);
    const page = await context.newPage();
    const errors = [];
    this.pageErrors.set(page, errors);
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const where = msg.location()?.url;
      errors.push(where ? `${msg.text()} [${where}]` : msg.text());
    });
    page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
    this.lastPage = page;
    return page;
  }

  /** Console errors and uncaught exceptions seen on a page so far (CSP violations show here). */
  consoleErrors(page) {
    return this.pageErrors.get(page) ?? [];
  }

  /**
   * Saves a full-page PNG as e2e/screenshots/NAME.png; returns its path.
   * screenshot(page, name) or screenshot(name) for the most recent page.
   */
  async screenshot(pageOrName, maybeName) {
    const [page, name] = typeof pageOrName === 'string' ? [this.lastPage, pageOrName] : [pageOrName, maybeName];
    if (!page || page.isClosed()) return null;
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const file = path.join(SCREENSHOT_DIR, `${String(name).replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
    try {
      await page.screenshot({ path: file, fullPage: true });
    } catch (e) {
      process.stderr.write(`e2e: screenshot ${name} failed: ${e.message}\n`);
      return null;
    }
    return file;
  }

  /** Signs in through the sign-in page; resolves once the browser has left /sign-in. */
  async signIn(page, email = this.email, password = this.password) {
    await page.goto('/sign-in');
    await page.fill('form#sign-in input[name=email]', email);
    await page.fill('form#sign-in input[name=password]', password);
    await Promise.all([
      page.waitForURL((url) => url.pathname !== '/sign-in'),
      page.click('form#sign-in button[type=submit]'),
    ]);
  }

  async teardown() {
    this.tearingDown = true;
    for (const context of this.contexts) await context.close().catch(() => {});
    this.contexts = [];
    if (this.browser) await this.browser.close().catch(() => {});
    this.browser = null;
    await this._stopServer();
    if (process.env.CONCIERGE_E2E_KEEP === '1') {
      process.stderr.write(`e2e: kept data directory ${this.dataDir}\n`);
    } else {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  async _stopServer() {
    const child = this.server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
