// Browser tests of the web console in Debian's Chromium, driven by
// Playwright, with members' client certificates: a fresh data directory
// made by the real binary, a few thousand realistic objects (the maritime
// fixtures and generated campaigns, indicators, relationships and
// sightings), then the operator and a member each look around.
//
// Usage: node console.test.mjs path/to/breakwater OUTPUT_DIR
// Screenshots of every page land in OUTPUT_DIR.

import { spawn, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const [binary, outDir] = process.argv.slice(2).map((p) => path.resolve(p));
if (!binary || !outDir) {
  console.error('usage: node console.test.mjs BREAKWATER_BINARY OUTPUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'breakwater-console-'));
const data = path.join(scratch, 'data');
const config = path.join(data, 'breakwater.toml');
const handover = path.join(data, 'handover');

let passed = 0;
let failed = 0;
function check(what, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok   ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}

function cli(...args) {
  return execFileSync(binary, ['--config', config, ...args], { encoding: 'utf8' });
}

// ---- data directory, members, grants --------------------------------------

execFileSync(binary, ['init', '--data-dir', data], { encoding: 'utf8' });
cli('members', 'add', 'evergreen-line', '--sector', 'shipping-line', '--clearance', 'amber',
  '--contact', 'soc@evergreen.example');
cli('members', 'add', 'northern-rail', '--sector', 'rail', '--clearance', 'green');
cli('members', 'add', 'quay-terminals', '--sector', 'terminal-operator', '--clearance', 'red');
// Each member's handover directory, as `certs issue` writes it.
const handoverOf = (member) => path.join(handover, member);
fs.mkdirSync(handover);
cli('certs', 'issue', '--member', 'evergreen-line', '--out', handoverOf('evergreen-line'));
cli('certs', 'issue', '--member', 'northern-rail', '--out', handoverOf('northern-rail'), '--days', '12');
cli('certs', 'issue', '--member', 'quay-terminals', '--out', handoverOf('quay-terminals'));
cli('grants', 'add', '--member', 'evergreen-line', '--collection', 'tlp-green', '--read', '--write');
cli('grants', 'add', '--member', 'evergreen-line', '--collection', 'tlp-amber', '--read');
cli('grants', 'add', '--sector', 'rail', '--collection', 'tlp-green', '--read', '--write');
cli('grants', 'add', '--member', 'quay-terminals', '--collection', 'tlp-red', '--read', '--write');
cli('members', 'suspend', 'quay-terminals');
const fixtures = path.join(here, '..', '..', 'stix-fixtures', 'valid');
cli('import', '--collection', 'tlp-red', fixtures);
// Into TLP:AMBER the fixtures' stricter-marked objects are refused (and the
// command says so with its exit status): the overview shows them by reason.
try {
  cli('import', '--collection', 'tlp-amber', fixtures);
} catch (e) {
  if (!/^imported \d+ objects/.test(e.stdout ?? '')) throw e;
}

// ---- the server ------------------------------------------------------------

const server = spawn(binary, ['--config', config, 'serve', '--listen', '127.0.0.1:0'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const serverLog = fs.createWriteStream(path.join(outDir, 'server.log'));
server.stderr.pipe(serverLog);
const port = await new Promise((resolve, reject) => {
  let seen = '';
  const timer = setTimeout(() => reject(new Error(`the server did not start: ${seen}`)), 30000);
  server.stdout.on('data', (chunk) => {
    seen += chunk;
    serverLog.write(chunk);
    const m = /https:\/\/localhost:(\d+)\//.exec(seen);
    if (m) {
      clearTimeout(timer);
      resolve(Number(m[1]));
    }
  });
  server.on('exit', (code) => reject(new Error(`the server exited (${code}): ${seen}`)));
});
const origin = `https://localhost:${port}`;
const ca = fs.readFileSync(path.join(data, 'ca', 'ca.pem'));
const identity = (name) => ({
  cert: fs.readFileSync(name === 'operator' ? path.join(data, 'members', 'operator.pem') : path.join(handoverOf(name), `${name}.pem`)),
  key: fs.readFileSync(name === 'operator' ? path.join(data, 'members', 'operator-key.pem') : path.join(handoverOf(name), `${name}-key.pem`)),
});

/** One TAXII request with a member's certificate. */
function taxii(member, method, url, body) {
  const { cert, key } = identity(member);
  return new Promise((resolve, reject) => {
    const req = https.request(`${origin}${url}`, {
      method,
      ca,
      cert,
      key,
      headers: {
        Accept: 'application/taxii+json;version=2.1',
        ...(body ? { 'Content-Type': 'application/taxii+json;version=2.1' } : {}),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

// ---- generated content -----------------------------------------------------

const ts = (days) => new Date(Date.UTC(2026, 0, 1) + days * 86400000).toISOString();
const pick = (list, n) => list[n % list.length];
const themes = [
  ['Bill-of-lading fraud', 'phishing'], ['AIS spoofing', 'ais'], ['Crane PLC probing', 'ot'],
  ['Terminal OS ransomware', 'ransomware'], ['Customs portal credential theft', 'phishing'],
  ['GPS jamming near the outer anchorage', 'gnss'], ['Reefer telemetry tampering', 'iot'],
  ['Truck gate booking abuse', 'fraud'],
];
const hosts = ['harbour-invoices', 'berth-schedules', 'customs-clearance', 'reefer-monitor', 'gate-booking'];
function generate(member, campaigns, indicatorsPer) {
  const org = {
    type: 'identity', spec_version: '2.1', id: `identity--${randomUUID()}`,
    created: ts(0), modified: ts(0), name: `${member} SOC`, identity_class: 'organization',
    sectors: ['transportation'],
  };
  const objects = [org];
  for (let c = 0; c < campaigns; c += 1) {
    const [theme, label] = pick(themes, c);
    const campaign = {
      type: 'campaign', spec_version: '2.1', id: `campaign--${randomUUID()}`,
      created_by_ref: org.id, created: ts(c), modified: ts(c),
      name: `${theme} wave ${c + 1}`, labels: [label], first_seen: ts(c),
      description: `Activity against port stakeholders reported by ${member}.`,
    };
    objects.push(campaign);
    for (let i = 0; i < indicatorsPer; i += 1) {
      const host = `${pick(hosts, i)}-${c}-${i}.example`;
      const indicator = {
        type: 'indicator', spec_version: '2.1', id: `indicator--${randomUUID()}`,
        created_by_ref: org.id, created: ts(c + i / 100), modified: ts(c + i / 100),
        name: `${theme}: ${host}`, labels: [label, 'port-community'],
        indicator_types: ['malicious-activity'],
        pattern: `[domain-name:value = '${host}'] OR [ipv4-addr:value = '203.0.113.${(c * 7 + i) % 250}']`,
        pattern_type: 'stix', valid_from: ts(c),
      };
      objects.push(indicator, {
        type: 'relationship', spec_version: '2.1', id: `relationship--${randomUUID()}`,
        created_by_ref: org.id, created: ts(c), modified: ts(c),
        relationship_type: 'indicates', source_ref: indicator.id, target_ref: campaign.id,
      });
      if (i % 3 === 0) {
        objects.push({
          type: 'sighting', spec_version: '2.1', id: `sighting--${randomUUID()}`,
          created_by_ref: org.id, created: ts(c + 1), modified: ts(c + 1),
          sighting_of_ref: indicator.id, where_sighted_refs: [org.id], count: 1 + (i % 5),
          first_seen: ts(c + 1), last_seen: ts(c + 2),
        });
      }
    }
  }
  return objects;
}

async function push(member, collection, objects) {
  let stored = 0;
  for (let i = 0; i < objects.length; i += 400) {
    const r = await taxii(member, 'POST', `/crc/collections/${collection}/objects/`, { objects: objects.slice(i, i + 400) });
    if (r.status !== 202) throw new Error(`push failed: ${r.status} ${JSON.stringify(r.body)}`);
    stored += r.body.success_count;
  }
  return stored;
}

const collections = (await taxii('operator', 'GET', '/crc/collections/')).body.collections;
const idOf = (tier) => collections.find((c) => c.title.toUpperCase().includes(`TLP:${tier.toUpperCase()} `)).id;
const green = idOf('green');
const amber = idOf('amber');
const red = idOf('red');
let total = 0;
total += await push('evergreen-line', green, generate('Evergreen Line', 16, 30));
total += await push('northern-rail', green, generate('Northern Rail', 8, 24));
total += await push('operator', amber, generate('Harbour CRC', 10, 30));
// Objects marked stricter than the collection are refused, with the reason.
const redMarked = generate('Evergreen Line', 1, 3).map((o) => ({
  ...o, object_marking_refs: ['marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed'],
}));
const refused = await taxii('evergreen-line', 'POST', `/crc/collections/${green}/objects/`, { objects: redMarked });
check('a push with TLP:RED objects into TLP:GREEN is answered with failures', refused.status === 202 && refused.body.failure_count === redMarked.length);
// Some polls, so the charts have both series.
for (const m of ['evergreen-line', 'northern-rail']) {
  await taxii(m, 'GET', `/crc/collections/${green}/objects/?limit=500`);
}
check(`generated content stored (${total} objects)`, total > 2000, `${total}`);

// ---- the browser -----------------------------------------------------------

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function contextFor(member, options = {}) {
  const clientCertificates = member === 'evergreen-line'
    // The member presents the .p12 it was handed, as a browser would.
    ? [{ origin, pfxPath: path.join(handoverOf(member), `${member}.p12`), passphrase: 'breakwater' }]
    : [{ origin, ...identity(member) }];
  const context = await browser.newContext({
    // Chromium does not know the community CA; the test trusts this one server.
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    clientCertificates,
    ...options,
  });
  const foreign = [];
  context.on('request', (request) => {
    if (!request.url().startsWith(origin)) foreign.push(request.url());
  });
  return { context, foreign };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
}

const linkedCollections = async (page) => page.$$eval('table#collections a[href^="/console/collections/"]',
  (as) => as.map((a) => a.getAttribute('href').split('/')[3]).sort());

try {
  // -- the operator --
  {
    const { context, foreign } = await contextFor('operator');
    const page = await context.newPage();
    let r = await page.goto(`${origin}/console/`);
    check('operator: overview answers 200', r.status() === 200, `${r.status()}`);
    const csp = r.headers()['content-security-policy'] ?? '';
    check('operator: the overview carries a CSP that allows only the server\'s own script',
      csp.includes("default-src 'none'") && csp.includes("script-src 'self'") && !csp.includes('unsafe'), csp);
    const all = await linkedCollections(page);
    check('operator: sees every collection', all.length === collections.length, JSON.stringify(all));
    check('operator: charts are drawn', (await page.$$('svg.chart rect')).length > 0);
    check('operator: refusals by reason are listed', (await page.textContent('table#refusals')).includes("marking stricter than the collection's tier"));
    await page.screenshot({ path: path.join(outDir, 'overview-operator-viewport.png') });
    await shot(page, 'overview-operator');

    r = await page.goto(`${origin}/console/members/`);
    check('operator: members page answers 200', r.status() === 200);
    const expiring = await page.$$eval('table#certificates tr.expiring td:first-child', (tds) => tds.map((t) => t.textContent));
    check('operator: a certificate expiring within 30 days is highlighted', expiring.includes('northern-rail'), JSON.stringify(expiring));
    check('operator: the suspended member is flagged', (await page.textContent('#suspended')).includes('quay-terminals'));
    const matrixRow = await page.$eval('table#grants tbody', (tb) => [...tb.rows].find((row) => row.cells[0].textContent === 'northern-rail').textContent);
    check('operator: the grant matrix shows a sector grant', matrixRow.includes('read, write'), matrixRow);
    await shot(page, 'members');

    r = await page.goto(`${origin}/console/audit/?action=push`);
    check('operator: audit filtered by action', r.status() === 200 && (await page.$$('table#audit tbody tr')).length > 0);
    await shot(page, 'audit');
    const csv = await context.request.get(`${origin}/console/audit.csv?action=push`);
    check('operator: audit CSV export', csv.status() === 200 && (await csv.text()).startsWith('id,at,member,'));

    r = await page.goto(`${origin}/console/collections/${red}/`);
    check('operator: browses the TLP:RED collection', r.status() === 200);
    await page.goto(`${origin}/console/submissions/`);
    check('operator: sees everyone\'s submissions', (await page.textContent('table#submissions')).includes('northern-rail'));
    await shot(page, 'submissions-operator');
    check('operator: nothing was loaded from outside the server', foreign.length === 0, foreign.join(' '));
    await context.close();
  }

  // -- a member, with JavaScript off: every table works without it --
  {
    const { context, foreign } = await contextFor('evergreen-line', { javaScriptEnabled: false });
    const page = await context.newPage();
    let r = await page.goto(`${origin}/console/`);
    check('member: overview answers 200', r.status() === 200, `${r.status()}`);
    const taxiiReadable = (await taxii('evergreen-line', 'GET', '/crc/collections/')).body.collections
      .filter((c) => c.can_read).map((c) => c.id).sort();
    const seen = await linkedCollections(page);
    check('member: sees exactly the collections TAXII lets it read', JSON.stringify(seen) === JSON.stringify(taxiiReadable),
      `${JSON.stringify(seen)} vs ${JSON.stringify(taxiiReadable)}`);
    check('member: the TLP:RED collection is not among them', !seen.includes(red));
    check('member: no operator navigation', !(await page.textContent('header')).includes('Audit'));
    await shot(page, 'overview-member');

    r = await page.goto(`${origin}/console/collections/${red}/`);
    check('member: the TLP:RED collection answers 404, as in TAXII', r.status() === 404);
    await shot(page, 'not-found-member');
    r = await page.goto(`${origin}/console/members/`);
    check('member: the members page does not exist for it', r.status() === 404);

    r = await page.goto(`${origin}/console/collections/${green}/?type=indicator&label=phishing`);
    check('member: browses TLP:GREEN filtered by type and label', r.status() === 200);
    const rows = await page.$$('table#objects tbody tr');
    check('member: the filtered page is full (50 objects)', rows.length === 50, `${rows.length}`);
    const labels = await page.$$eval('table#objects tbody tr td:nth-child(5)', (tds) => tds.map((t) => t.textContent));
    check('member: every row has the label', labels.every((l) => l.includes('phishing')));
    await shot(page, 'browse');
    await page.click('a:has-text("Older")');
    check('member: the next page follows', page.url().includes('before='));
    await page.goBack();

    await page.click('table#objects tbody tr:first-child td:nth-child(3) a');
    check('member: opens an indicator', page.url().includes('/objects/indicator--'));
    check('member: the indicator page has a graph', (await page.$$('svg.graph a.t-campaign')).length === 1);
    check('member: the JSON is shown', (await page.textContent('pre.json')).includes('"pattern_type"'));
    await shot(page, 'object-indicator');

    await page.click('svg.graph a.t-campaign');
    check('member: clicking the campaign in the graph opens the campaign', page.url().includes('/objects/campaign--'), page.url());
    const heading = await page.textContent('h1');
    check('member: the campaign page names the campaign', /wave \d+/.test(heading), heading);
    check('member: the campaign links back to its indicators', (await page.$$('svg.graph a.t-indicator')).length > 0);
    await page.goto(`${page.url()}?hops=2`);
    check('member: two steps out reaches the sightings', (await page.$$('svg.graph a.t-sighting')).length > 0);
    await shot(page, 'object-campaign');

    r = await page.goto(`${origin}/console/submissions/`);
    const submissions = await page.textContent('table#submissions');
    check('member: lists its own submissions', r.status() === 200 && submissions.includes('TLP:GREEN'));
    check('member: not other members\' submissions', !(await page.content()).includes('northern-rail'));
    await shot(page, 'submissions-member');
    await page.click(`a[href$="/${refused.body.id}/"]`);
    check('member: a submission shows why objects were refused', (await page.textContent('table#failures')).includes('TLP:RED'));
    await shot(page, 'submission-member');
    check('member: nothing was loaded from outside the server', foreign.length === 0, foreign.join(' '));
    await context.close();
  }

  // -- live updates: pages open in a member's browser show what another
  //    member pushes, without a reload --
  {
    const { context, foreign } = await contextFor('evergreen-line');
    const violations = [];
    const overview = await context.newPage();
    const browse = await context.newPage();
    for (const page of [overview, browse]) {
      page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text()); });
      page.on('pageerror', (e) => violations.push(String(e)));
    }
    await overview.goto(`${origin}/console/`);
    await browse.goto(`${origin}/console/collections/${green}/`);
    for (const page of [overview, browse]) {
      await page.waitForFunction(() => document.documentElement.getAttribute('data-live-connected') === 'true', null, { timeout: 30000 });
      // A reload would lose this mark.
      await page.evaluate(() => { window.stillTheSamePage = true; });
    }
    const greenRow = () => overview.$eval(`table#collections a[href="/console/collections/${green}/"]`,
      (a) => a.closest('tr').textContent);
    const before = await greenRow();
    const name = `Live: AIS spoofing relay seen at berth ${randomUUID().slice(0, 8)}`;
    const ind = {
      type: 'indicator', spec_version: '2.1', id: `indicator--${randomUUID()}`,
      created: new Date().toISOString(), modified: new Date().toISOString(),
      name, indicator_types: ['malicious-activity'], pattern_type: 'stix',
      pattern: "[ipv4-addr:value = '198.51.100.77']", valid_from: new Date().toISOString(),
    };
    const pushed = await taxii('northern-rail', 'POST', `/crc/collections/${green}/objects/`, { objects: [ind] });
    check('live: another member pushes an indicator', pushed.status === 202 && pushed.body.success_count === 1, JSON.stringify(pushed.body));
    let shown = true;
    try {
      await browse.waitForSelector(`table#objects tbody tr:first-child a:text-is(${JSON.stringify(name)})`, { timeout: 30000 });
    } catch {
      shown = false;
    }
    check('live: the new indicator tops the open collection page without a reload',
      shown && await browse.evaluate(() => window.stillTheSamePage === true));
    await shot(browse, 'browse-live');
    let counted = true;
    try {
      await overview.waitForFunction(([href, old]) => {
        const a = document.querySelector(`table#collections a[href="${href}"]`);
        return a && a.closest('tr').textContent !== old;
      }, [`/console/collections/${green}/`, before], { timeout: 30000 });
    } catch {
      counted = false;
    }
    check('live: the overview\'s count for the collection moves without a reload',
      counted && await overview.evaluate(() => window.stillTheSamePage === true), `${before} -> ${await greenRow()}`);
    await shot(overview, 'overview-live');
    // Pushing into a collection this member may not read changes nothing it sees.
    const redBefore = await overview.content();
    check('live: the member still sees no TLP:RED collection', !redBefore.includes(red));
    check('live: no CSP violation or script error', violations.length === 0, violations.join(' | '));
    check('live: nothing was loaded from outside the server', foreign.length === 0, foreign.join(' '));
    await context.close();
  }
} catch (e) {
  failed += 1;
  console.log(`FAIL the run stopped: ${e.stack ?? e}`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
  fs.rmSync(scratch, { recursive: true, force: true });
}

console.log(`console: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
